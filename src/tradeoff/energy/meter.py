"""``EnergyMeter``: named windows over a ``ZeusMonitor``, a trace sampler, the idle baseline;
``Measurement``: time and energy of one window, with units in its field names."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from ..tasks import JOULES_PER_KWH
from . import backends

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("tradeoff.energy")
NAN = math.nan
METHODS = ("nvml-counter", "nvml-sampled", "rapl", "cpu-time-estimate", "none")
NOT_RANK_ZERO = "not local rank 0"
REQUIRE_FIXES = {  # what ``EnergyMeter(require=...)`` may ask for, and how to provide it
    "nvml": "a host with an NVIDIA GPU and driver (`nvidia-smi` works), `pip install "
            "nvidia-ml-py zeus`, and CUDA_VISIBLE_DEVICES checked",
    "nvml-counter": "a Volta or newer GPU, or require='nvml' to accept sampled power",
    "rapl": "`sudo chmod a+r` the energy_uj files under /sys/class/powercap/intel-rapl (root-only "
            "since Linux 5.10); in a container, mount /sys/class/powercap at /zeus_sys; or run "
            "Zeus's daemon zeusd"}


def joined(*methods: str) -> str:
    """The methods used, joined by "+" (e.g. "nvml-counter+rapl"), or "none"."""
    return "+".join(m for m in methods if m != "none") or "none"


def per_second(energy_j: float, time_s: float) -> float:
    """Mean power in W; NaN unless the window lasted."""
    return energy_j / time_s if time_s > 0 else NAN


@dataclass(frozen=True)
class Measurement:
    """Time and energy of one window; a part whose method is "none" is NaN, never 0.

    Attributes:
        gpu_energy_j: Per GPU, keyed by framework index (after CUDA_VISIBLE_DEVICES); empty
            when no GPU was measured.
        cpu_energy_j: RAPL packages + DRAM, or the CPU-time estimate.
        gpu_method, cpu_method: One of ``METHODS`` each.
        reason: Why a part is NaN or estimated; "" when everything was measured.
        idle_gpu_power_w, idle_cpu_power_w: From ``EnergyMeter.idle_baseline``, or NaN.
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
        parts = ((self.gpu_method, self.total_gpu_energy_j, self.idle_gpu_power_w),
                 (self.cpu_method, self.cpu_energy_j, self.idle_cpu_power_w))
        return [(energy, idle_w) for method, energy, idle_w in parts if method != "none"]

    @property
    def total_energy_j(self) -> float:
        """GPU + CPU energy over the parts whose method is not "none"."""
        parts = self._parts()
        return math.fsum(energy for energy, _ in parts) if parts else NAN

    @property
    def idle_subtracted_energy_j(self) -> float:
        """``total_energy_j`` minus idle power x ``time_s``; NaN without an idle baseline. Not
        clipped at zero: a load drawing less than the baseline is worth seeing."""
        parts = self._parts()
        return math.fsum(e - idle_w * self.time_s for e, idle_w in parts) if parts else NAN

    @property
    def avg_gpu_power_w(self) -> float:
        return per_second(self.total_gpu_energy_j, self.time_s)

    @property
    def avg_power_w(self) -> float:
        return per_second(self.total_energy_j, self.time_s)

    @property
    def energy_kwh(self) -> float:
        return self.total_energy_j / JOULES_PER_KWH

    @property
    def method(self) -> str:
        return joined(self.gpu_method, self.cpu_method)

    def to_dict(self) -> dict[str, Any]:
        """Fields plus derived properties, flat, for run records."""
        derived = ("total_gpu_energy_j", "total_energy_j", "avg_gpu_power_w", "avg_power_w",
                   "energy_kwh", "idle_subtracted_energy_j", "method")
        return asdict(self) | {name: getattr(self, name) for name in derived}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """Rebuild from ``to_dict`` output, also after a JSON round trip (derived keys ignored)."""
        kwargs = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        kwargs["gpu_energy_j"] = {int(k): float(v) for k, v in data["gpu_energy_j"].items()}
        return cls(**kwargs)


@dataclass
class Window:
    """Handle yielded by ``EnergyMeter.measure``; ``measurement`` is set when the block exits."""

    key: str
    measurement: Measurement | None = None


class EnergyMeterError(RuntimeError):
    """A measurement method the caller required is unavailable."""


class EnergyMeter:
    """Time and energy of named, possibly overlapping windows.

    Windows go to a ``ZeusMonitor``: GPU energy counters, the sampled power of GPUs without one
    (its ``PowerMonitor``), RAPL. A thread samples GPU power, utilisation and memory through
    Zeus's devices, and this process's CPU utilisation and RSS, every ``sample_interval_s``, for
    the traces. Without RAPL the meter estimates CPU energy from CPU time. Under DDP only local
    rank 0 measures (all GPUs of the node); other ranks get method "none".
    """

    def __init__(self, gpu_indices: Iterable[int] | None = None, sample_interval_s: float = 0.1,
                 cpu_watts_per_core: float | None = 10.0, sample: bool = True,
                 rank: int | None = None, *, require: str | Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 cpu_time_s: Callable[[], float] | None = None) -> None:
        """Open the devices through Zeus and start the sampler.

        Args:
            gpu_indices: Framework GPU indices to measure; all GPUs Zeus sees when None.
            sample_interval_s: Sampler period; 0.1 s matches the NVML counter's update rate.
            cpu_watts_per_core: Assumed power of a busy core for the CPU-time estimate used
                without RAPL; 10 W is a rough server figure (~200 W / ~20 cores), not a
                measurement. None disables the estimate (CPU energy is then NaN).
            sample: Run the sampler thread; else only window edges and ``sample_now`` sample.
            rank: Local rank; LOCAL_RANK (default 0) when None. Only rank 0 measures.
            require: "nvml", "nvml-counter" and/or "rapl": raise ``EnergyMeterError`` (with the
                fix) if unavailable, instead of recording NaN with a reason.
            clock: Monotonic clock in seconds. sleep: used by ``idle_baseline``.
            cpu_time_s: Process CPU seconds (reaped children included); psutil when None.
        """
        import psutil

        required = {require} if isinstance(require, str) else set(require)
        if unknown := required - REQUIRE_FIXES.keys():
            raise ValueError(f"unknown require={sorted(unknown)}; choose from {[*REQUIRE_FIXES]}")
        self.sample_interval_s, self.cpu_watts_per_core = sample_interval_s, cpu_watts_per_core
        self.rank = int(os.environ.get("LOCAL_RANK", "0")) if rank is None else rank
        self._clock, self._sleep, self._process = clock, sleep, psutil.Process()
        self._cpu_time_s = cpu_time_s or self._psutil_cpu_time_s
        self._lock, self._stop, self._thread = threading.Lock(), threading.Event(), None
        self._open: dict[str, tuple[float, float]] = {}  # key -> (start, CPU seconds then)
        self._spans: dict[str, tuple[float, float]] = {}  # ended windows, for their traces
        self._rows: list[tuple[float, ...]] = []  # in memory: ~100 MB a day at 10 Hz
        self._last_cpu = (clock(), NAN)  # (t, process CPU seconds) at the last sample
        self._idle_gpu_w = self._idle_cpu_w = NAN
        self._gpus = self._cpus = self._zeus = self._nvml = None
        self.devices: list[dict[str, Any]] = []
        self._rapl_files, self._t_origin = [], clock()
        self.gpu_method = self.cpu_method = "none"
        self._gpu_reason, self._cpu_reason = NOT_RANK_ZERO, ""
        if self.rank != 0:
            return  # other ranks stay inert: no Zeus, no NVML, no thread, no requirements
        zones = self._open_devices(gpu_indices, required)
        if self.devices or zones:
            from zeus.monitor import ZeusMonitor

            self._zeus = ZeusMonitor(gpu_indices=[g["index"] for g in self.devices],
                                     cpu_indices=zones)
        logger.info("EnergyMeter: %s (%s)", self.method, self.reason or "all measured")
        if sample:
            self._thread = threading.Thread(target=self._run, name="energy-sampler", daemon=True)
            self._thread.start()

    def begin(self, key: str) -> None:
        """Start window ``key`` after synchronising the accelerator; ValueError if open."""
        if key in self._open:
            raise ValueError(f"energy window {key!r} is already open")
        _sync_accelerator()
        with self._lock:
            t = self._take_sample()
            self._zeus_window("begin_window", key)
            self._open[key] = (t, self._last_cpu[1])

    def end(self, key: str) -> Measurement:
        """Close window ``key`` after synchronising the accelerator; ValueError if not open."""
        _sync_accelerator()
        with self._lock:
            if (start := self._open.pop(key, None)) is None:
                raise ValueError(f"energy window {key!r} is not open")
            t = self._take_sample()
            zm = self._zeus_window("end_window", key)
        self._spans[key] = (start[0], t)
        reasons = [self.reason] if self.reason else []
        if self._zeus is not None and zm is None:
            reasons.append("a device read through Zeus failed at a window edge (see log)")
        gpu_j = {g["index"]: zm.gpu_energy.get(g["index"], NAN) if zm else NAN
                 for g in self.devices}
        if self.gpu_method == "nvml-counter" and t - start[0] < 1.0:
            reasons.append("window under 1 s: the NVML counter updates only every ~100 ms")
        cpu_j = NAN
        if self.cpu_method == "cpu-time-estimate":
            cpu_j = (self._last_cpu[1] - start[1]) * self.cpu_watts_per_core
        elif self.cpu_method == "rapl" and zm is not None:
            cpu_j = math.fsum([*zm.cpu_energy.values(), *(zm.dram_energy or {}).values()])
            if cpu_j < 0:  # Zeus adds a wrap only once its tracker process has polled it
                reasons.append("RAPL wrapped before Zeus's wraparound tracker saw it: CPU NaN")
                cpu_j = NAN
        return Measurement(key, t - start[0], gpu_j, cpu_j, self.gpu_method, self.cpu_method,
                           "; ".join(reasons), self._idle_gpu_w, self._idle_cpu_w)

    def cancel(self, key: str) -> bool:
        """Discard window ``key`` (e.g. an attempt that ran out of memory, retried under the
        same name); returns whether it was open."""
        with self._lock:
            was_open = self._open.pop(key, None) is not None
            if was_open:
                self._zeus_window("end_window", key, cancel=True)
        return was_open

    @contextlib.contextmanager
    def measure(self, key: str) -> Iterator[Window]:
        """Measure the block as window ``key``; the ``Window`` gets its measurement on exit,
        also when the block raises."""
        window = Window(key)
        self.begin(key)
        try:
            yield window
        finally:
            window.measurement = self.end(key)

    def idle_baseline(self, seconds: float = 5.0) -> Measurement:
        """Measure idle power for ``seconds`` (call it while idle); later Measurements carry it
        and ``idle_subtracted_energy_j``. Returns the idle window's Measurement."""
        self.begin("idle-baseline")
        self._sleep(seconds)
        m = self.end("idle-baseline")
        self._idle_gpu_w = m.avg_gpu_power_w  # NaN without a GPU
        self._idle_cpu_w = per_second(m.cpu_energy_j, m.time_s)
        logger.info("EnergyMeter: idle GPU %.1f W, CPU %.1f W", self._idle_gpu_w, self._idle_cpu_w)
        return replace(m, idle_gpu_power_w=self._idle_gpu_w, idle_cpu_power_w=self._idle_cpu_w)

    def sample_now(self) -> None:
        """Take one sample now (the sampler thread calls this every interval)."""
        with self._lock:
            self._take_sample()

    def trace(self, key: str | None = None) -> pd.DataFrame:
        """Samples of window ``key`` (open or ended; all when None); ValueError if never opened.

        Columns: ``t_s`` (from the window's start), ``cpu_util_pct`` (% of one core, this
        process), ``rss_mib`` and, per GPU ``i``, ``gpu{i}_power_w``, ``_util_pct``, ``_mem_mib``.
        """
        import pandas as pd

        if key is None or key in self._open:
            t0, t1 = self._t_origin if key is None else self._open[key][0], math.inf
        elif key in self._spans:
            t0, t1 = self._spans[key]
        else:
            raise ValueError(f"no energy window {key!r}")
        with self._lock:
            rows = [row for row in self._rows if t0 <= row[0] <= t1]
        gpus = [f"gpu{g['index']}_{name}" for g in self.devices
                for name in ("power_w", "util_pct", "mem_mib")]
        df = pd.DataFrame(rows, columns=["t_s", "cpu_util_pct", "rss_mib", *gpus], dtype=float)
        return df.assign(t_s=df["t_s"] - t0)

    @property
    def method(self) -> str:
        """Methods this meter uses, joined by "+", or "none"."""
        return joined(self.gpu_method, self.cpu_method)

    @property
    def reason(self) -> str:
        """Why a part is NaN or estimated; "" when everything is measured."""
        return "; ".join(r for r in (self._gpu_reason, self._cpu_reason) if r)

    def describe(self) -> dict[str, Any]:
        """What Zeus found and the methods used, JSON-friendly, for ``tradeoff env``."""
        from zeus import __version__

        found = {part: type(obj).__name__ if obj else None for part, obj in
                 (("windows", self._zeus), ("gpus", self._gpus), ("cpus", self._cpus))}
        return {"rank": self.rank, "method": self.method, "reason": self.reason,
                "zeus": {"version": __version__, **found},
                "gpu": {"method": self.gpu_method, "devices": self.devices,
                        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")},
                "cpu": {"method": self.cpu_method, "rapl_domains": self._rapl_files,
                        "cpu_watts_per_core": self.cpu_watts_per_core},
                "sampler": {"running": bool(self._thread and self._thread.is_alive()),
                            "interval_s": self.sample_interval_s},
                "idle_power_w": {"gpu": self._idle_gpu_w, "cpu": self._idle_cpu_w}}

    def close(self) -> None:
        """Stop the sampler and release the meter's NVML reference; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._nvml is not None:
            self._nvml.nvmlShutdown()
            self._nvml = None

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_devices(self, gpu_indices: Iterable[int] | None, required: set[str]) -> list[int]:
        """Open GPUs and RAPL through Zeus, choose the methods and say why a part is sampled,
        estimated or NaN; raise if a ``required`` method is missing. Returns RAPL's zones."""
        self._gpus, self.devices, gpu_reason = backends.open_gpus(gpu_indices)
        self._cpus, zones, self._rapl_files, rapl_reason = backends.open_rapl()
        self._nvml = backends.open_nvml(self._gpus)
        if not self.devices:
            self._gpu_reason = f"no GPU measured: {gpu_reason}"
        elif sampled := [g["index"] for g in self.devices if not g["energy_counter"]]:
            self.gpu_method, self._gpu_reason = "nvml-sampled", (
                f"GPU {sampled} lack an energy counter (pre-Volta): Zeus's PowerMonitor "
                "integrates their sampled power (trapezoid)")
        else:
            self.gpu_method, self._gpu_reason = "nvml-counter", ""
        if zones:
            self.cpu_method = "rapl"
        elif self.cpu_watts_per_core is not None:
            self.cpu_method = "cpu-time-estimate"
            self._cpu_reason = (f"RAPL unreadable ({rapl_reason}): CPU energy is an ESTIMATE, "
                                f"process CPU time x {self.cpu_watts_per_core:g} W per busy core "
                                "(assumed)")
        else:
            self._cpu_reason = f"no CPU energy: RAPL unreadable ({rapl_reason})"
        unmet = {"nvml": not self.devices, "nvml-counter": self.gpu_method != "nvml-counter",
                 "rapl": not zones}
        if need := min((n for n in required if unmet[n]), default=None):
            self.close()
            why = f"RAPL is unreadable ({rapl_reason})" if need == "rapl" else self._gpu_reason
            raise EnergyMeterError(f"require={need!r} but {why}. Fix: {REQUIRE_FIXES[need]}; or "
                                   "drop require= to record NaN with a reason.")
        return zones

    def _zeus_window(self, call: str, key: str, **kwargs: Any) -> Any:
        """Zeus's ``begin_window`` or ``end_window``; None (logged) if Zeus failed to read a
        device or holds no such window."""
        from zeus.exception import ZeusBaseError

        zeus = self._zeus
        if zeus is None or (call == "end_window" and key not in zeus.measurement_states):
            return None
        try:  # sync_execution=False: _sync_accelerator syncs the current device only, where Zeus
            # would sync every measured GPU and open CUDA contexts on other DDP ranks' devices.
            return getattr(zeus, call)(key, sync_execution=False, **kwargs)
        # KeyError: Zeus 0.16 falls back to an instant power it did not read when its
        # PowerMonitor has no sample in the window.
        except (ZeusBaseError, KeyError) as err:
            logger.warning("Zeus failed to read a device at window %r: %s", key, err)
            return None

    def _psutil_cpu_time_s(self) -> float:
        t = self._process.cpu_times()  # children count once reaped (finished data workers)
        return t.user + t.system + t.children_user + t.children_system

    def _take_sample(self) -> float:
        """Append a trace row and keep the CPU time; the caller holds the lock. Returns the
        time; off rank 0 only that."""
        if self.rank != 0:
            return self._clock()
        t, cpu_s = self._clock(), self._cpu_time_s()
        last_t, last_cpu_s = self._last_cpu
        row = [t, (cpu_s - last_cpu_s) / (t - last_t) * 100.0 if t > last_t else NAN,
               self._process.memory_info().rss / 2**20]
        self._last_cpu = (t, cpu_s)
        for g in self.devices:
            row += backends.read_gpu(self._gpus, self._nvml, g["index"])
        self._rows.append(tuple(row))
        return t

    def _run(self) -> None:
        while not self._stop.wait(self.sample_interval_s):
            try:
                self.sample_now()
            except Exception:  # a dead sampler must be loud, not silently stop tracing
                logger.exception("energy sampler failed; traces stop here")
                return


def _sync_accelerator() -> None:
    # Only if torch is already imported (else no CUDA work is queued and importing costs
    # seconds); the current device only, so other DDP ranks' GPUs get no context.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
