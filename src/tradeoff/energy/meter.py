"""``EnergyMeter``: named windows over a ``ZeusMonitor``, a trace sampler, the idle baseline."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any

from . import backends
from .measurement import NAN, NOT_RANK_ZERO, REQUIREMENTS, Measurement, Window, ratio
from .trace import frame

logger = logging.getLogger("tradeoff.energy")


class EnergyMeterError(RuntimeError):
    """A measurement method the caller required is unavailable."""


@dataclass
class _Start:
    t: float
    sampled_j: dict[int, float]
    estimate_j: float
    in_zeus: bool  # Zeus opened the window (it raises on a failed device read)


class EnergyMeter:
    """Time and energy of named, possibly overlapping windows.

    Windows go to a ``ZeusMonitor`` (GPU energy counters, RAPL). A thread samples GPU power,
    utilisation and memory through Zeus's devices, and this process's CPU utilisation and RSS,
    every ``sample_interval_s``; it also integrates the power of GPUs without a counter. Under
    DDP only local rank 0 measures (all GPUs of the node); other ranks get method "none".
    """

    def __init__(self, gpu_indices: Iterable[int] | None = None, sample_interval_s: float = 0.1,
                 cpu_watts_per_core: float | None = 10.0, sample: bool = True,
                 rank: int | None = None, *, require: str | Iterable[str] | None = None,
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
            rank: Local rank; LOCAL_RANK (default 0) when None.
            require: "nvml", "nvml-counter" and/or "rapl": raise if unavailable, instead of
                recording NaN with a reason.
            clock: Monotonic clock in seconds. sleep: used by ``idle_baseline``.
            cpu_time_s: Process CPU seconds (reaped children included); psutil when None.

        Raises:
            EnergyMeterError: A required method is unavailable.
            ValueError: Unknown requirement or GPU index.
        """
        import psutil

        required = {require} if isinstance(require, str) else set(require or ())
        if unknown := required - set(REQUIREMENTS):
            raise ValueError(f"unknown require={sorted(unknown)}; choose from {REQUIREMENTS}")
        self.sample_interval_s, self.cpu_watts_per_core = sample_interval_s, cpu_watts_per_core
        self.rank = int(os.environ.get("LOCAL_RANK", "0")) if rank is None else rank
        self._clock, self._sleep, self._process = clock, sleep, psutil.Process()
        self._cpu_time_s = cpu_time_s or self._psutil_cpu_time_s
        self._lock, self._stop, self._thread = threading.Lock(), threading.Event(), None
        self._open: dict[str, _Start] = {}
        self._spans: dict[str, tuple[float, float]] = {}
        self._rows: list[tuple[float, ...]] = []  # in memory: ~100 MB a day at 10 Hz
        self._last_cpu: tuple[float, float] | None = None  # (t, CPU s) at the last sample
        self._sampled_j: dict[int, float] = {}  # trapezoid integral per counter-less GPU
        self._last_w: dict[int, tuple[float, float]] = {}
        self._idle_gpu_w = self._idle_cpu_w = NAN
        self._gpus = self._cpus = self._zeus = self._nvml = None
        self.devices: list[backends.Gpu] = []
        self._zones, self._rapl_files, self._t_origin = [], [], clock()
        self.gpu_method = self.cpu_method = "none"
        self._gpu_reason, self._cpu_reason, self._rapl_reason = NOT_RANK_ZERO, "", ""
        if not (measuring := self.rank == 0):
            return  # other ranks stay inert: no Zeus, no NVML, no thread, no requirements
        self._open_devices(gpu_indices)
        try:
            self._check_required(required)
        except EnergyMeterError:
            self.close()
            raise
        if (counters := [g.index for g in self.devices if g.has_counter]) or self._zones:
            from zeus.monitor import ZeusMonitor

            self._zeus = ZeusMonitor(gpu_indices=counters, cpu_indices=self._zones)
        logger.info("EnergyMeter: %s (%s)", self.method, self.reason or "all measured")
        if sample and measuring:
            self._thread = threading.Thread(target=self._run, name="energy-sampler", daemon=True)
            self._thread.start()

    @property
    def measuring(self) -> bool:
        """Whether this process measures (local rank 0)."""
        return self.rank == 0

    def begin(self, key: str) -> None:
        """Start window ``key`` after synchronising the accelerator; ValueError if open."""
        if key in self._open:
            raise ValueError(f"energy window {key!r} is already open")
        _sync_accelerator()
        with self._lock:
            t = self._take_sample() if self.measuring else self._clock()
            in_zeus = self._zeus_window(key, "begin_window") is not None
            self._open[key] = _Start(t, dict(self._sampled_j), self._estimate_j(), in_zeus)

    def end(self, key: str) -> Measurement:
        """Close window ``key`` after synchronising the accelerator; ValueError if not open."""
        _sync_accelerator()
        with self._lock:
            if (start := self._open.pop(key, None)) is None:
                raise ValueError(f"energy window {key!r} is not open")
            t = self._take_sample() if self.measuring else self._clock()
            zm = self._zeus_window(key, "end_window") if start.in_zeus else None
            estimate_j = self._estimate_j() - start.estimate_j
        self._spans[key] = (start.t, t)
        reasons = [self.reason] if self.reason else []
        if self._zeus is not None and zm is None:
            reasons.append("a device read through Zeus failed at a window edge (see log)")
        gpu_j = {g.index: zm.gpu_energy.get(g.index, NAN) if zm else NAN for g in self.devices}
        gpu_j |= {i: self._sampled_j[i] - start.sampled_j[i] for i in self._sampled_j}
        if self.gpu_method == "nvml-counter" and t - start.t < 1.0:
            reasons.append("window under 1 s: the NVML counter updates only every ~100 ms")
        cpu_j = estimate_j if self.cpu_method == "cpu-time-estimate" else NAN
        if self.cpu_method == "rapl" and zm is not None and zm.cpu_energy:
            cpu_j = math.fsum([*zm.cpu_energy.values(), *(zm.dram_energy or {}).values()])
            if cpu_j < 0:  # Zeus adds a wrap only once its tracker process has polled it
                reasons.append("RAPL wrapped before Zeus's wraparound tracker saw it: CPU NaN")
                cpu_j = NAN
        return Measurement(key, t - start.t, gpu_j, cpu_j, self.gpu_method, self.cpu_method,
                           "; ".join(reasons), self._idle_gpu_w, self._idle_cpu_w)

    def cancel(self, key: str) -> bool:
        """Discard window ``key`` (e.g. an attempt that ran out of memory, retried under the
        same name); returns whether it was open."""
        with self._lock:
            if (start := self._open.pop(key, None)) is not None and start.in_zeus:
                self._zeus.end_window(key, sync_execution=False, cancel=True)
        return start is not None

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
        self._idle_gpu_w = m.avg_gpu_power_w if m.gpu_method != "none" else NAN
        self._idle_cpu_w = ratio(m.cpu_energy_j, m.time_s)
        logger.info("EnergyMeter: idle GPU %.1f W, CPU %.1f W", self._idle_gpu_w, self._idle_cpu_w)
        return replace(m, idle_gpu_power_w=self._idle_gpu_w, idle_cpu_power_w=self._idle_cpu_w)

    def sample_now(self) -> None:
        """Take one sample now (the sampler thread calls this every interval)."""
        if self.measuring:
            with self._lock:
                self._take_sample()

    def trace(self, key: str | None = None) -> Any:
        """Samples of window ``key`` (open or ended; all when None) as a ``trace.frame``
        DataFrame, ``t_s`` counted from its start; ValueError if never opened."""
        if key is None or key in self._open:
            t0, t1 = self._t_origin if key is None else self._open[key].t, math.inf
        elif key in self._spans:
            t0, t1 = self._spans[key]
        else:
            raise ValueError(f"no energy window {key!r}")
        with self._lock:
            rows = [row for row in self._rows if t0 <= row[0] <= t1]
        return frame(rows, t0, [g.index for g in self.devices])

    @property
    def method(self) -> str:
        """Methods this meter uses, joined by "+", or "none"."""
        return "+".join(m for m in (self.gpu_method, self.cpu_method) if m != "none") or "none"

    @property
    def reason(self) -> str:
        """Why a part is NaN or estimated; "" when everything is measured."""
        return "; ".join(r for r in (self._gpu_reason, self._cpu_reason) if r)

    def describe(self) -> dict[str, Any]:
        """What Zeus found and the methods used, JSON-friendly, for ``tradeoff env``."""
        def name(obj: Any) -> str | None:
            return None if obj is None else type(obj).__name__

        zeus = {"version": _version("zeus"), "windows": name(self._zeus),
                "gpus": name(self._gpus), "cpus": name(self._cpus)}
        return {"rank": self.rank, "measuring": self.measuring, "method": self.method,
                "reason": self.reason, "zeus": zeus,
                "gpu": {"method": self.gpu_method, "reason": self._gpu_reason,
                        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                        "devices": [{"index": g.index, "nvml_index": g.nvml_index,
                                     "name": g.name, "energy_counter": g.has_counter}
                                    for g in self.devices]},
                "cpu": {"method": self.cpu_method, "reason": self._cpu_reason,
                        "rapl_dir": getattr(self._cpus, "rapl_dir", None),
                        "rapl_domains": self._rapl_files,
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
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
            self._nvml = None

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_devices(self, gpu_indices: Iterable[int] | None) -> None:
        self._gpus, self.devices, reason = backends.open_gpus(gpu_indices)
        self._gpu_reason = "" if self.devices else f"no GPU measured: {reason}"
        if self.devices:
            self._nvml = backends.take_nvml(self._gpus)
            sampled = [g.index for g in self.devices if not g.has_counter]
            self._sampled_j = dict.fromkeys(sampled, 0.0)
            self.gpu_method = "nvml-sampled" if sampled else "nvml-counter"
            self._gpu_reason = (f"GPU {sampled} lack an energy counter (pre-Volta): energy "
                                "integrates sampled power (trapezoid)") if sampled else ""
        self._cpus, self._zones, self._rapl_files, self._rapl_reason = backends.open_rapl()
        if self._zones:
            self.cpu_method = "rapl"
        elif self.cpu_watts_per_core is not None:
            self.cpu_method = "cpu-time-estimate"
            self._cpu_reason = (f"RAPL unreadable ({self._rapl_reason}): CPU energy is an "
                                f"ESTIMATE, process CPU time x {self.cpu_watts_per_core:g} W "
                                "per busy core (assumed)")
        else:
            self._cpu_reason = f"no CPU energy: RAPL unreadable ({self._rapl_reason})"

    def _check_required(self, required: set[str]) -> None:
        if required & {"nvml", "nvml-counter"} and not self.devices:
            raise EnergyMeterError(
                f"require='nvml' but {self._gpu_reason}. Fix: a host with an NVIDIA GPU and "
                "driver (`nvidia-smi` works), `pip install nvidia-ml-py zeus`, and check "
                "CUDA_VISIBLE_DEVICES; or drop require= to record NaN with a reason.")
        if "nvml-counter" in required and self.gpu_method != "nvml-counter":
            raise EnergyMeterError(f"require='nvml-counter' but {self._gpu_reason}. Fix: a Volta "
                                   "or newer GPU, or require='nvml' to accept sampled power.")
        if "rapl" in required and self.cpu_method != "rapl":
            raise EnergyMeterError(
                f"require='rapl' but RAPL is unreadable: {self._rapl_reason}. Fix: make energy_uj "
                "readable (root-only since Linux 5.10): `sudo chmod a+r /sys/class/powercap/"
                "intel-rapl/intel-rapl:*/energy_uj /sys/class/powercap/intel-rapl/intel-rapl:*/"
                "intel-rapl:*/energy_uj`, in a container mount /sys/class/powercap at /zeus_sys, "
                "or run Zeus's daemon zeusd; or drop require='rapl' for the labelled estimate.")

    def _zeus_window(self, key: str, call: str) -> Any:
        # sync_execution=False: _sync_accelerator syncs the current device only, where Zeus
        # would sync every measured GPU and open CUDA contexts on other DDP ranks' devices.
        from zeus.exception import ZeusBaseError

        if self._zeus is None:
            return None
        try:
            return getattr(self._zeus, call)(key, sync_execution=False) or True
        except ZeusBaseError as err:
            logger.warning("Zeus failed to read a device at window %r: %s", key, err)
            return None

    def _estimate_j(self) -> float:
        if self.cpu_method != "cpu-time-estimate":
            return NAN
        return self._cpu_time_s() * self.cpu_watts_per_core

    def _psutil_cpu_time_s(self) -> float:
        t = self._process.cpu_times()  # children count once reaped (finished data workers)
        return t.user + t.system + t.children_user + t.children_system

    def _take_sample(self) -> float:
        """Append a trace row and integrate counter-less GPUs; the caller holds the lock."""
        t, cpu_s, last = self._clock(), self._cpu_time_s(), self._last_cpu
        util = (cpu_s - last[1]) / (t - last[0]) * 100.0 if last and t > last[0] else NAN
        self._last_cpu = (t, cpu_s)
        row = [t, util, self._process.memory_info().rss / 2**20]
        for gpu in self.devices:
            row += (reads := backends.read_gpu(self._gpus, self._nvml, gpu.index))
            if gpu.index in self._sampled_j and not math.isnan(power_w := reads[0]):
                if (prev := self._last_w.get(gpu.index)) is not None:  # NaN reads are bridged
                    self._sampled_j[gpu.index] += (prev[1] + power_w) / 2.0 * (t - prev[0])
                self._last_w[gpu.index] = (t, power_w)
        self._rows.append(tuple(row))
        return t

    def _run(self) -> None:
        while not self._stop.wait(self.sample_interval_s):
            try:
                self.sample_now()
            except Exception:  # a dead sampler must be loud, not silently stop tracing
                logger.exception("energy sampler failed; traces stop here")
                return


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _sync_accelerator() -> None:
    # Only if torch is already imported (else no CUDA work is queued and importing costs
    # seconds); the current device only, so other DDP ranks' GPUs get no context.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
