"""Typed study configuration: one place for defaults, YAML profiles only override.

A *profile* (``params/<name>.yaml``) describes a whole grid: which datasets, models, input
lengths and seeds, plus the data source, the model scale and the training protocol. A *cell*
is one point of that grid. Everything that can change a cell's result is resolved once into a
frozen :class:`CellParams` (:meth:`Cell.resolve`): every consumer reads its attributes, the run
record stores its dump, and its :attr:`CellParams.digest` names the record, so a finished cell
is never redone and a changed setting never reuses a stale record.

The settings that change a result live in :class:`Settings`, shared by the profile and the
resolved cell; what only describes the grid (its name, datasets, models, lengths, seeds, results
folder) lives in :class:`Profile` alone. Whether a setting enters the hash therefore follows from
where it is declared, not from a list kept beside it.

Validation happens here, before any compute: unknown keys, wrong types, unknown datasets or
models and impossible lengths all raise :class:`ConfigError` with one clear line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Literal, NamedTuple

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError
from .knobs import NO_KNOB, knob
from .models import MINI_VOCAB_SIZE, PRESETS, check_length, check_scale
from .tasks import (
    Dataset,
    ModelName,
    COST_TARGET_TOKENS,
    DATASETS,
    DEFAULT_MAX_NEW_TOKENS,
    LENGTHS,
    MODELS,
    PAPER_EVAL_STEPS,
    SCROLLS_EPOCHS,
    SCROLLS_LEARNING_RATES,
    TASKS,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_DIR = REPO_ROOT / "params"
# Tokenizers, the offline Hugging Face cache and computed tables (cost model, ceilings).
CACHE_DIR = Path(os.environ.get("TRADEOFF_CACHE", REPO_ROOT / ".cache"))


# A model's display name ends up in record file names.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class Settings(BaseModel):
    """Every setting that can change a cell's result, with the paper's protocol as the default.

    Shared by :class:`Profile` (which adds the grid) and :class:`CellParams` (which adds the
    cell's coordinates and the resolved dataset-dependent values); all of it enters the hash.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Data.
    source: Literal["aclsum", "scrolls"] = Field(
        "scrolls", description="'scrolls' (official data) or 'aclsum' (offline stand-ins)")
    data_dir: str | None = Field(None, description="local SCROLLS zip or folder (offline use)")
    max_train_samples: int | None = Field(None, description="cap on training rows (None: all)")
    max_eval_samples: int | None = Field(None, description="cap on validation rows (None: all)")

    # Model.
    init: Literal["pretrained", "random"] = Field("pretrained", description="checkpoint or random weights")
    scale: Literal["full", "mini"] = Field("full", description="paper architecture or CPU-sized mini")
    vocab_size: int = Field(MINI_VOCAB_SIZE, description="BPE vocabulary trained for random-init models")

    # Training protocol (SCROLLS' LED baseline unless the paper says otherwise).
    batch_size: int | Literal["auto"] = Field(
        "auto", description="per-device batch; 'auto' finds the largest that fits (paper)")
    max_auto_batch_size: int = Field(64, description="upper bound for the batch-size finder")
    gpu_memory_gb: float | None = Field(
        None, description="cap on GPU memory, to emulate the paper's 48 GB A6000")
    gradient_accumulation_steps: int = Field(1, description="accumulation steps (paper's QA: 4)")
    max_steps: int | None = Field(None, description="cap on optimizer steps (None: no cap)")
    patience: int | None = Field(
        3, description="stop after N validations without improvement (None: fixed steps)")
    convergence_metric: Literal["task", "teacher-forced", "loss"] = Field(
        "task", description="validation signal for the convergence rule: the task metric of "
        "generated text (paper), the task metric of the argmax under teacher forcing (released "
        "code's compute_metrics), or the loss")
    warmup_ratio: float = Field(0.1, description="linear schedule warm-up fraction")
    weight_decay: float = Field(0.001, description="AdamW weight decay")
    adam_beta2: float = Field(0.98, description="AdamW beta2 (beta1 is 0.9)")
    adam_epsilon: float = Field(1e-6, description="AdamW epsilon")
    dropout: float = Field(0.1, description="dropout probability")
    max_target_length: int = Field(1024, description="target tokens kept for training")
    pad_targets: bool = Field(
        False, description="pad training targets to max_target_length (released code), not "
        "to the longest in the batch; the decoder then always runs max_target_length tokens")
    group_by_length: bool = Field(
        False, description="sample training batches with transformers' LengthGroupedSampler "
        "(released code); inputs are padded to the cell's length, so only the order changes")
    tf32: bool = Field(
        False, description="allow TF32 matmuls on Ampere and newer GPUs (torch 1.7-1.11's "
        "default, which the released code ran under); False keeps full fp32")
    measure_after_steps: int = Field(
        0, description="steps excluded from the steady-state throughput window (warm-up)")

    # Inference.
    infer_batch_size: int = Field(16, description="inference batch (paper: 16)")
    num_beams: int = Field(1, description="1 = greedy, as SCROLLS")
    generation_min_length: int = Field(
        0, description="generate(min_length=...): shortest output, decoder start token "
        "included (released code: 3)")
    no_repeat_ngram_size: int = Field(
        0, description="generate(no_repeat_ngram_size=...): 0 allows repeats (released code: 2)")
    fixed_generation_length: bool = Field(
        False, description="always generate max_new_tokens (random weights: comparable cost)")

    # Energy.
    sample_interval_s: float = Field(0.1, description="power/utilization sampling period")
    cpu_watts_per_core: float = Field(
        10.0, description="assumed W per busy core for the CPU-time estimate (no RAPL)")
    idle_baseline_s: float = Field(0.0, description="seconds of idle power measured per cell")



class Profile(Settings):
    """A study grid: which cells to run, and the settings they share."""

    name: str = Field("custom", description="profile name; names the results folder")
    description: str = Field("", description="one line shown in the book's banners")

    # The grid.
    datasets: list[Dataset] = Field(list(DATASETS), description="SCROLLS datasets to run")
    models: list[str] = Field(
        list(MODELS), description="models to compare: presets (tradeoff.models.PRESETS) or "
        "names of `checkpoints`")
    checkpoints: dict[str, str] = Field(
        {}, description="models by checkpoint, {display name: hub id or local folder with a "
        "config.json}; each cell hashes its checkpoint string")
    lengths: list[int] = Field(list(LENGTHS), description="input lengths (tokens)")
    seeds: list[int] = Field([0], description="random seeds; one cell per seed")
    variants: list[str] = Field(
        [NO_KNOB], description="efficiency knobs (tradeoff.knobs): 'none' is the paper's "
        "setting; bf16, fp16, grad-checkpointing, int8-dynamic, pruned-N, student, lora")
    results_dir: str | None = Field(None, description="where run records go (default results/<name>)")

    # Dataset- and length-dependent defaults, resolved per cell (see CellParams).
    learning_rate: float | None = Field(None, description="None: SCROLLS' rate for dataset/length")
    num_train_epochs: float | None = Field(None, description="None: SCROLLS' 10 (summ.) / 20 (QA)")
    eval_steps: int | None = Field(None, description="validate every N steps (None: paper's 500/10)")
    max_new_tokens: dict[str, int] = Field(
        dict(DEFAULT_MAX_NEW_TOKENS), description="greedy generation budget per dataset")

    # The paper's preliminary Qasper study: also run these accumulation steps for qasper.
    qasper_grad_accum_study: list[int] = Field(
        [], description="extra gradient-accumulation values for Qasper's batch-size effect")
    batch_study_model: ModelName = Field(
        "led-base", description="model of that study (the paper's preliminary study: LED-base)")

    # Where cells run when the grid goes through a scheduler (tradeoff.executors): resources
    # only, so they stay out of the hash, like the results folder; qa_gpus_per_cell is the
    # exception, resolved into each cell's `processes`.
    qa_gpus_per_cell: int = Field(
        1, ge=1, description="GPUs (data-parallel processes) per Qasper cell; summarization cells "
        "get one (the paper: 8 for Qasper). A cell's processes are part of its hash "
        "(CellParams.processes), since they change its effective batch")
    slurm_gpus: bool = Field(
        True, description="ask the scheduler for one GPU per process; false on a CPU-only "
        "cluster, whose cells then run on CPU cores")
    slurm_partition: str | None = Field(None, description="SLURM partition (None: the default)")
    slurm_time_min: int = Field(
        1440, ge=1, description="SLURM time limit per cell in minutes (a request, not an estimate)")
    slurm_mem_gb: int = Field(64, ge=1, description="SLURM host memory per cell, GB")
    slurm_cpus_per_gpu: int = Field(8, ge=1, description="CPU cores per GPU process")
    slurm_setup: list[str] = Field(
        [], description="shell lines run in the job before the cell (module load, activate)")
    slurm_additional: dict[str, str] = Field(
        {}, description="further #SBATCH options, e.g. {account: ..., qos: ...}")

    @field_validator("lengths")
    @classmethod
    def _positive_lengths(cls, lengths: list[int]) -> list[int]:
        bad = [n for n in lengths if n <= 0]
        if bad:
            raise ValueError(f"input lengths must be positive, got {bad}")
        return lengths

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, variants: list[str]) -> list[str]:

        for variant in variants:
            knob(variant)
        return variants

    @field_validator("checkpoints")
    @classmethod
    def _checkpoint_names(cls, checkpoints: dict[str, str]) -> dict[str, str]:

        for name, checkpoint in checkpoints.items():
            if name in PRESETS:
                raise ValueError(f"'{name}' is a preset; give the checkpoint another name")
            if not MODEL_NAME.fullmatch(name):
                raise ValueError(f"model name '{name}' names record files: use letters, digits, "
                                 f"'.', '-' and '_' only")
            if not checkpoint.strip():
                raise ValueError(f"model '{name}' has an empty checkpoint")
        return checkpoints

    @model_validator(mode="after")
    def _known_models(self) -> Profile:
        for model in self.models:
            check_model(model, self.checkpoints)
        return self

    @field_validator("max_new_tokens")
    @classmethod
    def _known_datasets(cls, table: dict[str, int]) -> dict[str, int]:
        unknown = set(table) - set(DATASETS)
        if unknown:
            raise ValueError(f"unknown dataset(s) {sorted(unknown)}; valid: {', '.join(DATASETS)}")
        return {**DEFAULT_MAX_NEW_TOKENS, **table}

    @property
    def results_path(self) -> Path:
        return Path(self.results_dir) if self.results_dir else Path("results") / self.name

    def cells(self) -> list[Cell]:
        """Expand the grid in a stable order: dataset, model, length, seed, accumulation, knob.

        The knobs other than ``none`` run at the profile's accumulation only, not in Qasper's
        batch-size study.
        """
        cells = []
        for dataset in self.datasets:
            for model in self.models:
                accums = [self.gradient_accumulation_steps]
                if dataset == "qasper" and model == self.batch_study_model:
                    accums += [a for a in self.qasper_grad_accum_study if a not in accums]
                for length in self.lengths:
                    for seed in self.seeds:
                        for accum in accums:
                            variants = (self.variants if accum == self.gradient_accumulation_steps
                                        else [NO_KNOB])
                            cells += [Cell(dataset, model, length, seed, accum, variant)
                                      for variant in variants]
        return cells


class Cell(NamedTuple):
    """One grid point. ``grad_accum`` varies only in Qasper's batch-size study; ``variant`` is
    the efficiency knob (:mod:`tradeoff.knobs`), ``none`` in the paper's grid."""

    dataset: str
    model: str
    length: int
    seed: int = 0
    grad_accum: int = 1
    variant: str = NO_KNOB

    @property
    def label(self) -> str:
        accum = f"-ga{self.grad_accum}" if self.grad_accum != 1 else ""
        knob = f"/{self.variant}" if self.variant != NO_KNOB else ""
        return f"{self.dataset}/{self.model}/L{self.length}/s{self.seed}{accum}{knob}"

    def resolve(self, profile: Profile) -> CellParams:
        """Everything that determines this cell's result, resolved once.

        Args:
            profile: the validated profile.

        Returns:
            The profile's settings with the cell's coordinates and the dataset-dependent
            defaults filled in: learning rate, epochs, validation interval and generation budget.

        Raises:
            ConfigError: an unknown dataset or model, or a length the model cannot take.
        """

        check_cell(self, profile.checkpoints)
        knob(self.variant)
        checkpoint = profile.checkpoints.get(self.model)
        check_scale(self.model, profile.scale, checkpoint)
        check_length(self.model, profile.scale, self.length, checkpoint)
        task = TASKS[self.dataset]
        settings = profile.model_dump(include=set(Settings.model_fields))
        return CellParams(
            **settings | {"gradient_accumulation_steps": self.grad_accum},
            dataset=self.dataset, model=self.model, length=self.length, seed=self.seed,
            variant=self.variant, task=task,
            checkpoint=checkpoint,
            # 0 is a rate (frozen weights), not "unset".
            learning_rate=profile.learning_rate if profile.learning_rate is not None
            else _nearest_anchor(SCROLLS_LEARNING_RATES[self.dataset], self.length),
            num_train_epochs=profile.num_train_epochs or SCROLLS_EPOCHS[task],
            eval_steps=profile.eval_steps or PAPER_EVAL_STEPS[task],
            max_new_tokens=profile.max_new_tokens[self.dataset],
            processes=profile.qa_gpus_per_cell if task == "qa" else 1,
        )


class CellParams(Settings):
    """The resolved parameters of one cell: what the pipeline reads and the record stores.

    Its dump is the record's ``params``; its :attr:`digest` names the record.
    """

    dataset: Dataset
    model: str
    checkpoint: str | None = None  # hub id or folder of a model by checkpoint; None: a preset
    length: int
    seed: int
    variant: str = NO_KNOB
    task: Literal["summarization", "qa"]
    learning_rate: float
    num_train_epochs: float
    eval_steps: int
    max_new_tokens: int
    # Data-parallel processes (one per GPU on a GPU machine): they multiply the effective batch.
    processes: int = Field(1, ge=1)

    @property
    def cell(self) -> Cell:
        return Cell(self.dataset, self.model, self.length, self.seed,
                    self.gradient_accumulation_steps, self.variant)

    @property
    def digest(self) -> str:
        """Short, stable hash of the parameters; names the run record."""
        # A preset's checkpoint follows from its name, which is hashed: leaving the empty field
        # out keeps the names of the records made before models could be named by checkpoint.
        exclude = {"checkpoint"} if self.checkpoint is None else set()
        # Likewise one process, the only count before the processes entered the hash.
        exclude |= {"processes"} if self.processes == 1 else set()
        blob = json.dumps(self.model_dump(exclude=exclude), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def record_name(self) -> str:
        """The record's file name: readable coordinates plus the hash."""
        accum = self.gradient_accumulation_steps
        return (f"{self.dataset}_{self.model}_L{self.length}_s{self.seed}"
                f"{'_ga' + str(accum) if accum != 1 else ''}"
                f"{'_' + self.variant if self.variant != NO_KNOB else ''}"
                f"{'_dp' + str(self.processes) if self.processes != 1 else ''}_{self.digest}.json")


def _nearest_anchor(table: dict[int, float], length: int) -> float:
    anchor = min(table, key=lambda a: (abs(a - length), a))
    return table[anchor]


def load_profile(name_or_path: str | Path, **overrides) -> Profile:
    """Load a profile from ``params/<name>.yaml`` (or a path) and apply overrides.

    Args:
        name_or_path: a profile name in ``params/`` or a path to a YAML file.
        **overrides: settings that win over the file (e.g. ``results_dir``); ``None`` is ignored.

    Returns:
        The validated profile.

    Raises:
        ConfigError: the file is missing, or a key is unknown or of the wrong type.
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PARAMS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PARAMS_DIR.glob("*.yaml")))
        raise ConfigError(f"profile '{name_or_path}' not found (looked for {path}); known: {known}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a profile must be a mapping of settings")
    raw.setdefault("name", path.stem)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return validate_profile(raw, origin=str(path))


def validate_profile(raw: dict, origin: str = "profile") -> Profile:
    """Validate a mapping of settings into a :class:`Profile`, one clear line per error."""
    try:
        return Profile.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'profile'}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{origin}: {problems}") from None


def cost_target_tokens(dataset: str) -> int:
    """The cost model's target and generated tokens for a dataset (:data:`COST_TARGET_TOKENS`).

    Args:
        dataset: a SCROLLS dataset name.

    Returns:
        Its mean reference length in words, rounded up: a lower bound on its subword tokens.

    Raises:
        ConfigError: an unknown dataset.
    """
    try:
        return COST_TARGET_TOKENS[dataset]
    except KeyError:
        raise ConfigError(f"unknown dataset '{dataset}'; valid: {', '.join(DATASETS)}") from None


def check_cell(cell: Cell, checkpoints: dict[str, str] | None = None) -> None:
    """Reject an unknown dataset or model with one clear line (lengths are checked per model)."""
    if cell.dataset not in DATASETS:
        raise ConfigError(f"unknown dataset '{cell.dataset}'; valid: {', '.join(DATASETS)}")
    check_model(cell.model, checkpoints or {})


def check_model(model: str, checkpoints: dict[str, str]) -> None:
    """A model is a preset or a name of the profile's ``checkpoints``; else one clear line."""

    if model not in PRESETS and model not in checkpoints:
        named = f"; by checkpoint: {', '.join(checkpoints)}" if checkpoints else ""
        raise ConfigError(f"unknown model '{model}'; valid: {', '.join(PRESETS)}{named} (name "
                          f"other models in the profile's `checkpoints`)")
