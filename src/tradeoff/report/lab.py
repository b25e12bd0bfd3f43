"""The lab pages: one per dataset x model group, showing each cell's status, loss curves,
training trace, sample predictions, energy method and failures (``notebooks/run.ipynb``)."""

from __future__ import annotations

from ..config import Cell, Profile
from ..errors import ConfigError
from .provenance import figure_provenance


def lab_cells(profile: Profile, dataset: str, model: str) -> list[Cell]:
    """The grid cells of one dataset x model group, in grid order.

    Raises:
        ConfigError: the profile has no such group.
    """
    cells = [c for c in profile.cells() if c.dataset == dataset and c.model == model]
    if not cells:
        raise ConfigError(f"profile '{profile.name}' has no cells for {dataset} x {model}; "
                          f"datasets {profile.datasets}, models {profile.models}")
    return cells


def short_label(record) -> str:
    """A cell's label without its dataset and model (a lab page is about one group)."""
    parts = record.label.split("/")
    return "/".join(parts[2:]) if len(parts) > 2 else record.label


def lab_status(records):
    """One row per cell: status, reason and the headline numbers, with units in the headers.

    Returns:
        The table styled for the page (:func:`tradeoff.report.tables.styled`: each number to
        its significant figures, each column in one unit); the records keep full precision.
    """
    import pandas as pd

    from .tables import styled

    rows = []
    for r in records:
        eff, acc = r.efficiency, r.accuracy
        rows.append({
            "cell": short_label(r), "status": r.status, "reason": r.reason,
            r.accuracy_metric or "accuracy": acc.get(r.accuracy_metric),
            "validation loss": acc.get("val_loss"),
            "batch": r.train.effective_batch_size,
            "training time (s)": eff.train_time_s,
            "training (samples/s)": eff.train_samples_per_s,
            "training energy (J)": eff.train_energy_j,
            "inference (samples/s)": eff.infer_samples_per_s,
            "energy method": r.energy_method,
        })
    frame = pd.DataFrame(rows)
    frame["batch"] = frame["batch"].astype("Int64")  # a failed cell has none
    return styled(frame)


def _trace_series(trace: list[dict]) -> tuple[list[float], list[float], str]:
    """The trace to draw: summed GPU power when measured, else this process's CPU utilization."""
    if not trace:
        return [], [], ""
    t = [row.get("t_s") for row in trace]
    power_cols = sorted(k for k in trace[0] if k.startswith("gpu") and k.endswith("_power_w"))
    if power_cols:
        values = [sum(v for c in power_cols if (v := row.get(c)) is not None) for row in trace]
        return t, values, "GPU power (W, all GPUs)"
    return t, [row.get("cpu_util_pct") for row in trace], "CPU utilization (% of one core)"


def plot_lab(records):
    """Loss curves (train loss per step, validation loss) and the training power trace.

    Args:
        records: the group's run records.

    Returns:
        A matplotlib Figure with two panels, one line per cell.
    """
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_trace) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    trace_label = ""
    for i, r in enumerate(records):
        color, name = f"C{i % 10}", short_label(r)
        history = r.train.log_history
        train = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
        evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h and "step" in h]
        if train:
            ax_loss.plot(*zip(*train), color=color, marker=".", label=name)
        if evals:
            ax_loss.plot(*zip(*evals), color=color, ls="--", marker="s")
        val = r.accuracy.get("val_loss")
        if val is not None and r.train.steps:
            ax_loss.scatter([r.train.steps], [val], color=color, marker="*", s=120, zorder=3)
        t, values, label = _trace_series(r.traces.get("train", []))
        if t:
            ax_trace.plot(t, values, color=color, label=name)
            trace_label = trace_label or label
    ax_loss.set(xlabel="optimizer step", ylabel="loss (cross-entropy)",
                title="Loss: train (line), validation (dashed), final (star)")
    gpu = trace_label.startswith("GPU")
    ax_trace.set(xlabel="seconds into training", ylabel=trace_label or "no trace recorded",
                 title="GPU power during training" if gpu
                 else "CPU utilization during training (no GPU power measured)")
    for ax in (ax_loss, ax_trace):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if not any(r.status == "ok" for r in records):
        fig.suptitle("no cell of this group finished: see the status table")
    fig.text(0.0, -0.02, figure_provenance(records), fontsize=7, color="0.35", ha="left",
             va="top")
    return fig


def lab_examples(records):
    """Sample predictions (first validation inputs) of every finished cell."""
    import pandas as pd

    rows = []
    for r in records:
        for ex in r.inference.examples:
            refs = ex.references or [""]
            rows.append({"cell": short_label(r), "input (start)": ex.input[:160] + " ...",
                         "reference": refs[0][:200], "prediction": ex.prediction[:200]})
    return pd.DataFrame(rows, columns=["cell", "input (start)", "reference", "prediction"])


def lab_notes(records) -> str:
    """Each energy method with its reason, then every failure with its traceback."""
    lines = []
    for method, reason in dict.fromkeys((r.energy_method, r.energy_reason) for r in records):
        lines.append(f"energy method {method}: {reason or 'measured'}")
    for r in records:
        if r.status != "ok":
            lines += ["", f"{r.label} {r.status}: {r.reason}", r.train.traceback]
    return "\n".join(lines)
