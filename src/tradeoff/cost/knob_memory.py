"""The memory knobs on the paper's full architectures: counted bytes per sample and batch fit.

Gradient checkpointing, bf16 autocast and LoRA change what training holds in memory, and that
does not depend on trained weights, so it is counted here on the *full* LED-base, LED-large and
BigBird-Pegasus-large with the cost model's instruments (:mod:`.instruments`):

* **Saved activations** per sample: the bytes autograd keeps for backward at the end of a
  training forward pass (``saved_tensors_hooks``, once per storage, parameters excluded, dropout
  masks at the GPU's 1 byte), at encoder/decoder depths (1, 1), (2, 1) and (1, 2) and
  extrapolated per layer by the architectures' own extrapolation
  (:func:`tradeoff.cost.depth.extrapolate`); plus the output logits, alive until backward ends.
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

The largest batch is the architectures' memory model
(:func:`tradeoff.records.reference.max_batch`) with its known error sources (allocator,
workspaces, temporary peaks), all of which make the real batch smaller. Counts take a few
minutes, so the rows are committed in ``reference/knobs-full/memory.json``
(:data:`tradeoff.records.reference.MEMORY_FILE`, written by :func:`update_memory_reference`)
and the book reads them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from .. import knobs
from ..models import MINI_VOCAB_SIZE, build_config, guard_block_sparse, is_led, layer_counts
from ..records.reference import (
    MEMORY_FILE,
    MEMORY_FIX,
    TRAIN_STATE_BYTES_PER_PARAM,
    KnobMemoryRow,
    MemoryFile,
    max_batch,
    read_reference,
    write_reference_file,
)
from ..tasks import CARDS_GB, GIB, MODELS
from .depth import (
    DEPTHS,
    build_counting_model,
    depth_config,
    extrapolate,
    random_inputs,
)
from .instruments import gpu_dropout, saved_tensor_bytes

log = logging.getLogger(__name__)

MEMORY_KNOBS = ("none", "grad-checkpointing", "bf16", "lora")
MEMORY_LENGTHS = (1024, 4096)
# Training state per parameter: fp32 weights, gradients and two AdamW moments (as without a
# knob); bf16 autocast adds its cached bf16 weight copies (2 bytes); a frozen LoRA base keeps
# its fp32 weights only.
STATE_BYTES = {"none": TRAIN_STATE_BYTES_PER_PARAM,
               "grad-checkpointing": TRAIN_STATE_BYTES_PER_PARAM,
               "bf16": TRAIN_STATE_BYTES_PER_PARAM + 2}
FROZEN_BYTES, TRAINABLE_BYTES = 4, TRAIN_STATE_BYTES_PER_PARAM


def _saved(model_name: str, variant: str, depth: tuple[int, int], length: int,
           target_length: int, dropout: float, scale: str) -> tuple[int, int, int, int]:
    """(saved bytes, logits bytes, parameters, trainable parameters) of one build at a depth."""
    import torch

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
                          for d in DEPTHS}

                def full(i: int) -> int:
                    return extrapolate({d: c[i] for d, c in counts.items()}, *layers)

                saved, full_params, trainable = full(0), full(2), full(3)
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
                            lengths: Sequence[int] = MEMORY_LENGTHS,
                            path: Path | str = MEMORY_FILE) -> None:
    """Count the rows of each model and length that the reference lacks, and add them.

    The file is rewritten (atomically) after each model and length, so an interrupted run
    keeps what it finished and a rerun counts only the rest.
    """
    import torch
    import transformers
    from tqdm.auto import tqdm

    path = Path(path)
    bar = tqdm([(m, n) for m in models for n in lengths], desc="knob memory", unit="cell")
    for model, length in bar:
        bar.set_postfix_str(f"{model} L{length}")
        kept = read_reference(path, MemoryFile, "", MEMORY_FIX).rows if path.exists() else ()
        here = [r for r in kept if (r.model, r.length) == (model, length)]
        if {r.variant for r in here} >= set(MEMORY_KNOBS):
            continue
        rows = (*[r for r in kept if (r.model, r.length) != (model, length)],
                *memory_rows([model], [length]))
        write_reference_file(path, MemoryFile(
            written=datetime.now(UTC).isoformat(timespec="seconds"),
            torch=torch.__version__, transformers=transformers.__version__, rows=rows))
