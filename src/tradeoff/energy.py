"""Time and energy of named code windows: GPU via NVML, CPU via RAPL or a labelled estimate.

Modelled on ml-energy/zeus ``zeus/monitor/energy.py``. Every backend is treated as a
cumulative counter in joules; a window's energy is the counter's difference between its
edges, and the accelerator is synchronised at both edges.

Methods (``Measurement.gpu_method`` / ``cpu_method``):

* ``nvml-counter``: ``nvmlDeviceGetTotalEnergyConsumption`` (mJ, Volta and newer). Best;
  it updates about every 100 ms, so use windows of seconds.
* ``nvml-sampled``: GPUs without the counter. The sampler's power readings are integrated
  with the trapezoid rule. ``nvmlDeviceGetPowerUsage`` is a ~1 s average on recent GPUs, so
  this is coarser than the counter.
* ``rapl``: powercap ``energy_uj`` of CPU packages plus their DRAM subdomains, unwrapped
  with ``max_energy_range_uj``.
* ``cpu-time-estimate``: when RAPL is unreadable (common in containers), process CPU time x
  an assumed power per busy core. It is an estimate, never a measurement, and is labelled so.
* ``none``: nothing measured; energies are NaN and ``Measurement.reason`` says why. Absent
  hardware never becomes 0.

Idle power is not subtracted unless asked (``EnergyMeter.idle_baseline`` then
``Measurement.idle_subtracted_energy_j``); no PUE multiplier is applied.

Example:
    >>> meter = EnergyMeter()
    >>> with meter.measure("train") as window:
    ...     train()
    >>> window.measurement.total_energy_j, window.measurement.method
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

NAN = float("nan")
METHODS = ("nvml-counter", "nvml-sampled", "rapl", "cpu-time-estimate", "none")
REQUIREMENTS = ("nvml", "nvml-counter", "rapl")
NOT_RANK_ZERO = "not local rank 0"

# Package domains only: /sys/class/powercap also links subdomains (intel-rapl:0:0) at the
# top level, and counting them there as well would double-count.
_PACKAGE_DIR = re.compile(r"intel-rapl:\d+")
_SAMPLE_COLUMNS = ("t_s", "cpu_util_pct", "rss_mib")
_GPU_COLUMNS = ("power_w", "util_pct", "mem_mib")


class EnergyMeterError(RuntimeError):
    """A measurement method the caller required is unavailable."""


@dataclass(frozen=True)
class Measurement:
    """Time and energy of one window.

    Attributes:
        key: Window name.
        time_s: Wall-clock duration.
        gpu_energy_j: Energy per GPU, keyed by framework index (after CUDA_VISIBLE_DEVICES);
            empty when no GPU was measured.
        cpu_energy_j: CPU energy (RAPL packages + DRAM, or the CPU-time estimate); NaN when
            unavailable.
        gpu_method: How GPU energy was obtained (one of ``METHODS``).
        cpu_method: How CPU energy was obtained (one of ``METHODS``).
        reason: Why a part is NaN or estimated; "" when everything was measured.
        idle_gpu_power_w: Idle GPU power (all measured GPUs) from ``idle_baseline``, or NaN.
        idle_cpu_power_w: Idle CPU power from ``idle_baseline``, or NaN.
    """

    key: str
    time_s: float
    gpu_energy_j: dict[int, float]
    cpu_energy_j: float
    gpu_method: str
    cpu_method: str
    reason: str = ""
    idle_gpu_power_w: float = NAN
    idle_cpu_power_w: float = NAN

    @property
    def total_gpu_energy_j(self) -> float:
        """Energy summed over GPUs; NaN if none was measured or a device read failed."""
        return math.fsum(self.gpu_energy_j.values()) if self.gpu_energy_j else NAN

    def _parts(self) -> list[tuple[float, float]]:
        """(energy_j, idle_power_w) of the parts that were measured or estimated."""
        parts = []
        if self.gpu_method != "none":
            parts.append((self.total_gpu_energy_j, self.idle_gpu_power_w))
        if self.cpu_method != "none":
            parts.append((self.cpu_energy_j, self.idle_cpu_power_w))
        return parts

    @property
    def total_energy_j(self) -> float:
        """GPU + CPU energy over the parts whose method is not "none" (see ``method``)."""
        parts = self._parts()
        return math.fsum(energy for energy, _ in parts) if parts else NAN

    @property
    def avg_gpu_power_w(self) -> float:
        """Mean GPU power (summed over GPUs) during the window."""
        return _ratio(self.total_gpu_energy_j, self.time_s)

    @property
    def avg_power_w(self) -> float:
        """Mean power of ``total_energy_j`` during the window."""
        return _ratio(self.total_energy_j, self.time_s)

    @property
    def energy_kwh(self) -> float:
        """``total_energy_j`` in kWh."""
        return self.total_energy_j / 3.6e6

    @property
    def idle_subtracted_energy_j(self) -> float:
        """``total_energy_j`` minus idle power x ``time_s``; NaN without an idle baseline.

        Not clipped at zero: a negative value says the load drew less than the baseline,
        which is worth seeing rather than hiding.
        """
        parts = self._parts()
        if not parts:
            return NAN
        return math.fsum(energy - idle_w * self.time_s for energy, idle_w in parts)

    @property
    def method(self) -> str:
        """The methods used, joined by "+" (e.g. "nvml-counter+rapl"), or "none"."""
        used = [m for m in (self.gpu_method, self.cpu_method) if m != "none"]
        return "+".join(used) or "none"

    def to_dict(self) -> dict[str, Any]:
        """Fields plus derived properties, for run records.

        Returns:
            A flat dict; ``gpu_energy_j`` keeps int keys (JSON turns them into strings,
            which ``from_dict`` undoes).
        """
        out = asdict(self)
        for name in ("total_gpu_energy_j", "total_energy_j", "avg_gpu_power_w", "avg_power_w",
                     "energy_kwh", "idle_subtracted_energy_j", "method"):
            out[name] = getattr(self, name)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """Rebuild a Measurement from ``to_dict`` output (derived keys are ignored).

        Args:
            data: A dict as written by ``to_dict``, possibly after a JSON round trip.

        Returns:
            The Measurement.
        """
        kwargs = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        kwargs["gpu_energy_j"] = {int(k): float(v) for k, v in data["gpu_energy_j"].items()}
        return cls(**kwargs)


@dataclass
class Window:
    """Handle yielded by ``EnergyMeter.measure``; ``measurement`` is set when the block exits."""

    key: str
    measurement: Measurement | None = None


def probe_nvml(nvml: Any = None) -> bool:
    """Whether NVML can see at least one GPU; logs why not.

    Args:
        nvml: A pynvml-like module (for tests); ``import pynvml`` when None.

    Returns:
        True if NVML initialised and reports a device.
    """
    module, count, reason = _open_nvml(nvml)
    if module is None:
        logger.info("NVML: no GPU to measure: %s", reason)
        return False
    logger.info("NVML: %d GPU(s) visible", count)
    module.nvmlShutdown()
    return True


def probe_rapl(powercap_root: str | os.PathLike = "/sys/class/powercap") -> bool:
    """Whether RAPL package energy is readable under ``powercap_root``; logs why not.

    Args:
        powercap_root: The powercap sysfs folder.

    Returns:
        True if every package domain (and its DRAM subdomain) can be read.
    """
    domains, reason = _open_rapl(Path(powercap_root))
    if not domains:
        logger.info("RAPL: unreadable: %s", reason)
        return False
    logger.info("RAPL: %d domain(s) readable", len(domains))
    return True


class EnergyMeter:
    """Measure time and energy of named, possibly overlapping windows.

    A background thread samples GPU power/utilisation/memory and process CPU
    utilisation/RSS every ``sample_interval_s``; the same thread integrates power for GPUs
    without an energy counter and keeps RAPL counters unwrapped. Under DDP only local rank 0
    measures (it sums every visible GPU of the node); other ranks get method "none".
    """

    def __init__(
        self,
        gpu_indices: Iterable[int] | None = None,
        sample_interval_s: float = 0.1,
        cpu_watts_per_core: float | None = 10.0,
        powercap_root: str | os.PathLike = "/sys/class/powercap",
        nvml: Any = None,
        sample: bool = True,
        rank: int | None = None,
        *,
        require: str | Iterable[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        cpu_time_s: Callable[[], float] | None = None,
    ) -> None:
        """Open the backends and start the sampler.

        Args:
            gpu_indices: Framework GPU indices to measure (after CUDA_VISIBLE_DEVICES, which
                is honoured when it lists integer indices); all visible GPUs when None.
            sample_interval_s: Sampler period. 0.1 s matches the NVML counter's update rate.
            cpu_watts_per_core: Assumed power of one fully busy core for the CPU-time
                estimate used when RAPL is unreadable. 10 W is a rough figure for a server
                core under load (a ~200 W package / ~20 cores), not a measurement. None
                disables the estimate: CPU energy is then NaN without RAPL.
            powercap_root: The powercap sysfs folder (injectable for tests).
            nvml: A pynvml-like module (injectable for tests); ``import pynvml`` when None.
            sample: Run the background sampler. Without it, traces only hold the samples
                taken at window edges and by ``sample_now``; sampled GPU energy then uses
                only those points, and RAPL may wrap unseen in windows of tens of minutes.
            rank: Local rank; read from LOCAL_RANK (default 0) when None.
            require: "nvml", "nvml-counter" and/or "rapl": raise ``EnergyMeterError`` now if
                that method is unavailable, instead of recording NaN with a reason.
            clock: Monotonic clock in seconds (injectable for tests).
            sleep: Sleep function used by ``idle_baseline`` (injectable for tests).
            cpu_time_s: Process CPU seconds (user + system, including reaped children)
                (injectable for tests); psutil when None.

        Raises:
            EnergyMeterError: A required method is unavailable.
            ValueError: Unknown requirement or GPU index.
        """
        import psutil

        required = {require} if isinstance(require, str) else set(require or ())
        if unknown := required - set(REQUIREMENTS):
            raise ValueError(f"unknown require={sorted(unknown)}; choose from {REQUIREMENTS}")

        self.sample_interval_s = sample_interval_s
        self.cpu_watts_per_core = cpu_watts_per_core
        self.powercap_root = Path(powercap_root)
        self.rank = int(os.environ.get("LOCAL_RANK", "0")) if rank is None else rank
        self._clock = clock
        self._sleep = sleep
        self._process = psutil.Process()
        self._cpu_time_s = cpu_time_s or self._psutil_cpu_time_s
        self._lock = threading.Lock()
        self._open: dict[str, _Start] = {}
        self._spans: dict[str, tuple[float, float]] = {}
        # Trace rows stay in memory (~10 rows/s of a few hundred bytes: ~100 MB a day),
        # which is fine for runs of hours and keeps the sampler allocation-free otherwise.
        self._samples: list[tuple[float, ...]] = []
        self._last_cpu: tuple[float, float] | None = None  # (t, cpu seconds) of last sample
        self._sampled_j: dict[int, float] = {}  # trapezoid integral per counter-less GPU
        self._last_power: dict[int, tuple[float, float]] = {}
        self._idle_gpu_w = NAN
        self._idle_cpu_w = NAN
        self._nvml: Any = None
        self._gpus: list[_Gpu] = []
        self._rapl: list[_RaplDomain] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._t_origin = clock()

        self.measuring = self.rank == 0
        if not self.measuring:
            # Other ranks stay inert: no NVML handles, no thread, no requirement checks.
            self.gpu_method = self.cpu_method = "none"
            self._gpu_reason, self._cpu_reason, self._rapl_reason = NOT_RANK_ZERO, "", ""
            return

        self._open_gpus(nvml, gpu_indices)
        self._open_cpu()
        try:
            self._check_required(required)
        except EnergyMeterError:
            self.close()
            raise
        logger.info("EnergyMeter: GPU %s, CPU %s%s", self.gpu_method, self.cpu_method,
                    f" ({self.reason})" if self.reason else "")
        if sample:
            self._thread = threading.Thread(target=self._run_sampler, name="energy-sampler",
                                            daemon=True)
            self._thread.start()

    # ----------------------------------------------------------------- windows

    def begin(self, key: str) -> None:
        """Start window ``key`` after synchronising the accelerator.

        Args:
            key: Window name, unique among open windows.

        Raises:
            ValueError: ``key`` is already open.
        """
        if key in self._open:
            raise ValueError(f"energy window {key!r} is already open")
        _sync_accelerator()
        with self._lock:
            t = self._take_sample() if self.measuring else self._clock()
            self._open[key] = _Start(t, *self._read_counters())

    def end(self, key: str) -> Measurement:
        """Close window ``key`` after synchronising the accelerator.

        Args:
            key: Name of an open window.

        Returns:
            The window's Measurement.

        Raises:
            ValueError: ``key`` is not open.
        """
        _sync_accelerator()
        with self._lock:
            try:
                start = self._open.pop(key)
            except KeyError:
                raise ValueError(f"energy window {key!r} is not open") from None
            t = self._take_sample() if self.measuring else self._clock()
            gpu_j, cpu_j = self._read_counters()
        self._spans[key] = (start.t, t)
        time_s = t - start.t
        gpu_energy_j = {i: gpu_j[i] - start.gpu_j[i] for i in gpu_j}

        reasons = [self.reason] if self.reason else []
        if failed := [i for i, e in gpu_energy_j.items() if math.isnan(e)]:
            reasons.append(f"NVML read failed for GPU {failed} (see log)")
        if self.gpu_method == "nvml-counter" and time_s < 1.0:
            reasons.append("window under 1 s: the NVML counter updates only every ~100 ms")
        return Measurement(
            key=key, time_s=time_s, gpu_energy_j=gpu_energy_j, cpu_energy_j=cpu_j - start.cpu_j,
            gpu_method=self.gpu_method, cpu_method=self.cpu_method, reason="; ".join(reasons),
            idle_gpu_power_w=self._idle_gpu_w, idle_cpu_power_w=self._idle_cpu_w,
        )

    def cancel(self, key: str) -> bool:
        """Discard window ``key`` without measuring it, e.g. a training attempt that ran out
        of memory and will be retried under the same name.

        Args:
            key: Window name.

        Returns:
            Whether ``key`` was open.
        """
        with self._lock:
            return self._open.pop(key, None) is not None

    @contextlib.contextmanager
    def measure(self, key: str) -> Iterator[Window]:
        """Measure the enclosed block as window ``key``.

        Args:
            key: Window name.

        Yields:
            A ``Window`` whose ``measurement`` is set on exit (also when the block raises).
        """
        window = Window(key)
        self.begin(key)
        try:
            yield window
        finally:
            window.measurement = self.end(key)

    def idle_baseline(self, seconds: float = 5.0) -> Measurement:
        """Measure idle power; later Measurements carry it and the idle-subtracted energy.

        Call it when this process (and ideally the machine) is idle, e.g. before loading the
        model.

        Args:
            seconds: How long to measure; several seconds, as the NVML counter is coarse.

        Returns:
            The idle window's Measurement (itself carrying the new idle powers).
        """
        key = "idle-baseline"
        self.begin(key)
        self._sleep(seconds)
        m = self.end(key)
        self._idle_gpu_w = m.avg_gpu_power_w if m.gpu_method != "none" else NAN
        self._idle_cpu_w = _ratio(m.cpu_energy_j, m.time_s)
        logger.info("EnergyMeter: idle power GPU %.1f W, CPU %.1f W over %.1f s",
                    self._idle_gpu_w, self._idle_cpu_w, m.time_s)
        return replace(m, idle_gpu_power_w=self._idle_gpu_w, idle_cpu_power_w=self._idle_cpu_w)

    # ----------------------------------------------------------------- sampling

    def sample_now(self) -> None:
        """Take one sample now (the background thread calls this every interval)."""
        if not self.measuring:
            return
        with self._lock:
            self._take_sample()

    def trace(self, key: str | None = None) -> pd.DataFrame:
        """Samples within window ``key`` (still open or ended), or all samples.

        Args:
            key: Window name; None for everything since the meter started.

        Returns:
            A wide DataFrame, one row per sample: ``t_s`` (seconds since the window's start,
            or the meter's creation), ``cpu_util_pct`` (% of one core, this process),
            ``rss_mib``, and per measured GPU ``i``: ``gpu{i}_power_w``, ``gpu{i}_util_pct``,
            ``gpu{i}_mem_mib`` (memory used on the device). Failed reads are NaN.

        Raises:
            ValueError: ``key`` was never opened.
        """
        import pandas as pd

        if key is None:
            t0, t1 = self._t_origin, math.inf
        elif key in self._open:
            t0, t1 = self._open[key].t, math.inf
        elif key in self._spans:
            t0, t1 = self._spans[key]
        else:
            raise ValueError(f"no energy window {key!r}")
        with self._lock:
            rows = [row for row in self._samples if t0 <= row[0] <= t1]
        columns = list(_SAMPLE_COLUMNS) + [
            f"gpu{gpu.index}_{name}" for gpu in self._gpus for name in _GPU_COLUMNS]
        df = pd.DataFrame(rows, columns=columns, dtype=float)
        df["t_s"] -= t0
        return df

    # ----------------------------------------------------------------- reporting

    @property
    def method(self) -> str:
        """Methods this meter uses, joined by "+", or "none"."""
        used = [m for m in (self.gpu_method, self.cpu_method) if m != "none"]
        return "+".join(used) or "none"

    @property
    def reason(self) -> str:
        """Why a part is NaN or estimated; "" when everything is measured."""
        return "; ".join(r for r in (self._gpu_reason, self._cpu_reason) if r)

    def describe(self) -> dict[str, Any]:
        """What this meter can see and which methods it uses, for ``tradeoff env``.

        Returns:
            A JSON-friendly dict with keys ``rank``, ``measuring``, ``method``, ``reason``,
            ``gpu`` (method, reason, CUDA_VISIBLE_DEVICES, devices with index, nvml_index,
            name, energy_counter), ``cpu`` (method, reason, powercap_root, rapl_domains,
            cpu_watts_per_core), ``sampler`` (running, interval_s) and ``idle_power_w``.
        """
        return {
            "rank": self.rank,
            "measuring": self.measuring,
            "method": self.method,
            "reason": self.reason,
            "gpu": {
                "method": self.gpu_method,
                "reason": self._gpu_reason,
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "devices": [{"index": g.index, "nvml_index": g.nvml_index, "name": g.name,
                             "energy_counter": g.has_counter} for g in self._gpus],
            },
            "cpu": {
                "method": self.cpu_method,
                "reason": self._cpu_reason,
                "powercap_root": str(self.powercap_root),
                "rapl_domains": [str(d.path) for d in self._rapl],
                "cpu_watts_per_core": self.cpu_watts_per_core,
            },
            "sampler": {"running": self._thread is not None and self._thread.is_alive(),
                        "interval_s": self.sample_interval_s},
            "idle_power_w": {"gpu": self._idle_gpu_w, "cpu": self._idle_cpu_w},
        }

    def close(self) -> None:
        """Stop the sampler and shut NVML down. Safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._nvml is not None:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
            self._nvml = None

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- internals

    def _open_gpus(self, nvml: Any, gpu_indices: Iterable[int] | None) -> None:
        self._nvml, count, reason = _open_nvml(nvml)
        self.gpu_method, self._gpu_reason = "none", f"no GPU measured: {reason}"
        if self._nvml is None:
            return
        visible, note = _visible_nvml_indices(count)
        indices = list(range(len(visible))) if gpu_indices is None else list(gpu_indices)
        if bad := [i for i in indices if not 0 <= i < len(visible)]:
            self.close()
            raise ValueError(f"GPU indices {bad} not visible; {len(visible)} GPU(s) visible")
        nv = self._nvml
        for i in indices:
            handle = nv.nvmlDeviceGetHandleByIndex(visible[i])
            name = nv.nvmlDeviceGetName(handle)
            try:
                nv.nvmlDeviceGetTotalEnergyConsumption(handle)
                has_counter = True
            except nv.NVMLError as err:  # pre-Volta: NVMLError_NotSupported
                logger.info("GPU %d has no energy counter (%s): integrating power", i, err)
                has_counter = False
            name = name.decode() if isinstance(name, bytes) else str(name)
            self._gpus.append(_Gpu(i, visible[i], handle, name, has_counter))
        if not self._gpus:
            self.gpu_method = "none"
            self._gpu_reason = "no GPU measured: " + (note or "CUDA_VISIBLE_DEVICES hides all")
            return
        sampled = [g.index for g in self._gpus if not g.has_counter]
        self._sampled_j = dict.fromkeys(sampled, 0.0)
        self.gpu_method = "nvml-sampled" if sampled else "nvml-counter"
        notes = [note] if note else []
        if sampled:
            notes.append(f"GPU {sampled} lack an energy counter (pre-Volta): energy integrates "
                         "sampled power (trapezoid)")
        self._gpu_reason = "; ".join(notes)

    def _open_cpu(self) -> None:
        self._rapl, reason = _open_rapl(self.powercap_root)
        self._rapl_reason = reason
        if self._rapl:
            self.cpu_method, self._cpu_reason = "rapl", ""
        elif self.cpu_watts_per_core is not None:
            self.cpu_method = "cpu-time-estimate"
            self._cpu_reason = (
                f"RAPL unreadable ({reason}): CPU energy is an ESTIMATE, process CPU time x "
                f"{self.cpu_watts_per_core:g} W per busy core (assumed)")
        else:
            self.cpu_method = "none"
            self._cpu_reason = f"no CPU energy: RAPL unreadable ({reason}), estimate disabled"

    def _check_required(self, required: set[str]) -> None:
        if required & {"nvml", "nvml-counter"} and not self._gpus:
            raise EnergyMeterError(
                f"require='nvml' but {self._gpu_reason}. Fix: run on a host with an NVIDIA GPU "
                "and driver (`nvidia-smi` must work), `pip install nvidia-ml-py`, and check "
                "CUDA_VISIBLE_DEVICES; or drop require= to record NaN with a reason.")
        if "nvml-counter" in required and self.gpu_method != "nvml-counter":
            raise EnergyMeterError(
                f"require='nvml-counter' but {self._gpu_reason}. Fix: use a Volta or newer GPU, "
                "or require='nvml' to accept integrated power samples.")
        if "rapl" in required and self.cpu_method != "rapl":
            raise EnergyMeterError(
                f"require='rapl' but RAPL is unreadable: {self._rapl_reason}. "
                "Fix: make energy_uj readable (root-only since Linux 5.10), e.g. `sudo chmod a+r "
                f"{self.powercap_root}/intel-rapl:*/energy_uj "
                f"{self.powercap_root}/intel-rapl:*/intel-rapl:*/energy_uj`, and in a "
                "container mount /sys/class/powercap; or drop require='rapl' to use the "
                "labelled cpu-time-estimate.")

    def _psutil_cpu_time_s(self) -> float:
        # Children count only once reaped (e.g. finished DataLoader workers); psutil cannot
        # see live children's time without walking the process tree on every sample.
        t = self._process.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def _take_sample(self) -> float:
        """Record one trace row and advance the software counters; caller holds the lock."""
        t = self._clock()
        cpu_s = self._cpu_time_s()
        cpu_util = NAN
        if self._last_cpu is not None and t > self._last_cpu[0]:
            cpu_util = (cpu_s - self._last_cpu[1]) / (t - self._last_cpu[0]) * 100.0
        self._last_cpu = (t, cpu_s)
        row = [t, cpu_util, self._process.memory_info().rss / 2**20]
        nv = self._nvml
        for gpu in self._gpus:
            power_mw = self._nvml_get(nv.nvmlDeviceGetPowerUsage, gpu.handle)
            util = self._nvml_get(nv.nvmlDeviceGetUtilizationRates, gpu.handle)
            mem = self._nvml_get(nv.nvmlDeviceGetMemoryInfo, gpu.handle)
            power_w = NAN if power_mw is None else power_mw / 1000.0
            row += [power_w, NAN if util is None else float(util.gpu),
                    NAN if mem is None else mem.used / 2**20]
            if not gpu.has_counter:
                self._integrate(gpu.index, t, power_w)
        for domain in self._rapl:
            domain.update()
        self._samples.append(tuple(row))
        return t

    def _integrate(self, index: int, t: float, power_w: float) -> None:
        if math.isnan(power_w):
            return  # bridge a failed read: the next good sample spans the gap
        if (last := self._last_power.get(index)) is not None:
            self._sampled_j[index] += (last[1] + power_w) / 2.0 * (t - last[0])
        self._last_power[index] = (t, power_w)

    def _read_counters(self) -> tuple[dict[int, float], float]:
        """Cumulative joules per GPU and for the CPU; caller holds the lock, just sampled."""
        gpu_j = {}
        for gpu in self._gpus:
            if gpu.has_counter:
                mj = self._nvml_get(self._nvml.nvmlDeviceGetTotalEnergyConsumption, gpu.handle)
                gpu_j[gpu.index] = NAN if mj is None else mj / 1000.0
            else:
                gpu_j[gpu.index] = self._sampled_j[gpu.index]
        if self.cpu_method == "rapl":
            cpu_j = sum(d.total_uj for d in self._rapl) / 1e6
        elif self.cpu_method == "cpu-time-estimate":
            cpu_j = self._cpu_time_s() * self.cpu_watts_per_core
        else:
            cpu_j = NAN
        return gpu_j, cpu_j

    def _nvml_get(self, fn: Callable[[Any], Any], handle: Any) -> Any:
        try:
            return fn(handle)
        except self._nvml.NVMLError as err:
            logger.debug("%s failed: %s", fn.__name__, err)
            return None

    def _run_sampler(self) -> None:
        while not self._stop.wait(self.sample_interval_s):
            try:
                self.sample_now()
            except Exception:  # a dead sampler must be loud, not silently stop tracing
                logger.exception("energy sampler failed; traces stop here")
                return


def summarize_trace(df: pd.DataFrame) -> dict[str, float]:
    """Means and peaks of a ``trace`` DataFrame (NaN where a column is absent or empty).

    GPU utilisation and memory are per device (averaged over devices and samples, as W&B
    reports them); peaks are over all devices and samples. Means are over samples, which the
    sampler spaces evenly.

    Args:
        df: Output of ``EnergyMeter.trace`` (or ``decimate``).

    Returns:
        ``n_samples``, ``gpu_util_mean_pct``, ``gpu_util_peak_pct``, ``gpu_mem_mean_mib``,
        ``gpu_mem_peak_mib``, ``cpu_util_mean_pct``, ``cpu_util_peak_pct``,
        ``rss_mean_mib``, ``rss_peak_mib``.
    """
    def gpu_cols(suffix: str) -> list[str]:
        return [c for c in df.columns if c.startswith("gpu") and c.endswith(suffix)]

    out: dict[str, float] = {"n_samples": float(len(df))}
    for name, cols in (("gpu_util", gpu_cols("_util_pct")), ("gpu_mem", gpu_cols("_mem_mib")),
                       ("cpu_util", ["cpu_util_pct"]), ("rss", ["rss_mib"])):
        unit = "mib" if name in ("gpu_mem", "rss") else "pct"
        values = df[[c for c in cols if c in df.columns]].stack().dropna()
        out[f"{name}_mean_{unit}"] = float(values.mean()) if len(values) else NAN
        out[f"{name}_peak_{unit}"] = float(values.max()) if len(values) else NAN
    return out


def decimate(df: pd.DataFrame, max_points: int = 200) -> pd.DataFrame:
    """Shrink a trace to at most ``max_points`` rows by averaging consecutive bins.

    Averaging (rather than picking every k-th row) keeps the bins' means honest; peaks are
    smoothed, so take them from ``summarize_trace`` on the full trace.

    Args:
        df: A ``trace`` DataFrame.
        max_points: Maximum number of rows to keep.

    Returns:
        A new DataFrame with the same columns and at most ``max_points`` rows.
    """
    import numpy as np

    if max_points < 1:
        raise ValueError("max_points must be >= 1")
    n = len(df)
    if n <= max_points:
        return df.reset_index(drop=True).copy()
    bins = np.arange(n) * max_points // n
    return df.groupby(bins).mean().reset_index(drop=True)


# --------------------------------------------------------------------------- backends


@dataclass
class _Start:
    t: float
    gpu_j: dict[int, float]
    cpu_j: float


@dataclass
class _Gpu:
    index: int  # framework index, the key in Measurement.gpu_energy_j
    nvml_index: int
    handle: Any
    name: str
    has_counter: bool


@dataclass
class _RaplDomain:
    """One powercap zone, unwrapped into ``total_uj`` since the meter opened it."""

    path: Path
    max_range_uj: int
    last_uj: int
    total_uj: int = 0

    def update(self) -> None:
        try:
            now = _read_int(self.path / "energy_uj")
        except OSError as err:
            logger.warning("RAPL read failed for %s: %s", self.path, err)
            return
        delta = now - self.last_uj
        if delta < 0:  # wrapped at max_energy_range_uj
            delta += self.max_range_uj
        self.total_uj += delta
        self.last_uj = now


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def _open_rapl(root: Path) -> tuple[list[_RaplDomain], str]:
    """Package zones and their DRAM subzones, or ([], why not)."""
    packages = sorted(p for p in root.glob("intel-rapl:*") if _PACKAGE_DIR.fullmatch(p.name))
    if not packages:
        return [], f"no RAPL domains under {root}"
    domains = []
    try:
        for package in packages:
            # psys (platform) zones overlap the packages; only package-N are summed.
            if not (package / "name").read_text().strip().startswith("package"):
                continue
            zones = [package] + [sub for sub in sorted(package.glob(f"{package.name}:*"))
                                 if (sub / "name").read_text().strip() == "dram"]
            for zone in zones:
                domains.append(_RaplDomain(zone, _read_int(zone / "max_energy_range_uj"),
                                           _read_int(zone / "energy_uj")))
    except PermissionError as err:
        return [], f"permission denied reading {err.filename}"
    except (OSError, ValueError) as err:
        return [], f"cannot read RAPL: {err}"
    if not domains:
        return [], f"no RAPL package domains under {root}"
    return domains, ""


def _open_nvml(nvml: Any = None) -> tuple[Any, int, str]:
    """Initialise NVML: (module, device count, "") or (None, 0, why not)."""
    if nvml is None:
        try:
            import pynvml as nvml
        except ImportError:
            return None, 0, "nvidia-ml-py is not installed (no `pynvml` module)"
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as err:
        return None, 0, f"NVML unavailable ({err}); no NVIDIA driver or GPU on this host"
    try:
        count = nvml.nvmlDeviceGetCount()
    except nvml.NVMLError as err:
        nvml.nvmlShutdown()
        return None, 0, f"NVML cannot count devices ({err})"
    if count == 0:
        nvml.nvmlShutdown()
        return None, 0, "NVML sees no GPU"
    return nvml, count, ""


def _visible_nvml_indices(count: int) -> tuple[list[int], str]:
    """NVML indices in CUDA order, honouring CUDA_VISIBLE_DEVICES when it lists integers."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return list(range(count)), ""
    try:
        listed = [int(tok) for tok in env.split(",") if tok.strip()]
    except ValueError:  # UUIDs or MIG names: NVML's order cannot be matched reliably
        return list(range(count)), (
            f"CUDA_VISIBLE_DEVICES={env!r} is not integer indices; measuring all {count} GPUs")
    return [i for i in listed if 0 <= i < count], ""


def _sync_accelerator() -> None:
    # Only if this process already imported torch: otherwise it has queued no CUDA work,
    # and importing torch here would cost seconds. Syncs the current device only, so that
    # other DDP ranks' devices get no stray CUDA context; collectives keep ranks in step.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else NAN
