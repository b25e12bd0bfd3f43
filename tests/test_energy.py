"""EnergyMeter against fake hardware under Zeus: a fake NVML module and a fake powercap folder.

The meter reads hardware through Zeus, so the fakes go where Zeus's own tests put them
(ml-energy/zeus tests/monitor/test_energy.py, tests/device/cpu/test_rapl.py): an autospec'd
``pynvml`` in ``zeus.device.gpu.nvidia``, Zeus's GPU/CPU singletons reset around each test, RAPL
files in a folder Zeus is pointed at, and its wraparound tracker (a spawned process) replaced by
an in-process one. Every energy below is hand-computed from the fake's power x time; a fake
clock drives the meter, so nothing depends on real timing.
"""

from __future__ import annotations

import builtins
import gc
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pandas as pd
import pynvml
import pytest
import zeus.device.cpu
import zeus.device.cpu.rapl as zeus_rapl
import zeus.device.gpu
import zeus.device.gpu.nvidia as zeus_nvidia

from tradeoff import energy
from tradeoff.energy import (
    EnergyMeter,
    EnergyMeterError,
    Measurement,
    decimate,
    summarize_trace,
)

MIB = 2**20
_TRACKERS: dict[str, list[FakeWraparoundTracker]] = {}


class FakeWraparoundTracker:
    """Zeus's ``RaplWraparoundTracker`` without its process: it sees every value ``set_uj``
    writes (as the real poller does when it polls between writes) and counts the decreases."""

    def __init__(self, rapl_file_path: str, max_energy_uj: float) -> None:
        self.path = os.path.realpath(rapl_file_path)
        self.last, self.wraps = float(Path(self.path).read_text()), 0
        _TRACKERS.setdefault(self.path, []).append(self)

    def poll(self) -> None:
        now = float(Path(self.path).read_text())
        self.wraps += now < self.last
        self.last = now

    def get_num_wraparounds(self) -> int:
        return self.wraps


def reset_zeus() -> None:
    """Forget Zeus's device singletons (as Zeus's conftest does) and its cached RAPL check."""
    zeus.device.gpu._gpus = None
    zeus.device.cpu._cpus = None
    zeus_rapl.rapl_is_available.cache_clear()


@pytest.fixture(autouse=True)
def zeus_on_fakes(tmp_path, monkeypatch):
    """No real NVML, AMDSMI or RAPL reaches the meter: RAPL is read from tmp_path/powercap."""
    monkeypatch.setattr(zeus.device.gpu, "nvml_is_available", lambda: True)
    monkeypatch.setattr(zeus.device.gpu, "amdsmi_is_available", lambda: False)
    monkeypatch.setattr(zeus_rapl, "RAPL_DIR", str(tmp_path / "powercap" / "intel-rapl"))
    monkeypatch.setattr(zeus_rapl, "CONTAINER_RAPL_DIR", str(tmp_path / "no-container"))
    monkeypatch.setattr(zeus_rapl, "RaplWraparoundTracker", FakeWraparoundTracker)
    reset_zeus()
    yield tmp_path / "powercap"
    # Collect Zeus's GPU manager while its fake pynvml is still patched in: its __del__ calls
    # nvmlShutdown, which must not land on the next test's fake.
    reset_zeus()
    gc.collect()
    mock.patch.stopall()
    _TRACKERS.clear()


class FakeHardware:
    """A clock, GPU power/energy counters and process CPU time that advance together."""

    def __init__(self, n_gpus: int = 2, counter: bool = True, init_error: bool = False):
        self.t = 100.0
        self.power_w = [250.0, 100.0][:n_gpus]
        self.energy_mj = [7e9, 3e9][:n_gpus]  # counters start far from 0: only deltas count
        self.util_pct = [80.0] * n_gpus
        self.mem_mib = [1024.0] * n_gpus
        self.busy_cores = 1.0
        self.counter_fails = False  # the next energy-counter reads raise (a lost GPU, say)
        self.reads_fail = False  # the next power, utilisation and memory reads raise
        self.cpu_s = 50.0
        self.nvml = self._fake_nvml(n_gpus, counter, init_error)

    def install(self) -> None:
        """Put this fake NVML under Zeus (undone by the ``zeus_on_fakes`` fixture)."""
        mock.patch.object(zeus_nvidia, "pynvml", self.nvml).start()
        reset_zeus()

    def clock(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt
        self.cpu_s += self.busy_cores * dt
        for i, p in enumerate(self.power_w):
            self.energy_mj[i] += p * dt * 1000.0

    def cpu_time_s(self) -> float:
        return self.cpu_s

    def _fake_nvml(self, n_gpus: int, counter: bool, init_error: bool) -> SimpleNamespace:
        def init():
            if init_error:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

        def total_energy(handle):
            if not counter:
                raise pynvml.NVMLError_NotSupported()
            if self.counter_fails:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
            return int(self.energy_mj[handle])

        def field_values(handle, fieldIds):  # Zeus reads power as an NVML field value
            if self.reads_fail:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
            value = SimpleNamespace(uiVal=int(self.power_w[handle] * 1000))
            return [SimpleNamespace(nvmlReturn=pynvml.NVML_SUCCESS, value=value)]

        def read(value):
            if self.reads_fail:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
            return value

        def not_grace_hopper(handle):
            raise pynvml.NVMLError_NotSupported()

        # Zeus tells the energy counter's presence by architecture (Volta or newer).
        arch = pynvml.NVML_DEVICE_ARCH_AMPERE if counter else pynvml.NVML_DEVICE_ARCH_PASCAL

        impls = {
            "nvmlInit": init,
            "nvmlShutdown": lambda: None,
            "nvmlDeviceGetCount": lambda: n_gpus,
            "nvmlDeviceGetHandleByIndex": lambda index: index,
            "nvmlDeviceGetName": lambda handle: f"Fake GPU {handle}",
            "nvmlDeviceGetTotalEnergyConsumption": total_energy,
            "nvmlDeviceGetArchitecture": lambda handle: arch,
            "nvmlDeviceGetC2cModeInfoV": not_grace_hopper,
            "nvmlDeviceGetFieldValues": field_values,
            "nvmlDeviceGetUtilizationRates":
                lambda handle: read(SimpleNamespace(gpu=self.util_pct[handle], memory=0)),
            "nvmlDeviceGetMemoryInfo":
                lambda handle: read(SimpleNamespace(used=int(self.mem_mib[handle] * MIB))),
        }
        # autospec: a call that the real pynvml would reject fails here too.
        fns = {name: mock.create_autospec(getattr(pynvml, name), side_effect=impl)
               for name, impl in impls.items()}
        constants = {k: v for k, v in vars(pynvml).items() if k.startswith("NVML_")}
        return SimpleNamespace(NVMLError=pynvml.NVMLError, **constants, **fns)


def make_meter(hw: FakeHardware, tmp_path, **kwargs) -> EnergyMeter:
    hw.install()
    kwargs = {"sample": False, "rank": 0, "clock": hw.clock, "sleep": hw.advance,
              "cpu_time_s": hw.cpu_time_s, **kwargs}
    return EnergyMeter(**kwargs)


def write_zone(path, name: str, energy_uj: int, max_uj: int = 10_000_000) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "name").write_text(name + "\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_uj}\n")


def make_powercap(root, package_uj: int, dram_uj: int):
    """Layout of /sys/class/powercap/intel-rapl (what Zeus reads), with the zones that must
    NOT be counted."""
    rapl = root / "intel-rapl"
    package, dram = rapl / "intel-rapl:0", rapl / "intel-rapl:0" / "intel-rapl:0:0"
    write_zone(package, "package-0", package_uj)
    write_zone(dram, "dram", dram_uj)
    write_zone(package / "intel-rapl:0:1", "core", 0)  # already inside the package
    write_zone(rapl / "intel-rapl:1", "psys", 0)  # platform zone, overlaps the package
    reset_zeus()
    return package, dram


def set_uj(zone, energy_uj: int) -> None:
    """Write a RAPL counter; Zeus's (fake) wraparound trackers of that file poll it."""
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    for tracker in _TRACKERS.get(os.path.realpath(zone / "energy_uj"), []):
        tracker.poll()


# ----------------------------------------------------------------------- Measurement


def test_measurement_totals_methods_and_idle_math():
    m = Measurement("w", time_s=10.0, gpu_energy_j={0: 2000.0, 1: 1000.0}, cpu_energy_j=500.0,
                    gpu_method="nvml-counter", cpu_method="rapl",
                    idle_gpu_power_w=60.0, idle_cpu_power_w=20.0)
    assert m.total_gpu_energy_j == 3000.0
    assert m.total_energy_j == 3500.0
    assert m.avg_gpu_power_w == 300.0
    assert m.avg_power_w == 350.0
    assert m.energy_kwh == pytest.approx(3500.0 / 3.6e6)
    assert m.idle_subtracted_energy_j == 3500.0 - (60.0 + 20.0) * 10.0
    assert m.method == "nvml-counter+rapl"


def test_measurement_without_gpu_is_nan_not_zero():
    m = Measurement("w", 4.0, {}, 40.0, "none", "cpu-time-estimate", reason="no GPU")
    assert math.isnan(m.total_gpu_energy_j) and math.isnan(m.avg_gpu_power_w)
    assert m.total_energy_j == 40.0
    assert m.method == "cpu-time-estimate"
    assert math.isnan(m.idle_subtracted_energy_j)  # no baseline taken
    nothing = Measurement("w", 4.0, {}, math.nan, "none", "none", reason="nothing")
    assert math.isnan(nothing.total_energy_j) and nothing.method == "none"


def test_mean_power_of_a_short_window_and_nan_for_an_instant_one():
    half = Measurement("w", 0.5, {0: 100.0}, 50.0, "nvml-counter", "rapl")
    assert half.avg_gpu_power_w == 200.0 and half.avg_power_w == 300.0
    instant = Measurement("w", 0.0, {0: 100.0}, 50.0, "nvml-counter", "rapl")
    assert math.isnan(instant.avg_gpu_power_w) and math.isnan(instant.avg_power_w)


def test_measurement_dict_round_trip_through_json():
    m = Measurement("train", 2.0, {0: 1.5, 1: 2.5}, 3.0, "nvml-counter", "rapl")
    d = json.loads(json.dumps(m.to_dict()))
    assert d["total_energy_j"] == 7.0 and d["method"] == "nvml-counter+rapl"
    again = Measurement.from_dict(d)
    assert again.gpu_energy_j == {0: 1.5, 1: 2.5}
    assert again.total_energy_j == m.total_energy_j and again.key == "train"


# ----------------------------------------------------------------------- GPU


def test_nvml_counter_difference_per_device(tmp_path):
    hw = FakeHardware()
    meter = make_meter(hw, tmp_path)
    meter.begin("train")
    hw.advance(4.0)
    m = meter.end("train")
    assert m.key == "train" and m.time_s == 4.0
    assert m.gpu_energy_j == {0: pytest.approx(1000.0), 1: pytest.approx(400.0)}  # 250/100 W
    assert m.total_gpu_energy_j == pytest.approx(1400.0)
    assert m.avg_gpu_power_w == pytest.approx(350.0)
    assert m.cpu_energy_j == pytest.approx(40.0)  # 1 busy core x 4 s x 10 W
    assert m.total_energy_j == pytest.approx(1440.0)
    assert m.gpu_method == "nvml-counter" and m.cpu_method == "cpu-time-estimate"
    assert m.method == "nvml-counter+cpu-time-estimate"
    assert math.isnan(m.idle_gpu_power_w) and math.isnan(m.idle_subtracted_energy_j)  # no baseline
    meter.close()
    hw.nvml.nvmlShutdown.assert_called_once()


def test_gpu_indices_select_the_gpus_measured(tmp_path):
    hw = FakeHardware()
    meter = make_meter(hw, tmp_path, gpu_indices=[1])
    with meter.measure("w") as window:
        hw.advance(2.0)
    assert window.measurement.gpu_energy_j == {1: pytest.approx(200.0)}  # GPU 1 only, 100 W


def test_a_window_under_a_second_says_the_counter_is_coarse(tmp_path):
    hw = FakeHardware(n_gpus=1)
    meter = make_meter(hw, tmp_path)
    for seconds, flagged in ((0.5, True), (1.0, False)):
        with meter.measure("w") as window:
            hw.advance(seconds)
        assert ("window under 1 s" in window.measurement.reason) is flagged


def test_cuda_visible_devices_selects_and_reindexes(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    hw = FakeHardware()
    meter = make_meter(hw, tmp_path)
    with meter.measure("w") as window:
        hw.advance(2.0)
    assert window.measurement.gpu_energy_j == {0: pytest.approx(200.0)}  # NVML GPU 1, 100 W
    assert meter.describe()["gpu"]["devices"] == [
        {"index": 0, "nvml_index": 1, "name": "Fake GPU 1", "energy_counter": True}]


class FakePowerMonitor:
    """Zeus's ``PowerMonitor`` without its polling process: it keeps (t, W) of each GPU when the
    test calls ``poll`` and integrates them as Zeus does (trapezoid over the samples)."""

    def __init__(self, hw: FakeHardware, gpu_indices, update_period=None) -> None:
        self.hw, self.gpu_indices, self.samples = hw, gpu_indices, []

    def poll(self) -> None:
        self.samples.append((self.hw.t, list(self.hw.power_w)))

    def get_energy(self, start_time: float, end_time: float) -> dict[int, float] | None:
        inside = [(t, w) for t, w in self.samples if start_time <= t <= end_time]
        if not inside:
            return None
        return {i: sum((w0[i] + w1[i]) / 2 * (t1 - t0)
                       for (t0, w0), (t1, w1) in itertools.pairwise(inside))
                for i in self.gpu_indices}


def test_gpu_without_counter_is_integrated_by_zeus_power_monitor(tmp_path, monkeypatch):
    import zeus.monitor.energy as zeus_energy

    hw = FakeHardware(n_gpus=1, counter=False)
    monitors = []
    monkeypatch.setattr(zeus_energy, "time", hw.clock)  # Zeus's window edges on the fake clock
    monkeypatch.setattr(zeus_energy, "PowerMonitor",
                        lambda **kw: monitors.append(FakePowerMonitor(hw, **kw)) or monitors[-1])
    meter = make_meter(hw, tmp_path)
    (monitor,) = monitors
    assert monitor.gpu_indices == [0]
    hw.power_w[0] = 100.0
    monitor.poll()  # 100 W at t=0
    meter.begin("w")
    for power_w in (200.0, 400.0):  # 200 W at t=1, 400 W at t=2
        hw.advance(1.0)
        hw.power_w[0] = power_w
        monitor.poll()
    hw.reads_fail = True
    meter.sample_now()  # a lost read: NaN in the trace
    hw.reads_fail = False
    m = meter.end("w")
    assert m.gpu_method == "nvml-sampled" and "PowerMonitor" in m.reason
    assert m.gpu_energy_j[0] == pytest.approx((100 + 200) / 2 * 1 + (200 + 400) / 2 * 1)
    assert meter.describe()["gpu"]["devices"][0]["energy_counter"] is False
    lost = meter.trace("w").iloc[1]
    assert lost[["gpu0_power_w", "gpu0_util_pct", "gpu0_mem_mib"]].isna().all()


def test_overlapping_windows(tmp_path):
    hw = FakeHardware(n_gpus=1)
    meter = make_meter(hw, tmp_path)
    hw.power_w[0] = 100.0
    meter.begin("train")
    hw.advance(2.0)  # 200 J
    hw.power_w[0] = 300.0
    with meter.measure("eval") as window:
        hw.advance(3.0)  # 900 J
    hw.power_w[0] = 100.0
    hw.advance(1.0)  # 100 J
    train = meter.end("train")
    assert window.measurement.time_s == 3.0
    assert window.measurement.gpu_energy_j[0] == pytest.approx(900.0)
    assert train.time_s == 6.0
    assert train.gpu_energy_j[0] == pytest.approx(1200.0)
    with pytest.raises(ValueError, match="not open"):
        meter.end("train")
    meter.begin("x")
    with pytest.raises(ValueError, match="already open"):
        meter.begin("x")
    assert meter.cancel("x") is True and meter.cancel("x") is False
    meter.begin("x")  # a retried attempt restarts the window
    hw.advance(1.0)
    assert meter.end("x").time_s == 1.0


def test_measure_sets_measurement_when_block_raises(tmp_path):
    hw = FakeHardware(n_gpus=1)
    meter = make_meter(hw, tmp_path)
    with pytest.raises(RuntimeError), meter.measure("w") as window:
        hw.advance(2.0)
        raise RuntimeError("boom")
    assert window.measurement.gpu_energy_j[0] == pytest.approx(500.0)
    meter.begin("w")  # the window was closed


# ----------------------------------------------------------------------- CPU


def test_rapl_sums_packages_and_dram_only(tmp_path):
    root = tmp_path / "powercap"
    package, dram = make_powercap(root, package_uj=1_000_000, dram_uj=500_000)
    meter = make_meter(FakeHardware(n_gpus=0), tmp_path)
    meter.begin("w")
    set_uj(package, 4_000_000)  # +3 J
    set_uj(dram, 1_500_000)  # +1 J
    set_uj(package / "intel-rapl:0:1", 9_000_000)  # core: inside the package, not added
    set_uj(package.parent / "intel-rapl:1", 9_000_000)  # psys: not added
    m = meter.end("w")
    assert m.cpu_method == "rapl" and m.reason.startswith("no GPU measured")
    assert m.cpu_energy_j == pytest.approx(4.0)
    assert len(meter.describe()["cpu"]["rapl_domains"]) == 2


def test_rapl_window_under_a_joule_or_with_no_energy_is_a_number(tmp_path):
    package, _ = make_powercap(tmp_path / "powercap", package_uj=1_000_000, dram_uj=0)
    meter = make_meter(FakeHardware(n_gpus=0), tmp_path)
    with meter.measure("idle") as window:
        pass
    assert window.measurement.cpu_energy_j == 0.0
    meter.begin("w")
    set_uj(package, 1_500_000)  # +0.5 J
    m = meter.end("w")
    assert m.cpu_energy_j == pytest.approx(0.5) and "Zeus sees no GPU" in m.reason


def test_gpu_counter_and_rapl_measured_leave_no_reason(tmp_path):
    make_powercap(tmp_path / "powercap", package_uj=0, dram_uj=0)
    hw = FakeHardware(n_gpus=1)
    meter = make_meter(hw, tmp_path)
    with meter.measure("w") as window:
        hw.advance(2.0)
    assert window.measurement.method == "nvml-counter+rapl" and window.measurement.reason == ""


def test_rapl_through_zeus_daemon_counts_its_package_zones():
    # zeusd reads RAPL for Zeus: its CPU objects have no file objects, and are package zones.
    daemon = SimpleNamespace(cpus=[SimpleNamespace()], get_total_energy_consumption=lambda i: None)
    with mock.patch.object(zeus.device, "get_cpus", lambda: daemon):
        assert energy.backends.open_rapl() == (daemon, [0], [], "")


def test_rapl_wraparound(tmp_path):
    root = tmp_path / "powercap"
    package, dram = make_powercap(root, package_uj=9_000_000, dram_uj=100_000)
    meter = make_meter(FakeHardware(n_gpus=0), tmp_path)
    meter.begin("w")
    set_uj(package, 500_000)  # wrapped at 10_000_000: (10e6 - 9e6) + 0.5e6 = 1.5 J
    set_uj(dram, 350_000)  # +0.25 J
    assert meter.end("w").cpu_energy_j == pytest.approx(1.75)


def test_rapl_unwraps_several_wraps_seen_by_samples(tmp_path):
    root = tmp_path / "powercap"
    package, _ = make_powercap(root, package_uj=9_000_000, dram_uj=0)
    meter = make_meter(FakeHardware(n_gpus=0), tmp_path)
    meter.begin("w")
    for value in (2_000_000, 8_000_000, 1_000_000):  # +3, +6, +3 (wrapped twice)
        set_uj(package, value)
        meter.sample_now()
    assert meter.end("w").cpu_energy_j == pytest.approx(12.0)  # more than one range


def test_unreadable_rapl_falls_back_to_labelled_estimate(tmp_path, monkeypatch):
    root = tmp_path / "powercap"
    make_powercap(root, 0, 0)

    def denied(path, *args, **kwargs):  # as in a container: root-only energy_uj
        if os.path.basename(path) == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return builtins.open(path, *args, **kwargs)

    # Zeus's RAPL reader opens its files with the builtin open: shadow it in that module.
    monkeypatch.setattr(zeus_rapl, "open", denied, raising=False)
    hw = FakeHardware(n_gpus=0)
    hw.busy_cores = 1.5
    meter = make_meter(hw, tmp_path, cpu_watts_per_core=12.0)
    with meter.measure("w") as window:
        hw.advance(4.0)
    m = window.measurement
    assert m.cpu_method == "cpu-time-estimate"
    assert m.cpu_energy_j == pytest.approx(1.5 * 4.0 * 12.0)
    assert "permission denied" in m.reason and "ESTIMATE" in m.reason
    with pytest.raises(EnergyMeterError, match="chmod"):
        make_meter(hw, tmp_path, require="rapl")


def test_cpu_time_estimate_counts_user_system_and_reaped_children(tmp_path, monkeypatch):
    meter = make_meter(FakeHardware(n_gpus=0), tmp_path, cpu_time_s=None)  # psutil's times
    times = SimpleNamespace(user=1.0, system=2.0, children_user=4.0, children_system=8.0)
    process = SimpleNamespace(cpu_times=lambda: times,
                              memory_info=lambda: SimpleNamespace(rss=512 * MIB))
    monkeypatch.setattr(meter, "_process", process)
    meter.begin("w")
    times = SimpleNamespace(user=1.5, system=3.0, children_user=6.0, children_system=12.0)
    m = meter.end("w")
    assert m.cpu_energy_j == pytest.approx((0.5 + 1.0 + 2.0 + 4.0) * 10.0)
    assert meter.trace("w")["rss_mib"].tolist() == [512.0, 512.0]


def test_cpu_utilisation_is_cpu_seconds_per_wall_second(tmp_path):
    hw = FakeHardware(n_gpus=0)
    meter = make_meter(hw, tmp_path)
    meter.sample_now()
    hw.busy_cores = 1.5
    hw.advance(0.5)
    meter.sample_now()
    assert meter.trace()["cpu_util_pct"].iloc[-1] == pytest.approx(150.0)


def test_window_edges_synchronise_the_accelerator(tmp_path, monkeypatch):
    cuda = SimpleNamespace(is_available=lambda: True, is_initialized=lambda: True,
                           synchronize=mock.Mock())
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    hw = FakeHardware(n_gpus=1)
    meter = make_meter(hw, tmp_path)
    meter.begin("w")
    assert cuda.synchronize.call_count == 1
    hw.advance(2.0)
    meter.end("w")
    assert cuda.synchronize.call_count == 2


def test_wrap_before_zeus_tracker_polled_is_nan_not_negative(tmp_path):
    # Zeus counts a wrap only once its tracker process has polled the file (every 0.1-1 s):
    # a window edge read in between comes out one range short. Here the tracker never polls.
    package, _ = make_powercap(tmp_path / "powercap", package_uj=9_000_000, dram_uj=0)
    meter = make_meter(FakeHardware(n_gpus=0), tmp_path)
    meter.begin("w")
    (package / "energy_uj").write_text("500000\n")  # wrapped, unseen by the tracker
    m = meter.end("w")
    assert m.cpu_method == "rapl" and math.isnan(m.cpu_energy_j)
    assert "wraparound tracker" in m.reason


def test_failed_counter_read_at_window_edge_is_nan_with_reason(tmp_path):
    hw = FakeHardware(n_gpus=1)
    meter = make_meter(hw, tmp_path)
    meter.begin("w")
    hw.advance(2.0)
    hw.counter_fails = True
    m = meter.end("w")
    assert math.isnan(m.gpu_energy_j[0]) and math.isnan(m.total_energy_j)
    assert "read through Zeus failed" in m.reason
    hw.counter_fails = False
    with meter.measure("next") as window:  # the meter goes on
        hw.advance(2.0)
    assert window.measurement.gpu_energy_j[0] == pytest.approx(500.0)


def test_failed_counter_read_at_window_start_is_nan_with_reason(tmp_path):
    hw = FakeHardware(n_gpus=1)
    meter = make_meter(hw, tmp_path)
    hw.counter_fails = True
    meter.begin("w")
    hw.counter_fails = False
    hw.advance(2.0)
    m = meter.end("w")  # Zeus never opened the window: NaN, not an error
    assert math.isnan(m.gpu_energy_j[0]) and "read through Zeus failed" in m.reason


def test_describe_gives_the_setup_page_its_table(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    meter = make_meter(FakeHardware(init_error=True), tmp_path, cpu_watts_per_core=12.0,
                       sample_interval_s=0.5)
    d = meter.describe()
    assert d["rank"] == 0 and d["method"] == "cpu-time-estimate"
    assert d["reason"] == meter.reason and "ESTIMATE" in d["reason"]
    assert d["gpu"] == {"method": "none", "devices": [], "cuda_visible_devices": "0"}
    assert d["cpu"] == {"method": "cpu-time-estimate", "rapl_domains": [],
                        "cpu_watts_per_core": 12.0}
    assert d["sampler"] == {"running": False, "interval_s": 0.5}
    assert math.isnan(d["idle_power_w"]["gpu"]) and math.isnan(d["idle_power_w"]["cpu"])


def test_describe_says_what_zeus_found(tmp_path):
    zeus_found = make_meter(FakeHardware(n_gpus=1), tmp_path).describe()["zeus"]
    assert zeus_found["windows"] == "ZeusMonitor" and zeus_found["gpus"] == "NVIDIAGPUs"
    assert zeus_found["cpus"] is None and zeus_found["version"]
    nothing = make_meter(FakeHardware(init_error=True), tmp_path).describe()["zeus"]
    assert nothing["windows"] is None and nothing["gpus"] is None


def test_no_hardware_and_no_estimate_gives_nan_with_reason(tmp_path):
    hw = FakeHardware(init_error=True)
    meter = make_meter(hw, tmp_path, cpu_watts_per_core=None)
    with meter.measure("w") as window:
        hw.advance(3.0)
    m = window.measurement
    assert m.gpu_energy_j == {} and m.gpu_method == "none"
    assert math.isnan(m.cpu_energy_j) and math.isnan(m.total_energy_j)
    assert m.method == "none" and m.time_s == 3.0
    assert "NVML unavailable" in m.reason and "no CPU energy" in m.reason
    assert meter.describe()["method"] == "none"


def test_zeus_amdsmi_noise_is_silenced_and_nothing_else():
    import logging

    zeus_amd = logging.getLogger("zeus.device.gpu.amd")

    def record(func: str) -> logging.LogRecord:
        return zeus_amd.makeRecord(zeus_amd.name, logging.WARNING, "amd.py", 1,
                                   "Failed to import amdsmi", (), None, func=func)

    assert zeus_amd.filter(record("amdsmi_is_available")) is False  # absent AMD library
    assert zeus_amd.filter(record("get_gpus")) is True  # any other warning still shows


# ----------------------------------------------------------------------- policy


def test_require_raises_with_fix(tmp_path):
    with pytest.raises(EnergyMeterError, match="nvidia-ml-py"):
        make_meter(FakeHardware(init_error=True), tmp_path, require="nvml")
    with pytest.raises(EnergyMeterError, match="Volta"):
        make_meter(FakeHardware(counter=False), tmp_path, require=["nvml-counter"])
    with pytest.raises(ValueError, match="unknown require"):
        make_meter(FakeHardware(), tmp_path, require="gpu")
    assert make_meter(FakeHardware(), tmp_path, require="nvml-counter").gpu_method == (
        "nvml-counter")


def test_without_local_rank_the_process_measures(tmp_path, monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    meter = make_meter(FakeHardware(n_gpus=1), tmp_path, rank=None)
    assert meter.rank == 0 and meter.method == "nvml-counter+cpu-time-estimate"


@pytest.mark.parametrize("rank, env", [(1, None), (None, "2")])
def test_non_zero_local_rank_measures_nothing(tmp_path, monkeypatch, rank, env):
    if env is not None:
        monkeypatch.setenv("LOCAL_RANK", env)
    hw = FakeHardware()
    meter = make_meter(hw, tmp_path, rank=rank, require="nvml")  # no raise off rank 0
    meter.begin("w")
    hw.advance(2.0)
    m = meter.end("w")
    assert m.method == "none" and m.reason == "not local rank 0"
    assert m.gpu_energy_j == {} and math.isnan(m.total_energy_j) and m.time_s == 2.0
    hw.nvml.nvmlInit.assert_not_called()
    assert meter.trace("w").empty


def test_idle_baseline_subtraction(tmp_path):
    hw = FakeHardware(n_gpus=1)
    meter = make_meter(hw, tmp_path)
    hw.power_w[0], hw.busy_cores = 50.0, 0.1
    idle = meter.idle_baseline(5.0)  # sleeps through hw.advance
    assert idle.time_s == 5.0
    assert idle.idle_gpu_power_w == pytest.approx(50.0)
    assert idle.idle_cpu_power_w == pytest.approx(1.0)  # 0.1 core x 10 W
    hw.power_w[0], hw.busy_cores = 300.0, 2.0
    with meter.measure("train") as window:
        hw.advance(10.0)
    m = window.measurement
    assert m.total_energy_j == pytest.approx(3000.0 + 200.0)
    assert m.idle_gpu_power_w == pytest.approx(50.0)
    assert m.idle_subtracted_energy_j == pytest.approx((3000.0 - 500.0) + (200.0 - 10.0))


# ----------------------------------------------------------------------- traces


def test_trace_columns_and_summary(tmp_path):
    hw = FakeHardware(n_gpus=2)
    meter = make_meter(hw, tmp_path)
    meter.sample_now()  # before the window: excluded from its trace
    hw.advance(1.0)
    hw.busy_cores = 1.5
    meter.begin("w")
    for util in (20.0, 60.0, 100.0):
        hw.advance(1.0)
        hw.util_pct[1] = util
        hw.mem_mib[1] = 10 * util
        meter.sample_now()
    assert meter.trace("w")["t_s"].tolist() == [0.0, 1.0, 2.0, 3.0]  # open: from its start
    meter.end("w")
    df = meter.trace("w")
    assert list(df.columns) == [
        "t_s", "cpu_util_pct", "rss_mib",
        "gpu0_power_w", "gpu0_util_pct", "gpu0_mem_mib",
        "gpu1_power_w", "gpu1_util_pct", "gpu1_mem_mib"]
    assert df["t_s"].tolist() == [0.0, 1.0, 2.0, 3.0, 3.0]  # begin, 3 samples, end
    # % of one core since the previous sample: 1 core before the window, then 1.5; the end
    # sample has the same timestamp as the last one, so no rate (NaN).
    assert df["cpu_util_pct"].tolist() == pytest.approx([100.0, 150.0, 150.0, 150.0, math.nan],
                                                        nan_ok=True)
    assert df["gpu0_power_w"].tolist() == [250.0] * 5
    summary = summarize_trace(df)
    # gpu util: gpu0 80 x5; gpu1 at begin 80, then 20, 60, 100, 100 (end) -> mean of 10 values
    assert summary["gpu_util_mean_pct"] == pytest.approx((80 * 5 + 80 + 20 + 60 + 100 + 100) / 10)
    assert summary["gpu_util_peak_pct"] == 100.0
    assert summary["gpu_mem_peak_mib"] == 1024.0
    assert summary["cpu_util_mean_pct"] == pytest.approx((100.0 + 3 * 150.0) / 4)
    assert summary["cpu_util_peak_pct"] == pytest.approx(150.0)
    assert summary["rss_peak_mib"] > 0 and summary["n_samples"] == 5
    assert len(meter.trace()) == 6  # all samples, including the one before the window


def test_summary_without_gpu_is_nan():
    df = pd.DataFrame({"t_s": [0.0, 1.0], "cpu_util_pct": [math.nan, 50.0],
                       "rss_mib": [100.0, 300.0]})
    s = summarize_trace(df)
    assert math.isnan(s["gpu_util_mean_pct"]) and math.isnan(s["gpu_mem_peak_mib"])
    assert s["cpu_util_mean_pct"] == 50.0 and s["rss_mean_mib"] == 200.0


def test_decimate_averages_bins():
    df = pd.DataFrame({"t_s": range(1000), "cpu_util_pct": [float(i % 2) for i in range(1000)]})
    small = decimate(df, max_points=200)
    assert len(small) == 200
    assert small["t_s"].iloc[0] == 2.0  # mean of 0..4
    assert small["cpu_util_pct"].tolist() == pytest.approx([0.4, 0.6] * 100)
    assert decimate(df.head(10), max_points=200).equals(df.head(10))
    assert len(decimate(df)) == 200  # what a record keeps of a trace, by default
    assert list(small.columns) == ["t_s", "cpu_util_pct"]  # no index column added


def test_background_sampler_runs_and_stops(tmp_path):
    hw = FakeHardware(n_gpus=1)
    hw.install()
    meter = EnergyMeter(sample_interval_s=0.005, rank=0)
    deadline = time.monotonic() + 5.0
    while len(meter.trace()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(meter.trace()) >= 3
    assert meter.describe()["sampler"]["running"] is True
    meter.close()
    meter.close()  # safe twice (the pipeline's finally and a with block)
    assert meter.describe()["sampler"]["running"] is False
    n = len(meter.trace())
    time.sleep(0.05)
    assert len(meter.trace()) == n


# ----------------------------------------------------------- the meter's own checks (GPU session)


def test_integrate_power_is_the_trapezoid_rule_over_finite_samples():
    from tradeoff.energy.trace import integrate_power

    assert integrate_power([0, 1, 2, 4], [100, 200, 200, 0]) == pytest.approx(150 + 200 + 200)
    assert integrate_power([0, 1, 2], [100, math.nan, 300]) == pytest.approx(400.0)  # lost read
    assert math.isnan(integrate_power([0.0], [100.0]))


def test_counter_vs_sampled_passes_within_2_percent_and_flags_more():
    from tradeoff.energy import counter_vs_sampled

    t = [i / 10 for i in range(121)]  # 12 s at 10 Hz
    power = [300.0] * len(t)  # 3600 J
    same = counter_vs_sampled(3600.0, t, power)
    assert same.ok and same.relative_difference == pytest.approx(0.0) and same.samples == 121
    assert same.window_s == pytest.approx(12.0) and same.sampled_j == pytest.approx(3600.0)
    close = counter_vs_sampled(3540.0, t, power)  # sampled 1.7% above the counter
    assert close.ok and close.relative_difference == pytest.approx(60 / 3540)
    far = counter_vs_sampled(3500.0, t, power)  # 2.9%
    assert not far.ok and far.relative_difference == pytest.approx(100 / 3500)
    assert "FAIL: beyond 2%" in far.verdict and "+2.86%" in far.verdict
    short = counter_vs_sampled(2400.0, t[:81], power[:81])  # 8 s: too short to judge
    assert not short.ok and "FAIL: window under 10 s" in short.verdict
    assert not counter_vs_sampled(0.0, t, power).ok  # a counter that did not move
    assert json.loads(json.dumps(far.to_dict()))["ok"] is False


def test_counter_check_on_the_meter_s_own_window_and_trace(tmp_path):
    """The chain the GPU session runs: a window's counter energy against its trace's power."""
    from tradeoff.energy import counter_vs_sampled

    hw = FakeHardware(n_gpus=1)
    meter = make_meter(hw, tmp_path)
    meter.begin("counter")
    for _ in range(120):
        hw.advance(0.1)
        meter.sample_now()
    m = meter.end("counter")
    trace = meter.trace("counter")
    check = counter_vs_sampled(m.gpu_energy_j[0], trace["t_s"], trace["gpu0_power_w"],
                               window_s=m.time_s)
    assert check.counter_j == pytest.approx(250.0 * 12) and check.sampled_j == pytest.approx(3000.0)
    assert check.ok and check.window_s == pytest.approx(12.0)
    meter.close()


def test_abba_overhead_pairs_each_metered_timing_with_its_plain_neighbour():
    from tradeoff.energy import abba_overhead

    check = abba_overhead([1.0, 2.0, 1.0, 2.0], [1.005, 2.02, 1.0, 2.0])
    assert check.ratios == pytest.approx((1.005, 1.01, 1.0, 1.0))
    assert check.median_ratio == pytest.approx(1.0025) and check.ok
    slow = abba_overhead([1.0, 2.0], [1.02, 2.04])
    assert slow.median_ratio == pytest.approx(1.02) and not slow.ok and "FAIL" in slow.verdict
    # Pairs, not pooled means: drift between blocks does not enter the ratio.
    assert abba_overhead([1.0, 2.0], [2.0, 1.0]).median_ratio == pytest.approx(1.25)
    with pytest.raises(ValueError, match="pairs every plain timing"):
        abba_overhead([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        abba_overhead([0.0], [1.0])
