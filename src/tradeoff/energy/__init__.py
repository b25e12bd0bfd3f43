"""Time and energy of named code windows, measured through Zeus (ML.ENERGY's ``zeus``).

``ZeusMonitor`` windows read NVML's GPU energy counter (Volta and newer) and RAPL's CPU package
+ DRAM counters; a thin sampler over Zeus's devices records power/utilisation/memory traces.
The project keeps what Zeus does not do: NaN with a reason for absent hardware, the labelled
CPU-time estimate, GPUs without the counter (the sampler's power, trapezoid-integrated), the
idle baseline, trace summaries and the record schema. Methods (``Measurement.gpu_method`` /
``cpu_method``): ``nvml-counter``, ``nvml-sampled``, ``rapl``, ``cpu-time-estimate`` (process
CPU time x an assumed power per busy core: an estimate, labelled so) and ``none`` (NaN;
``Measurement.reason`` says why, never 0). Idle power is subtracted only on request; no PUE.

Example:
    >>> with EnergyMeter() as meter, meter.measure("train") as window:
    ...     train()
    >>> window.measurement.total_energy_j, window.measurement.method
"""

from .backends import probe_nvml, probe_rapl
from .measurement import METHODS, NOT_RANK_ZERO, Measurement, Window
from .meter import EnergyMeter, EnergyMeterError
from .trace import decimate, summarize_trace

__all__ = ["METHODS", "NOT_RANK_ZERO", "EnergyMeter", "EnergyMeterError", "Measurement", "Window",
           "decimate", "probe_nvml", "probe_rapl", "summarize_trace"]
