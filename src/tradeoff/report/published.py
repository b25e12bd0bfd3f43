"""The dataset chapters' first section: published accuracy against counted compute.

Every point is a configuration some paper fine-tuned and scored on SCROLLS' test split (its
score read in that paper, :mod:`tradeoff.records.published`) and whose compute this project
counted (FlopCounterMode on the full architecture, :mod:`tradeoff.records.reference`). The figure
draws score against training FLOPs per example and against inference FLOPs per sample, with the
Pareto frontier; the tables give every point's source and what each longer input or bigger model
bought per doubling of compute.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis import published as pub
from ..records.published import PublishedScores, load_published
from ..records.reference import CostReference, load_cost_reference
from ..tasks import SUMMARIZATION
from ..analysis.findings import (
    COUNTED,
    EVIDENCE_KINDS,
    FAMILIES,
    MEASURED_CPU,
    NEEDS_RUNS,
    PUBLISHED_COUNTED,
    Finding,
)
from ..tasks import COST_TARGET_TOKENS, DATASETS, TASKS
from .params import check_choice, fail
from ..errors import ParameterError, ReferenceFileError
from ..numbers import fmt
from .style import MODEL_COLORS, MODEL_LABELS, MODEL_MARKERS, new_figure, no_data, NOT_IN_PAPER
from ..tasks import DATASET_LABELS, HEADLINE, HEADLINE_LABEL


@dataclass(frozen=True)
class PublishedView:
    """What a chapter shows of the published scores.

    Attributes:
        scores: the whole published table.
        reference: the committed cost rows.
        points: headline scores with counted costs (:func:`published_points`), every dataset.
        dataset: the chapter's dataset (None: every dataset, as in the conclusions).
    """

    scores: PublishedScores
    reference: CostReference
    points: pd.DataFrame
    dataset: str | None

    @property
    def here(self) -> pd.DataFrame:
        """The chapter's dataset's points (all points when it has none)."""
        if self.dataset is None:
            return self.points
        return self.points[self.points["dataset"] == self.dataset].reset_index(drop=True)

    @property
    def uncounted(self) -> pd.DataFrame:
        """The chapter's points that have no counted cost yet."""
        return self.here[self.here[pub.TRAIN_FLOPS].isna()]


def open_published(*, published_file: str | None = None, reference_file: str | None = None,
                   dataset: str | None = None) -> PublishedView:
    """Check a chapter's parameters and load the published scores with their counted cost.

    Args:
        published_file: the published scores (None: ``reference/published/scores.yaml``).
        reference_file: the committed cost rows (None: ``reference/cost/cost-rows.json``).
        dataset: the chapter's dataset, or None for all of them.

    Returns:
        The :class:`PublishedView`.

    Raises:
        ParameterError: one line naming the parameter and what is wrong with its file.
    """
    if dataset is not None:
        check_choice("dataset", dataset, DATASETS)
    for name, value in (("published_file", published_file), ("reference_file", reference_file)):
        if value is not None and (not isinstance(value, str) or not value):
            raise fail(name, value, "a path or None", f"With papermill: -p {name} PATH.")
    try:
        scores = load_published(published_file)
    except ReferenceFileError as err:
        raise ParameterError(f"parameter `published_file`: {err}") from None
    try:
        reference = load_cost_reference(reference_file)
    except ReferenceFileError as err:
        raise ParameterError(f"parameter `reference_file`: {err}") from None
    points = pub.published_points(scores, reference.rows)
    return PublishedView(scores, reference, points, dataset)


def frontier_figure(view: PublishedView) -> Figure:
    """Published score against counted training and inference compute, with the frontier.

    One marker per (model, input length), labelled by the length; a line joins a model's
    lengths; the black step joins the Pareto frontier (no other point is both cheaper and
    better).
    """
    points = view.here.dropna(subset=[pub.TRAIN_FLOPS])
    dataset = view.dataset
    fig, axes = new_figure(ncols=2, width=5.0, height=3.9)
    metric = HEADLINE_LABEL[HEADLINE[TASKS[dataset]]] if dataset else "score"
    for ax, cost in zip(axes[0], (pub.TRAIN_FLOPS, pub.INFER_FLOPS)):
        if points.empty:
            no_data(ax, "No published point with a counted cost.")
            continue
        for model, series in points.groupby("model", sort=False):
            series = series.sort_values("length")
            ax.plot(series[cost], series["score"], marker=MODEL_MARKERS.get(model, "o"),
                    color=MODEL_COLORS.get(model), label=MODEL_LABELS.get(model, model),
                    linewidth=1.2, markersize=6)
            for x, y, n in zip(series[cost], series["score"], series["length"]):
                ax.annotate(f"{int(n)}", (x, y), textcoords="offset points", xytext=(4, 3),
                            fontsize=7, color="0.25")
        front = pub.frontier(points, cost)
        ax.step(front[cost], front["score"], where="post", color="black", linewidth=0.8,
                linestyle="--", label="Pareto frontier")
        ax.set_xscale("log")
        ax.set_xlabel(pub.COST_LABEL[cost].replace("(counted)", "(counted, log scale)"))
        ax.set_ylabel(f"{metric}\npublished, test split")  # two lines: no taller than the axes
    axes[0][0].legend(frameon=False, fontsize=7)
    if dataset:
        fig.suptitle(f"{DATASET_LABELS[dataset]}: published test scores against compute counted "
                     f"here ({COST_TARGET_TOKENS[dataset]}-token targets)", fontsize=10)
    return fig


def points_table(view: PublishedView) -> pd.DataFrame:
    """Every point of the chapter: its score, its source, and its counted cost (n/a: not
    counted), each cost column in one unit."""
    here = view.here
    table = pd.DataFrame({
        "model": [MODEL_LABELS.get(m, m) for m in here["model"]],
        "input (tokens)": here["length"].astype(int),
        "score": here["score"],
        "published numbers": [f"{c} (score: their geometric mean, computed here)" if computed
                              else c for c, computed in zip(here["components"], here["computed"])],
        "source (split)": [f"{cite} ({split})" for cite, split in zip(here["cite"], here["split"])],
        "training compute per example, counted": here[pub.TRAIN_FLOPS],
        "inference compute per sample, counted": here[pub.INFER_FLOPS],
        "note": here["note"].fillna(""),
    })
    table.attrs["kinds"] = {"training compute per example, counted": "flops",
                            "inference compute per sample, counted": "flops"}
    return table


def sources_table(view: PublishedView) -> pd.DataFrame:
    """Each source of the chapter's points: its table, where it was read, a second source, and
    the protocol facts it states (which differ from this study's)."""
    used = dict.fromkeys(view.here["source_id"])
    sources = [s for s in view.scores.sources if s.id in used]
    return pd.DataFrame({
        "source": [s.cite for s in sources],
        "table": [s.table for s in sources],
        "read in": [s.read_in for s in sources],
        "second source": [s.agrees_with or "none found" for s in sources],
        "its protocol": [s.protocol_text for s in sources],
    })


def gains_table(view: PublishedView) -> pd.DataFrame:
    """What each longer input, and each bigger model at one length, bought per doubling of
    counted training compute."""
    here = view.here
    gains = pd.concat([pub.input_gains(here).assign(growth="input"),
                       pub.model_gains(here, FAMILIES).assign(growth="model")],
                      ignore_index=True)
    return pd.DataFrame({
        "grows": gains["growth"],
        "model": [" -> ".join(MODEL_LABELS.get(m, m) for m in str(v).split(" -> "))
                  for v in gains["model"]],
        "input (tokens)": [f"{a} -> {b}" if a != b else f"{a}"
                           for a, b in zip(gains["from_length"], gains["to_length"])],
        "score": [f"{fmt(a, 'score')} -> {fmt(b, 'score')}"
                  for a, b in zip(gains["from_score"], gains["to_score"])],
        "gain (points)": gains["gain_points"].map(lambda v: fmt(v, "score", signed=True)),
        "training compute": gains["flops_ratio"].map(
            lambda v: fmt(v, "ratio") if np.isfinite(v) else "not counted"),
        "points per doubling of compute": gains["points_per_doubling"].map(
            lambda v: fmt(v, digits=2, signed=True)),
    })


def recommendation_table(view: PublishedView) -> pd.DataFrame:
    """Per dataset, the cheapest published configuration within a point of the best."""
    picks = pub.cheapest_within(view.here)
    table = pd.DataFrame({
        "dataset": [DATASET_LABELS[d] for d in picks["dataset"]],
        "choice": [f"{MODEL_LABELS.get(m, m)} at {n}" for m, n in
                   zip(picks["model"], picks["length"])],
        "its score": picks["score"],
        "best published": [f"{MODEL_LABELS.get(m, m)} at {n}: {fmt(s, 'score')}" for m, n, s in
                           zip(picks["best_model"], picks["best_length"], picks["best_score"])],
        "training compute vs the best": picks["cost_vs_best"],
    })
    table.attrs["kinds"] = {"its score": "score", "training compute vs the best": "ratio"}
    return table


def doubling_text(view: PublishedView, model: str = "led-base", short: int = 1024,
                  long: int = 4096) -> str:
    """"+x points for y× the training FLOPs" for one model between two lengths."""
    here = view.here
    at = here[here["model"] == model].set_index("length")
    if short not in at.index or long not in at.index:
        return f"no published scores of {MODEL_LABELS.get(model, model)} at both {short} and {long}"
    a, b = at.loc[short], at.loc[long]
    ratio = b[pub.TRAIN_FLOPS] / a[pub.TRAIN_FLOPS]
    cost = (f"{fmt(ratio, 'ratio')} the training FLOPs" if np.isfinite(ratio)
            else "a cost not yet counted")
    return (f"{fmt(b['score'] - a['score'], 'score', signed=True)} points "
            f"({fmt(a['score'], 'score')} -> {fmt(b['score'], 'score')}) for {cost}")


def provenance_text(view: PublishedView) -> str:
    """Where the chapter's points come from, in one line."""
    here = view.here
    sources = "; ".join(dict.fromkeys(here["source"])) or "none"
    splits = ", ".join(dict.fromkeys(here["split"])) or "none"
    targets = (f"{COST_TARGET_TOKENS[view.dataset]}-token" if view.dataset
               else "each dataset's mean-reference-length")
    return (f"Accuracy: published ({sources}; {splits} split). Cost: counted here "
            f"(FlopCounterMode, matmul FLOPs, 2 per multiply-add) on the full architectures at "
            f"the published input lengths, with {targets} training targets and as many greedy "
            f"tokens generated (the dataset's mean reference length in words, SCROLLS' Table 1: "
            f"a lower bound in subword tokens). Nothing on this figure was trained or measured "
            f"here; the paper reproduced here shows its own scores as plots only, so they are "
            f"not among the points.")


def uncounted_text(view: PublishedView) -> str:
    """The chapter's published points that have no counted cost, or "" when all have one."""
    missing = view.uncounted
    if missing.empty:
        return ""
    known = [(m, int(n)) for m, n in zip(missing["model"], missing["length"])
             if (m, int(n)) in pub.NOT_COUNTED_HERE]
    why = " ".join(f"{MODEL_LABELS.get(m, m)} at {n} is not counted: "
                   f"{pub.NOT_COUNTED_HERE[m, n]}." for m, n in known)
    missing = missing[[(m, int(n)) not in known
                       for m, n in zip(missing["model"], missing["length"])]]
    if missing.empty:
        return why
    names = ", ".join(f"{MODEL_LABELS.get(m, m)} at {n}" for m, n in
                      zip(missing["model"], missing["length"]))
    commands = "; ".join(
        f"`python -m tradeoff cost --dataset {view.dataset} --models {model} --lengths "
        f"{' '.join(map(str, sorted(group['length'].astype(int))))} --write-reference`"
        for model, group in missing.groupby("model", sort=False))
    return (f"{why} Published but not yet counted, so not on the figure: {names} (count "
            f"them with {commands}).").strip()


def takeaway_text(view: PublishedView) -> str:
    """Two sentences on what the chapter's published points say, with their numbers."""
    here = view.here.dropna(subset=[pub.TRAIN_FLOPS])
    if here.empty:
        return "No published score of this dataset has a counted cost yet."
    name = DATASET_LABELS[view.dataset] if view.dataset else "these datasets"
    metric = HEADLINE[TASKS[view.dataset]] if view.dataset else "score"
    unit = "F1" if metric == "f1" else "ROUGE (geometric mean)"
    pick = pub.cheapest_within(here).iloc[0] if view.dataset else None
    first = (f"On {name}, four times the input (LED-base from 1024 to 4096 tokens) bought "
             f"{doubling_text(view)}, and 16384 tokens against 4096 "
             f"{doubling_text(view, short=4096, long=16384)}, in points of {unit}.")
    if pick is None:
        return first
    if (pick["model"], pick["length"]) == (pick["best_model"], pick["best_length"]):
        second = (f"The best published configuration, {MODEL_LABELS.get(pick['model'])} at "
                  f"{pick['length']} tokens ({fmt(pick['score'], 'score')}), is also the "
                  f"cheapest within "
                  f"{pub.WITHIN_POINTS:g} point of itself.")
    else:
        second = (f"The cheapest published configuration within {pub.WITHIN_POINTS:g} point of "
                  f"the best is {MODEL_LABELS.get(pick['model'])} at {pick['length']} tokens "
                  f"({fmt(pick['score'], 'score')} against {fmt(pick['best_score'], 'score')}), "
                  f"at {fmt(pick['cost_vs_best'], 'ratio')} the training compute of "
                  f"{MODEL_LABELS.get(pick['best_model'])} at {pick['best_length']}.")
    return f"{first} {second}"


def _verdict_words(verdict: str) -> str:
    return {"holds": "holds", "does not hold": "does not hold"}.get(verdict, "is inconclusive")


def headline_texts(view: PublishedView, evidence: Sequence[Finding]) -> dict[str, str]:
    """The study's headline findings in a sentence each, for the conclusions and landing page.

    Args:
        view: the published points of every dataset (``dataset`` None).
        evidence: :func:`tradeoff.analysis.findings.findings` over the same points (its
            verdicts and numbers are quoted, not computed again).

    Returns:
        Glue name -> sentence.
    """
    by = {f.finding: f for f in evidence}
    texts = {"conclusions_published_provenance": provenance_text(view)}
    for dataset in ("govreport", "qasper"):
        texts[f"headline_{dataset}"] = takeaway_text(dataclasses.replace(view, dataset=dataset))
    grow = by["3, the conclusion"]
    parts = [f"{DATASET_LABELS[d]} "
             f"{fmt(grow.numbers[f'{d}/input_points_per_doubling'], 'score', signed=True)} by the "
             f"input against "
             f"{fmt(grow.numbers[f'{d}/model_points_per_doubling'], 'score', signed=True)} by "
             f"the model"
             for d in SUMMARIZATION if f"{d}/input_points_per_doubling" in grow.numbers]
    texts["headline_grow_model"] = (
        f"Grow the model rather than the input, for summarization: the paper's advice "
        f"{_verdict_words(grow.verdict)} on published scores and counted "
        f"compute. Median points of ROUGE per doubling of training compute: "
        f"{'; '.join(parts) or 'no dataset has both kinds of growth in print'}.")
    qa = by["6, part 3"]
    steps = [f"{MODEL_LABELS.get(k.split('/')[0], k.split('/')[0]).replace(NOT_IN_PAPER, '')} "
             f"{k.split('/')[1].replace('-', ' to ')} tokens: "
             f"{fmt(v, 'score', signed=True)} F1 for "
             f"{fmt(qa.numbers[k.replace('gain_points', 'flops_ratio')], 'ratio')} "
             f"the training compute"
             for k, v in qa.numbers.items() if k.endswith("/gain_points")]
    texts["headline_qa_input"] = (
        f"Longer Qasper inputs buy little at a large cost (finding 6): "
        f"{_verdict_words(qa.verdict)} on published scores and counted compute "
        f"({'; '.join(steps) or 'no published series'}).")
    texts["headline_needs_runs"] = str(sum(f.evidence == NEEDS_RUNS for f in evidence))
    return texts


def conclusions_takeaway(evidence: Sequence[Finding], texts: Mapping[str, str]) -> str:
    """What the conclusions found: how many findings each kind of evidence bore, and the two
    headline verdicts.

    Args:
        evidence: :func:`tradeoff.analysis.findings.findings`.
        texts: :func:`headline_texts` over the same findings (quoted, not computed again).
    """
    count = {kind: sum(f.evidence == kind for f in evidence) for kind in EVIDENCE_KINDS}
    return (f"Of the paper's {len(evidence)} findings, parts of findings and conclusions, "
            f"{count[PUBLISHED_COUNTED]} are tested on published scores with counted compute, "
            f"{count[COUNTED]} on counts alone and {count[MEASURED_CPU]} on speed measured on "
            f"this CPU; {count[NEEDS_RUNS]} need the paper profile's runs (energy and power, and "
            f"the scores of LED-large and BigBird-Pegasus, which are not published). "
            f"{texts['headline_qa_input']} {texts['headline_grow_model']}")
