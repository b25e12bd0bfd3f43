"""The hardware through Zeus: what it found, or why not, instead of an exception.

GPUs through Zeus's managers (NVML or AMDSMI, CUDA_VISIBLE_DEVICES honoured); CPU package and DRAM
energy through its RAPL reader (also in containers, or through its daemon ``zeusd``).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger("tradeoff.energy")
# Zeus warns on every machine without ROCm that AMD's library is unusable; which GPUs Zeus
# opened, and why none, is the meter's to say (in its reason and ``describe()``).
logging.getLogger("zeus.device.gpu.amd").addFilter(
    lambda record: record.funcName != "amdsmi_is_available")


def open_gpus(indices: Iterable[int] | None = None) -> tuple[Any, list[dict[str, Any]], str]:
    """Zeus's GPU manager and the GPUs to measure (all when ``indices`` is None), or
    ``(None, [], why not)``.

    A GPU is ``{"index", "nvml_index", "name", "energy_counter"}``; ``index`` is the framework's
    (after CUDA_VISIBLE_DEVICES) and keys ``Measurement.gpu_energy_j``.
    """
    from zeus.device import get_gpus

    try:
        gpus = get_gpus()
    except Exception as err:  # whatever fails here, there is no GPU to measure
        return None, [], f"NVML unavailable: Zeus opened no GPU ({err})"
    devices = [{"index": i, "nvml_index": gpus.gpus[i].gpu_index, "name": str(gpus.get_name(i)),
                "energy_counter": bool(gpus.supports_get_total_energy_consumption(i))}
               for i in (range(len(gpus)) if indices is None else indices)]
    return (gpus, devices, "") if devices else (None, [], "Zeus sees no GPU")


def open_rapl() -> tuple[Any, list[int], list[str], str]:
    """Zeus's CPU manager, its package zones and their files, or ``(None, [], [], why not)``."""
    from zeus.device import get_cpus
    from zeus.device.cpu.common import ZeusCPUNoPermissionError

    try:
        cpus = get_cpus()
        # Zeus's daemon (zeusd) reads the files for it: no file objects, only package zones.
        files = [[getattr(cpu, "rapl_file", None), getattr(cpu, "dram", None)] for cpu in cpus.cpus]
        # psys (platform) zones contain the packages: sum package-N zones and their DRAM only.
        zones = [i for i, (f, _) in enumerate(files)
                 if getattr(f, "name", "package").startswith("package")]
        # The first read starts Zeus's wraparound trackers (a spawned process per file, ~1 s to
        # start; a wrap before they first poll is missed): start them before any window.
        for i in zones:
            cpus.get_total_energy_consumption(i)
    except ZeusCPUNoPermissionError as err:
        return None, [], [], f"permission denied ({err})"
    except Exception as err:  # absent or unreadable: either way no CPU measurement
        return None, [], [], f"Zeus found no readable RAPL ({err})"
    if not zones:
        return None, [], [], "no RAPL package zone"
    return cpus, zones, [f.path for i in zones for f in files[i] if f is not None], ""


def open_nvml(gpus: Any) -> Any:
    """Zeus's ``pynvml`` with one more NVML reference (the caller shuts it down), or None if
    the GPUs are not NVIDIA's. Zeus reads no utilisation or memory: the sampler calls NVML on
    Zeus's handles, so a fake of Zeus's ``pynvml`` (as in Zeus's tests) fakes them too."""
    from zeus.device.gpu import nvidia

    if not isinstance(gpus, nvidia.NVIDIAGPUs):
        return None
    nvidia.pynvml.nvmlInit()
    return nvidia.pynvml


def read_gpu(gpus: Any, nvml: Any, index: int) -> tuple[float, float, float]:
    """(power W, utilisation %, memory used MiB) of GPU ``index``, NaN where a read fails.
    Power is Zeus's instant power, or its ~1 s average where instant is unsupported."""
    from zeus.exception import ZeusBaseError

    power_w = util_pct = mem_mib = math.nan
    for read in (gpus.get_instant_power_usage, gpus.get_average_power_usage):
        with contextlib.suppress(ZeusBaseError):
            power_w = read(index) / 1000.0
            break
    if nvml is not None:
        handle = gpus.gpus[index].handle
        with contextlib.suppress(nvml.NVMLError):
            util_pct = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        with contextlib.suppress(nvml.NVMLError):
            mem_mib = nvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
    return power_w, util_pct, mem_mib
