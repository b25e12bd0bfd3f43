"""Run records: one JSON per grid cell, written atomically, validated on load.

A record carries everything a chapter needs to draw a figure and everything a reader needs to
trace a number back: the resolved parameters (whose hash names the file), accuracy, efficiency
with its energy method, the batch actually used, decimated traces, the environment, and a status
(``ok``, ``oom`` or ``failed`` with the reason), so a failed cell is shown, not dropped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..config import CellParams
from .ceiling import CEILINGS_FOLDER
from .io import read_record

SCHEMA_VERSION = 1

# The efficiency columns the analysis, claims, figures and notebooks name; each is a field of
# :class:`Efficiency`, so the record and the tidy table share one spelling, units included.
POWER_EFFICIENCY = "power_efficiency_samples_per_s_per_w"
GPU_POWER_EFFICIENCY = "gpu_power_efficiency_samples_per_s_per_w"
ENERGY_KWH = "train_energy_kwh"
TRAIN_ENERGY_J = "train_energy_j"
TRAIN_SPEED = "train_samples_per_s"
STEADY_SPEED = "steady_samples_per_s"
INFER_SPEED = "infer_samples_per_s"
TRAIN_TIME = "train_time_s"
AVG_POWER = "train_avg_power_w"
GPU_UTIL = "train_gpu_util_mean_pct"
GPU_MEM = "train_gpu_mem_mean_mib"
CPU_UTIL = "train_cpu_util_mean_pct"
RSS = "train_rss_mean_mib"


def hardware_label(env: dict) -> str:
    """A short human label of a record's ``env``, e.g. ``'1 x NVIDIA H100'`` or
    ``'CPU only: 2 cores (Intel Xeon ...)'``."""
    if env.get("gpu_count"):
        return f"{env['gpu_count']} x {env['gpu']}"
    return f"CPU only: {env.get('cpu_cores')} cores ({env.get('cpu')})"


def _per(amount: float, per: float) -> float:
    """``amount / per``, NaN when ``per`` is zero or unmeasured (never a division error)."""
    return amount / per if per > 0 else math.nan


class Efficiency(BaseModel):
    """The paper's efficiency measures of one cell, units in the names.

    Derived once, by :meth:`from_windows`, from the energy meter's windows; JSON has no NaN, so
    a quantity that could not be measured is stored as null (NaN in the tidy table).
    """

    model_config = ConfigDict(extra="forbid")

    train_time_s: float | None = None
    train_samples_per_s: float | None = None
    train_energy_j: float | None = None
    train_energy_kwh: float | None = None
    train_energy_idle_subtracted_j: float | None = None
    train_avg_power_w: float | None = None
    train_gpu_energy_j: float | None = None
    train_cpu_energy_j: float | None = None
    power_efficiency_samples_per_s_per_w: float | None = None
    gpu_power_efficiency_samples_per_s_per_w: float | None = None
    steady_samples_per_s: float | None = None
    infer_time_s: float | None = None
    infer_samples_per_s: float | None = None
    infer_tokens_per_s: float | None = None
    infer_energy_j: float | None = None
    infer_energy_per_sample_j: float | None = None
    infer_avg_power_w: float | None = None
    # Summary of the training window's trace (tradeoff.energy.summarize_trace).
    train_trace_points: float | None = None
    train_gpu_util_mean_pct: float | None = None
    train_gpu_util_peak_pct: float | None = None
    train_gpu_mem_mean_mib: float | None = None
    train_gpu_mem_peak_mib: float | None = None
    train_cpu_util_mean_pct: float | None = None
    train_cpu_util_peak_pct: float | None = None
    train_rss_mean_mib: float | None = None
    train_rss_peak_mib: float | None = None

    @classmethod
    def from_windows(cls, train, steady, training: dict, infer, n_inferred: int,
                     generated_tokens: int, trace_stats: dict | None = None) -> Efficiency:
        """The paper's efficiency measures from the meter's windows.

        Training speed is samples trained per second over the whole run (HF Trainer's figure,
        which includes validations, as the paper's did); power efficiency is that speed per
        average watt; total training energy is the window's energy. The steady-state speed
        excludes warm-up steps.

        Args:
            train: the ``train`` window's :class:`tradeoff.energy.Measurement`.
            steady: the ``steady`` window's Measurement, or None.
            training: :func:`tradeoff.train.summarize_training` of the run.
            infer: the ``inference`` window's Measurement.
            n_inferred: validation inputs generated for.
            generated_tokens: tokens generated in the inference window.
            trace_stats: :func:`tradeoff.energy.summarize_trace` of the training trace.

        Returns:
            The measures; NaN where a window lacks what a measure needs.
        """
        train_speed = _per(training["samples_trained"], train.time_s)
        steady_samples = (training["steady_steps"] or 0) * training["effective_batch_size"]
        stats = dict(trace_stats or {})
        values = {
            "train_time_s": train.time_s,
            "train_samples_per_s": train_speed,
            "train_energy_j": train.total_energy_j,
            "train_energy_kwh": train.energy_kwh,
            "train_energy_idle_subtracted_j": train.idle_subtracted_energy_j,
            "train_avg_power_w": train.avg_power_w,
            "train_gpu_energy_j": train.total_gpu_energy_j,
            "train_cpu_energy_j": train.cpu_energy_j,
            POWER_EFFICIENCY: _per(train_speed, train.avg_power_w),
            # GPU alone: free of the CPU part, which may be an estimate.
            GPU_POWER_EFFICIENCY: _per(train_speed, train.avg_gpu_power_w),
            STEADY_SPEED: _per(steady_samples, steady.time_s) if steady else math.nan,
            "infer_time_s": infer.time_s,
            INFER_SPEED: _per(n_inferred, infer.time_s),
            "infer_tokens_per_s": _per(generated_tokens, infer.time_s),
            "infer_energy_j": infer.total_energy_j,
            "infer_energy_per_sample_j": _per(infer.total_energy_j, n_inferred),
            "infer_avg_power_w": infer.avg_power_w,
            "train_trace_points": stats.pop("n_samples", None),
        }
        values |= {f"train_{k}": v for k, v in stats.items()}
        return cls(**{k: _finite_or_none(v) for k, v in values.items()})


def _finite_or_none(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


EFFICIENCY_COLUMNS = tuple(Efficiency.model_fields)


class RunRecord(BaseModel):
    """The outcome of one grid cell."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    profile: str
    label: str
    params_hash: str
    params: CellParams
    status: Literal["ok", "oom", "failed"]
    reason: str = ""
    # Headline accuracy: "rouge_geomean" (summarization) or "f1" (QA), plus every metric computed
    # and the teacher-forced validation loss (the only meaningful signal at demo scale).
    accuracy_metric: str = ""
    accuracy: dict[str, float | None] = {}
    efficiency: Efficiency = Efficiency()
    # Each energy window's Measurement.to_dict() ("train", "steady", "inference"): the raw
    # numbers the efficiency measures were derived from.
    measurements: dict[str, dict[str, Any]] = {}
    energy_method: str = "none"
    energy_reason: str = ""
    train: dict[str, Any] = {}
    inference: dict[str, Any] = {}
    model: dict[str, Any] = {}
    data: dict[str, Any] = {}
    traces: dict[str, list[dict[str, float | None]]] = {}
    env: dict[str, Any] = {}
    started_at: str = ""
    wall_time_s: float | None = None


def record_path(results_dir: Path | str, params: CellParams) -> Path:
    """Where a cell's record lives: readable coordinates plus the parameter hash."""
    return Path(results_dir) / params.record_name


def load_record(path: Path) -> RunRecord:
    """Read and validate one record.

    Raises:
        RecordError: the file is unreadable, not valid JSON, not a valid record, or of
            another schema.
    """
    return read_record(path, RunRecord, SCHEMA_VERSION, "run record")


def load_records(results_dir: Path | str) -> list[RunRecord]:
    """All run records under a folder (recursively), in a stable order.

    The ``ceilings/`` folder of ``results_dir`` holds :class:`CeilingRecord` files, which are
    not run records: it is skipped (read those with :func:`load_ceiling_records`).
    """
    root = Path(results_dir)
    return [load_record(p) for p in sorted(root.rglob("*.json"))
            if p.relative_to(root).parts[0] != CEILINGS_FOLDER]
