"""``Measurement``: time and energy of one window, with units in its field names."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

NAN = float("nan")
METHODS = ("nvml-counter", "nvml-sampled", "rapl", "cpu-time-estimate", "none")
REQUIREMENTS = ("nvml", "nvml-counter", "rapl")
NOT_RANK_ZERO = "not local rank 0"
_DERIVED = ("total_gpu_energy_j", "total_energy_j", "avg_gpu_power_w", "avg_power_w", "energy_kwh",
            "idle_subtracted_energy_j", "method")


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; NaN unless the denominator is positive."""
    return numerator / denominator if denominator > 0 else NAN


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
        gpu = (self.gpu_method, self.total_gpu_energy_j, self.idle_gpu_power_w)
        cpu = (self.cpu_method, self.cpu_energy_j, self.idle_cpu_power_w)
        return [(energy, idle_w) for method, energy, idle_w in (gpu, cpu) if method != "none"]

    @property
    def total_energy_j(self) -> float:
        """GPU + CPU energy over the parts whose method is not "none" (see ``method``)."""
        parts = self._parts()
        return math.fsum(energy for energy, _ in parts) if parts else NAN

    @property
    def avg_gpu_power_w(self) -> float:
        """Mean GPU power (summed over GPUs) during the window."""
        return ratio(self.total_gpu_energy_j, self.time_s)

    @property
    def avg_power_w(self) -> float:
        """Mean power of ``total_energy_j`` during the window."""
        return ratio(self.total_energy_j, self.time_s)

    @property
    def energy_kwh(self) -> float:
        """``total_energy_j`` in kWh."""
        return self.total_energy_j / 3.6e6

    @property
    def idle_subtracted_energy_j(self) -> float:
        """``total_energy_j`` minus idle power x ``time_s``; NaN without an idle baseline.

        Not clipped at zero: a load drawing less than the baseline is worth seeing.
        """
        parts = self._parts()
        return math.fsum(e - idle_w * self.time_s for e, idle_w in parts) if parts else NAN

    @property
    def method(self) -> str:
        """The methods used, joined by "+" (e.g. "nvml-counter+rapl"), or "none"."""
        return "+".join(m for m in (self.gpu_method, self.cpu_method) if m != "none") or "none"

    def to_dict(self) -> dict[str, Any]:
        """Fields plus derived properties, flat, for run records (``gpu_energy_j`` int-keyed)."""
        return asdict(self) | {name: getattr(self, name) for name in _DERIVED}

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
