"""The cost chapter: what the paper's full architectures cost, from the committed reference rows.

:func:`open_reference` checks the chapter's parameters and loads the rows (one line naming the
parameter when one is wrong, as :func:`tradeoff.report.chapter.open_chapter` does); the figure
functions return a fresh :class:`matplotlib.figure.Figure` each and never raise on missing data
(a panel without rows says so); the tables have worded headers with units; :func:`glue_texts`
writes every number the prose quotes, each with how it was obtained. Where the numbers come
from: :mod:`tradeoff.analysis.cost` (counted FLOPs, saved activations, the memory model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.verdict import Verdict
from ..analysis.cost import (
    cost_frame,
    CostReference,
    fit_length_affine,
    fit_length_exponent,
    load_reference,
    PAPER_BATCHES,
    ReferenceError,
    TRAIN_STATE_BYTES_PER_PARAM,
)
from ..tasks import GIB, H100_MEMORY_GB
from ..analysis.cost_claims import (
    PAPER_ARCHITECTURES,
    measured_speed,
    measured_training_time_verdict,
)
from ..analysis.table import tidy
from ..config import REPO_ROOT
from ..models import PRESETS
from .chapter import _fail, _yaml_hint, check_list, check_number
from ..errors import ParameterError
from .gpu import GpuRecords, open_gpu
from .style import (
    MODEL_COLORS,
    MODEL_LABELS,
    MODEL_MARKERS,
    fmt,
    length_axis,
    models_in,
    new_figure,
    no_data,
    plot_models,
    unit_kind,
)

# Measured runs of the full architectures on this CPU (the cpu-arch profile), once committed.
MEASURED_DIR = REPO_ROOT / "reference" / "cpu-arch"
PAPER_CARD_GB = 48.0
# The costs whose growth with length the chapter fits: column, words, unit factor, unit.
FITTED = (("train_step_flops", "training FLOPs", 1e12, "TFLOP"),
          ("inference_flops", "inference FLOPs", 1e12, "TFLOP"),
          ("encoder_forward_flops", "encoder forward FLOPs", 1e12, "TFLOP"),
          ("memory_per_sample_bytes", "training memory", GIB, "GiB"))
# The measured times whose growth with length the chapter fits (``CostView.speed`` columns).
MEASURED_FITTED = (("step_s_median", "training step time (measured, median)", 1.0, "s"),
                   ("infer_s_per_sample", "inference time per sample (measured)", 1.0, "s"))


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
        raise _fail("reference_file", reference_file, "a path to the cost reference or None",
                    "With papermill: -p reference_file reference/cost/cost-rows.json.")
    check_list("architectures", models, str, '["led-base", "led-large"]', allowed=tuple(PRESETS))
    check_list("input_lengths", lengths, int, "[1024, 4096]")
    check_number("target_length", target_length, integer=True, minimum=1)
    check_number("released_target_length", released_target_length, integer=True, minimum=1)
    if measured_dir is not None and (not isinstance(measured_dir, str) or not measured_dir):
        raise _fail("measured_dir", measured_dir, "a folder of run records or None",
                    "With papermill: -p measured_dir reference/cpu-arch.")
    try:
        reference = load_reference(reference_file)
    except ReferenceError as err:
        raise ParameterError(f"parameter `reference_file`: {err}") from None
    if target_length not in reference.target_lengths:
        raise _fail("target_length", target_length, "a target length with reference rows "
                    f"({', '.join(map(str, reference.target_lengths))})",
                    f"With papermill: -p target_length {reference.target_lengths[-1]}.")
    rows = reference.select(target_length, models, lengths)
    for model in models:
        counted = {r.length for r in rows if r.model == model}
        missing = [n for n in lengths if n not in counted]
        if missing:
            have = sorted({r.length for r in reference.select(target_length, [model])})
            raise _fail("input_lengths", lengths,
                        f"lengths with reference rows of {model} at {target_length}-token "
                        f"targets (counted: {', '.join(map(str, have)) or 'none'}; missing: "
                        f"{', '.join(map(str, missing))})", _yaml_hint("input_lengths", str(have)))
    released = reference.select(released_target_length, models, lengths)
    folder = Path(MEASURED_DIR if measured_dir is None else measured_dir)
    records = measured_records(folder)
    gpu = open_gpu(gpu_dir)
    return CostView(reference, cost_frame(rows), cost_frame(released), target_length,
                    released_target_length, tidy(records) if records else pd.DataFrame(),
                    measured_speed(records, reference), str(folder), gpu,
                    measured_speed(gpu.records, reference))


def measured_records(folder: Path | str) -> list:
    """The run records in ``folder``; none when it has no record."""
    from ..records import load_records

    folder = Path(folder)
    return load_records(folder) if folder.is_dir() and any(folder.glob("*.json")) else []


# ------------------------------------------------------------------------------------ figures


def _series(frame: pd.DataFrame, model: str, column: str) -> pd.DataFrame:
    return frame[frame["model"] == model].dropna(subset=[column]).sort_values("length")


def _line(ax, frame: pd.DataFrame, model: str, column: str, factor: float = 1.0, *,
          style: str = "-", label: bool = True, hollow: bool = False) -> bool:
    series = _series(frame, model, column)
    if series.empty:
        return False
    color = MODEL_COLORS.get(model)
    ax.plot(series["length"], series[column].to_numpy(float) * factor, style,
            marker=MODEL_MARKERS.get(model, "o"), color=color, linewidth=1.5, markersize=6,
            markerfacecolor="white" if hollow else color,
            label=MODEL_LABELS.get(model, model) if label else None)
    return True


def flops_figure(frame: pd.DataFrame) -> Figure:
    """Counted FLOPs per sample against input length: a training step and an inference.

    Args:
        frame: cost rows (``cost_frame``) of one target length.

    Returns:
        A Figure with two panels, one line per model.
    """
    fig, axes = new_figure(ncols=2, width=4.6, height=3.5)
    target = int(frame["target_length"].iloc[0]) if len(frame) else None
    tokens = int(frame["generated_tokens"].iloc[0]) if len(frame) else None
    panels = [("train_step_flops", "training step, forward + backward",
               f"TFLOP per sample ({target}-token target)"),
              ("inference_flops", "inference, encoder pass + greedy decoding",
               f"TFLOP per input ({tokens} tokens generated)")]
    for ax, (column, title, label) in zip(axes.flat, panels):
        ax.set_title(title)
        if frame.empty or not plot_models(ax, frame, "length", column, annotate=False,
                                          y_factor=1e-12):
            no_data(ax, "no cost rows")
            continue
        length_axis(ax, frame)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
    fig.suptitle("FLOPs per sample (counted: matmul-like ops only), batch 1")
    return fig


def attention_figure(frame: pd.DataFrame) -> Figure:
    """Attention's share of the counted FLOPs against input length.

    Left: the training forward, with the attention modules' projections (solid) and without
    them (dashed: scores and weighted sums only). Right: inference (modules with projections).

    Args:
        frame: cost rows of one target length.

    Returns:
        A Figure with two panels, one colour per model.
    """
    fig, axes = new_figure(ncols=2, width=4.6, height=3.5)
    left, right = axes[0, 0], axes[0, 1]
    left.set_title("training forward\n(solid: with projections; dashed: without)")
    right.set_title("inference (with projections)")
    drawn = False
    for model in models_in(frame) if len(frame) else []:
        drawn |= _line(left, frame, model, "attention_flops_share", 100)
        _line(left, frame, model, "attention_core_flops_share", 100, style="--", label=False)
        _line(right, frame, model, "inference_attention_flops_share", 100)
    if not drawn:
        for ax in (left, right):
            no_data(ax, "no cost rows")
        return fig
    for ax in (left, right):
        length_axis(ax, frame)
        ax.set_ylabel("share of counted FLOPs in attention (%)")
        ax.set_ylim(0, 100)
        ax.legend(frameon=False)
    fig.suptitle("How much of the compute is attention")
    return fig


def memory_figure(frame: pd.DataFrame, released: pd.DataFrame | None = None) -> Figure:
    """Training memory per sample and the largest batch that fits, against input length.

    Left: bytes that grow with the batch (saved activations + output logits) per sample.
    Right: the memory model's largest batch on the paper's 48 GB A6000 (solid) and an 80 GB
    H100 (dashed); the paper's reported batch as a black star; where rows of the released
    code's target length exist, their 48 GB batch as hollow markers.

    Args:
        frame: cost rows of one target length.
        released: cost rows of the released code's target length (optional).

    Returns:
        A Figure with two panels.
    """
    fig, axes = new_figure(ncols=2, width=4.6, height=3.6)
    left, right = axes[0, 0], axes[0, 1]
    target = int(frame["target_length"].iloc[0]) if len(frame) else None
    left.set_title("memory that grows with the batch")
    right.set_title(f"largest batch (solid: {PAPER_CARD_GB:g} GB; dashed: {H100_MEMORY_GB:g} GB)")
    if frame.empty:
        for ax in (left, right):
            no_data(ax, "no cost rows")
        return fig
    for model in models_in(frame):
        _line(left, frame, model, "memory_per_sample_bytes", 1 / GIB)
        _line(right, frame, model, "max_batch_48gb")
        _line(right, frame, model, "max_batch_80gb", style="--", label=False)
        if released is not None and len(released):
            _line(right, released, model, "max_batch_48gb", style="", label=False, hollow=True)
    shown = set(frame["model"])
    papers = [b for b in PAPER_BATCHES if b.model in shown]
    for i, batch in enumerate({(b.model, b.length, b.batch_size) for b in papers}):
        right.scatter([batch[1]], [batch[2]], marker="*", s=140, color="black", zorder=5,
                      label="paper's batch" if i == 0 else None)
    if released is not None and len(released):
        right.plot([], [], "o", markerfacecolor="white", color="0.3",
                   label=f"48 GB with {int(released['target_length'].iloc[0])}-token targets")
    length_axis(left, frame)
    length_axis(right, frame)
    left.set_ylabel(f"GiB per sample (saved activations + logits,\n{target}-token target)")
    left.set_ylim(bottom=0)
    right.set_ylabel("largest batch (memory model: an upper bound)")
    right.set_ylim(bottom=0)
    left.legend(frameon=False)
    right.legend(frameon=False)
    fig.suptitle("Training memory per sample, and the largest batch beside the fixed 16 bytes "
                 "a parameter of fp32 weights, gradients and AdamW")
    return fig


def linearity_figure(frame: pd.DataFrame) -> Figure:
    """How far each architecture is from linear in the input length.

    Left: training FLOPs (solid) and training memory per sample (dotted) relative to the
    shortest length, beside a cost proportional to the length (grey) and a constant one.
    Right: the fitted exponent ``a`` of ``cost ~ length^a`` per model with its standard error;
    1 is linear.

    Args:
        frame: cost rows of one target length.

    Returns:
        A Figure with two panels.
    """
    fig, axes = new_figure(ncols=2, width=4.6, height=3.6)
    left, right = axes[0, 0], axes[0, 1]
    left.set_title("cost relative to the shortest length\n(solid: training FLOPs; dotted: memory)")
    right.set_title("fitted exponent a of cost ~ length^a")
    models = models_in(frame) if len(frame) else []
    if frame.empty or frame["length"].nunique() < 2:
        for ax in (left, right):
            no_data(ax, "fewer than two input lengths")
        return fig
    shortest = frame["length"].min()
    lengths = np.array(sorted(frame["length"].unique()), float)
    left.plot(lengths, lengths / shortest, color="0.6", linewidth=3, alpha=0.5,
              label="proportional to length")
    left.axhline(1, color="0.6", linestyle=":", linewidth=1)
    for model in models:
        for column, style, label in (("train_step_flops", "-", True),
                                     ("memory_per_sample_bytes", ":", False)):
            series = _series(frame, model, column)
            base = series[series["length"] == shortest][column]
            if series.empty or base.empty or not base.iloc[0]:
                continue
            left.plot(series["length"], series[column] / base.iloc[0], style,
                      marker=MODEL_MARKERS.get(model, "o"), color=MODEL_COLORS.get(model),
                      label=MODEL_LABELS.get(model, model) if label else None)
    length_axis(left, frame)
    left.set_ylabel(f"cost / cost at {int(shortest)} tokens")
    left.legend(frameon=False)

    width = 0.8 / max(len(models), 1)
    positions = np.arange(len(FITTED))
    for i, model in enumerate(models):
        exponents, errors = [], []
        for column, *_ in FITTED:
            fit = fit_length_exponent(frame[frame["model"] == model], column).get(model)
            exponents.append(fit.exponent if fit else math.nan)
            errors.append(fit.exponent_stderr if fit else math.nan)
        right.bar(positions + (i - (len(models) - 1) / 2) * width, exponents, width,
                  yerr=np.nan_to_num(errors), capsize=3, color=MODEL_COLORS.get(model),
                  label=MODEL_LABELS.get(model, model))
    right.axhline(1, color="0.3", linestyle="--", linewidth=1)
    right.set_xticks(positions)
    right.set_xticklabels([words.replace(" FLOPs", "\nFLOPs").replace(" memory", "\nmemory")
                           for _, words, *_ in FITTED], fontsize=8)
    right.set_ylabel("exponent (1 = linear; error bar: standard error)")
    right.set_ylim(0, 1.35)
    right.legend(frameon=False, loc="upper center", ncol=3)
    return fig


def measured_figure(speed: pd.DataFrame) -> Figure:
    """Measured time of the full architectures against input length, and the FLOP/s achieved.

    Left: seconds per timed training step (median, bars from the fastest to the slowest step)
    and per inference sample (dashed). Right: counted FLOPs over the measured median time, for
    training (solid) and inference (dashed).

    Args:
        speed: ``CostView.speed``.

    Returns:
        A Figure with two panels, one colour per model.
    """
    fig, axes = new_figure(ncols=2, width=4.6, height=3.5)
    left, right = axes.flat
    left.set_title("time, batch 1 (measured)")
    right.set_title("achieved throughput (counted / measured)")
    if speed.empty:
        for ax in (left, right):
            no_data(ax, "no measured runs yet")
        return fig
    for model in models_in(speed):
        rows = _series(speed, model, "step_s_median")
        color, marker = MODEL_COLORS.get(model), MODEL_MARKERS.get(model, "o")
        median = rows["step_s_median"].to_numpy(float)
        spread = [median - rows["step_s_min"].to_numpy(float),
                  rows["step_s_max"].to_numpy(float) - median]
        left.errorbar(rows["length"], median, yerr=spread, color=color, marker=marker,
                      capsize=3, label=f"{MODEL_LABELS.get(model, model)} training step")
        _line(left, speed, model, "infer_s_per_sample", style="--", label=False, hollow=True)
        _line(right, speed, model, "achieved_train_gflops")
        _line(right, speed, model, "achieved_infer_gflops", style="--", label=False, hollow=True)
    for ax, label in ((left, "seconds (dashed: inference per sample)"),
                      (right, "GFLOP/s (dashed: inference)")):
        length_axis(ax, speed)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
    left.legend(frameon=False, fontsize="small")
    hardware = ", ".join(sorted(set(speed["hardware"])))
    fig.suptitle(f"Measured ({hardware}): random weights, batch 1")
    return fig


def measured_table(speed: pd.DataFrame) -> pd.DataFrame:
    """The measured runs with worded headers and units, one row per model x length."""
    columns = ["model", "input length (tokens)", "timed steps",
               "training step, median (s)", "fastest - slowest step",
               "inference per sample (s)", "training step (TFLOP, counted)",
               "achieved training GFLOP/s", "achieved inference GFLOP/s",
               "peak resident memory in training (GiB, sampled)", "machine load, 5-min average"]
    if speed.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({
        columns[0]: [MODEL_LABELS.get(m, m) for m in speed["model"]],
        columns[1]: speed["length"].astype(int),
        columns[2]: speed["timed_steps"].astype(int),
        columns[3]: speed["step_s_median"],
        columns[4]: [f"{fmt(a, 'time')} - {fmt(b, 'time')}"
                     for a, b in zip(speed["step_s_min"], speed["step_s_max"])],
        columns[5]: speed["infer_s_per_sample"],
        columns[6]: speed["train_flops_per_step"] / 1e12,
        columns[7]: speed["achieved_train_gflops"],
        columns[8]: speed["achieved_infer_gflops"],
        columns[9]: speed["peak_rss_gib"],
        columns[10]: speed["load_average_5m"],
    })[columns]


def gpu_table(speed: pd.DataFrame) -> pd.DataFrame:
    """Runs on a lent GPU measured against the cost model: the batch the finder settled on and
    the allocator's peak beside the memory model's, and the FLOP/s achieved beside the card's
    peak (MFU), one row per model x length x knob.

    Args:
        speed: ``CostView.gpu_speed``.

    Returns:
        The table with worded headers and units; empty without GPU runs.
    """
    columns = ["model", "input length (tokens)", "knob", "batch (found, 48 GB cap)",
               "largest batch (memory model)", "peak allocated (GiB)",
               "memory model at that batch (GiB)", "peak / model", "samples/s (steady)",
               "achieved TFLOP/s (counted / measured)", "MFU (%)", "peak it is measured against"]
    if speed.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame({
        columns[0]: [MODEL_LABELS.get(m, m) for m in speed["model"]],
        columns[1]: speed["length"].astype(int),
        columns[2]: speed["variant"],
        columns[3]: speed["batch_size"],
        columns[4]: speed["predicted_max_batch"],
        columns[5]: speed["max_memory_allocated_gib"],
        columns[6]: speed["predicted_memory_gib"],
        columns[7]: speed["max_memory_allocated_gib"] / speed["predicted_memory_gib"],
        columns[8]: speed["steady_samples_per_s"],
        columns[9]: speed["achieved_steady_gflops"] / 1e3,
        columns[10]: speed["mfu"] * 100,
        columns[11]: speed["peak_name"],
    })[columns]


# ------------------------------------------------------------------------------------- tables


def cost_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The counted rows with worded headers and units, one row per model x length."""
    columns = ["model", "input length (tokens)", "parameters (M)",
               "training step (TFLOP / sample)", "inference (TFLOP)", "encoder forward (TFLOP)",
               "attention share of the training forward (%)", "memory per sample (GiB)",
               f"largest batch, {PAPER_CARD_GB:g} GB", f"largest batch, {H100_MEMORY_GB:g} GB",
               "paper's batch", "how obtained"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame({
        "model": [MODEL_LABELS.get(m, m) for m in frame["model"]],
        columns[1]: frame["length"].astype(int),
        columns[2]: frame["params"] / 1e6,
        columns[3]: frame["train_step_flops"] / 1e12,
        columns[4]: frame["inference_flops"] / 1e12,
        columns[5]: frame["encoder_forward_flops"] / 1e12,
        columns[6]: frame["attention_flops_share"] * 100,
        columns[7]: frame["memory_per_sample_bytes"] / GIB,
        columns[8]: frame["max_batch_48gb"].astype(int),
        columns[9]: frame["max_batch_80gb"].astype(int),
        columns[10]: frame["paper_batch"].astype("Int64"),
        columns[11]: frame["method"],
    })
    return out[columns]


def growth_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Each architecture's counted cost at the shortest and the longest length, and the ratio.

    One row per model: training FLOPs, inference FLOPs and memory per sample at both ends,
    each followed by longest over shortest (what four times the input costs, from 1024 to
    4096 tokens), and the largest batch on the paper's card at the longest length.
    """
    if frame.empty:
        return pd.DataFrame(columns=["model"])
    short, long = int(frame["length"].min()), int(frame["length"].max())
    quantities = (("training step (TFLOP)", "train_step_flops", 1e12),
                  ("inference (TFLOP)", "inference_flops", 1e12),
                  ("memory per sample (GiB)", "memory_per_sample_bytes", GIB))
    rows = []
    for model in models_in(frame):
        row = {"model": MODEL_LABELS.get(model, model)}
        for words, column, unit in quantities:
            a, b = _by(frame, model, short, column), _by(frame, model, long, column)
            name, rest = words.split(" (")
            row[f"{name} at {short} ({rest}"] = a / unit if a is not None else np.nan
            row[f"{name} at {long} ({rest}"] = b / unit if b is not None else np.nan
            row[f"{name}: ratio"] = b / a if a and b is not None else np.nan
        row[f"largest batch at {long}, {PAPER_CARD_GB:g} GB"] = _by(frame, model, long,
                                                                   "max_batch_48gb")
        rows.append(row)
    return pd.DataFrame(rows)


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

    batches = ", ".join(f"{MODEL_LABELS.get(m, m)} {_by(frame, m, long, 'max_batch_48gb')}"
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


def fits_table(frame: pd.DataFrame, fitted=FITTED) -> pd.DataFrame:
    """Per model and cost: the power-law exponent with its error, and the affine fit.

    ``fitted`` names the costs: (column, words, unit factor, unit) each; the counted ones by
    default, ``MEASURED_FITTED`` for the measured times of ``CostView.speed``.

    Columns: the exponent ``a`` of ``cost ~ length^a`` with its standard error and largest
    relative residual; the affine fit ``cost = fixed + per-token x length``: the fixed part's
    share at the shortest length, what 1024 more tokens add, its largest residual; and the
    cost at the longest length over the shortest (``longest / shortest`` for a linear cost).
    """
    columns = ["model", "cost", "exponent a (± standard error)",
               "power law: largest residual (%)", "fixed part at the shortest length (%)",
               "added per 1024 tokens", "affine: largest residual (%)"]
    rows = []
    if frame.empty or frame["length"].nunique() < 2:
        return pd.DataFrame(columns=columns + ["longest / shortest"])
    shortest, longest = int(frame["length"].min()), int(frame["length"].max())
    columns.append(f"cost at {longest} / at {shortest} tokens (proportional: "
                   f"{longest / shortest:g})")
    for column, words, factor, unit in fitted:
        powers = fit_length_exponent(frame, column)
        affines = fit_length_affine(frame, column)
        for model in models_in(frame):
            if model not in powers or model not in affines:
                continue
            power, affine = powers[model], affines[model]
            series = frame[frame["model"] == model].set_index("length")[column]
            rows.append([MODEL_LABELS.get(model, model), words,
                         _exponent_text(power, 3),
                         100 * power.max_relative_residual,
                         100 * affine.fixed_share(shortest),
                         fmt(1024 * affine.slope / factor, unit_kind(unit), unit=unit),
                         # Exact fits leave rounding noise (1e-14 %), not a finding.
                         round(100 * affine.max_relative_residual, 3),
                         series.get(longest, math.nan) / series.get(shortest, math.nan)])
    return pd.DataFrame(rows, columns=columns)


def batch_comparison_table(view: CostView) -> pd.DataFrame:
    """The paper's reported batches beside the memory model's largest batch at each target."""
    columns = ["model", "input length (tokens)", "paper's batch", "source",
               "target tokens", f"largest batch, {PAPER_CARD_GB:g} GB (memory model)",
               f"memory at the paper's batch (GiB, of {PAPER_CARD_GB:g})"]
    rows = []
    both = pd.concat([f for f in (view.frame, view.released) if len(f)]) \
        if len(view.frame) or len(view.released) else pd.DataFrame()
    for (model, length, batch), sources in _paper_batches().items():
        hits = both[(both["model"] == model) & (both["length"] == length)] if len(both) else both
        for _, row in hits.sort_values("target_length", ascending=False).iterrows():
            rows.append([MODEL_LABELS.get(model, model), length, batch, sources,
                         int(row["target_length"]), int(row["max_batch_48gb"]),
                         _memory_at(row, batch) / GIB])
    return pd.DataFrame(rows, columns=columns)


def _memory_at(row, batch: int) -> float:
    return TRAIN_STATE_BYTES_PER_PARAM * row["params"] + batch * row["memory_per_sample_bytes"]


# --------------------------------------------------------------------------------- prose


def _by(frame: pd.DataFrame, model: str, length: int, column: str):
    hit = frame[(frame["model"] == model) & (frame["length"] == length)]
    return hit[column].iloc[0] if len(hit) else None


def _growth_text(frame: pd.DataFrame, column: str, text) -> str:
    shortest, longest = frame["length"].min(), frame["length"].max()
    parts = []
    for model in models_in(frame):
        a, b = _by(frame, model, shortest, column), _by(frame, model, longest, column)
        if a is None or b is None:
            continue
        name = MODEL_LABELS.get(model, model)
        parts.append(f"{name} {text(a)} to {text(b)} ({fmt(b / a, 'ratio')})" if a
                     else f"{name} {text(b)}")
    return "; ".join(parts) or "n/a (no rows)"


def _paper_batches() -> dict[tuple[str, int, int], str]:
    """The paper's batches by (model, length, batch), their sources joined."""
    grouped: dict[tuple[str, int, int], list[str]] = {}
    for paper in PAPER_BATCHES:
        grouped.setdefault((paper.model, paper.length, paper.batch_size), []).append(
            f"{paper.dataset}: {paper.source}")
    return {key: "; ".join(sources) for key, sources in grouped.items()}


def _datasets(sources: str) -> str:
    """The datasets named in joined sources (``dataset: source; ...``), in words."""
    from ..tasks import DATASET_LABELS

    names = [part.split(":", 1)[0].strip() for part in sources.split("; ")]
    return " and ".join(DATASET_LABELS.get(n, n) for n in names)


def _paper_batch_text(view: CostView) -> str:
    """The paper's batch against the memory model, and the reason where they differ."""
    sentences = []
    for (model, length, batch), sources in _paper_batches().items():
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
        need = _memory_at(row, batch)
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
    versions = reference.versions()
    written = sorted(set(reference.written))
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
        "cost_versions": "; ".join(f"{k} {', '.join(v)}" for k, v in versions.items()),
        "cost_written": ", ".join(written) or "n/a",
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
    speed, folder = view.speed, _display_path(view.measured_dir)
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
        f"{MODEL_LABELS.get(m, m)} {_exponent_text(f, 2)}"
        for m, f in powers.items()) or "n/a (each model needs two lengths)"
    return texts


def _exponent_text(fit, digits: int) -> str:
    """``a ± error``; two lengths fit exactly and leave no error to state."""
    if math.isfinite(fit.exponent_stderr):
        return f"{fit.exponent:.{digits}f} ± {fit.exponent_stderr:.{digits}f}"
    return f"{fit.exponent:.{digits}f} (two lengths: no error estimate)"


def _display_path(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def reference_path_text(view: CostView) -> str:
    """The reference file, relative to the repository when it lies inside it."""
    return _display_path(view.reference.path)

