"""The cost chapter: what the paper's full architectures cost, from the committed reference rows.

:func:`open_reference` checks the chapter's parameters and loads the rows (one line naming the
parameter when one is wrong, as :func:`tradeoff.report.chapter.open_chapter` does);
:func:`takeaway_text` and :func:`glue_texts` write every number the prose quotes, each with how
it was obtained. The figures are in :mod:`tradeoff.report.cost_figures`, the tables in
:mod:`tradeoff.report.cost_tables`. Where the numbers come from: the cost reference rows
(:mod:`tradeoff.records.reference`, counted by :mod:`tradeoff.cost`: FLOPs, saved activations,
the memory model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..analysis.verdict import Verdict
from ..analysis.cost_claims import (
    PAPER_ARCHITECTURES,
    measured_speed,
    measured_training_time_verdict,
)
from ..analysis.fits import fit_length_affine, fit_length_exponent
from ..analysis.table import tidy
from ..config import REPO_ROOT
from ..errors import ParameterError, ReferenceFileError
from ..models import PRESETS
from ..records.reference import CostReference, cost_frame, load_cost_reference
from ..tasks import DATASET_LABELS, PAPER_CARD_GB
from .params import check_list, check_number, fail, yaml_hint
from .cost_tables import (
    FITTED,
    exponent_text,
    growth_table,
    memory_at,
    paper_batches,
    value_at,
)
from .gpu import GpuRecords, display_path, measured_records, open_gpu
from ..numbers import fmt
from .style import MODEL_LABELS, models_in

# Measured runs of the full architectures on this CPU (the cpu-arch profile), once committed.
MEASURED_DIR = REPO_ROOT / "reference" / "cpu-arch"


@dataclass(frozen=True)
class CostView:
    """The rows a cost chapter shows.

    Attributes:
        reference: the whole reference file.
        frame: rows of ``target_length`` for the chosen models and lengths (``cost_frame``).
        released: rows of ``released_target_length`` for the same models and lengths; empty
            where none were counted.
        target_length: target tokens of the training sample of ``frame``.
        released_target_length: the released code's target length.
        measured: tidy table of measured runs of the full architectures (empty: none yet).
        speed: their measured time beside the counted FLOPs, one row per finished run
            (:func:`tradeoff.analysis.cost_claims.measured_speed`; empty: none yet).
        measured_dir: where those runs were looked for.
        gpu: the runs measured on a lent GPU (``reference/gpu``: :mod:`tradeoff.report.gpu`).
        gpu_speed: their time, memory and FLOP/s beside the counts (the same
            :func:`~tradeoff.analysis.cost_claims.measured_speed`; empty: none yet).
    """

    reference: CostReference
    frame: pd.DataFrame
    released: pd.DataFrame
    target_length: int
    released_target_length: int
    measured: pd.DataFrame
    speed: pd.DataFrame
    measured_dir: str
    gpu: GpuRecords
    gpu_speed: pd.DataFrame


def open_reference(*, reference_file: str | None, models: list, lengths: list,
                   target_length: int, released_target_length: int,
                   measured_dir: str | None = None, gpu_dir: str | None = None) -> CostView:
    """Check the cost chapter's parameters and load its rows.

    Args:
        reference_file: the committed cost rows (None: ``reference/cost/cost-rows.json``).
        models: architectures to show (names of ``tradeoff.models.PRESETS``: the paper's
            three and LongT5 and Pegasus-X, which it did not study).
        lengths: input lengths to show; each needs rows at ``target_length``.
        target_length: target tokens of the training sample whose rows are shown.
        released_target_length: the released code's target, whose rows are shown beside.
        measured_dir: folder of measured run records of the full architectures (None:
            ``reference/cpu-arch``); a missing folder means no measurement yet.
        gpu_dir: folder of run records measured on a lent GPU (None: ``reference/gpu/runs``);
            likewise.

    Returns:
        The :class:`CostView`.

    Raises:
        ParameterError: one line naming the parameter, what it got and what it expects.
    """
    if reference_file is not None and (not isinstance(reference_file, str) or not reference_file):
        raise fail("reference_file", reference_file, "a path to the cost reference or None",
                    "With papermill: -p reference_file reference/cost/cost-rows.json.")
    check_list("architectures", models, str, '["led-base", "led-large"]', allowed=tuple(PRESETS))
    check_list("input_lengths", lengths, int, "[1024, 4096]")
    check_number("target_length", target_length, integer=True, minimum=1)
    check_number("released_target_length", released_target_length, integer=True, minimum=1)
    if measured_dir is not None and (not isinstance(measured_dir, str) or not measured_dir):
        raise fail("measured_dir", measured_dir, "a folder of run records or None",
                    "With papermill: -p measured_dir reference/cpu-arch.")
    try:
        reference = load_cost_reference(reference_file)
    except ReferenceFileError as err:
        raise ParameterError(f"parameter `reference_file`: {err}") from None
    if target_length not in reference.target_lengths:
        raise fail("target_length", target_length, "a target length with reference rows "
                    f"({', '.join(map(str, reference.target_lengths))})",
                    f"With papermill: -p target_length {reference.target_lengths[-1]}.")
    rows = reference.select(target_length, models, lengths)
    for model in models:
        counted = {r.length for r in rows if r.model == model}
        missing = [n for n in lengths if n not in counted]
        if missing:
            have = sorted({r.length for r in reference.select(target_length, [model])})
            raise fail("input_lengths", lengths,
                        f"lengths with reference rows of {model} at {target_length}-token "
                        f"targets (counted: {', '.join(map(str, have)) or 'none'}; missing: "
                        f"{', '.join(map(str, missing))})", yaml_hint("input_lengths", str(have)))
    released = reference.select(released_target_length, models, lengths)
    folder = Path(MEASURED_DIR if measured_dir is None else measured_dir)
    records = measured_records(folder)
    gpu = open_gpu(gpu_dir)
    return CostView(reference, cost_frame(rows), cost_frame(released), target_length,
                    released_target_length, tidy(records) if records else pd.DataFrame(),
                    measured_speed(records, reference, PRESETS), str(folder), gpu,
                    measured_speed(gpu.records, reference, PRESETS))


def takeaway_text(view: CostView) -> str:
    """What the cost chapter found, in three sentences: growth, batch, measured time."""
    frame = view.frame[view.frame["model"].isin(PAPER_ARCHITECTURES)]
    if frame.empty:
        return "No counted rows of the paper's architectures for these parameters."
    growth = growth_table(frame)
    short, long = int(frame["length"].min()), int(frame["length"].max())

    def span(column: str) -> str:
        values = growth[column].dropna()
        return (fmt(values.min(), "ratio") if values.min() == values.max()
                else f"{fmt(values.min(), 'ratio')} to {fmt(values.max(), 'ratio')}")

    batches = ", ".join(f"{MODEL_LABELS.get(m, m)} {value_at(frame, m, long, 'max_batch_48gb')}"
                        for m in models_in(frame))
    text = (f"From {short} to {long} input tokens, {long / short:g} times the input, a training "
            f"sample of the paper's three architectures costs {span('training step: ratio')} "
            f"the FLOPs and {span('memory per sample: ratio')} the memory, so none grows faster "
            f"than linearly. At {long} tokens the paper's {PAPER_CARD_GB:g} GB card fits at most "
            f"{batches} training samples (an upper bound).")
    speed = view.speed[view.speed["model"].isin(PAPER_ARCHITECTURES)] if len(view.speed) else \
        view.speed
    timed = measured_training_time_verdict(speed)
    ratio = timed.numbers.get("step_time_ratio")
    if ratio is not None and math.isfinite(ratio):
        text += (f" Measured on this CPU with random weights, a BigBird-large training step took "
                 f"{fmt(ratio, 'ratio')} the time of a LED-large step at {int(timed.numbers['length'])} "
                 f"tokens (the paper: about 4× the training time at 4096 tokens, on a GPU).")
    return text


# --------------------------------------------------------------------------------- prose


def _growth_text(frame: pd.DataFrame, column: str, text) -> str:
    shortest, longest = frame["length"].min(), frame["length"].max()
    parts = []
    for model in models_in(frame):
        a, b = value_at(frame, model, shortest, column), value_at(frame, model, longest, column)
        if a is None or b is None:
            continue
        name = MODEL_LABELS.get(model, model)
        parts.append(f"{name} {text(a)} to {text(b)} ({fmt(b / a, 'ratio')})" if a
                     else f"{name} {text(b)}")
    return "; ".join(parts) or "n/a (no rows)"


def _datasets(sources: str) -> str:
    """The datasets named in joined sources (``dataset: source; ...``), in words."""
    names = [part.split(":", 1)[0].strip() for part in sources.split("; ")]
    return " and ".join(DATASET_LABELS.get(n, n) for n in names)


def _paper_batch_text(view: CostView) -> str:
    """The paper's batch against the memory model, and the reason where they differ."""
    sentences = []
    for (model, length, batch), sources in paper_batches().items():
        rows = view.frame[(view.frame["model"] == model) & (view.frame["length"] == length)] \
            if len(view.frame) else view.frame
        if rows.empty:
            continue
        row = rows.iloc[0]
        bound = int(row["max_batch_48gb"])
        label = MODEL_LABELS.get(model, model)
        text = (f"For {label} at {length} tokens the paper and its code report a batch of "
                f"{batch} ({_datasets(sources)}); the memory model fits at most {bound} with "
                f"{view.target_length}-token targets on {PAPER_CARD_GB:g} GB")
        if batch <= bound:
            sentences.append(text + ", so the two agree.")
            continue
        need = memory_at(row, batch)
        text += (f". They differ: with {view.target_length}-token targets a batch of {batch} "
                 f"would hold {fmt(need, 'bytes')} in weights, gradients, AdamW state, saved "
                 f"activations and logits alone, more than the card, and what the model leaves "
                 f"out only adds to that")
        released = view.released[(view.released["model"] == model)
                                 & (view.released["length"] == length)] \
            if len(view.released) else view.released
        if len(released):
            rel_bound = int(released.iloc[0]["max_batch_48gb"])
            verb = "fits under it" if batch <= rel_bound else "still exceeds it"
            text += (f". With the released code's {view.released_target_length}-token targets "
                     f"(its max_output_length) the bound is {rel_bound}, and {batch} {verb}: "
                     f"the difference is the target length")
        sentences.append(text + ".")
    return " ".join(sentences) or "The paper states no batch size for the models shown."


# An affine fit whose residuals stay below this is called affine in the prose.
AFFINE_TOLERANCE = 0.01


def _not_in_paper_texts(frame: pd.DataFrame) -> dict[str, str]:
    """The affine fits' largest residual of each architecture the paper did not study."""
    others = frame[[not PRESETS[m].in_paper if m in PRESETS else True for m in frame["model"]]] \
        if len(frame) else frame
    if others.empty or others["length"].nunique() < 2:
        return {"cost_affine_not_in_paper": "n/a (none shown at two or more input lengths)"}
    worst: dict[str, float] = {}
    for column, *_ in FITTED:
        for model, fit in fit_length_affine(others, column).items():
            worst[model] = max(worst.get(model, 0.0), fit.max_relative_residual)
    return {"cost_affine_not_in_paper": ", ".join(
        f"{MODEL_LABELS.get(m, m)} {100 * worst[m]:.1f}%" for m in models_in(others)
        if m in worst)}


def _linearity_texts(frame: pd.DataFrame) -> dict[str, str]:
    """How far each of the paper's architectures is from linear (affine and power-law fits).

    The prose quoting these speaks of the paper's architectures; the ones it did not study get
    :func:`_not_in_paper_texts`.
    """
    if len(frame):
        frame = frame[[m not in PRESETS or PRESETS[m].in_paper for m in frame["model"]]]
    keys = ("cost_affine", "cost_shortest", "cost_fixed_flops", "cost_fixed_memory",
            "cost_per_1024", "cost_encoder_exponents")
    if frame.empty or frame["length"].nunique() < 2:
        return dict.fromkeys(keys, "n/a (fewer than two input lengths)")
    shortest = int(frame["length"].min())
    residuals = [f.max_relative_residual for column, *_ in FITTED
                 for f in fit_length_affine(frame, column).values()]
    worst = max(residuals)
    affine = (f"is affine in the input length, a fixed part plus a part proportional to it, to "
              f"within {fmt(worst, 'percent', digits=1)} (the largest residual of the affine fits)"
              if worst <= AFFINE_TOLERANCE else
              f"is not affine in the input length: the affine fits leave residuals up to "
              f"{100 * worst:.1f}%")
    train = fit_length_affine(frame, "train_step_flops")
    memory = fit_length_affine(frame, "memory_per_sample_bytes")
    encoder = fit_length_exponent(frame, "encoder_forward_flops")

    def each(fits, text):
        return ", ".join(f"{MODEL_LABELS.get(m, m)} {text(fits[m])}"
                         for m in models_in(frame) if m in fits)

    def fixed(share):
        return fmt(share, "percent", digits=2)

    return {
        "cost_affine": affine,
        "cost_shortest": str(shortest),
        "cost_fixed_flops": each(train, lambda f: fixed(f.fixed_share(shortest))),
        "cost_fixed_memory": each(memory, lambda f: fixed(f.fixed_share(shortest))),
        "cost_per_1024": each(train, lambda f: fmt(1024 * f.slope, "flops")),
        "cost_encoder_exponents": each(encoder, lambda f: f"{f.exponent:.2f}"),
    }


def glue_texts(view: CostView, verdicts: list[Verdict]) -> dict[str, str]:
    """Every value the cost chapter's prose quotes, as text, keyed by its glue name.

    Args:
        view: the chapter's rows (:func:`open_reference`).
        verdicts: :func:`tradeoff.analysis.cost_claims.architecture_verdicts` of the rows.

    Returns:
        ``{glue name: text}``; "n/a" with a reason where rows are missing.
    """
    frame, reference = view.frame, view.reference
    checks = [c for c in reference.checks if c.target_length == view.target_length]
    if checks:
        check = checks[0]
        agree = ("exactly, in all" if check.largest == 0 else
                 f"to within a relative {fmt(check.largest, digits=1)} over the")
        check_text = (f"extrapolated from one- and two-layer builds; for "
                      f"{MODEL_LABELS.get(check.model, check.model)} at {check.length} tokens "
                      f"the extrapolation equals a full-depth count {agree} "
                      f"{len(check.relative_difference)} counted fields")
    else:
        check_text = "no extrapolation check is recorded for this target length"
    by_claim = {v.claim: v for v in reversed(verdicts)}  # the counted verdict of a claim first
    compute = by_claim.get(7)
    ratio = compute.numbers.get("train_flops_ratio") if compute else None
    longest = int(frame["length"].max()) if len(frame) else None

    def share(v):
        return fmt(v, "percent", digits=2)

    texts = {
        "cost_check": check_text,
        "cost_target": str(view.target_length),
        "cost_generated": str(int(frame["generated_tokens"].iloc[0])) if len(frame) else "n/a",
        "cost_attention_growth": _growth_text(frame, "attention_flops_share", share),
        "cost_attention_core_growth": _growth_text(frame, "attention_core_flops_share", share),
        "cost_longest": str(longest) if longest else "n/a",
        "cost_paper_batch": _paper_batch_text(view),
        # A bare number: the prose writes "costs {ratio}x LED-large's FLOPs".
        "cost_flops_ratio": fmt(ratio),
    }
    texts |= _measured_texts(view)
    texts |= _linearity_texts(frame) | _not_in_paper_texts(frame)
    return texts


def _measured_texts(view: CostView) -> dict[str, str]:
    """The measured-speed section's texts: which runs exist and their fits."""
    speed, folder = view.speed, display_path(view.measured_dir)
    if speed.empty:
        return {"cost_measured": f"There are no measured runs of the full architectures yet "
                                 f"({folder} holds none)",
                "cost_measured_exponents": "n/a (no measured runs)"}
    texts = {}
    cells = ", ".join(f"{MODEL_LABELS.get(m, m)} at "
                      + ", ".join(str(int(n)) for n in speed[speed["model"] == m]["length"])
                      for m in models_in(speed))
    failed = view.measured[view.measured["status"] != "ok"] if len(view.measured) else []
    texts["cost_measured"] = (
        f"{len(speed)} finished runs of the full architectures are in {folder} ({cells} tokens)"
        + (f"; {len(failed)} ended without finishing (" + "; ".join(
            f"{MODEL_LABELS.get(r.model, r.model)} at {int(r.length)}: "
            + ("out of memory" if r.status == "oom" else f"failed, {r.reason}")
            for r in failed.itertuples()) + ")" if len(failed) else ""))
    powers = fit_length_exponent(speed, "step_s_median")
    texts["cost_measured_exponents"] = ", ".join(
        f"{MODEL_LABELS.get(m, m)} {exponent_text(f, 2)}"
        for m, f in powers.items()) or "n/a (each model needs two lengths)"
    return texts


def reference_path_text(view: CostView) -> str:
    """The reference file, relative to the repository when it lies inside it."""
    return display_path(view.reference.path)
