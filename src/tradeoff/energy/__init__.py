"""Time and energy of named code windows, measured through Zeus (ML.ENERGY's ``zeus``).

Zeus reads NVML's GPU energy counter and RAPL's CPU package + DRAM counters; the project adds
NaN with a reason where nothing is readable (never 0), the labelled CPU-time estimate, sampled
power for GPUs without the counter, the idle baseline, the traces and the record schema
(``Measurement``; the methods it may name are ``METHODS``), and the checks of the meter itself
(``validation``: counter against sampled power, the sampler's A-B-B-A overhead).

Example:
    >>> with EnergyMeter() as meter, meter.measure("train") as window:
    ...     train()
    >>> window.measurement.total_energy_j, window.measurement.method
"""

from .meter import METHODS, NOT_RANK_ZERO, EnergyMeter, EnergyMeterError, Measurement, Window
from .trace import decimate, integrate_power, summarize_trace
from .validation import CounterCheck, OverheadCheck, abba_overhead, counter_vs_sampled

__all__ = ["METHODS", "NOT_RANK_ZERO", "CounterCheck", "EnergyMeter", "EnergyMeterError",
           "Measurement", "OverheadCheck", "Window", "abba_overhead", "counter_vs_sampled",
           "decimate", "integrate_power", "summarize_trace"]
