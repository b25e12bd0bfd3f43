"""Published SCROLLS scores: the schema of ``reference/published/scores.yaml``.

The study's first real accuracy numbers are other papers' test scores (SCROLLS' Table 2 for
BART-base and LED-base at several input lengths; LongT5 and PEGASUS-X at one length each), one
row per (model, input length, dataset, split, metric), each with the paper, arXiv id and table
it was read in. Only numbers read in a source are stored. The file is read as every reference
file is (:func:`.reference.read_reference`); :mod:`tradeoff.analysis.published` sets the scores
beside the counted costs. A module of its own rather than a part of :mod:`.reference`: the
schema and its cross-checks are a third of that module's size again, and would take it past
600 lines.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import REPO_ROOT
from ..tasks import TASKS, Dataset
from .reference import read_reference

PUBLISHED_FILE = REPO_ROOT / "reference" / "published" / "scores.yaml"
SCHEMA = "tradeoff.published-scores/1"

Metric = Literal["rouge1", "rouge2", "rougeL", "f1", "exact_match"]
ROUGE_PARTS = ("rouge1", "rouge2", "rougeL")
# Every published metric is a percentage.
METRIC_RANGE = (0.0, 100.0)


class Protocol(BaseModel):
    """How a source trained and scored, in the facts that differ from this study's protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    split: str
    epochs: str | None = None
    precision: str | None = None
    batch: str | None = None
    decoding: str | None = None
    hardware: str | None = None
    notes: str | None = None


class Source(BaseModel):
    """One table of one paper that published scores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    paper: str = Field(min_length=1)
    arxiv: str = Field(pattern=r"^\d{4}\.\d{4,5}(v\d+)?$")
    table: str = Field(min_length=1)
    read_in: str = Field(min_length=1, description="what was read, and its address")
    agrees_with: str | None = Field(None, description="a second source giving the same numbers")
    protocol: Protocol

    @property
    def cite(self) -> str:
        """``"<first author> et al. <year>, arXiv <id>"``: the paper's authors up to the first
        colon or comma."""
        return f"{self.paper.split(':')[0].split(',')[0]}, arXiv {self.arxiv}"

    @property
    def label(self) -> str:
        """:attr:`cite` and the table: where a number stands in print."""
        return f"{self.cite}, {self.table}"

    @property
    def protocol_text(self) -> str:
        """The source's protocol facts that it states, in one line."""
        facts = self.protocol.model_dump(exclude_none=True)
        return "; ".join(f"{name}: {value}" for name, value in facts.items())


class Score(BaseModel):
    """One published number: a model at an input length, on a dataset, split and metric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    input_length: int = Field(gt=0)
    dataset: Dataset
    metric: Metric
    value: float
    source: str
    split: str | None = Field(None, description="when it differs from the source's protocol")
    agrees_with: str | None = None
    disagreement: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _in_range(self) -> Score:
        low, high = METRIC_RANGE
        if not (low <= self.value <= high) or math.isnan(self.value):
            raise ValueError(f"{self.metric} {self.value} lies outside [{low:g}, {high:g}]")
        if TASKS[self.dataset] == "qa" and self.metric in ROUGE_PARTS:
            raise ValueError(f"{self.dataset} is scored by F1, not {self.metric}")
        if TASKS[self.dataset] == "summarization" and self.metric not in ROUGE_PARTS:
            raise ValueError(f"{self.dataset} is scored by ROUGE, not {self.metric}")
        return self


class PublishedScores(BaseModel):
    """The file ``reference/published/scores.yaml``: its sources and their rows."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    SCHEMA: ClassVar[str] = SCHEMA

    schema_: Literal["tradeoff.published-scores/1"] = Field(alias="schema")
    sources: tuple[Source, ...]
    rows: tuple[Score, ...]

    @model_validator(mode="after")
    def _consistent(self) -> PublishedScores:
        ids = [s.id for s in self.sources]
        if len(set(ids)) != len(ids):
            raise ValueError(f"source ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        seen = set()
        for row in self.rows:
            if row.source not in ids:
                raise ValueError(f"row {self.key(row)} names source '{row.source}', which is not "
                                 f"among the sources ({', '.join(ids)})")
            if self.key(row) in seen:
                raise ValueError(f"two rows for {self.key(row)}")
            seen.add(self.key(row))
        return self

    def source(self, row: Score) -> Source:
        """The source a row was read in."""
        return next(s for s in self.sources if s.id == row.source)

    def split(self, row: Score) -> str:
        """The row's split: its own when given, else its source's."""
        return row.split or self.source(row).protocol.split

    def key(self, row: Score) -> tuple:
        """(model, input length, dataset, split, metric): what makes a row unique."""
        return row.model, row.input_length, row.dataset, row.split or "", row.metric

    @property
    def configurations(self) -> list[tuple[str, int]]:
        """Every (model, input length) with a published score, in file order."""
        return list(dict.fromkeys((r.model, r.input_length) for r in self.rows))


def load_published(path: Path | str | None = None) -> PublishedScores:
    """Read and validate the published scores (:func:`.reference.read_reference`).

    Args:
        path: the YAML file (default :data:`PUBLISHED_FILE`).

    Returns:
        The sources and rows.

    Raises:
        ReferenceFileError: the file is missing or not YAML, or a row or source breaks the
            schema (a missing source, a value outside its metric's range, a duplicate row).
    """
    return read_reference(PUBLISHED_FILE if path is None else path, PublishedScores,
                          "no published scores")
