"""Reference rows: the committed files that stand in for counts and measurements too slow for
``make book``, their schemas, and the one way each is read and written.

- ``reference/cost/cost-rows.json`` (:data:`COST_FILE`): one :class:`CostRow` per full
  architecture x input length x target length, counted by :mod:`tradeoff.cost.architecture`,
  each entry tagged with what it was counted with, beside :class:`ExtrapolationCheck`\\ s;
- ``reference/knobs-full/memory.json`` (:data:`MEMORY_FILE`): one :class:`KnobMemoryRow` per
  architecture x length x memory knob, counted by :mod:`tradeoff.cost.knob_memory`;
- ``reference/knobs-full/speed.json`` (:data:`SPEED_FILE`): one :class:`SpeedRow` per measured
  pair of ``benchmarks/knob_speed.py``;
- ``reference/published/scores.yaml``: other papers' scores (:mod:`.published`, same reader).

Every file is read by :func:`read_reference` (JSON or YAML by its suffix; the ``schema`` id
checked first, then pydantic; any fault is one :class:`~tradeoff.errors.ReferenceFileError`
line naming the first bad field and the fix) and written by :func:`write_reference_file`
(validated, then atomically). The memory model that the rows' batch columns follow
(:func:`max_batch`) and the sentences saying how the cost rows were obtained are defined here
too, once: the producer (:mod:`tradeoff.cost`) writes them into the files, the book quotes them,
and :mod:`tradeoff.analysis.cost_claims`, which does not import the producer, sizes measured
runs' batches with the same model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import pandas as pd
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    computed_field,
    model_serializer,
    model_validator,
)

from ..config import REPO_ROOT
from ..errors import ReferenceFileError
from ..tasks import GIB
from .io import write_atomically

COST_FILE = REPO_ROOT / "reference" / "cost" / "cost-rows.json"
MEMORY_FILE = REPO_ROOT / "reference" / "knobs-full" / "memory.json"
SPEED_FILE = REPO_ROOT / "reference" / "knobs-full" / "speed.json"

# ------------------------------------------------------------------------- the memory model

# fp32 weights (4) + gradients (4) + AdamW's two moments (4 + 4): the paper trains in fp32
# without mixed precision.
TRAIN_STATE_BYTES_PER_PARAM = 16


def max_batch(state_bytes: int, per_sample_bytes: int, memory_gb: float) -> int:
    """Largest batch whose training memory fits ``memory_gb`` GiB.

    Memory model: ``state_bytes`` that do not grow with the batch (for the paper's setting,
    :data:`TRAIN_STATE_BYTES_PER_PARAM` x parameters: fp32 weights, gradients and AdamW's two
    moments) plus ``batch x per_sample_bytes`` (counted saved-for-backward activations and the
    output logits of one sample). Known error sources, all making the real largest batch
    smaller: :data:`MEMORY_ERROR_SOURCES`.

    Args:
        state_bytes: bytes independent of the batch.
        per_sample_bytes: bytes that grow with the batch, per sample.
        memory_gb: card memory in GiB.

    Returns:
        The largest batch, 0 when not even one sample fits.
    """
    free = memory_gb * GIB - state_bytes
    return int(free // per_sample_bytes) if free > 0 and per_sample_bytes > 0 else 0


# ------------------------------------------------- how the cost rows were obtained (stored)

FLOPS_NOTE = ("FLOPs counted by torch.utils.flop_counter.FlopCounterMode: matmul-like ops only "
              "(2 FLOPs per multiply-add); softmax, norms, activations, dropout and the optimizer "
              "step are not counted")
MEMORY_ERROR_SOURCES = (
    "weights + gradients + AdamW at 16 bytes/param plus counted saved-for-backward bytes and "
    "output logits per sample x batch; not modelled: allocator fragmentation and caching, CUDA "
    "context and library workspaces (cuBLAS), temporary peaks inside an op or a layer (e.g. "
    "attention scores before they are saved, the logits' gradient in backward), the optimizer "
    "step's temporaries, and the card's nominal capacity being larger than what a process can "
    "allocate")
SAVED_BYTES_NOTE = (
    "saved activations counted through torch.autograd.graph.saved_tensors_hooks at the end of "
    "a training forward at batch 1, once per storage, parameters and buffers excluded; dropout "
    "masks at the GPU's 1 byte an element")
DEPTHS_NOTE = (
    "counted at (encoder, decoder) depths (1,1), (2,1) and (1,2) and extrapolated to full depth "
    "(exact: the layers of a model are identical); extrapolation_checks compare it with a "
    "full-depth count")
COST_FILE_NOTES = {
    "flops": FLOPS_NOTE, "saved_bytes": SAVED_BYTES_NOTE, "depths": DEPTHS_NOTE,
    "memory_model": MEMORY_ERROR_SOURCES,
    "hardware": "counts do not depend on the hardware (random-init models on a CPU)",
    "regenerate": "python -m tradeoff cost --write-reference [--target-length N "
                  "--new-tokens N | --dataset NAME] [--models ...] [--lengths ...] "
                  "(resumes from the count cache in .cache/cost)",
    "dataset_targets": "rows counted with --dataset NAME have target and generated "
                       "tokens = the dataset's mean reference words in SCROLLS' "
                       "Table 1, rounded up (tradeoff.tasks.COST_TARGET_TOKENS): "
                       "a lower bound on its subword tokens",
}
COST_FIX = "regenerate it with `python -m tradeoff cost --write-reference`"
MEMORY_FIX = "regenerate it with `python -m tradeoff cost --knobs --write-reference`"
SPEED_FIX = "rewrite it with `python benchmarks/knob_speed.py`"

# Every row is checked strictly: "1024" is not an int, 1.0 is not an int, True is neither.
_ROW = ConfigDict(strict=True, extra="forbid", frozen=True)
_FILE = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ------------------------------------------------------------------------------- cost rows


class CostRow(BaseModel):
    """Cost of one training sample and one inference of a full architecture at one length.

    FLOPs are counted by ``FlopCounterMode`` (matmul-like ops only, 2 FLOPs per multiply-add);
    bytes are counted through autograd's saved-tensor hooks. ``method`` says whether a number was
    counted at full depth or extrapolated from which depths.
    """

    model_config = _ROW

    model: str
    length: int  # input tokens (the input is padded to this length)
    target_length: int  # target tokens of the training sample
    generated_tokens: int  # greedy tokens of the inference count
    params: int
    encoder_layers: int
    decoder_layers: int
    dropout: float
    encoder_forward_flops: int
    forward_flops: int  # training forward, per sample
    train_step_flops: int  # forward + backward, per sample
    inference_flops: int  # encoder pass + greedy decoding of generated_tokens, batch 1
    attention_flops_share: float  # of forward_flops, in attention modules incl. projections
    attention_core_flops_share: float  # of forward_flops, attention without its projections
    inference_attention_flops_share: float
    saved_activation_bytes: int  # per sample; parameters and buffers excluded
    output_logits_bytes: int  # per sample, held by the output beside the saved tensors
    train_state_bytes: int  # weights + gradients + AdamW, independent of the batch
    max_batch_48gb: int  # 0: not even one sample fits
    max_batch_80gb: int
    paper_batch: int | None  # the paper's batch at this cell, where PAPER.md has one
    attention: str  # encoder attention that ran
    method: str
    flops_note: str = FLOPS_NOTE
    memory_error_sources: str = MEMORY_ERROR_SOURCES

    @computed_field
    @property
    def memory_per_sample_bytes(self) -> int:
        """Bytes that grow with the batch: saved activations plus output logits."""
        return self.saved_activation_bytes + self.output_logits_bytes

    @property
    def key(self) -> tuple[str, int, int]:
        """(model, length, target length): what makes a row unique in the file."""
        return self.model, self.length, self.target_length


def _names_versions(counted: dict) -> dict:
    needed = {"torch", "transformers", "count_version"}
    if not needed <= set(counted):
        raise ValueError("counted_with must name torch, transformers, count_version")
    return counted


CountedWith = Annotated[dict[str, Any], AfterValidator(_names_versions)]


class CostEntry(CostRow):
    """A row as the file holds it: the :class:`CostRow`, its ``memory_per_sample_bytes`` (which
    must equal saved + logits bytes), the versions it was counted with and the date written."""

    counted_with: CountedWith
    written: str

    @model_validator(mode="wrap")
    @classmethod
    def _stored_memory(cls, data, handler):
        if not isinstance(data, dict):
            return handler(data)
        data = dict(data)
        stored = data.pop("memory_per_sample_bytes", None)
        entry = handler(data)
        if stored != entry.memory_per_sample_bytes:
            raise ValueError("memory_per_sample_bytes is not saved + logits bytes")
        return entry

    @model_serializer(mode="wrap")
    def _in_file_order(self, handler) -> dict:
        # The row's own fields (memory_per_sample_bytes last), then what it was counted with.
        data = handler(self)
        extras = {k: data.pop(k) for k in ("counted_with", "written")}
        return data | extras

    def row(self) -> CostRow:
        """The counted row alone."""
        # The fields were validated with the entry.
        return CostRow.model_construct(**{name: getattr(self, name)
                                          for name in CostRow.model_fields})


class ExtrapolationCheck(BaseModel):
    """Extrapolated counts against a full-depth count of one cell."""

    model_config = _ROW

    model: str
    length: int
    target_length: int
    relative_difference: dict[str, float]  # field -> extrapolated / full depth - 1
    counted_with: CountedWith
    written: str

    @property
    def largest(self) -> float:
        """The largest absolute relative difference over the counted fields."""
        return max((abs(v) for v in self.relative_difference.values()), default=math.nan)


class CostFile(BaseModel):
    """The file ``reference/cost/cost-rows.json``."""

    model_config = _FILE
    SCHEMA: ClassVar[str] = "tradeoff.cost-reference/1"

    schema_: Literal["tradeoff.cost-reference/1"] = Field(SCHEMA, alias="schema")
    notes: dict[str, str] = Field(default_factory=lambda: dict(COST_FILE_NOTES))
    rows: tuple[CostEntry, ...] = ()
    extrapolation_checks: tuple[ExtrapolationCheck, ...] = ()

    @model_validator(mode="after")
    def _one_row_per_key(self) -> CostFile:
        seen = set()
        for i, row in enumerate(self.rows):
            if row.key in seen:
                raise ValueError(f"row {i}: a second row for {row.model} at {row.length} tokens "
                                 f"with {row.target_length}-token targets")
            seen.add(row.key)
        return self


@dataclass(frozen=True)
class CostReference:
    """The committed cost rows (:data:`COST_FILE`) and what they were counted with.

    Attributes:
        rows: one ``CostRow`` per model x length x target length, in file order.
        counted_with: per row, the versions and count procedure behind it (``torch``,
            ``transformers``, ``count_version``).
        written: per row, the date (UTC) its entry was written.
        checks: extrapolation checks recorded with the rows.
        path: the file read.
    """

    rows: tuple[CostRow, ...]
    counted_with: tuple[dict, ...]
    written: tuple[str, ...]
    checks: tuple[ExtrapolationCheck, ...]
    path: str

    @classmethod
    def of(cls, file: CostFile, path: Path | str) -> CostReference:
        return cls(tuple(e.row() for e in file.rows), tuple(e.counted_with for e in file.rows),
                   tuple(e.written for e in file.rows), file.extrapolation_checks, str(path))

    @property
    def target_lengths(self) -> list[int]:
        """The target lengths that have rows, in ascending order."""
        return sorted({r.target_length for r in self.rows})

    def select(self, target_length: int | None = None, models: Sequence[str] | None = None,
               lengths: Sequence[int] | None = None) -> list[CostRow]:
        """Rows of one target length (all when None), models and lengths, in file order."""
        return [r for r in self.rows
                if (target_length is None or r.target_length == target_length)
                and (models is None or r.model in models)
                and (lengths is None or r.length in lengths)]

    def versions(self) -> dict[str, list[str]]:
        """Every version each package had across the rows (one each when consistent)."""
        out: dict[str, list[str]] = {}
        for counted in self.counted_with:
            for package in ("torch", "transformers"):
                value = str(counted.get(package))
                if value not in out.setdefault(package, []):
                    out[package].append(value)
        return out

    def model_order(self) -> list[str]:
        """The models in the order of the file (the paper's three first, then the others)."""
        return list(dict.fromkeys(r.model for r in self.rows))


def load_cost_reference(path: Path | str | None = None) -> CostReference:
    """Read and validate the committed cost rows.

    Args:
        path: the reference file (default :data:`COST_FILE`).

    Returns:
        The rows, what they were counted with, and the recorded extrapolation checks.

    Raises:
        ReferenceFileError: the file is missing, is not this schema, or a row is malformed
            (a missing or unknown field, a wrong type, a duplicate model x length x target).
    """
    path = Path(COST_FILE if path is None else path)
    return CostReference.of(read_cost_file(path), path)


def read_cost_file(path: Path | str | None = None) -> CostFile:
    """The cost reference file as its schema holds it (:func:`load_cost_reference` reads
    through here); raises as that does."""
    path = COST_FILE if path is None else path
    return read_reference(path, CostFile, "no cost reference", COST_FIX)


def cost_frame(rows: Sequence[CostRow]) -> pd.DataFrame:
    """The rows as a pandas DataFrame, one per model x length: one column per ``CostRow`` field
    and ``memory_per_sample_bytes``; ``paper_batch`` nullable."""
    frame = pd.DataFrame([r.model_dump() for r in rows])
    if len(frame):
        frame["paper_batch"] = frame["paper_batch"].astype("Int64")
    return frame


# ------------------------------------------------------------------------ knob memory rows


class KnobMemoryRow(BaseModel):
    """One model x length x knob: counted bytes of one training sample and the batch that fits."""

    model_config = _ROW

    model: str
    length: int
    variant: str
    target_length: int
    parameters: int
    trainable_parameters: int
    state_bytes: int
    saved_bytes_per_sample: int
    recompute_peak_bytes: int
    logits_bytes: int
    memory_per_sample_bytes: int
    max_batch_48gb: int
    max_batch_80gb: int
    method: str


class MemoryFile(BaseModel):
    """The file ``reference/knobs-full/memory.json``."""

    model_config = _FILE
    SCHEMA: ClassVar[str] = "tradeoff.knob-memory/1"

    schema_: Literal["tradeoff.knob-memory/1"] = Field(SCHEMA, alias="schema")
    written: str
    torch: str
    transformers: str
    rows: tuple[KnobMemoryRow, ...] = ()


def load_memory_reference(path: Path | str = MEMORY_FILE) -> pd.DataFrame:
    """The committed knob-memory rows as a DataFrame (empty, with the columns, when the file
    does not exist); ``attrs`` hold when and with which versions they were written.

    Raises:
        ReferenceFileError: the file exists but breaks its schema.
    """
    columns = list(KnobMemoryRow.model_fields)
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=columns)
    file = read_reference(path, MemoryFile, "no knob memory rows", MEMORY_FIX)
    frame = pd.DataFrame([r.model_dump() for r in file.rows], columns=columns)
    frame.attrs |= {"written": file.written, "torch": file.torch,
                    "transformers": file.transformers}
    return frame


# ------------------------------------------------------------------------- measured speed


class SpeedRow(BaseModel):
    """A knob's measured time against its baseline's on one full architecture, in one process.

    Written by ``benchmarks/knob_speed.py``: each arm warmed up once, then A-B-B-A blocks;
    ``ratio`` is the knob's median time over the baseline's (below 1: the knob is faster).
    """

    model_config = _ROW

    model: str
    length: int
    kind: Literal["inference", "train"]  # greedy generation, or one AdamW step
    baseline: str
    variant: str
    baseline_s: list[float]
    variant_s: list[float]
    ratio: float
    new_tokens: int
    target_length: int
    threads: int
    env: dict[str, Any]
    # The machine's 1-minute load average at the pair's start and end (os.getloadavg): on a
    # shared machine, how much else ran; above the core count, the arms shared the cores.
    load_average: list[float] = Field(default_factory=list)


class SpeedFile(BaseModel):
    """The file ``reference/knobs-full/speed.json``."""

    model_config = _FILE
    SCHEMA: ClassVar[str] = "tradeoff.knob-speed/1"

    schema_: Literal["tradeoff.knob-speed/1"] = Field(SCHEMA, alias="schema")
    rows: tuple[SpeedRow, ...] = ()


def _speed_file(path: Path) -> SpeedFile:
    return read_reference(path, SpeedFile, "no knob speed rows", SPEED_FIX) if path.exists() \
        else SpeedFile()


def load_speed_reference(path: Path | str = SPEED_FILE) -> pd.DataFrame:
    """The measured rows as a DataFrame (empty, with the columns, when there are none).

    Raises:
        ReferenceFileError: the file exists but breaks its schema.
    """
    rows = _speed_file(Path(path)).rows
    return pd.DataFrame([r.model_dump() for r in rows], columns=list(SpeedRow.model_fields))


def write_speed_row(row: SpeedRow, path: Path | str = SPEED_FILE) -> None:
    """Add (or replace) one measured row, atomically: finished pairs are never lost."""
    path = Path(path)
    kept = [r for r in _speed_file(path).rows
            if (r.model, r.length, r.kind) != (row.model, row.length, row.kind)]
    write_reference_file(path, SpeedFile(rows=(*kept, row)))


# ------------------------------------------------------------------ reading and writing

File = TypeVar("File", bound=BaseModel)


def read_reference(path: Path | str, kind: type[File], missing: str, fix: str = "") -> File:
    """Read one reference file and validate it against its schema, the one way every kind is
    read.

    Args:
        path: the file; ``.yaml``/``.yml`` is read as YAML, anything else as JSON.
        kind: the file's model; its ``SCHEMA`` is the id the file's ``schema`` must hold.
        missing: what the file holds, for the error when it is absent ("no cost reference").
        fix: how to regenerate the file, appended to every error.

    Returns:
        The validated file.

    Raises:
        ReferenceFileError: one line: the file is missing, does not parse, names another
            schema, or breaks it (the first bad field, and how many errors in all).
    """
    path = Path(path)
    tail = f"; {fix}" if fix else ""
    if not path.is_file():
        raise ReferenceFileError(f"{missing} at {path}{tail}")
    is_yaml = path.suffix in (".yaml", ".yml")
    try:
        data = yaml.safe_load(path.read_text()) if is_yaml else json.loads(path.read_text())
    except (ValueError, yaml.YAMLError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ReferenceFileError(f"{path} is not {'YAML' if is_yaml else 'JSON'} ({first})"
                                 f"{tail}") from None
    found = data.get("schema") if isinstance(data, dict) else None
    if found != kind.SCHEMA:
        raise ReferenceFileError(f"{path}: schema {found!r}, expected {kind.SCHEMA!r}{tail}")
    try:
        return kind.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ReferenceFileError(f"{path}: {where + ': ' if where else ''}{first['msg']} "
                                 f"({len(err.errors())} error(s) in all){tail}") from None


def write_reference_file(path: Path | str, file: BaseModel) -> Path:
    """Write a validated reference file atomically, as indented JSON (one key a line)."""
    return write_atomically(path, json.dumps(file.model_dump(by_alias=True), indent=1) + "\n")
