"""Efficiency knobs: what a practitioner can turn besides model size and input length.

The paper varies only the model and the input length, in full fp32 precision and without
recomputation. A cell's ``variant`` turns one further knob from the efficient-NLP literature,
each through a kept library:

============================  ==================================================================
``none``                      the paper's setting (fp32, activations stored)
``bf16`` / ``fp16``           mixed precision, training and inference (Trainer's autocast flags;
                              ``torch.autocast`` around generation); fp16 needs a CUDA GPU
``grad-checkpointing``        recompute activations in backward (``gradient_checkpointing_enable``)
``int8-dynamic``              inference with the Linear layers dynamically quantized to int8
                              (``torch.ao.quantization.quantize_dynamic``; CPU kernels only)
``pruned-N``                  N % of the Linear weights zeroed by global magnitude pruning
                              (``torch.nn.utils.prune``) of the starting weights, kept zero through
                              the cell's fine-tuning, which is the recovery
``student``                   every other decoder layer of the model kept ("shrink and
                              fine-tune", initialised from the teacher's layers)
``lora``                      LoRA adapters on the attention projections, the rest frozen (``peft``)
============================  ==================================================================

One knob per cell; the same cell with ``variant: none`` is its reference. What a knob changed is
recorded (:func:`describe_variant`) from the model itself: the dtype activations ran in, the
quantized modules, the measured sparsity, the layers and the trainable parameters.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import ConfigError

NO_KNOB = "none"  # the variant of the paper's setting: no knob applied

_PRUNED = re.compile(r"pruned-(\d+)")
# The attention projections of LED (Longformer's query/key/value and their global copies in the
# encoder, BART's q/k/v_proj in the decoder) and of BigBird-Pegasus (the same names).
LORA_TARGETS = ["query", "key", "value", "query_global", "key_global", "value_global",
                "q_proj", "k_proj", "v_proj"]
LORA_RANK = 8
LORA_ALPHA = 16


@dataclass(frozen=True)
class Knob:
    """One efficiency knob: its name and what it acts on."""

    name: str
    summary: str
    acts_on: str  # "training", "inference" or "both"


KNOBS = {k.name: k for k in (
    Knob(NO_KNOB, "the paper's setting: fp32, activations stored", "both"),
    Knob("bf16", "bf16 mixed precision (autocast) in training and inference", "both"),
    Knob("fp16", "fp16 mixed precision (autocast, loss scaling) in training and inference", "both"),
    Knob("grad-checkpointing", "activations recomputed in backward instead of stored", "training"),
    Knob("int8-dynamic", "Linear layers dynamically quantized to int8 for inference", "inference"),
    Knob("student", "every other decoder layer kept, initialised from the teacher's", "both"),
    Knob("lora", f"LoRA adapters (rank {LORA_RANK}) on the attention projections, the rest "
         "frozen", "training"),
)}


def knob(variant: str) -> Knob:
    """The knob of a variant name, with one clear error for an unknown one.

    ``pruned-N`` takes any whole percentage 0 < N < 100.
    """
    if variant in KNOBS:
        return KNOBS[variant]
    match = _PRUNED.fullmatch(variant)
    if match and 0 < int(match.group(1)) < 100:
        return Knob(variant, f"{match.group(1)}% of the Linear weights pruned by global "
                    "magnitude, then fine-tuned with the mask fixed", "both")
    raise ConfigError(f"unknown variant '{variant}'; valid: {', '.join(KNOBS)}, "
                      "pruned-N (0 < N < 100, e.g. pruned-50)")


def prune_amount(variant: str) -> float | None:
    """The pruned fraction of a ``pruned-N`` variant (None for the others)."""
    match = _PRUNED.fullmatch(variant)
    return int(match.group(1)) / 100 if match else None


def check_machine(variant: str, use_cuda: bool | Callable[[], bool]) -> None:
    """Reject a knob this machine cannot run, before any compute.

    Args:
        variant: the knob.
        use_cuda: whether the model runs on a CUDA GPU, or a function that says so; it is
            called only for the knobs whose hardware matters (finding out imports torch).

    Raises:
        ConfigError: fp16 without a CUDA GPU (CPU autocast has no fp16 training path in the
            Trainer), or int8-dynamic where the model would run on a GPU (its kernels are CPU
            only).
    """
    knob(variant)

    def cuda() -> bool:
        return use_cuda() if callable(use_cuda) else use_cuda

    if variant == "fp16" and not cuda():
        raise ConfigError("variant 'fp16' needs a CUDA GPU (mixed-precision fp16 with loss "
                          "scaling); on a CPU use 'bf16'")
    if variant == "int8-dynamic" and cuda():
        raise ConfigError("variant 'int8-dynamic' runs torch.ao dynamic quantization, which has "
                          "CPU kernels only; run it with CUDA_VISIBLE_DEVICES='' on this machine")


def training_arguments(variant: str) -> dict:
    """The ``Seq2SeqTrainingArguments`` a knob sets (mixed precision, recomputation)."""
    return {"bf16": variant == "bf16", "fp16": variant == "fp16",
            **({"gradient_checkpointing": True} if variant == "grad-checkpointing" else {})}


def before_training(model, variant: str):
    """Turn a training-side knob on the freshly built model.

    Args:
        model: the model as built (pretrained checkpoint or random init).
        variant: the cell's variant.

    Returns:
        The model to fine-tune: the same object, or a ``peft`` model for ``lora``.
    """
    if variant == "student":
        shrink_decoder(model)
    elif variant == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=LORA_RANK, lora_alpha=LORA_ALPHA, lora_dropout=0.0,
                          target_modules=LORA_TARGETS, task_type="SEQ_2_SEQ_LM")
        model = get_peft_model(model, lora)
    elif (amount := prune_amount(variant)) is not None:
        from torch.nn.utils import prune

        prune.global_unstructured([(m, "weight") for m in _prunable(model)],
                                  pruning_method=prune.L1Unstructured, amount=amount)
    return model


def before_inference(model, variant: str):
    """Turn an inference-side knob on the fine-tuned model and make training-side ones final.

    LoRA adapters are merged into the weights (inference then costs what the base model
    costs) and pruning masks are made permanent; ``int8-dynamic`` quantizes the Linear layers.

    Returns:
        The model to evaluate and generate with.
    """
    if variant == "lora":
        model = model.merge_and_unload()
    elif prune_amount(variant) is not None:
        from torch.nn.utils import prune

        for module in _prunable(model):
            if prune.is_pruned(module):
                prune.remove(module, "weight")
    elif variant == "int8-dynamic":
        import torch
        from torch.ao.quantization import quantize_dynamic

        model = quantize_dynamic(model.cpu(), {torch.nn.Linear}, dtype=torch.qint8)
    return model


def inference_context(variant: str, device_type: str):
    """The autocast of a mixed-precision knob around validation and generation (else nothing)."""
    import torch

    if variant in ("bf16", "fp16"):
        dtype = torch.bfloat16 if variant == "bf16" else torch.float16
        return torch.autocast(device_type=device_type, dtype=dtype)
    return contextlib.nullcontext()


def _decoder_stack(model) -> tuple[object, str]:
    """The decoder and the name of its layer list: ``layers`` (BART-like), ``block`` (T5-like)."""
    decoder = model.get_decoder()
    return decoder, "layers" if hasattr(decoder, "layers") else "block"


def shrink_decoder(model) -> None:
    """Keep every other decoder layer (the first, third, ...): "shrink and fine-tune".

    The kept layers keep the teacher's weights (T5's first block, which holds the relative
    position bias, among them); the config's decoder depth follows.
    """
    import torch

    from .models import layer_counts, set_layer_counts

    decoder, name = _decoder_stack(model)
    kept = list(getattr(decoder, name))[::2]
    setattr(decoder, name, torch.nn.ModuleList(kept))
    # Attention modules index the key-value cache by their layer's position: renumber them.
    for index, layer in enumerate(kept):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = index
    set_layer_counts(model.config, layer_counts(model.config)[0], len(kept))


def _prunable(model) -> list:
    """The Linear layers global pruning ranks together; the output projection is tied to the
    embeddings and stays dense."""
    import torch

    head = model.get_output_embeddings()
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head]


def describe_variant(model, variant: str) -> dict:
    """What the knob changed, read from the model: the record's proof that it took effect."""
    import torch

    params = list(model.parameters())
    info = {"variant": variant,
            "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
            "decoder_layers": len(getattr(*_decoder_stack(model))),
            "int8_linear_layers": sum(1 for m in model.modules()
                                      if type(m).__module__.startswith("torch.ao.nn.quantized"))}
    linear = [m.weight for m in _prunable(model) if isinstance(getattr(m, "weight", None),
                                                               torch.Tensor)]
    if linear:
        zeros = sum(int((w == 0).sum()) for w in linear)
        info["linear_weight_sparsity"] = zeros / sum(w.numel() for w in linear)
    return info


def watch_logits_dtype(model) -> set[str]:
    """The dtypes of every logits tensor the model computes from now on.

    A forward hook on the output layer fills the returned set: the record's proof that a
    mixed-precision knob's autocast reached the model (``bfloat16``) or did not (``float32``).
    """
    seen: set[str] = set()

    def record(module, args, output):
        seen.add(str(output.dtype).removeprefix("torch."))

    model.get_output_embeddings().register_forward_hook(record)
    return seen
