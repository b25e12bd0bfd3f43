"""The cost chapter's figures: counted FLOPs, attention's share, memory and batch, linearity,
and measured time.

Each returns a fresh :class:`matplotlib.figure.Figure` and never raises on missing data (a
panel without rows says so).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.fits import fit_length_exponent
from ..tasks import GIB, H100_MEMORY_GB, PAPER_BATCHES, PAPER_CARD_GB
from .cost_tables import FITTED
from .style import (
    MODEL_COLORS,
    MODEL_LABELS,
    MODEL_MARKERS,
    length_axis,
    models_in,
    new_figure,
    no_data,
    plot_models,
)


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
