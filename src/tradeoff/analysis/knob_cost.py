"""The memory knobs on the paper's full architectures: counted bytes per sample and batch fit.

Gradient checkpointing, bf16 autocast and LoRA change what training holds in memory, and that
does not depend on trained weights, so it is counted here on the *full* LED-base, LED-large and
BigBird-Pegasus-large with the cost model's tools (:mod:`tradeoff.analysis.cost`):

* **Saved activations** per sample: the bytes autograd keeps for backward at the end of a
  training forward pass (``saved_tensors_hooks``, once per storage, parameters excluded, dropout
  masks at the GPU's 1 byte), at encoder/decoder depths (1, 1), (2, 1) and (1, 2) and
  extrapolated linearly per layer, as the cost model does; plus the output logits, alive until
  backward ends.
* **Checkpointing** keeps only each layer's input; backward then recomputes one layer at a
  time, so its peak adds the largest single layer's activations (from the same count without
  the knob) to what the forward kept.
* **bf16** is counted under ``torch.autocast("cpu", torch.bfloat16)``: the matmul family runs
  and saves in bf16, the rest stays fp32 (CUDA's autocast casts the same matmul family). Its
  state is fp32 weights, gradients and AdamW moments as without it, plus the bf16 copies of the
  weights that autocast caches for the step: 18 bytes a parameter.
* **LoRA** (``peft``, rank :data:`tradeoff.knobs.LORA_RANK` on the attention projections): the
  frozen weights are 4 bytes a parameter; only the adapters carry gradients and AdamW moments
  (16 bytes a parameter). Frozen layers still save the activations that the adapters' and the
  inputs' gradients need, and the count sees exactly those.

The largest batch is ``(memory - state) // per_sample`` (:func:`max_batch`), with the cost
model's known error sources (allocator, workspaces, temporary peaks), all of which make the real
batch smaller. Counts take a few minutes, so the rows are committed in
``reference/knobs-full/memory.json`` (:data:`MEMORY_REFERENCE`, written by
:func:`update_memory_reference`) and the book reads them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..config import REPO_ROOT
from ..tasks import CARDS_GB, GIB, MODELS
from ..records import write_atomically
from .cost import MINI_VOCAB_SIZE

log = logging.getLogger(__name__)

MEMORY_KNOBS = ("none", "grad-checkpointing", "bf16", "lora")
MEMORY_LENGTHS = (1024, 4096)
MEMORY_REFERENCE = REPO_ROOT / "reference" / "knobs-full" / "memory.json"
MEMORY_SCHEMA = "tradeoff.knob-memory/1"
# Training state per parameter: fp32 weights, gradients and two AdamW moments (16 bytes);
# bf16 autocast adds its cached bf16 weight copies (2 bytes); a frozen LoRA base keeps 4.
STATE_BYTES = {"none": 16, "grad-checkpointing": 16, "bf16": 18}
FROZEN_BYTES, TRAINABLE_BYTES = 4, 16


@dataclass(frozen=True)
class KnobMemoryRow:
    """One model x length x knob: counted bytes of one training sample and the batch that fits."""

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


def max_batch(state_bytes: int, per_sample_bytes: int, memory_gb: float) -> int:
    """Largest batch whose training memory fits ``memory_gb`` GiB (0 when none does)."""
    free = memory_gb * GIB - state_bytes
    return int(free // per_sample_bytes) if free > 0 and per_sample_bytes > 0 else 0


def _saved(model_name: str, variant: str, depth: tuple[int, int], length: int,
           target_length: int, dropout: float, scale: str) -> tuple[int, int, int, int]:
    """(saved bytes, logits bytes, parameters, trainable parameters) of one build at a depth."""
    import contextlib

    import torch

    from .. import knobs
    from ..models import guard_block_sparse, is_led
    from .cost import (build_counting_model, depth_config, gpu_dropout, random_inputs,
                       saved_tensor_bytes)

    config = depth_config(model_name, scale, *depth, dropout, vocab_size=MINI_VOCAB_SIZE)
    model = build_counting_model(config)
    if not is_led(model_name):
        guard_block_sparse(model)
    if variant == "grad-checkpointing":
        model.gradient_checkpointing_enable()
    model = knobs.before_training(model, variant)
    model.train()
    inputs, labels = random_inputs(model_name, config, length, target_length)
    autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if variant == "bf16"
                else contextlib.nullcontext())
    with gpu_dropout(), autocast:
        output, nbytes = saved_tensor_bytes(lambda: model(**inputs, labels=labels),
                                            exclude=(*model.parameters(), *model.buffers()))
    logits = output.logits.untyped_storage().nbytes()
    params = list(model.parameters())
    return (nbytes, logits, sum(p.numel() for p in params),
            sum(p.numel() for p in params if p.requires_grad))


def _extrapolate(counts: dict[tuple[int, int], int], layers: tuple[int, int]) -> int:
    base = counts[(1, 1)]
    return (base + (layers[0] - 1) * (counts[(2, 1)] - base)
            + (layers[1] - 1) * (counts[(1, 2)] - base))


def memory_rows(models: Sequence[str] = MODELS, lengths: Sequence[int] = MEMORY_LENGTHS,
                variants: Sequence[str] = MEMORY_KNOBS, target_length: int = 1024,
                dropout: float = 0.1, scale: str = "full") -> list[KnobMemoryRow]:
    """Count each memory knob on each full architecture and length.

    Args:
        models: presets.
        lengths: input lengths.
        variants: knobs among :data:`MEMORY_KNOBS`.
        target_length: target tokens of the training sample (the paper's 1024).
        dropout: dropout probability (the paper's 0.1).
        scale: "full" (the paper's architectures) or "mini" (the tests').

    Returns:
        One row per model x length x knob.
    """
    from .. import knobs
    from ..models import build_config, layer_counts

    for variant in variants:
        if variant not in MEMORY_KNOBS:
            knobs.knob(variant)  # an unknown name: the knob's own error
            raise ValueError(f"'{variant}' is not a memory knob; counted: {', '.join(MEMORY_KNOBS)}")
    rows = []
    for model in models:
        layers = layer_counts(build_config(model, scale, vocab_size=MINI_VOCAB_SIZE))
        for length in lengths:
            plain_layers = None
            for variant in ("none", *[v for v in variants if v != "none"]):
                counts = {d: _saved(model, variant, d, length, target_length, dropout, scale)
                          for d in ((1, 1), (2, 1), (1, 2))}
                saved = _extrapolate({d: c[0] for d, c in counts.items()}, layers)
                full_params = _extrapolate({d: c[2] for d, c in counts.items()}, layers)
                trainable = _extrapolate({d: c[3] for d, c in counts.items()}, layers)
                logits = counts[(1, 1)][1]
                per_layer = {d: c[0] - counts[(1, 1)][0] for d, c in counts.items()}
                if variant == "none":
                    plain_layers = max(per_layer[(2, 1)], per_layer[(1, 2)])
                peak = plain_layers if variant == "grad-checkpointing" else 0
                if variant == "lora":
                    state = FROZEN_BYTES * (full_params - trainable) + TRAINABLE_BYTES * trainable
                else:
                    state = STATE_BYTES[variant] * full_params
                per_sample = saved + peak + logits
                if variant in variants:
                    rows.append(KnobMemoryRow(
                        model=model, length=length, variant=variant, target_length=target_length,
                        parameters=full_params, trainable_parameters=trainable,
                        state_bytes=state, saved_bytes_per_sample=saved,
                        recompute_peak_bytes=peak, logits_bytes=logits,
                        memory_per_sample_bytes=per_sample,
                        **{f"max_batch_{card}": max_batch(state, per_sample, gb)
                           for card, gb in CARDS_GB.items()},
                        method=f"saved_tensors_hooks at depths (1,1), (2,1), (1,2), extrapolated "
                               f"to {layers[0]}+{layers[1]} layers"))
                log.info("%s L%d %s: %.2f GiB a sample", model, length, variant, per_sample / GIB)
    return rows


def update_memory_reference(models: Sequence[str] = MODELS,
                            lengths: Sequence[int] = MEMORY_LENGTHS, path=MEMORY_REFERENCE) -> None:
    """Count the rows of each model and length that the reference lacks, and add them.

    The file is rewritten (atomically) after each model and length, so an interrupted run
    keeps what it finished and a rerun counts only the rest.
    """
    import torch
    import transformers
    from tqdm.auto import tqdm

    bar = tqdm([(m, n) for m in models for n in lengths], desc="knob memory", unit="cell")
    for model, length in bar:
        bar.set_postfix_str(f"{model} L{length}")
        kept = load_memory_reference(path)
        have = kept[(kept["model"] == model) & (kept["length"] == length)]
        if set(have["variant"]) >= set(MEMORY_KNOBS):
            continue
        rows = [*kept[(kept["model"] != model) | (kept["length"] != length)].to_dict("records"),
                *map(dataclasses.asdict, memory_rows([model], [length]))]
        payload = {"schema": MEMORY_SCHEMA,
                   "written": datetime.now(UTC).isoformat(timespec="seconds"),
                   "torch": torch.__version__, "transformers": transformers.__version__,
                   "rows": rows}
        write_atomically(path, json.dumps(payload, indent=1) + "\n")


def load_memory_reference(path=MEMORY_REFERENCE):
    """The committed rows as a DataFrame (empty, with the columns, when there are none)."""
    import pandas as pd

    columns = [f.name for f in dataclasses.fields(KnobMemoryRow)]
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        return pd.DataFrame(columns=columns)
    if payload.get("schema") != MEMORY_SCHEMA:
        raise ValueError(f"{path}: schema {payload.get('schema')!r}, expected {MEMORY_SCHEMA}")
    frame = pd.DataFrame(payload["rows"], columns=columns)
    frame.attrs |= {k: payload[k] for k in ("written", "torch", "transformers")}
    return frame


# ------------------------------------------------------------------------- measured speed

SPEED_REFERENCE = REPO_ROOT / "reference" / "knobs-full" / "speed.json"
SPEED_SCHEMA = "tradeoff.knob-speed/1"


@dataclass(frozen=True)
class SpeedRow:
    """A knob's measured time against its baseline's on one full architecture, in one process.

    Written by ``benchmarks/knob_speed.py``: each arm warmed up once, then A-B-B-A blocks;
    ``ratio`` is the knob's median time over the baseline's (below 1: the knob is faster).
    """

    model: str
    length: int
    kind: str  # "inference" (greedy generation) or "train" (one AdamW step)
    baseline: str
    variant: str
    baseline_s: list[float]
    variant_s: list[float]
    ratio: float
    new_tokens: int
    target_length: int
    threads: int
    env: dict
    # The machine's 1-minute load average at the pair's start and end (os.getloadavg): on a
    # shared machine, how much else ran; above the core count, the arms shared the cores.
    load_average: list[float] = dataclasses.field(default_factory=list)


def load_speed_reference(path=SPEED_REFERENCE):
    """The measured rows as a DataFrame (empty, with the columns, when there are none)."""
    import pandas as pd

    columns = [f.name for f in dataclasses.fields(SpeedRow)]
    if not path.exists():
        return pd.DataFrame(columns=columns)
    payload = json.loads(path.read_text())
    if payload.get("schema") != SPEED_SCHEMA:
        raise ValueError(f"{path}: schema {payload.get('schema')!r}, expected {SPEED_SCHEMA}")
    return pd.DataFrame(payload["rows"], columns=columns)


def write_speed_row(row: SpeedRow, path=SPEED_REFERENCE) -> None:
    """Add (or replace) one measured row, atomically: finished pairs are never lost."""
    rows = [r for r in load_speed_reference(path).to_dict("records")
            if (r["model"], r["length"], r["kind"]) != (row.model, row.length, row.kind)]
    rows.append(dataclasses.asdict(row))
    write_atomically(path, json.dumps({"schema": SPEED_SCHEMA, "rows": rows}, indent=1) + "\n")
