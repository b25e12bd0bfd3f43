"""What every chapter notebook does first: check its parameters, then load its records.

:func:`open_chapter` checks each parameter (:mod:`tradeoff.report.params`) before anything is
drawn, then loads the records the chapter shows. The same function serves every chapter, so each
rule is written once. The chapter's takeaway box and its "Re-run this page" command live here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..analysis.table import ACCURACY_SIGNALS, accuracy_signal, select_records, tidy
from ..config import load_profile, Profile
from ..errors import ConfigError, ParameterError
from ..tasks import DATASET_LABELS, DATASETS, MODELS
from ..errors import RecordError
from ..records import load_records, RunRecord
from .params import check_choice, check_list, check_text, fail, yaml_hint
from .style import models_in

SIGNALS = ("auto", *ACCURACY_SIGNALS)

# What each dataset chapter says about its data before any figure (SCROLLS facts, PAPER.md).
INTRODUCTIONS = {
    "govreport": "GovReport (SCROLLS `gov_report`) pairs long reports of the U.S. Government "
                 "Accountability Office and Congressional Research Service with their expert "
                 "summaries: 17,457 training and 972 validation documents, on average 7,886 "
                 "words in and 492.5 words out. It is the summarization set whose inputs most "
                 "exceed 4,096 tokens, and the paper's deep-dive (Figure 6, in the energy "
                 "chapter) uses it.",
    "summscreenfd": "SummScreenFD (SCROLLS `summ_screen_fd`) summarizes TV episode transcripts "
                    "into short recaps: 3,673 training and 338 validation episodes, on average "
                    "5,598 words in and 99.6 out.",
    "qmsum": "QMSum (SCROLLS `qmsum`) is query-based meeting summarization: the input is a "
             "query, a blank line, then the meeting transcript. 1,257 training and 272 "
             "validation queries, on average 9,497 words in and 69.7 out.",
}


@dataclass(frozen=True)
class Chapter:
    """A chapter's checked parameters and the records it shows.

    Attributes:
        profile: the profile whose records are shown (None when it cannot be loaded by name).
        results_dir: the folder of run records.
        records: the records kept by the selection (dataset, models, lengths).
        frame: their tidy table (:func:`tradeoff.analysis.table.tidy`).
        signal: the accuracy signal to draw: ``"headline"``, ``"teacher_forced"`` or
            ``"val_loss"`` (``"auto"`` resolved from the records).
        dataset: the chapter's dataset, or None for chapters about every dataset.
    """

    profile: Profile | str
    results_dir: str
    records: list[RunRecord]
    frame: pd.DataFrame
    signal: str
    dataset: str | None = None

    @property
    def models(self) -> list[str]:
        """The models shown, in the paper's order: those of the records kept by the selection."""
        return models_in(self.frame)


def introduction(dataset: str):
    """A summarization chapter's opening paragraph, as Markdown."""
    from IPython.display import Markdown

    return Markdown(f"{INTRODUCTIONS[dataset]}\n\nThis chapter opens with what is known for real: "
                    f"published {DATASET_LABELS[dataset]} test scores against the compute counted "
                    f"here for the same configurations. The paper's Figures 1-4 follow, drawn "
                    f"from the profile's own runs.")


def takeaway(sentences: str, evidence: str):
    """A chapter's takeaway: what it found, in a few sentences, and on what evidence.

    Rendered as a MyST admonition at the top of the chapter; give the notebook cell the
    metadata ``{"mystnb": {"markdown_format": "myst"}}``.

    Args:
        sentences: what the chapter found, with its numbers (plain text).
        evidence: the kinds of evidence the sentences rest on, e.g. "published scores and
            counted compute", "counts of the full architectures".

    Returns:
        An ``IPython.display.Markdown``; its ``.data`` is the MyST text.
    """
    from IPython.display import Markdown

    return Markdown(f"```{{admonition}} Takeaway ({evidence})\n:class: takeaway\n\n"
                    f"{sentences}\n```\n")


# A chapter's "Re-run this page" command reads the default profile's records (python -m tradeoff
# grid writes them); its comment tells the reader, and tests/test_docs.py, that they must exist.
RERUN_PROFILE = "demo"
RERUN_NOTE = "needs the demo grid's records"


def rerun_markdown(notebook: str, page: str, **params):
    """The papermill command that re-executes a chapter page, as a fenced ``bash`` block.

    The pages that one template gives (the summarization chapters) show it through this, so each
    names its own dataset; the other chapters write theirs in their Markdown.

    Args:
        notebook: the notebook in ``notebooks/``, without its suffix (``"summarization"``).
        page: the executed copy's name, without its suffix (``"qmsum"``).
        **params: the page's parameters beyond the profile and its records (``dataset="qmsum"``).

    Returns:
        Markdown, e.g. ``papermill notebooks/summarization.ipynb qmsum.ipynb -p dataset qmsum -p
        profile demo -p results_dir results/demo`` with the note :data:`RERUN_NOTE`.
    """
    from IPython.display import Markdown

    params |= {"profile": RERUN_PROFILE, "results_dir": f"results/{RERUN_PROFILE}"}
    args = " ".join(f"-p {name} {value}" for name, value in params.items())
    return Markdown(f"```bash\npapermill notebooks/{notebook}.ipynb {page}.ipynb {args}"
                    f"   # {RERUN_NOTE}\n```")


def open_chapter(*, profile: str, results_dir: str, models: list | None = None,
                 lengths: list | None = None, signal: str = "auto",
                 dataset: str | None = None, datasets=DATASETS) -> Chapter:
    """Check a chapter's parameters and load the records it shows.

    Args:
        profile: name in ``params/`` or a path to a profile YAML (for the banner).
        results_dir: folder of run records; must exist and hold records.
        models: models to show (None: every model of the records).
        lengths: input lengths to show; each must have a record of the chapter's dataset(s)
            (None: every length of the records).
        signal: ``"auto"`` or a key of :data:`tradeoff.analysis.table.ACCURACY_SIGNALS`
            (``"headline"``, ``"val_loss"``, ``"teacher_forced"``).
        dataset: the chapter's dataset (None: a chapter about every dataset).
        datasets: the datasets this chapter accepts as ``dataset``.

    Returns:
        The :class:`Chapter`.

    Raises:
        ParameterError: one line naming the parameter, what it got, what it expects and how to
            pass it with papermill.
    """
    check_text("profile", profile)
    try:
        settings: Profile | str = load_profile(profile)
    except ConfigError:
        settings = profile  # a profile given by a path that no longer exists: name it only
    check_text("results_dir", results_dir)
    if dataset is not None:
        check_choice("dataset", dataset, tuple(datasets))
    if models is not None:
        check_list("models", models, str, '["led-base", "led-large"]', allowed=MODELS)
    if lengths is not None:
        check_list("lengths", lengths, int, "[1024, 2048]")
    check_choice("signal", signal, SIGNALS)

    folder = Path(results_dir)
    if not folder.is_dir():
        raise fail("results_dir", results_dir, "a folder of run records",
                    f"It does not exist: run the grid first (python -m tradeoff grid --profile "
                    f"{profile}) or pass -p results_dir <folder>.")
    try:
        records = select_records(load_records(folder), models=models,
                                 datasets=[dataset] if dataset else None)
    except RecordError as err:
        raise ParameterError(f"parameter `results_dir`: {err}") from None
    if lengths is not None:
        recorded = sorted({r.params.length for r in records})
        missing = [n for n in lengths if n not in recorded]
        if missing:
            where = f" of {dataset}" if dataset else ""
            raise fail("lengths", lengths, f"lengths with records{where} in {results_dir} "
                        f"(recorded: {', '.join(map(str, recorded)) or 'none'}; "
                        f"missing: {', '.join(map(str, missing))})",
                        yaml_hint("lengths", str(recorded[:2] or [1024])))
        records = select_records(records, lengths=lengths)
    frame = tidy(records)
    frame.attrs["results_dir"] = str(results_dir)
    resolved = accuracy_signal(frame) if signal == "auto" else signal
    return Chapter(settings, str(results_dir), records, frame, resolved, dataset)
