"""Checks of the meter itself: NVML's energy counter against sampled power, the sampler's cost.

Pure functions over numbers a run produced (a window's counter energy and its power trace; the
times of an A-B-B-A benchmark), so they are tested on synthetic traces and run unchanged on a
GPU (``benchmarks/meter_overhead.py``, ``benchmarks/gpu_session.py``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .trace import integrate_power

# Goals of the GPU session (issue 28): the counter and the integrated power agree within 2%
# over a window of at least 10 s (the counter updates about every 100 ms, and a power reading
# may be a ~1 s average); the sampler slows the measured loop by at most 1%.
COUNTER_TOLERANCE = 0.02
MIN_COUNTER_WINDOW_S = 10.0
OVERHEAD_TOLERANCE = 0.01


@dataclass(frozen=True)
class CounterCheck:
    """NVML's energy counter over a window against the integral of the power sampled in it.

    Attributes:
        counter_j: the counter's difference over the window.
        sampled_j: the trapezoid integral of the sampled power.
        window_s: the window's length.
        samples: finite power samples in the window.
        relative_difference: ``(sampled_j - counter_j) / counter_j``.
        tolerance: the largest ``|relative_difference|`` that passes.
        min_window_s: the shortest window that can pass.
    """

    counter_j: float
    sampled_j: float
    window_s: float
    samples: int
    relative_difference: float
    tolerance: float = COUNTER_TOLERANCE
    min_window_s: float = MIN_COUNTER_WINDOW_S

    @property
    def ok(self) -> bool:
        return (self.window_s >= self.min_window_s
                and abs(self.relative_difference) <= self.tolerance)

    @property
    def verdict(self) -> str:
        """One line: the numbers and whether they pass, and why not."""
        numbers = (f"counter {self.counter_j:.1f} J vs sampled {self.sampled_j:.1f} J over "
                   f"{self.window_s:.1f} s ({self.samples} samples): "
                   f"{100 * self.relative_difference:+.2f}%")
        if self.window_s < self.min_window_s:
            return f"{numbers}; FAIL: window under {self.min_window_s:g} s"
        if not abs(self.relative_difference) <= self.tolerance:  # NaN fails too
            return f"{numbers}; FAIL: beyond {100 * self.tolerance:g}%"
        return f"{numbers}; ok (within {100 * self.tolerance:g}%)"

    def to_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok, "verdict": self.verdict}


def counter_vs_sampled(counter_j: float, t_s: Sequence[float], power_w: Sequence[float], *,
                       window_s: float | None = None, tolerance: float = COUNTER_TOLERANCE,
                       min_window_s: float = MIN_COUNTER_WINDOW_S) -> CounterCheck:
    """Compare a window's counter energy with its integrated power trace.

    Args:
        counter_j: the energy counter's difference over the window (one GPU).
        t_s: sample times from the window's start (``EnergyMeter.trace``'s ``t_s``).
        power_w: that GPU's sampled power (``gpu{i}_power_w``).
        window_s: the window's length; the span of the samples when None.
        tolerance: the largest relative difference that passes.
        min_window_s: the shortest window that can pass.

    Returns:
        The :class:`CounterCheck`.
    """
    finite = [float(t) for t, p in zip(t_s, power_w, strict=True) if math.isfinite(float(p))]
    span = (finite[-1] - finite[0]) if len(finite) > 1 else 0.0
    sampled = integrate_power(t_s, power_w)
    relative = (sampled - counter_j) / counter_j if counter_j > 0 else math.nan
    return CounterCheck(float(counter_j), sampled, span if window_s is None else float(window_s),
                        len(finite), relative, tolerance, min_window_s)


@dataclass(frozen=True)
class OverheadCheck:
    """The sampler's overhead from one A-B-B-A run: each metered timing over the plain timing
    next to it in its block (plain, metered, metered, plain), so that drift hits both arms.

    Attributes:
        ratios: metered / plain, one per pair.
        median_ratio: their median.
        tolerance: the largest ``median_ratio - 1`` that passes.
    """

    ratios: tuple[float, ...]
    median_ratio: float
    tolerance: float = OVERHEAD_TOLERANCE

    @property
    def ok(self) -> bool:
        return self.median_ratio - 1 <= self.tolerance

    @property
    def verdict(self) -> str:
        spread = f"min {min(self.ratios):.4f}, max {max(self.ratios):.4f}" if self.ratios else ""
        state = "ok" if self.ok else "FAIL"
        return (f"metered / plain, median {self.median_ratio:.4f} over {len(self.ratios)} pairs "
                f"({spread}); {state} (goal: at most {1 + self.tolerance:g})")

    def to_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok, "verdict": self.verdict}


def abba_overhead(plain: Sequence[float], metered: Sequence[float], *,
                  tolerance: float = OVERHEAD_TOLERANCE) -> OverheadCheck:
    """The paired ratios of an A-B-B-A benchmark and their median.

    Args:
        plain: the plain arm's times, in the order they ran (two per block: first and last).
        metered: the metered arm's times, in the order they ran (two per block: the middle).
            The k-th metered timing ran next to the k-th plain one.
        tolerance: the largest overhead (median ratio - 1) that passes.

    Returns:
        The :class:`OverheadCheck`.

    Raises:
        ValueError: the arms differ in length, are empty or hold a time that is not positive.
    """
    if len(plain) != len(metered) or not plain:
        raise ValueError(f"an A-B-B-A run pairs every plain timing with a metered one; got "
                         f"{len(plain)} plain and {len(metered)} metered")
    if min(*plain, *metered) <= 0:
        raise ValueError("timings must be positive")
    ratios = tuple(m / p for p, m in zip(plain, metered, strict=True))
    return OverheadCheck(ratios, statistics.median(ratios), tolerance)
