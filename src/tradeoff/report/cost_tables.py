"""The cost chapter's tables: counted rows, growth, fits, the paper's batches, measured time.

Each takes the chapter's frames (:class:`tradeoff.report.cost.CostView`) and returns a
DataFrame with worded headers and units, empty (with its columns) when there are no rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..analysis.fits import fit_length_affine, fit_length_exponent
from ..records.reference import TRAIN_STATE_BYTES_PER_PARAM
from ..tasks import GIB, H100_MEMORY_GB, PAPER_BATCHES, PAPER_CARD_GB
from ..numbers import fmt, unit_kind
from .style import MODEL_LABELS, models_in

# The costs whose growth with length the chapter fits: column, words, unit factor, unit.
FITTED = (("train_step_flops", "training FLOPs", 1e12, "TFLOP"),
          ("inference_flops", "inference FLOPs", 1e12, "TFLOP"),
          ("encoder_forward_flops", "encoder forward FLOPs", 1e12, "TFLOP"),
          ("memory_per_sample_bytes", "training memory", GIB, "GiB"))
# The measured times whose growth with length the chapter fits (``CostView.speed`` columns).
MEASURED_FITTED = (("step_s_median", "training step time (measured, median)", 1.0, "s"),
                   ("infer_s_per_sample", "inference time per sample (measured)", 1.0, "s"))


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
            a, b = value_at(frame, model, short, column), value_at(frame, model, long, column)
            name, rest = words.split(" (")
            row[f"{name} at {short} ({rest}"] = a / unit if a is not None else np.nan
            row[f"{name} at {long} ({rest}"] = b / unit if b is not None else np.nan
            row[f"{name}: ratio"] = b / a if a and b is not None else np.nan
        row[f"largest batch at {long}, {PAPER_CARD_GB:g} GB"] = value_at(frame, model, long,
                                                                   "max_batch_48gb")
        rows.append(row)
    return pd.DataFrame(rows)


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
                         exponent_text(power, 3),
                         100 * power.max_relative_residual,
                         100 * affine.fixed_share(shortest),
                         fmt(1024 * affine.slope / factor, unit_kind(unit), unit=unit),
                         # Exact fits leave rounding noise (1e-14 %), not a finding.
                         round(100 * affine.max_relative_residual, 3),
                         series.get(longest, math.nan) / series.get(shortest, math.nan)])
    return pd.DataFrame(rows, columns=columns)


def batch_comparison_table(view) -> pd.DataFrame:
    """The paper's reported batches beside the memory model's largest batch at each target
    (``view``: the chapter's :class:`~tradeoff.report.cost.CostView`)."""
    columns = ["model", "input length (tokens)", "paper's batch", "source",
               "target tokens", f"largest batch, {PAPER_CARD_GB:g} GB (memory model)",
               f"memory at the paper's batch (GiB, of {PAPER_CARD_GB:g})"]
    rows = []
    both = pd.concat([f for f in (view.frame, view.released) if len(f)]) \
        if len(view.frame) or len(view.released) else pd.DataFrame()
    for (model, length, batch), sources in paper_batches().items():
        hits = both[(both["model"] == model) & (both["length"] == length)] if len(both) else both
        for _, row in hits.sort_values("target_length", ascending=False).iterrows():
            rows.append([MODEL_LABELS.get(model, model), length, batch, sources,
                         int(row["target_length"]), int(row["max_batch_48gb"]),
                         memory_at(row, batch) / GIB])
    return pd.DataFrame(rows, columns=columns)


def memory_at(row, batch: int) -> float:
    return TRAIN_STATE_BYTES_PER_PARAM * row["params"] + batch * row["memory_per_sample_bytes"]


def value_at(frame: pd.DataFrame, model: str, length: int, column: str):
    hit = frame[(frame["model"] == model) & (frame["length"] == length)]
    return hit[column].iloc[0] if len(hit) else None


def paper_batches() -> dict[tuple[str, int, int], str]:
    """The paper's batches by (model, length, batch), their sources joined."""
    grouped: dict[tuple[str, int, int], list[str]] = {}
    for paper in PAPER_BATCHES:
        grouped.setdefault((paper.model, paper.length, paper.batch_size), []).append(
            f"{paper.dataset}: {paper.source}")
    return {key: "; ".join(sources) for key, sources in grouped.items()}


def exponent_text(fit, digits: int) -> str:
    """``a ± error``; two lengths fit exactly and leave no error to state."""
    if math.isfinite(fit.exponent_stderr):
        return f"{fit.exponent:.{digits}f} ± {fit.exponent_stderr:.{digits}f}"
    return f"{fit.exponent:.{digits}f} (two lengths: no error estimate)"
