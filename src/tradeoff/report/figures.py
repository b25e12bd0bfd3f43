"""The paper's figures (1-6) and the book's additions (traces, Pareto frontiers), from run records.

Every function returns a fresh :class:`matplotlib.figure.Figure` and never raises on missing
data: a panel without finished runs says so. Axis labels say when energy is an estimate and
when accuracy is the validation loss (:mod:`tradeoff.report.provenance`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.recommend import pareto_frontier
from ..analysis.table import KEYS, configurations, ok_rows
from ..tasks import DATASETS, MODELS
from ..records import (
    ENERGY_KWH,
    INFER_SPEED,
    POWER_EFFICIENCY,
    TRAIN_SPEED,
    TRAIN_TIME,
    RunRecord,
)
from .provenance import energy_note
from .style import (
    MODEL_COLORS,
    MODEL_LABELS,
    MODEL_MARKERS,
    dataset_label,
    energy_scale,
    length_axis,
    models_in,
    new_figure,
    no_data,
    plot_models,
    signal_label,
)

_GPU_POWER = re.compile(r"gpu\d+_power_w")


def accuracy_vs_power_efficiency(frame: pd.DataFrame, dataset: str,
                                 signal: str = "headline") -> Figure:
    """Figure 1: accuracy against power efficiency, one line per model through its lengths.

    Args:
        frame: the tidy table.
        dataset: the dataset to draw.
        signal: accuracy signal (:func:`accuracy_signal`).

    Returns:
        A Figure; points are annotated with their input length.
    """
    configs = configurations(frame, signal, dataset=dataset)
    return _accuracy_panel(frame, configs, dataset, signal, POWER_EFFICIENCY,
                           "accuracy vs power efficiency", "power efficiency",
                           "power efficiency (samples / s / W)")


def energy_vs_accuracy(frame: pd.DataFrame, dataset: str, signal: str = "headline") -> Figure:
    """Figure 2: total training energy against accuracy, one line per model through its lengths.

    Args:
        frame: the tidy table.
        dataset: the dataset to draw.
        signal: accuracy signal.

    Returns:
        A Figure; energy in kWh as the paper, or Wh / J when the runs are small.
    """
    configs = configurations(frame, signal, dataset=dataset)
    factor, unit = energy_scale(configs[ENERGY_KWH] if len(configs) else [])
    return _accuracy_panel(frame, configs, dataset, signal, ENERGY_KWH,
                           "training energy vs accuracy", "training energy",
                           f"total training energy ({unit})", factor)


def _accuracy_panel(frame: pd.DataFrame, configs: pd.DataFrame, dataset: str, signal: str,
                    x: str, title: str, measure: str, xlabel: str, factor: float = 1.0) -> Figure:
    """One panel of accuracy (y) against a measure (x), one line per model through its lengths;
    the x label notes how the energy was measured."""
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.set_title(f"{dataset_label(dataset)}: {title}")
    if not plot_models(ax, configs, x, "value", x_factor=factor):
        no_data(ax, f"no finished runs with {measure} and {signal} on {dataset_label(dataset)}")
        return fig
    rows = ok_rows(frame)
    ax.set_xlabel(xlabel + energy_note(rows[rows["dataset"] == dataset]))
    ax.set_ylabel(signal_label(signal, dataset))
    return fig


def speed_vs_length(frame: pd.DataFrame, dataset: str, which: str = "train") -> Figure:
    """Figures 3 and 4: training or inference speed (samples/s) against input length.

    Args:
        frame: the tidy table.
        dataset: the dataset to draw.
        which: ``"train"`` (Figure 3) or ``"infer"`` (Figure 4).

    Returns:
        A Figure with one line per model.

    Raises:
        ValueError: ``which`` is neither "train" nor "infer".
    """
    if which not in ("train", "infer"):
        raise ValueError(f"which must be 'train' or 'infer', got {which!r}")
    column = TRAIN_SPEED if which == "train" else INFER_SPEED
    phase = "training" if which == "train" else "inference"
    configs = configurations(frame, dataset=dataset)
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.set_title(f"{dataset_label(dataset)}: {phase} speed vs input length")
    if not plot_models(ax, configs, "length", column, annotate=False):
        no_data(ax, f"no finished runs with {phase} speed on {dataset_label(dataset)}")
        return fig
    length_axis(ax, configs)
    ax.set_ylabel(f"{phase} speed (samples / s)")
    return fig


def qasper_efficiency(frame: pd.DataFrame, dataset: str = "qasper") -> Figure:
    """Figure 5: Qasper's four efficiency measures against input length, per model.

    Power efficiency, total training energy, training speed and inference speed, one panel each.

    Args:
        frame: the tidy table.
        dataset: the dataset (the paper's Figure 5 is Qasper).

    Returns:
        A 2 x 2 Figure.
    """
    configs = configurations(frame, dataset=dataset)
    factor, unit = energy_scale(configs[ENERGY_KWH] if len(configs) else [])
    rows = ok_rows(frame)
    note = energy_note(rows[rows["dataset"] == dataset])
    panels = [(POWER_EFFICIENCY, "power efficiency (samples / s / W)" + note, 1.0),
              (ENERGY_KWH, f"total training energy ({unit})" + note, factor),
              (TRAIN_SPEED, "training speed (samples / s)", 1.0),
              (INFER_SPEED, "inference speed (samples / s)", 1.0)]
    fig, axes = new_figure(ncols=2, nrows=2, width=4.6, height=3.3)
    fig.suptitle(f"{dataset_label(dataset)}: efficiency vs input length")
    for ax, (column, label, scale) in zip(axes.flat, panels):
        if not plot_models(ax, configs, "length", column, annotate=False, y_factor=scale):
            no_data(ax, f"no finished runs with {label.splitlines()[0]}")
            continue
        length_axis(ax, configs)
        ax.set_ylabel(label)
    return fig


def batch_size_effect(frame: pd.DataFrame, signal: str = "headline", model: str | None = None,
                      dataset: str = "qasper") -> Figure:
    """The paper's preliminary study: a bigger batch (gradient accumulation) on Qasper.

    Left: accuracy against input length, one line per accumulation value; right: training
    energy, to show what the bigger batch costs.

    Args:
        frame: the tidy table.
        signal: accuracy signal.
        model: the study's model; None picks the model with several accumulation values on
            the dataset (else LED-base, the paper's).
        dataset: the dataset of the study.

    Returns:
        A Figure with two panels.
    """
    configs = configurations(frame, signal, dataset=dataset, main=False)
    if model is None:
        counts = configs.groupby("model")["grad_accum"].nunique() if len(configs) else pd.Series()
        studied = [m for m in models_in(configs) if counts.get(m, 0) > 1]
        model = studied[0] if studied else "led-base"
    configs = configs[configs["model"] == model]
    factor, unit = energy_scale(configs[ENERGY_KWH] if len(configs) else [])
    fig, axes = new_figure(ncols=2, width=4.6, height=3.5)
    fig.suptitle(f"{dataset_label(dataset)}, {MODEL_LABELS.get(model, model)}: effect of a bigger batch "
                 f"(gradient accumulation)")
    accums = sorted(configs["grad_accum"].dropna().unique()) if len(configs) else []
    styles = ["-", "--", ":", "-."]
    rows = ok_rows(frame)
    for ax, (column, label, scale) in zip(
            axes.flat, [("value", signal_label(signal, dataset), 1.0),
                        (ENERGY_KWH, f"total training energy ({unit})"
                         + energy_note(rows[rows["dataset"] == dataset]), factor)]):
        drawn = 0
        for i, accum in enumerate(accums):
            series = configs[configs["grad_accum"] == accum].dropna(subset=[column])
            series = series.sort_values("length")
            if series.empty:
                continue
            batch = series["effective_batch_size"].dropna()
            batch_text = f", effective batch {batch.iloc[0]:g}" if len(batch) else ""
            ax.plot(series["length"], series[column].to_numpy(float) * scale,
                    linestyle=styles[i % len(styles)], marker=MODEL_MARKERS.get(model, "o"),
                    color=MODEL_COLORS.get(model), alpha=1.0 - 0.25 * min(i, 2),
                    label=f"accumulation {int(accum)}{batch_text}")
            drawn += 1
        if not drawn:
            no_data(ax, f"no finished runs of {model} on {dataset_label(dataset)}")
            continue
        if len(accums) < 2:
            ax.text(0.02, 0.02, "only one accumulation value: no batch-size study in these runs",
                    transform=ax.transAxes, fontsize=7, color="0.4")
        length_axis(ax, configs)
        ax.set_ylabel(label)
        ax.legend(frameon=False)
    return fig


def deep_dive(frame: pd.DataFrame, dataset: str = "govreport") -> Figure:
    """Figure 6: mean utilization, mean memory and training time per model and length.

    On GPU records: mean GPU utilization (%) and mean GPU memory (MiB). On CPU records (no GPU
    measured) the CPU equivalents: mean process CPU utilization (% of one core) and mean
    resident memory (MiB), labelled as such.

    Args:
        frame: the tidy table.
        dataset: the dataset (the paper's deep-dive is GovReport).

    Returns:
        A Figure with three panels of grouped bars (x: length, one bar per model).
    """
    configs = configurations(frame, dataset=dataset)
    on_gpu = len(configs) and configs["train_gpu_util_mean_pct"].notna().any()
    if on_gpu:
        panels = [("train_gpu_util_mean_pct", "mean GPU utilization (%)"),
                  ("train_gpu_mem_mean_mib", "mean GPU memory (MiB)"),
                  (TRAIN_TIME, "training time (s)")]
        title = f"{dataset_label(dataset)}: GPU utilization, memory and training time"
    else:
        panels = [("train_cpu_util_mean_pct", "mean CPU utilization (% of one core)\n"
                                              "CPU equivalent of GPU utilization"),
                  ("train_rss_mean_mib", "mean resident memory (MiB)\nCPU equivalent of GPU memory"),
                  (TRAIN_TIME, "training time (s)")]
        title = (f"{dataset_label(dataset)}: CPU utilization, memory and training time "
                 f"(CPU run: no GPU measured)")
    fig, axes = new_figure(ncols=3, width=3.8, height=3.4)
    fig.suptitle(title)
    models = models_in(configs)
    lengths = sorted({int(v) for v in configs["length"]}) if len(configs) else []
    width = 0.8 / max(len(models), 1)
    for ax, (column, label) in zip(axes.flat, panels):
        drawn = 0
        for i, model in enumerate(models):
            series = configs[configs["model"] == model].set_index("length")[column].dropna()
            if series.empty:
                continue
            xs = [lengths.index(int(length)) + (i - (len(models) - 1) / 2) * width
                  for length in series.index]
            ax.bar(xs, series.to_numpy(float), width=width, color=MODEL_COLORS.get(model),
                   label=MODEL_LABELS.get(model, model))
            drawn += 1
        if not drawn:
            no_data(ax, f"not measured: {label.splitlines()[0]}")
            continue
        ax.set_xticks(range(len(lengths)), [str(n) for n in lengths])
        ax.set_xlabel("input length (tokens)")
        ax.set_ylabel(label)
        ax.grid(False, axis="x")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, frameon=False, loc="outside lower center", ncols=len(handles))
    return fig


def time_vs_energy(frame: pd.DataFrame, dataset: str = "govreport") -> Figure:
    """Training time against total training energy, one point per run (finding 7).

    Args:
        frame: the tidy table.
        dataset: the dataset.

    Returns:
        A Figure with one line per model through its lengths (seeds averaged).
    """
    configs = configurations(frame, dataset=dataset)
    factor, unit = energy_scale(configs[ENERGY_KWH] if len(configs) else [])
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.set_title(f"{dataset_label(dataset)}: training time vs training energy")
    if not plot_models(ax, configs, TRAIN_TIME, ENERGY_KWH, y_factor=factor):
        no_data(ax, f"no finished runs with training time and energy on {dataset_label(dataset)}")
        return fig
    rows = ok_rows(frame)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(f"total training energy ({unit})" + energy_note(rows[rows["dataset"] == dataset]))
    return fig


def _trace_power(rows: pd.DataFrame) -> pd.Series | None:
    columns = [c for c in rows.columns if _GPU_POWER.fullmatch(c)]
    if not columns or rows[columns].isna().all().all():
        return None
    return rows[columns].sum(axis=1, min_count=1)


def power_traces(records: Sequence[RunRecord], dataset: str, *,
                 models: Iterable[str] | None = None, lengths: Iterable[int] | None = None,
                 phase: str = "train", max_runs: int = 6) -> Figure:
    """Power (GPU) or CPU-utilization (CPU run) traces of a few runs over time.

    By default, per model, the shortest and the longest finished length of the main grid.
    On a GPU run the y-axis is the GPU power summed over devices (W); on a CPU run, where no
    power was measured, it is the process CPU utilization (% of one core) with a secondary
    axis giving the power the CPU-time estimate implies.

    Args:
        records: run records.
        dataset: the dataset.
        models: models to draw (None: all).
        lengths: lengths to draw (None: shortest and longest per model).
        phase: ``"train"`` or ``"inference"``.
        max_runs: at most this many runs.

    Returns:
        A Figure with one line per run drawn.
    """
    runs = [r for r in records if r.status == "ok" and r.params.dataset == dataset
            and r.traces.get(phase)]
    if runs:
        least = min(r.params.gradient_accumulation_steps for r in runs)
        runs = [r for r in runs if r.params.gradient_accumulation_steps == least]
    if models is not None:
        runs = [r for r in runs if r.params.model in set(models)]
    chosen: list[RunRecord] = []
    by_model: dict[str, list[RunRecord]] = {}
    for r in sorted(runs, key=lambda r: (r.params.length, r.params.seed)):
        by_model.setdefault(r.params.model, []).append(r)
    for model in [m for m in MODELS if m in by_model] + sorted(set(by_model) - set(MODELS)):
        mine = by_model[model]
        if lengths is not None:
            wanted = {int(n) for n in lengths}
            picks = [r for r in mine if r.params.length in wanted]
        else:
            picks = [mine[0]] + ([mine[-1]] if mine[-1].params.length != mine[0].params.length
                                 else [])
        seen = set()
        for r in picks:  # one seed per (model, length)
            if r.params.length not in seen:
                seen.add(r.params.length)
                chosen.append(r)
    chosen = chosen[:max_runs]

    frames = [(r, pd.DataFrame(r.traces[phase])) for r in chosen]
    on_gpu = any(_trace_power(df) is not None for _, df in frames)
    phase_text = "training" if phase == "train" else phase
    fig, axes = new_figure(width=7.0, height=3.8)
    ax = axes[0, 0]
    if on_gpu:
        ax.set_title(f"{dataset_label(dataset)}: GPU power during {phase_text}")
        ax.set_ylabel("GPU power, all devices (W)")
    else:
        ax.set_title(f"{dataset_label(dataset)}: CPU utilization during {phase_text}\n"
                     f"(CPU equivalent: no GPU power measured)")
        ax.set_ylabel("process CPU utilization (% of one core)")
    if not frames:
        no_data(ax, f"no finished runs with {phase} traces on {dataset_label(dataset)}")
        return fig
    lengths_drawn = sorted({r.params.length for r in chosen})
    styles = {n: s for n, s in zip(lengths_drawn, ["--", "-", ":", "-."][:len(lengths_drawn)]
                                   if len(lengths_drawn) > 1 else ["-"])}
    watts = None
    for r, df in frames:
        y = _trace_power(df) if on_gpu else df.get("cpu_util_pct")
        if y is None or "t_s" not in df or y.isna().all():
            continue
        model, length = r.params.model, r.params.length
        ax.plot(df["t_s"], y, color=MODEL_COLORS.get(model), linestyle=styles[length],
                linewidth=1.2, label=f"{MODEL_LABELS.get(model, model)}, {length}")
        watts = r.params.cpu_watts_per_core
    ax.set_xlabel(f"time since the start of {phase_text} (s)")
    ax.legend(frameon=False, fontsize=7, ncols=2)
    if not on_gpu and watts:
        ax.secondary_yaxis("right", functions=(lambda u, w=watts: u / 100 * w,
                                               lambda p, w=watts: p * 100 / w)
                           ).set_ylabel(f"implied estimated power (W)\n{watts:g} W per busy "
                                        f"core, assumed", fontsize=8)
    return fig


def pareto_frontiers(frame: pd.DataFrame, signal: str = "headline", cost: str = ENERGY_KWH,
                     datasets: Iterable[str] | None = None) -> Figure:
    """Every configuration's cost against its accuracy, with the Pareto frontier per dataset.

    Args:
        frame: the tidy table.
        signal: accuracy signal.
        cost: the efficiency column to trade (default total training energy); columns with
            ``_per_s`` are benefits (faster is better), as in :func:`tradeoff.analysis.recommend.pareto_frontier`.
        datasets: datasets to draw (None: those with runs, in the paper's order).

    Returns:
        A Figure with one panel per dataset: all configurations as dots in model colors, the
        frontier as a black line with its points labelled by length (and accumulation).
    """
    configs = configurations(frame, signal, main=False)
    if cost not in configs:
        configs[cost] = np.nan
    present = set(configs["dataset"]) if len(configs) else set()
    chosen = list(datasets) if datasets is not None else [d for d in DATASETS if d in present]
    chosen = chosen or ["(none)"]
    frontier = pareto_frontier(frame, cost, signal) if len(configs) else pd.DataFrame(
        columns=KEYS + [cost, "score"])
    is_energy = cost == ENERGY_KWH
    factor, unit = energy_scale(configs[cost]) if is_energy else (1.0, "")
    label = f"total training energy ({unit})" if is_energy else cost
    ncols = min(len(chosen), 2)
    nrows = math.ceil(len(chosen) / ncols)
    fig, axes = new_figure(ncols=ncols, nrows=nrows, width=4.8, height=3.5)
    fig.suptitle(f"Pareto frontier: {label.split(' (')[0]} vs accuracy")
    for ax in list(axes.flat)[len(chosen):]:
        ax.set_visible(False)
    rows = ok_rows(frame)
    for ax, dataset in zip(axes.flat, chosen):
        ax.set_title(dataset_label(dataset))
        mine = configs[configs["dataset"] == dataset].dropna(subset=[cost, "value"])
        if mine.empty:
            no_data(ax, f"no finished runs with {label.split(' (')[0]} and {signal}")
            continue
        for model in models_in(mine):
            m = mine[mine["model"] == model]
            ax.scatter(m[cost] * factor, m["value"], color=MODEL_COLORS.get(model),
                       marker=MODEL_MARKERS.get(model, "o"), label=MODEL_LABELS.get(model, model),
                       s=30, zorder=3)
        front = frontier[frontier["dataset"] == dataset].sort_values(cost)
        if len(front):
            # The frontier's score is "higher is better": the validation loss negated.
            values = -front["score"] if signal == "val_loss" else front["score"]
            ax.plot(front[cost] * factor, values, color="black", linewidth=1, zorder=2,
                    label="Pareto frontier")
            for _, f in front.assign(v=values).iterrows():
                text = f"{int(f['length'])}" + (f" ga{int(f['grad_accum'])}"
                                                if f["grad_accum"] != 1 else "")
                ax.annotate(text, (f[cost] * factor, f["v"]), textcoords="offset points",
                            xytext=(4, -9), fontsize=7, color="0.2")
        ax.set_xlabel(label + (energy_note(rows[rows["dataset"] == dataset]) if is_energy else ""))
        ax.set_ylabel(signal_label(signal, dataset))
        ax.legend(frameon=False, fontsize=7)
    return fig
