"""Run records: one JSON per grid cell, written atomically, validated on load.

A record carries everything a chapter needs to draw a figure and everything a reader needs to
trace a number back: the resolved parameters (whose hash names the file), accuracy, efficiency
with its energy method, the batch actually used, decimated traces, the environment, and a status
(``ok``, ``oom`` or ``failed`` with the reason), so a failed cell is shown, not dropped.

Ceilings and baselines (:mod:`tradeoff.analysis.ceilings`) are records of their own kind,
:class:`CeilingRecord`, with their own schema version, kept in the ``ceilings/`` folder of a
results folder; :func:`load_records` reads run records only and never looks there.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .config import CellParams
from .errors import RecordError

# Read once at import (os.umask can only be read by setting it, which races with threads).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
SCHEMA_VERSION = 1
CEILING_SCHEMA_VERSION = 1
#: Sub-folder of a results folder holding the :class:`CeilingRecord` files.
CEILINGS_FOLDER = "ceilings"

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


class CeilingRecord(BaseModel):
    """One ceiling or baseline at one input length: a property of the data and of a simple
    method that reads the truncated input, not of LED or BigBird.

    One per (dataset, length, method, tokenizer); see :mod:`tradeoff.analysis.ceilings` for the
    methods. ``key`` hashes every input of the result (the rows scored, the tokenizer, the
    method, the length and the code version): a record whose key still matches is never
    computed again. Scores are 0-100; CPU time was measured where ``env`` says, and the energy
    is the labelled estimate CPU seconds x ``cpu_watts_per_core``, never a measurement.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: int = CEILING_SCHEMA_VERSION
    kind: Literal["ceiling", "baseline"]
    profile: str
    key: str
    dataset: str
    task: Literal["summarization", "qa"]
    source: str
    length: int
    method: str
    description: str = ""
    tokenizer: str
    tokenizer_hash: str
    seed: int = 0
    # Headline score ("rouge_geomean" or "f1") and every score computed; for the QA ceiling
    # also "recoverable_share" and "answer_coverage" (percent of questions / answers).
    metric: str
    score: float | None = None
    scores: dict[str, float | None] = {}
    n_samples: int
    n_available: int
    truncated_share: float | None = None
    kept_tokens_mean: float | None = None
    cpu_s_per_sample: float | None = None
    cpu_watts_per_core: float
    energy_method: Literal["cpu-time-estimate"] = "cpu-time-estimate"
    splitter: str = ""
    ids: list[str] = []
    predictions: list[str] = []
    references: list[list[str]] = []
    env: dict[str, Any] = {}
    created_at: str = ""

    @property
    def energy_j_per_sample(self) -> float:
        """Estimated CPU energy per example (J): CPU seconds x assumed watts per busy core."""
        return (math.nan if self.cpu_s_per_sample is None
                else self.cpu_s_per_sample * self.cpu_watts_per_core)


def ceiling_record_path(results_dir: Path | str, dataset: str, length: int, method: str,
                        tokenizer_hash: str) -> Path:
    """Where a ceiling record lives: ``<results_dir>/ceilings/<dataset>-L<length>-<method>-<tok>.json``."""
    return (Path(results_dir) / CEILINGS_FOLDER
            / f"{dataset}-L{length}-{method}-{tokenizer_hash[:12]}.json")


def record_path(results_dir: Path | str, params: CellParams) -> Path:
    """Where a cell's record lives: readable coordinates plus the parameter hash."""
    return Path(results_dir) / params.record_name


def write_atomically(path: Path | str, text: str) -> Path:
    """Write a file so that a crash mid-write never leaves a half file behind.

    The text goes to a temporary file in the same folder, which then replaces ``path`` in one
    step: readers see the previous file or the new one, never a truncated one. The file gets
    the permissions of any new file (0666 less the umask), not mkstemp's owner-only 0600, so
    a shared results folder stays readable by the group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_record(record: RunRecord | CeilingRecord, path: Path) -> Path:
    """Write a record atomically (:func:`write_atomically`)."""
    return write_atomically(path, record.model_dump_json(indent=1))


def _read(path: Path, kind: type[BaseModel], version: int, what: str):
    """Read and validate one record of a kind, with one error for every way it can be wrong."""
    try:
        record = kind.model_validate(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError, ValidationError) as err:
        raise RecordError(f"{path}: not a valid {what} ({err.__class__.__name__}: "
                          f"{str(err).splitlines()[0]})") from None
    if record.schema_version != version:
        raise RecordError(f"{path}: {what} schema {record.schema_version}, "
                          f"this code reads {version}")
    return record


def load_record(path: Path) -> RunRecord:
    """Read and validate one record.

    Raises:
        RecordError: the file is unreadable, not valid JSON, not a valid record, or of
            another schema.
    """
    return _read(path, RunRecord, SCHEMA_VERSION, "run record")


def load_records(results_dir: Path | str) -> list[RunRecord]:
    """All run records under a folder (recursively), in a stable order.

    The ``ceilings/`` folder of ``results_dir`` holds :class:`CeilingRecord` files, which are
    not run records: it is skipped (read those with :func:`load_ceiling_records`).
    """
    root = Path(results_dir)
    return [load_record(p) for p in sorted(root.rglob("*.json"))
            if p.relative_to(root).parts[0] != CEILINGS_FOLDER]


def load_ceiling_record(path: Path) -> CeilingRecord:
    """Read and validate one ceiling record.

    Raises:
        RecordError: the file is unreadable, not valid JSON, not a valid ceiling record, or of
            another schema.
    """
    return _read(path, CeilingRecord, CEILING_SCHEMA_VERSION, "ceiling record")


def load_ceiling_records(results_dir: Path | str) -> list[CeilingRecord]:
    """The ceiling records of a results folder (``<results_dir>/ceilings/*.json``), sorted by name."""
    folder = Path(results_dir) / CEILINGS_FOLDER
    return [load_ceiling_record(p) for p in sorted(folder.glob("*.json"))]
