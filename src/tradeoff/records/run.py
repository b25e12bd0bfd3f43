"""Run records: one JSON per grid cell, written atomically, validated on load.

A record carries everything a chapter needs to draw a figure and everything a reader needs to
trace a number back: the resolved parameters (whose hash names the file), accuracy, efficiency
with its energy method, the batch actually used, decimated traces, the environment, and a status
(``ok``, ``oom`` or ``failed`` with the reason), so a failed cell is shown, not dropped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_serializer

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
    def from_windows(cls, train, steady, training: TrainSummary, infer, n_inferred: int,
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
        train_speed = _per(training.samples_trained, train.time_s)
        steady_samples = (training.steady_steps or 0) * training.effective_batch_size
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


# --------------------------------------------------------------------------- the record's parts
#
# Each part of a record is typed below. Fields that a record may lack default to None (a number),
# "" (a text) or [] (a list): a failed cell's record holds empty parts ({}; ``train`` holds only
# the traceback), and a model's description has its own family's keys only. A part dumps the
# keys it was given and no others (:class:`_Section`), so a record reads and writes back key for
# key what the untyped dicts held; old records load unchanged (tests/test_records.py loads
# every committed one).
#
# Unknown keys: every part but the environment is closed (extra="forbid"): this code alone
# writes it, so an unknown key is a writer's typo, caught where the record is built rather than
# left as a silent gap in the book. The environment is open (EnvInfo says why).


class _Section(BaseModel):
    """A record part that writes back only the keys it was given (by its writer or its file).

    Pydantic would dump every field, defaults included; a failed cell's ``{}`` would come back
    as a dict of nulls. Dumping the set fields keeps the files as they were.
    """

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _given_keys_only(self, handler):
        given = self.model_fields_set | set(self.model_extra or {})
        return {key: value for key, value in handler(self).items() if key in given}

    @property
    def recorded(self) -> bool:
        """Whether the record holds this part at all (False for a failed cell's empty part)."""
        return bool(self.model_fields_set or self.model_extra)


class TrainSummary(_Section):
    """What fine-tuning did (:func:`tradeoff.train.summarize_training`).

    Closed (``extra="forbid"``): the summary is this code's own; a misspelt key is an error
    where it is written, not a silent gap in the book.
    """

    batch_size: int | None = None  # per device and step, as the batch finder settled it
    gradient_accumulation_steps: int | None = None
    world_size: int | None = None  # training processes
    effective_batch_size: int | None = None  # samples per optimizer step, all processes
    steps: int | None = None  # optimizer steps taken
    epochs: float | None = None  # passes over the training split (fractional)
    samples_trained: int | None = None  # steps x effective_batch_size
    trainer_samples_per_s: float | None = None  # HF Trainer's own figure (samples/s)
    trainer_runtime_s: float | None = None  # HF Trainer's own runtime (s)
    best_step: int | None = None  # step of the kept checkpoint; None without early stopping
    best_metric: float | None = None  # its validation metric, in the metric's units
    stopped_early: bool | None = None
    steady_steps: int | None = None  # optimizer steps in the "steady" window (after warm-up)
    step_times_s: list[float] = []  # wall time of each optimizer step (s)
    # HF Trainer's log entries with a loss (train or eval): "loss", "eval_loss", "step",
    # "epoch", "learning_rate", the eval metrics...; numbers only, null where NaN.
    log_history: list[dict[str, float | None]] = []
    max_memory_allocated_gib: float | None = None  # torch's allocator peak (GiB); None on CPU
    traceback: str = ""  # a failed cell's only key: where it failed


class TeacherForcedPass(BaseModel):
    """The teacher-forced validation (energy window ``teacher_forced``): one forward pass per
    validation row, as the released code evaluated."""

    model_config = ConfigDict(extra="forbid")

    rows: int  # validation rows (one per reference)
    batch_size: int
    time_s: float  # the window's wall time (s)


class Example(BaseModel):
    """One generated prediction beside its input and references, shown on the lab pages."""

    model_config = ConfigDict(extra="forbid")

    input: str  # the input's first 400 characters
    references: list[str]  # its first three references
    prediction: str


class InferenceSummary(_Section):
    """The generation pass over the validation inputs (energy window ``inference``).

    Closed: this code's own summary, as :class:`TrainSummary`.
    """

    samples: int | None = None  # validation inputs generated for (one per id)
    batch_size: int | None = None
    max_new_tokens: int | None = None  # the generation limit (tokens)
    generated_tokens: int | None = None  # tokens generated in all (all samples)
    teacher_forced: TeacherForcedPass | None = None
    examples: list[Example] = []  # the first three predictions


class KnobEffect(_Section):
    """What a knob changed, read from the model (:func:`tradeoff.knobs.describe_variant`): the
    record's proof that it took effect. Closed: written by this code only."""

    variant: str = ""
    trainable_parameters: int | None = None
    decoder_layers: int | None = None
    int8_linear_layers: int | None = None  # Linear layers quantized to int8
    linear_weight_sparsity: float | None = None  # share of zero weights (0-1); absent: no Linear
    logits_dtype: list[str] = []  # dtypes the output layer's logits ran in ("float32", ...)


class KnobInfo(BaseModel):
    """The knob's effect on the model as trained and as used for inference (after
    :func:`tradeoff.knobs.before_inference`)."""

    model_config = ConfigDict(extra="forbid")

    training: KnobEffect = KnobEffect()
    inference: KnobEffect = KnobEffect()


class ModelInfo(_Section):
    """What actually ran (:func:`tradeoff.models.describe_model`): architecture, size, attention
    and padding, and the knob's effect.

    Closed: each family's keys are declared here (the attention fields below say whose), so a
    new family adds its keys to this one schema.
    """

    preset: str = ""
    checkpoint: str = ""  # hub id or folder the architecture (and weights, by checkpoint) came from
    by_checkpoint: bool | None = None  # named by checkpoint rather than by preset
    model_type: str = ""  # the HF config's model_type ("led", "bigbird_pegasus", ...)
    init: str = ""  # "random" or "pretrained"
    scale: str = ""  # "mini" or "full"
    parameters: int | None = None  # all parameters, trainable or not
    d_model: int | None = None
    encoder_layers: int | None = None
    decoder_layers: int | None = None
    vocab_size: int | None = None
    position_limit: int | None = None  # longest input (tokens); None for relative positions
    attention: str = ""  # the attention pattern, in words or as the config names it
    local_radius: int | None = None  # LongT5 (tokens)
    global_block_size: int | None = None  # LongT5 (tokens)
    block_size: int | None = None  # Pegasus-X, BigBird (tokens)
    num_global_tokens: int | None = None  # Pegasus-X
    stagger_local_blocks: bool | None = None  # Pegasus-X
    num_random_blocks: int | None = None  # BigBird
    full_attention_at_or_below: int | None = None  # BigBird: full attention up to (tokens)
    attention_window: int | None = None  # LED (tokens)
    pads_inputs_to_multiple_of: int | None = None  # LED, BigBird (tokens)
    attention_types_ran: list[str] = []  # BigBird: the attention its encoder actually ran
    knob: KnobInfo | None = None


class DataInfo(_Section):
    """Where the rows came from (:func:`tradeoff.data.describe_source`) and how many there were.

    Closed: this code's own description of its data.
    """

    dataset: str = ""
    scrolls_name: str = ""  # the SCROLLS config ("gov_report", ...)
    task: str = ""  # "summarization" or "qa"
    source: str = ""  # "scrolls" or "aclsum"
    stand_in: bool | None = None  # rows of a stand-in, not the SCROLLS data
    description: str = ""  # one sentence, for the book
    origin: str = ""  # URL or package
    train_rows: int | None = None
    validation_rows: int | None = None  # one per reference
    validation_ids: int | None = None  # distinct validation inputs (generated for)


class EnvInfo(_Section):
    """The machine and software a cell ran on (:func:`tradeoff.env.describe_environment`).

    Open (``extra="allow"``): what a machine can tell depends on it (the GPU keys need CUDA)
    and the library list grows (one ``version_<package>`` key each, kept as an extra key: the
    names are package names, hyphens included); a record written by a newer checkout, with a
    fact this code does not name, must still load for the book.
    """

    model_config = ConfigDict(extra="allow")

    hostname: str | None = None
    platform: str | None = None
    python: str | None = None
    cpu: str | None = None  # CPU model name
    cpu_cores: int | None = None  # os.cpu_count()
    gpu: str | None = None  # the first GPU's name; "none" without CUDA
    gpu_count: int | None = None
    git_commit: str | None = None  # short hash, "+dirty" when the tree had changes
    cuda: str | None = None  # torch's CUDA version; "none"
    gpu_memory_gib: float | None = None  # the first GPU's memory (GiB)
    # The machine's load average when the cell ended (1, 5 and 15 min): on a shared machine,
    # whether other work ran beside the measured windows.
    load_average: list[float] = []

    @property
    def hardware(self) -> str:
        """A short label, e.g. ``'1 x NVIDIA H100'`` or ``'CPU only: 2 cores (Intel Xeon ...)'``."""
        if self.gpu_count:
            return f"{self.gpu_count} x {self.gpu}"
        return f"CPU only: {self.cpu_cores} cores ({self.cpu})"


def hardware_label(env: dict) -> str:
    """:attr:`EnvInfo.hardware` of an environment dict (:func:`tradeoff.env.describe_environment`,
    a ceiling record's ``env``), e.g. ``'1 x NVIDIA H100'``."""
    return EnvInfo.model_validate(env).hardware


class EnergyWindow(BaseModel):
    """One energy window as measured (:meth:`tradeoff.energy.Measurement.to_dict`): the raw
    numbers the :class:`Efficiency` measures derive from; null where a part was not measured.

    Closed: the meter's own fields; a window is always written whole.
    """

    model_config = ConfigDict(extra="forbid")

    key: str  # the window's name
    time_s: float | None
    gpu_energy_j: dict[int, float | None]  # per GPU, by framework index (J); {} without a GPU
    cpu_energy_j: float | None  # RAPL packages + DRAM, or the CPU-time estimate (J)
    gpu_method: str
    cpu_method: str
    reason: str  # why a part is missing or estimated; "" when all was measured
    idle_gpu_power_w: float | None  # idle baseline (W)
    idle_cpu_power_w: float | None
    total_gpu_energy_j: float | None  # summed over GPUs (J)
    total_energy_j: float | None  # GPU + CPU, over the parts measured (J)
    avg_gpu_power_w: float | None
    avg_power_w: float | None
    energy_kwh: float | None  # total_energy_j in kWh
    idle_subtracted_energy_j: float | None  # total_energy_j less idle power x time (J)
    method: str  # gpu_method and cpu_method joined, e.g. "nvml-counter+rapl"


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
    # Each energy window by name ("train", "steady", "inference", "teacher_forced").
    measurements: dict[str, EnergyWindow] = {}
    energy_method: str = "none"
    energy_reason: str = ""
    train: TrainSummary = TrainSummary()
    inference: InferenceSummary = InferenceSummary()
    model: ModelInfo = ModelInfo()
    data: DataInfo = DataInfo()
    # Decimated meter traces by window ("train", "inference"): rows of "t_s" and the sampled
    # columns ("gpu0_power_w", "cpu_util_pct", ...), which depend on the hardware.
    traces: dict[str, list[dict[str, float | None]]] = {}
    env: EnvInfo = EnvInfo()
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
