"""Trace maths: the summary of a sampler trace, its decimation for the records, and the energy
of a sampled power trace."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def summarize_trace(df: pd.DataFrame) -> dict[str, float]:
    """Means and peaks of a trace (NaN where a column is absent or empty).

    GPU utilisation and memory are per device, averaged over devices and samples (as W&B
    reports them); peaks are over all of them. The sampler spaces samples evenly.

    Args:
        df: ``EnergyMeter.trace`` (or ``decimate``) output.

    Returns:
        ``n_samples``, ``{gpu_util,cpu_util}_{mean,peak}_pct``, ``{gpu_mem,rss}_{mean,peak}_mib``.
    """
    gpu = [c for c in df.columns if c.startswith("gpu")]
    out: dict[str, float] = {"n_samples": float(len(df))}
    for name, cols, unit in (("gpu_util", [c for c in gpu if c.endswith("_util_pct")], "pct"),
                             ("gpu_mem", [c for c in gpu if c.endswith("_mem_mib")], "mib"),
                             ("cpu_util", ["cpu_util_pct"], "pct"), ("rss", ["rss_mib"], "mib")):
        values = df[[c for c in cols if c in df.columns]].stack().dropna()  # none: NaN, not 0
        out[f"{name}_mean_{unit}"] = float(values.mean())
        out[f"{name}_peak_{unit}"] = float(values.max())
    return out


def decimate(df: pd.DataFrame, max_points: int = 200) -> pd.DataFrame:
    """At most ``max_points`` rows, each the mean of a bin of consecutive rows.

    Means keep the bins honest where every k-th row would not; peaks are smoothed, so take
    them from ``summarize_trace`` on the full trace.
    """
    import numpy as np

    if (n := len(df)) <= max_points:
        return df.reset_index(drop=True).copy()
    return df.groupby(np.arange(n) * max_points // n).mean().reset_index(drop=True)


def integrate_power(t_s: Sequence[float], power_w: Sequence[float]) -> float:
    """Energy in J of a sampled power trace: the trapezoid rule over its finite samples.

    Args:
        t_s: sample times in seconds, ascending.
        power_w: power at those times in W; NaN samples (a failed read) are left out.

    Returns:
        The integral in J; NaN with fewer than two finite samples.
    """
    points = [(float(t), float(p)) for t, p in zip(t_s, power_w, strict=True)
              if math.isfinite(float(t)) and math.isfinite(float(p))]
    if len(points) < 2:
        return math.nan
    return math.fsum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(points, points[1:]))
