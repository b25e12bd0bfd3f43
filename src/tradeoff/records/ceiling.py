"""Ceiling records: the data's ceilings and simple baselines (:mod:`tradeoff.ceilings`),
records of their own kind with their own schema version, kept in the ``ceilings/`` folder of a
results folder; :func:`tradeoff.records.load_records` reads run records only and never looks there.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .io import read_record

CEILING_SCHEMA_VERSION = 1
#: Sub-folder of a results folder holding the :class:`CeilingRecord` files.
CEILINGS_FOLDER = "ceilings"


class CeilingRecord(BaseModel):
    """One ceiling or baseline at one input length: a property of the data and of a simple
    method that reads the truncated input, not of LED or BigBird.

    One per (dataset, length, method, tokenizer); see :mod:`tradeoff.ceilings` for the
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


def load_ceiling_record(path: Path) -> CeilingRecord:
    """Read and validate one ceiling record.

    Raises:
        RecordError: the file is unreadable, not valid JSON, not a valid ceiling record, or of
            another schema.
    """
    return read_record(path, CeilingRecord, CEILING_SCHEMA_VERSION, "ceiling record")


def load_ceiling_records(results_dir: Path | str) -> list[CeilingRecord]:
    """The ceiling records of a results folder (``<results_dir>/ceilings/*.json``), sorted by name."""
    folder = Path(results_dir) / CEILINGS_FOLDER
    return [load_ceiling_record(p) for p in sorted(folder.glob("*.json"))]
