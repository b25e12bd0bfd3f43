"""Run records: one JSON per grid cell, written atomically, validated on load.

A record carries everything a chapter needs to draw a figure and everything a reader needs to
trace a number back: the resolved parameters (whose hash names the file), accuracy, efficiency
with its energy method, the batch actually used, decimated traces, the environment, and a status
(``ok``, ``oom`` or ``failed`` with the reason), so a failed cell is shown, not dropped.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

SCHEMA_VERSION = 1


class RunRecord(BaseModel):
    """The outcome of one grid cell."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    profile: str
    label: str
    params_hash: str
    params: dict[str, Any]
    status: Literal["ok", "oom", "failed"]
    reason: str = ""
    # Headline accuracy: "rouge_geomean" (summarization) or "f1" (QA), plus every metric computed
    # and the teacher-forced validation loss (the only meaningful signal at demo scale).
    accuracy_metric: str = ""
    accuracy: dict[str, float | None] = {}
    # Speeds, energies, power, utilization and memory; units in the keys. JSON has no NaN, so
    # a quantity that could not be measured is stored as null (read back as NaN by to_frame).
    efficiency: dict[str, float | None] = {}
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


class RecordError(ValueError):
    """A record file that cannot be read as a :class:`RunRecord`."""


def record_path(results_dir: Path, params: dict, params_hash: str) -> Path:
    """Where a cell's record lives: readable coordinates plus the parameter hash."""
    accum = params.get("gradient_accumulation_steps", 1)
    stem = (f"{params['dataset']}_{params['model']}_L{params['length']}_s{params['seed']}"
            f"{'_ga' + str(accum) if accum != 1 else ''}_{params_hash}")
    return Path(results_dir) / f"{stem}.json"


def save_record(record: RunRecord, path: Path) -> Path:
    """Write a record atomically: a crash mid-write never leaves a half file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(record.model_dump_json(indent=1))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_record(path: Path) -> RunRecord:
    """Read and validate one record.

    Raises:
        RecordError: the file is not valid JSON, not a valid record, or of another schema.
    """
    try:
        record = RunRecord.model_validate(json.loads(Path(path).read_text()))
    except (json.JSONDecodeError, ValidationError) as err:
        raise RecordError(f"{path}: not a valid run record ({err.__class__.__name__}: "
                          f"{str(err).splitlines()[0]})") from None
    if record.schema_version != SCHEMA_VERSION:
        raise RecordError(f"{path}: record schema {record.schema_version}, "
                          f"this code reads {SCHEMA_VERSION}")
    return record


def load_records(results_dir: Path | str) -> list[RunRecord]:
    """All records under a folder (recursively), in a stable order."""
    return [load_record(p) for p in sorted(Path(results_dir).rglob("*.json"))]


# Columns of the tidy table, in reading order; record fields are flattened into it.
_KEY_COLUMNS = ["profile", "dataset", "model", "length", "seed", "grad_accum", "status", "reason"]


def _number(value) -> float:
    return math.nan if value is None else float(value)


def to_frame(records: list[RunRecord]):
    """One tidy row per record: coordinates, status, accuracy and efficiency columns.

    Args:
        records: records from :func:`load_records`.

    Returns:
        A pandas DataFrame; accuracy and efficiency keys become columns; ``accuracy`` holds the
        headline metric's value and ``accuracy_metric`` its name.
    """
    import pandas as pd

    rows = []
    for r in records:
        p = r.params
        row = {
            "profile": r.profile, "dataset": p["dataset"], "model": p["model"],
            "length": p["length"], "seed": p["seed"],
            "grad_accum": p.get("gradient_accumulation_steps", 1),
            "status": r.status, "reason": r.reason, "task": p.get("task"),
            "source": p.get("source"), "init": p.get("init"), "scale": p.get("scale"),
            "accuracy_metric": r.accuracy_metric,
            "accuracy": _number(r.accuracy.get(r.accuracy_metric)),
            "energy_method": r.energy_method,
            "batch_size": r.train.get("batch_size", math.nan),
            "effective_batch_size": r.train.get("effective_batch_size", math.nan),
            "train_steps": r.train.get("steps", math.nan),
            "parameters": r.model.get("parameters", math.nan),
            "params_hash": r.params_hash,
        }
        row |= {f"acc_{k}": _number(v) for k, v in r.accuracy.items()}
        row |= {k: _number(v) for k, v in r.efficiency.items()}
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=_KEY_COLUMNS)
    return frame.sort_values(["dataset", "model", "length", "seed", "grad_accum"],
                             ignore_index=True)
