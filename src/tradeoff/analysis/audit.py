"""The released code's energy number, recomputed: what "Total GPU Energy(kW)" measured.

The authors' ``wandb_script/extract_training.py`` (phyllisayk/nlp-efficiency-tradeoff, commit
83877b4, L45-48; ``extract_inference.py`` L68-71 the same) reads a run's W&B system metrics with
``run.history(stream="events")`` and reports ``sum(system.gpu.0.powerWatts) / 1000`` as "Total
GPU Energy(kW)": a sum of power readings with no time factor. What that sum covers follows from
wandb 0.12.9, the version its ``requirements.txt`` pins (tag commit 020d427f):

* ``wandb/sdk/internal/stats.py`` L119-174: a system-metrics reading every 2 s
  (``sample_rate_seconds``), 15 readings (``samples_to_average``) averaged into one row, so a
  row about every 30 s (a little more: each reading and the 0.1 s sleep loop take time), plus
  one more row when the run shuts down (``flush`` with what is left, or a fresh reading).
* ``wandb/apis/public.py`` L1831-1869 (``Run.history``, ``samples=500``) and L1768-1782
  (``_full_history``, which asks the server for ``events(samples: 500)``): without ``keys`` at
  most 500 rows come back, chosen by the server when there are more; how it picks them is not
  public (evenly spaced here; for the sum only how many matters when power is steady).

So the number is ``rows returned x mean row power / 1000``: about 120 x the energy in kWh while
every row comes back (3600 s / 30 s per row), and ``0.5 x mean power in W`` once a run has 500
rows or more (about 4.2 h), however long it ran. :func:`energy_as_released` replays that on a
power trace; :func:`ratio_curve` gives the ratio to the true energy against run length.

Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..energy.trace import integrate_power
from ..tasks import JOULES_PER_KWH

# wandb 0.12.9, wandb/sdk/internal/stats.py L119-129: a reading every 2 s, 15 per row.
READING_INTERVAL_S = 2.0
READINGS_PER_ROW = 15
ROW_INTERVAL_S = READING_INTERVAL_S * READINGS_PER_ROW
# wandb 0.12.9, wandb/apis/public.py L1831-1833: Run.history(samples=500, ...).
HISTORY_ROWS = 500
# The column of the released number: W&B's system.gpu.0.powerWatts, GPU 0 only.
POWER_COLUMN = "gpu0_power_w"


@dataclass(frozen=True)
class ReleasedEnergy:
    """The released computation on one power trace, beside the trace's true energy.

    Attributes:
        duration_s: the trace's length (the W&B run: from ``wandb.init`` to shutdown).
        rows_logged: system-metrics rows W&B would have stored.
        rows_returned: rows ``history`` returns (at most ``history_rows``).
        released_value: ``sum(powerWatts) / 1000`` over the returned rows, the number the
            released script labels "Total GPU Energy(kW)".
        released_mean_power_w: the script's "Mean GPU Power(W)" (mean of the same rows).
        true_energy_kwh: the trace's energy (trapezoid integral), or a measured reference.
        ratio: ``released_value / true_energy_kwh``.
    """

    duration_s: float
    rows_logged: int
    rows_returned: int
    released_value: float
    released_mean_power_w: float
    true_energy_kwh: float
    ratio: float

    def to_dict(self) -> dict:
        return asdict(self)


def wandb_rows(t_s: Sequence[float], power_w: Sequence[float], *,
               row_interval_s: float = ROW_INTERVAL_S,
               readings_per_row: int = READINGS_PER_ROW) -> np.ndarray:
    """The power rows W&B's system-metrics thread would log for a trace.

    Readings are taken every ``row_interval_s / readings_per_row`` seconds from the trace's
    start (the power at each instant interpolated from the trace); every ``readings_per_row``
    readings make one row, their mean; at shutdown one more row holds the mean of the readings
    left over, or, if none are, one fresh reading (``SystemStats.flush`` falls back to the
    current value when its sampler is empty).

    Args:
        t_s: sample times of the trace, seconds, increasing.
        power_w: power at those times, W.
        row_interval_s: seconds per row (wandb 0.12.9: 2 s x 15 = 30 s).
        readings_per_row: readings averaged into a row (wandb 0.12.9: 15).

    Returns:
        The rows' power values, W.

    Raises:
        ValueError: an empty trace, times that decrease, or a non-positive interval.
    """
    t = np.asarray(t_s, dtype=float)
    p = np.asarray(power_w, dtype=float)
    if t.size == 0 or t.size != p.size:
        raise ValueError("a trace needs as many power values as times, and at least one")
    if np.any(np.diff(t) < 0):
        raise ValueError("trace times must not decrease")
    if row_interval_s <= 0 or readings_per_row < 1:
        raise ValueError("row_interval_s must be positive and readings_per_row at least 1")
    reading_s = row_interval_s / readings_per_row
    start, duration = t[0], t[-1] - t[0]
    # A reading at the start and then every reading_s while the run lasts.
    times = start + reading_s * np.arange(int(math.floor(duration / reading_s + 1e-9)) + 1)
    readings = np.interp(times, t, p)
    full = readings.size // readings_per_row
    rows = readings[:full * readings_per_row].reshape(full, readings_per_row).mean(axis=1)
    rest = readings[full * readings_per_row:]
    last = rest.mean() if rest.size else np.interp(t[-1], t, p)
    return np.append(rows, last)


def history_sample(rows: np.ndarray, history_rows: int = HISTORY_ROWS) -> np.ndarray:
    """The rows ``run.history()`` returns: all of them, or ``history_rows`` evenly spaced ones.

    The server's choice of rows is not public; evenly spaced rows keep the first and last. For
    the released sum only the count matters when the power is steady.
    """
    if history_rows < 1:
        raise ValueError("history_rows must be at least 1")
    if rows.size <= history_rows:
        return rows
    return rows[np.unique(np.linspace(0, rows.size - 1, history_rows).round().astype(int))]


def trace_energy_kwh(t_s: Sequence[float], power_w: Sequence[float]) -> float:
    """Energy of a power trace by the trapezoid rule (:func:`~tradeoff.energy.trace.integrate_power`),
    kWh; NaN with fewer than two finite samples."""
    return integrate_power(t_s, power_w) / JOULES_PER_KWH


def energy_as_released(trace: pd.DataFrame, *, power_column: str = POWER_COLUMN,
                       row_interval_s: float = ROW_INTERVAL_S,
                       readings_per_row: int = READINGS_PER_ROW,
                       history_rows: int = HISTORY_ROWS,
                       true_energy_kwh: float | None = None) -> ReleasedEnergy:
    """What the released script reports as "Total GPU Energy(kW)" for a run with this trace.

    W&B-style rows (:func:`wandb_rows`), the ``history`` row limit with subsampling
    (:func:`history_sample`), then ``sum(powerWatts) / 1000``
    (``wandb_script/extract_training.py`` L45-48).

    Args:
        trace: columns ``t_s`` and ``power_column`` (the meter's trace, or a synthetic one).
        power_column: the power column; the released script reads GPU 0 only.
        row_interval_s: seconds per W&B row (30 in wandb 0.12.9).
        readings_per_row: readings averaged into a row (15).
        history_rows: the ``samples`` of ``run.history`` (500 by default in wandb 0.12.9).
        true_energy_kwh: the reference energy (e.g. the NVML counter's); None integrates the
            trace.

    Returns:
        The :class:`ReleasedEnergy`.
    """
    trace = trace[["t_s", power_column]].dropna().sort_values("t_s")
    t, p = trace["t_s"].to_numpy(), trace[power_column].to_numpy()
    rows = wandb_rows(t, p, row_interval_s=row_interval_s, readings_per_row=readings_per_row)
    returned = history_sample(rows, history_rows)
    released = float(returned.sum()) / 1000
    true = trace_energy_kwh(t, p) if true_energy_kwh is None else float(true_energy_kwh)
    return ReleasedEnergy(
        duration_s=float(t[-1] - t[0]), rows_logged=int(rows.size),
        rows_returned=int(returned.size), released_value=released,
        released_mean_power_w=float(returned.mean()), true_energy_kwh=true,
        ratio=released / true if true > 0 else math.nan)


def constant_trace(power_w: float, duration_s: float, step_s: float = 1.0) -> pd.DataFrame:
    """A synthetic trace of constant power: energy ``power_w x duration_s`` exactly.

    Args:
        power_w: the power, W.
        duration_s: the run's length, s.
        step_s: spacing of the samples (the last one falls on ``duration_s``).

    Returns:
        Columns ``t_s`` and :data:`POWER_COLUMN`.
    """
    if duration_s <= 0 or step_s <= 0:
        raise ValueError("duration_s and step_s must be positive")
    t = np.append(np.arange(0.0, duration_s, step_s), duration_s)
    return pd.DataFrame({"t_s": np.unique(t), POWER_COLUMN: float(power_w)})


def ratio_curve(hours: Iterable[float], *, power_w: float = 250.0,
                row_interval_s: float = ROW_INTERVAL_S,
                readings_per_row: int = READINGS_PER_ROW,
                history_rows: int = HISTORY_ROWS) -> pd.DataFrame:
    """The released number over the true kWh for constant-power runs of several lengths.

    For steady power the ratio does not depend on the power: ``rows returned x 3600 / seconds``.

    Args:
        hours: run lengths, h.
        power_w: the constant power of the synthetic runs, W.
        row_interval_s, readings_per_row, history_rows: as :func:`energy_as_released`.

    Returns:
        One row per length: ``hours``, ``true_energy_kwh``, ``released_value``,
        ``rows_logged``, ``rows_returned``, ``ratio``, ``released_mean_power_w``.
    """
    out = []
    for h in hours:
        # A sample every 10 s is plenty for a constant trace and keeps a 48 h run small.
        res = energy_as_released(constant_trace(power_w, h * 3600.0, step_s=10.0),
                                 row_interval_s=row_interval_s,
                                 readings_per_row=readings_per_row, history_rows=history_rows)
        out.append({"hours": float(h), **res.to_dict()})
    return pd.DataFrame(out)


def saturation_hours(row_interval_s: float = ROW_INTERVAL_S,
                     readings_per_row: int = READINGS_PER_ROW,
                     history_rows: int = HISTORY_ROWS) -> float:
    """Run length (h) from which ``history`` returns at most ``history_rows`` of more rows.

    ``history_rows - 1`` full rows plus the shutdown row make ``history_rows``; the first
    reading is at the start, so the last reading of the full rows comes one reading interval
    earlier than their count suggests.
    """
    reading_s = row_interval_s / readings_per_row
    return ((history_rows - 1) * readings_per_row - 1) * reading_s / 3600.0


def record_audit(records: Iterable, phase: str = "train",
                 power_column: str = POWER_COLUMN, **kwargs) -> pd.DataFrame:
    """The released computation on the project's own measured GPU power traces.

    A record keeps its trace decimated to at most 200 points (each the mean of a bin), which
    is enough to form 30 s rows of a run that lasts minutes or more. The reference energy is
    the record's NVML measurement of GPU 0 when it has one, else the trace's integral.

    Args:
        records: run records (:class:`tradeoff.records.RunRecord`).
        phase: ``"train"`` or ``"inference"``.
        power_column: the trace column to read (GPU 0, as the released script).
        **kwargs: passed to :func:`energy_as_released`.

    Returns:
        One row per finished record with a power trace: ``label``, ``dataset``, ``model``,
        ``length``, ``energy_method`` and the :class:`ReleasedEnergy` fields; empty (with
        those columns) when no record has a GPU power trace.
    """
    columns = ["label", "dataset", "model", "length", "reference", *ReleasedEnergy.__annotations__]
    rows = []
    for r in records:
        trace = pd.DataFrame(r.traces.get(phase) or [])
        if r.status != "ok" or power_column not in trace or trace[power_column].notna().sum() < 2:
            continue
        window = r.measurements.get(phase)
        gpu0_j = window.gpu_energy_j.get(0) if window else None
        measured = gpu0_j is not None and math.isfinite(gpu0_j) and gpu0_j > 0
        res = energy_as_released(trace, power_column=power_column,
                                 true_energy_kwh=gpu0_j / JOULES_PER_KWH if measured else None,
                                 **kwargs)
        rows.append({"label": r.label, "dataset": r.params.dataset, "model": r.params.model,
                     "length": r.params.length,
                     "reference": f"{window.gpu_method} (GPU 0)" if measured
                     else "trace integral (GPU 0)", **res.to_dict()})
    return pd.DataFrame(rows, columns=columns)
