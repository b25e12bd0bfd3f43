"""Cost model of the paper's full architectures: counted FLOPs, saved activations and batch fit.

Everything here is counted on this machine's CPU from random-init models of the exact
architectures (``tradeoff.models.PRESETS``: the paper's three, and BART, LongT5 and Pegasus-X,
which it did not study); no weights, data or GPU are needed, and nothing is derived by hand:

* **FLOPs** come from ``torch.utils.flop_counter.FlopCounterMode`` run on real tensors. It counts
  matmul-like ops only (``mm``, ``addmm``, ``bmm``, ``baddbmm``, convolutions and the attention
  kernels it has a formula for), at 2 FLOPs per multiply-add; softmax, layer norm, GELU, dropout,
  the loss and the optimizer step are not counted. It has no formula for the CPU fused attention
  kernel (``aten._scaled_dot_product_flash_attention_for_cpu``), which would count as 0 without a
  warning, so models are built with ``attn_implementation="eager"`` and a guard raises if an
  attention kernel without a formula runs anyway.
* **Saved activations** are the bytes autograd keeps for backward at the end of a training
  forward pass, seen through ``torch.autograd.graph.saved_tensors_hooks``, deduplicated by storage
  (block-sparse attention saves many views of one storage) and excluding parameters and buffers
  (weights are counted separately, in the 16 bytes a parameter below). Dropout masks are included
  when the dropout is above 0, at the size CUDA saves them: on a GPU, ``dropout`` runs the fused
  ``native_dropout`` kernel and saves a 1-byte bool mask, while on a CPU it multiplies by a
  4-byte float noise tensor and saves that; counts run dropout through ``native_dropout`` so
  the bytes are the GPU's (see ``gpu_dropout``).
* **Depth**: full depth at 4096 tokens is slow on a CPU, so each number is counted at
  (encoder, decoder) depths (1, 1), (2, 1) and (1, 2) and extrapolated:
  ``total = c(1,1) + (E - 1) * [c(2,1) - c(1,1)] + (D - 1) * [c(1,2) - c(1,1)]``. The layers of a
  model are identical, so this is exact (``extrapolation_check`` compares it with a full-depth
  count); the ``method`` field of each row says how it was obtained.
* **Attention share**: FLOPs inside the self- and cross-attention modules (``self_attn``,
  ``encoder_attn``; with and without their Linear projections) over the training forward's
  FLOPs, and over the inference FLOPs. Read from the forward only: the counter attributes
  backward FLOPs to modules unreliably (see ``_group_flops``); a training step here is 3x its
  forward in the counts.
* **Batch fit**: see ``max_batch`` for the memory model and its known error sources.

Counts are cached under ``.cache/cost/`` keyed by a hash of everything that changes them, so
later readers recompute nothing.

**Reference data.** A cold count of the twelve full-architecture cells takes about half an hour
on a 2-core CPU, too long for ``make book``; the rows are committed instead, in
``reference/cost/cost-rows.json`` (:data:`REFERENCE_FILE`), each with the torch and
transformers versions it was counted with, its method and the date it was written, beside the
recorded extrapolation check (extrapolated against a full-depth count). The book reads them
with :func:`load_reference`; ``python -m tradeoff cost --write-reference`` (see
:func:`write_reference`) regenerates them, resuming from the count cache. Counts do not depend
on the hardware.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import CACHE_DIR, load_profile, REPO_ROOT
from ..errors import ConfigError
from ..tasks import GIB, H100_MEMORY_GB, MODELS
from ..models import (
    PRESETS,
    build_config,
    check_length,
    get_preset,
    global_attention_mask,
    is_led,
    layer_counts,
    position_limit,
    set_layer_counts,
)
from ..records import write_atomically

log = logging.getLogger(__name__)

COST_CACHE_DIR = CACHE_DIR / "cost"
# Bumped whenever the counting procedure changes, so stale cached counts are not reused.
COUNT_VERSION = 3
# Greedy tokens generated for the inference count: the released code cuts training targets at
# 128 tokens (``max_output_length``) and Qasper's generation budget is 128; summarization
# budgets of up to 1024 tokens are a ``new_tokens`` away.
DEFAULT_NEW_TOKENS = 128
# Vocabulary of a mini model when none is given: ``build_model``'s default for random-init minis
# (full models keep their checkpoint's vocabulary whatever is passed).
MINI_VOCAB_SIZE = 8000
# fp32 weights (4) + gradients (4) + AdamW's two moments (4 + 4): the paper trains in fp32
# without mixed precision.
TRAIN_STATE_BYTES_PER_PARAM = 16
DEPTHS = ((1, 1), (2, 1), (1, 2))

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


@dataclass(frozen=True)
class DepthCount:
    """Counts of one random-init build at one (encoder, decoder) depth, batch 1.

    All FLOPs are counted by ``FlopCounterMode`` (matmul-like ops, 2 per multiply-add).
    """

    forward_flops: int  # training forward (train mode, with labels)
    train_step_flops: int  # forward + backward of one sample
    encoder_forward_flops: int  # the encoder's share of the training forward
    forward_attention_flops: int  # training forward, in self-/cross-attention modules
    forward_attention_core_flops: int  # the same without the modules' Linear projections
    saved_activation_bytes: int  # saved for backward, deduplicated by storage, no parameters
    output_logits_bytes: int  # logits held by the output and not among the saved tensors
    inference_flops: int  # encoder pass + greedy decoding with KV cache
    inference_attention_flops: int  # the attention modules' part of inference_flops
    attention: str = ""  # which encoder attention ran (BigBird may fall back to full)

    @classmethod
    def additive_fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.type in ("int", int)]


@dataclass(frozen=True)
class CostRow:
    """Cost of one training sample and one inference of a full architecture at one length.

    FLOPs are counted by ``FlopCounterMode`` (matmul-like ops only, 2 FLOPs per multiply-add);
    bytes are counted through autograd's saved-tensor hooks. ``method`` says whether a number was
    counted at full depth or extrapolated from which depths.
    """

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

    @property
    def memory_per_sample_bytes(self) -> int:
        """Bytes that grow with the batch: saved activations plus output logits."""
        return self.saved_activation_bytes + self.output_logits_bytes


@dataclass(frozen=True)
class PaperBatch:
    """A batch size the paper or its released code reports."""

    model: str
    length: int
    dataset: str
    batch_size: int
    gpus: int
    source: str


# From ../shared/PAPER.md: the only batch sizes the paper and its code state.
PAPER_BATCHES = (
    PaperBatch("led-base", 1024, "govreport", 24, 1,
               "released code, run_training.sh (the one batch size it shows)"),
    PaperBatch("led-base", 1024, "qasper", 24, 1,
               "paper, preliminary study: batch 24 on one GPU gave F1 17.68"),
)


@dataclass(frozen=True)
class LengthFit:
    """Least-squares fit of ``log(value) = log(prefactor) + exponent * log(length)``."""

    model: str
    column: str
    exponent: float
    exponent_stderr: float  # standard error of the slope (NaN with fewer than 3 lengths)
    prefactor: float
    max_relative_residual: float  # largest |value / fitted - 1| over the lengths
    n_lengths: int


# ----------------------------------------------------------------------------------- counting


class _SavedTensors:
    """Records what autograd saves for backward, to count it once per storage.

    Each saved tensor is wrapped in a holder that autograd keeps; a weak reference to the holder
    tells whether the graph still holds it (a graph branch freed during forward releases its
    holders), and keeping the tensor in the holder keeps its storage address from being reused
    while counting.
    """

    class _Holder:
        __slots__ = ("__weakref__", "tensor")

        def __init__(self, tensor):
            self.tensor = tensor

    def __init__(self, excluded_storages: set[int]):
        self.excluded = excluded_storages
        self.holders: list[weakref.ref] = []

    def pack(self, tensor):
        holder = self._Holder(tensor)
        self.holders.append(weakref.ref(holder))
        return holder

    @staticmethod
    def unpack(holder):
        return holder.tensor

    def storages(self) -> dict[int, int]:
        """Live saved storages, data pointer -> bytes, parameters and buffers left out."""
        found = {}
        for ref in self.holders:
            holder = ref()
            if holder is None:
                continue
            storage = holder.tensor.untyped_storage()
            pointer = storage.data_ptr()
            if pointer and pointer not in self.excluded:
                found[pointer] = storage.nbytes()
        return found

    def nbytes(self) -> int:
        return sum(self.storages().values())


@dataclass(frozen=True)
class StepCount:
    """FLOPs and saved bytes of one forward + backward (see ``count_training_step``)."""

    forward_flops: int
    step_flops: int  # forward + backward
    saved_bytes: int  # saved for backward at the end of forward, once per storage
    forward_by_group: dict  # group name -> forward FLOPs inside that group's modules
    saved_storages: frozenset  # data pointers of the saved storages


def _flop_counter():
    """A ``FlopCounterMode`` and a guard against attention kernels it cannot count."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    return counter, _uncounted_attention_guard(counter.flop_registry)


@contextmanager
def _group_flops(counter, groups: dict[str, Sequence]):
    """Forward FLOPs counted inside each group of modules, by hooks on the modules themselves.

    The counter's own per-module table is not used: its names depend on which module is called
    first (``generate`` calls the encoder on its own, renaming every encoder module), and its
    backward attribution is unreliable (in a one-layer LED it charged encoder backward matmuls
    to the decoder's embeddings). Modules of one group must not nest.
    """
    totals = {name: 0 for name in groups}
    started = {}
    handles = []
    for name, modules in groups.items():
        for module in modules:
            def pre(module, args, name=name):
                started[(name, id(module))] = counter.get_total_flops()

            def post(module, args, output, name=name):
                totals[name] += counter.get_total_flops() - started.pop((name, id(module)))

            handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        yield totals
    finally:
        for handle in handles:
            handle.remove()


def _raise_if_uncounted(guard, what: str) -> None:
    if guard.uncounted:
        raise RuntimeError(f"{what}: attention kernels without a FLOP formula ran "
                           f"({', '.join(sorted(guard.uncounted))}); FlopCounterMode would count "
                           "them as 0. Build the model with attn_implementation='eager'.")


def count_training_step(forward: Callable[[], Any], loss_of: Callable[[Any], Any] = lambda out: out,
                        exclude: Iterable = (), groups: dict[str, Sequence] | None = None,
                        ) -> tuple[StepCount, Any]:
    """Count the FLOPs of a forward + backward and the bytes saved for backward.

    FLOPs are counted by ``FlopCounterMode``: matmul-like ops only, 2 FLOPs per multiply-add.
    Saved bytes are what autograd holds at the end of the forward, once per storage (views of
    one storage count once), leaving out the storages of ``exclude`` (parameters, buffers).

    Args:
        forward: runs the forward pass and returns its output.
        loss_of: maps the output to the scalar to call ``backward`` on.
        exclude: tensors whose storages are not counted as saved.
        groups: named groups of modules whose forward FLOPs are wanted separately.

    Returns:
        ``(counts, output)``.

    Raises:
        RuntimeError: an attention kernel without a FLOP formula ran (it would count as 0).
    """
    import torch

    tracker = _SavedTensors({t.untyped_storage().data_ptr() for t in exclude})
    counter, guard = _flop_counter()
    with counter, guard:
        with _group_flops(counter, groups or {}) as by_group, \
                torch.autograd.graph.saved_tensors_hooks(tracker.pack, tracker.unpack):
            output = forward()
        forward_flops = counter.get_total_flops()
        saved = tracker.storages()
        loss_of(output).backward()
        step_flops = counter.get_total_flops()
    _raise_if_uncounted(guard, "training step")
    counts = StepCount(forward_flops=int(forward_flops), step_flops=int(step_flops),
                       saved_bytes=sum(saved.values()), forward_by_group=dict(by_group),
                       saved_storages=frozenset(saved))
    return counts, output


def count_flops(fn: Callable[[], Any], groups: dict[str, Sequence] | None = None,
                ) -> tuple[int, dict[str, int], Any]:
    """Count the FLOPs of ``fn()`` (matmul-like ops only, 2 FLOPs per multiply-add).

    Args:
        fn: the call to count.
        groups: named groups of modules whose forward FLOPs are wanted separately.

    Returns:
        ``(total, by_group, output)``.

    Raises:
        RuntimeError: an attention kernel without a FLOP formula ran (it would count as 0).
    """
    counter, guard = _flop_counter()
    with counter, guard, _group_flops(counter, groups or {}) as by_group:
        output = fn()
    _raise_if_uncounted(guard, "counted call")
    return int(counter.get_total_flops()), dict(by_group), output


def saved_tensor_bytes(fn: Callable, *args, exclude: Iterable = (), **kwargs) -> tuple[Any, int]:
    """Run ``fn`` and count the bytes autograd saves for its backward, once per storage.

    Args:
        fn: a callable building an autograd graph (e.g. a module).
        *args: its positional arguments.
        exclude: tensors whose storages are not counted (e.g. ``module.parameters()``).
        **kwargs: its keyword arguments.

    Returns:
        ``(output, nbytes)``: the output (its graph still alive) and the saved bytes.
    """
    import torch

    tracker = _SavedTensors({t.untyped_storage().data_ptr() for t in exclude})
    with torch.autograd.graph.saved_tensors_hooks(tracker.pack, tracker.unpack):
        output = fn(*args, **kwargs)
    return output, tracker.nbytes()


def _uncounted_attention_guard(counted_ops):
    """A dispatch mode that records attention kernels ``FlopCounterMode`` has no formula for."""
    # TorchDispatchMode is what FlopCounterMode itself is built on; it sees the kernels an op
    # decomposes into (``scaled_dot_product_attention`` becomes a fused CPU kernel here).
    from torch.utils._python_dispatch import TorchDispatchMode

    class Guard(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.uncounted: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func.overloadpacket)
            if ("attention" in name or "scaled_dot_product" in name) \
                    and func.overloadpacket not in counted_ops:
                self.uncounted.add(name)
            return func(*args, **(kwargs or {}))

    return Guard()


@contextmanager
def gpu_dropout():
    """Run ``torch.nn.functional.dropout`` as CUDA does, so saved masks have the GPU's size.

    ATen's ``dropout`` takes the fused ``native_dropout`` kernel only for CUDA (and XPU, lazy,
    privateuse1) tensors with 0 < p < 1 (``is_fused_kernel_acceptable`` in
    ``aten/src/ATen/native/Dropout.cpp``); that kernel saves a bool mask, 1 byte an element. On
    CPU, ``dropout`` multiplies by a float noise tensor and autograd saves it, 4 bytes an
    element. Inside this block dropout calls ``torch.native_dropout``, which runs on CPU too;
    the output has the same distribution and no FLOP count changes (dropout is not counted).
    """
    import torch
    import torch.nn.functional as F

    original = F.dropout

    def dropout(input, p=0.5, training=True, inplace=False):
        if training and 0 < p < 1 and not inplace and input.numel() > 0:
            return torch.native_dropout(input, p, True)[0]
        return original(input, p, training, inplace)

    F.dropout = dropout
    try:
        yield
    finally:
        F.dropout = original


@contextmanager
def _torch_threads(n: int):
    """Run the block with ``n`` intra-op threads, then restore the caller's setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def depth_config(model: str, scale: str, encoder_layers: int, decoder_layers: int,
                  dropout: float, vocab_size: int):
    """The preset's config with the given depths; LED gets one window per encoder layer."""
    config = build_config(model, scale, vocab_size=vocab_size, dropout=dropout)
    set_layer_counts(config, encoder_layers, decoder_layers)
    return config


def build_counting_model(config):
    """A random-init model on CPU; the values do not change any count, so init is cheap."""
    import torch
    from transformers import AutoModelForSeq2SeqLM
    from transformers.initialization import no_init_weights

    # The library's initialization takes seconds for the full vocabularies; any finite values
    # give the same counts, and tying is redone because skipping init skips it too.
    with no_init_weights():
        model = AutoModelForSeq2SeqLM.from_config(config, attn_implementation="eager")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.uniform_(-0.02, 0.02, generator=generator)
        for buffer in model.buffers():
            if buffer.is_floating_point():
                buffer.zero_()
    model.tie_weights()
    return model


def random_inputs(model_name: str, config, length: int, target_length: int
                  ) -> tuple[dict, object]:
    """Random token ids of exactly ``length`` (all attended: padding is computed the same) and
    a target of ``target_length`` tokens; LED gets global attention on the first token."""
    import torch

    generator = torch.Generator().manual_seed(0)
    # Ids above the special tokens so nothing is read as padding or end of sequence.
    low = 4
    ids = torch.randint(low, config.vocab_size, (1, length), generator=generator)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if is_led(model_name):
        inputs["global_attention_mask"] = global_attention_mask(ids)
    labels = torch.randint(low, config.vocab_size, (1, target_length), generator=generator)
    return inputs, labels


ATTENTION_MODULES = ("self_attn", "encoder_attn", "SelfAttention", "EncDecAttention",
                     "TransientGlobalSelfAttention", "LocalSelfAttention")


def _module_groups(model) -> dict[str, list]:
    """The modules whose FLOPs are reported apart: attention, its projections, the encoder."""
    import torch

    attention = [module for name, module in model.named_modules()
                 # LED, BigBird-Pegasus, BART and Pegasus-X call encoder and decoder self-attention
                 # ``self_attn`` and cross-attention ``encoder_attn`` inside each layer; LongT5
                 # (T5's naming) ``TransientGlobalSelfAttention`` or ``LocalSelfAttention`` in
                 # the encoder, ``SelfAttention`` and ``EncDecAttention`` in the decoder.
                 if name.rsplit(".", 1)[-1] in ATTENTION_MODULES]
    projections = [child for module in attention for child in module.modules()
                   if isinstance(child, torch.nn.Linear)]
    return {"attention": attention, "attention_projections": projections,
            "encoder": [model.get_encoder()]}


def count_depth(model_name: str, encoder_layers: int, decoder_layers: int, length: int,
                target_length: int, new_tokens: int, dropout: float, scale: str = "full",
                vocab_size: int = MINI_VOCAB_SIZE) -> DepthCount:
    """Count FLOPs and saved bytes of one build at one depth (no cache; see ``cost_rows``).

    The model is built with ``attn_implementation="eager"`` (in transformers 5 neither LED nor
    BigBird-Pegasus accepts SDPA; the guard of ``count_training_step`` would catch it if one did).

    Args:
        model_name: preset name.
        encoder_layers: encoder depth to build.
        decoder_layers: decoder depth to build.
        length: input tokens.
        target_length: target tokens of the training sample.
        new_tokens: greedy tokens generated for the inference count.
        dropout: dropout probability (training count; masks are saved when above 0, at
            the GPU's 1 byte an element, see ``gpu_dropout``).
        scale: "full" (the paper's architecture) or "mini".
        vocab_size: vocabulary of a mini model.

    Returns:
        The counts at batch 1.
    """
    import torch

    from ..models import guard_block_sparse

    config = depth_config(model_name, scale, encoder_layers, decoder_layers, dropout, vocab_size)
    model = build_counting_model(config)
    family = get_preset(model_name).family
    if family == "bigbird_pegasus":
        guard_block_sparse(model)
    inputs, labels = random_inputs(model_name, config, length, target_length)
    groups = _module_groups(model)

    # Module groups are counted in the forward only (see _group_flops): attention shares are
    # shares of the forward.
    model.train()
    with gpu_dropout():
        step, output = count_training_step(lambda: model(**inputs, labels=labels),
                                           loss_of=lambda out: out.loss,
                                           exclude=(*model.parameters(), *model.buffers()),
                                           groups=groups)
    logits = output.logits.untyped_storage()
    # The logits stay alive with the output until backward ends, beside the saved tensors.
    logits_bytes = 0 if logits.data_ptr() in step.saved_storages else logits.nbytes()
    del output
    model.zero_grad(set_to_none=True)

    # Inference: encoder pass and exactly new_tokens greedy steps with the KV cache. Greedy
    # decoding at batch 1 is a chain of small ops; on this shared 2-core machine it ran 3x
    # faster on one thread (32 tokens of a one-layer LED-base: 4.1 s vs 12.6 s on two).
    # Threads change no count.
    model.eval()
    cache = {}
    if family == "longt5":
        from transformers import DynamicCache, EncoderDecoderCache

        # generate() sizes its cache by num_layers, the encoder's depth in T5's naming, and
        # fails at depth (1, 2); a cache that grows per layer holds the same keys and values.
        cache = {"past_key_values": EncoderDecoderCache(DynamicCache(), DynamicCache())}
    with torch.no_grad(), _torch_threads(1):
        inference_flops, infer, generated = count_flops(lambda: model.generate(
            **inputs, min_new_tokens=new_tokens, max_new_tokens=new_tokens, do_sample=False,
            num_beams=1, use_cache=True, **cache), groups=groups)
    produced = generated.shape[1] - 1  # minus the decoder start token
    if produced != new_tokens:
        raise RuntimeError(f"{model_name}: generated {produced} tokens, expected {new_tokens}")

    if family == "bigbird_pegasus":
        attention = ",".join(sorted(model.get_encoder().attention_types_ran))
    else:
        attention = {"led": "sliding_window+global_first_token", "bart": "full",
                     "longt5": getattr(config, "encoder_attention_type", None),
                     "pegasus_x": "block_local+global_tokens"}[family]
    forward = step.forward_by_group
    return DepthCount(
        forward_flops=step.forward_flops,
        train_step_flops=step.step_flops,
        encoder_forward_flops=forward["encoder"],
        forward_attention_flops=forward["attention"],
        forward_attention_core_flops=forward["attention"] - forward["attention_projections"],
        saved_activation_bytes=step.saved_bytes,
        output_logits_bytes=logits_bytes,
        inference_flops=inference_flops,
        inference_attention_flops=infer["attention"],
        attention=attention,
    )


def extrapolate(counts: dict[tuple[int, int], DepthCount], encoder_layers: int,
                decoder_layers: int) -> DepthCount:
    """Full-depth counts from counts at depths (1,1), (2,1) and (1,2).

    ``total = c(1,1) + (E - 1) * [c(2,1) - c(1,1)] + (D - 1) * [c(1,2) - c(1,1)]``, field by field;
    exact because the layers of a model are identical. A depth that is 1 at full size needs no
    second count.

    Args:
        counts: counts keyed by (encoder, decoder) depth.
        encoder_layers: full encoder depth E.
        decoder_layers: full decoder depth D.

    Returns:
        The extrapolated counts.
    """
    base = counts[(1, 1)]
    values = {}
    for name in DepthCount.additive_fields():
        value = getattr(base, name)
        if encoder_layers > 1:
            value += (encoder_layers - 1) * (getattr(counts[(2, 1)], name) - getattr(base, name))
        if decoder_layers > 1:
            value += (decoder_layers - 1) * (getattr(counts[(1, 2)], name) - getattr(base, name))
        values[name] = value
    attention = ",".join(sorted({c.attention for c in counts.values()}))
    return DepthCount(**values, attention=attention)


def _depths_needed(encoder_layers: int, decoder_layers: int) -> list[tuple[int, int]]:
    needed = [(1, 1)]
    if encoder_layers > 1:
        needed.append((2, 1))
    if decoder_layers > 1:
        needed.append((1, 2))
    return needed


# -------------------------------------------------------------------------------------- cache


def _versions() -> dict:
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__}


def _cache_key(model_name: str, config, length: int, target_length: int, new_tokens: int) -> dict:
    """Everything that changes a count; the config carries depth, dropout and vocabulary."""
    config_dict = {k: v for k, v in config.to_dict().items() if k != "transformers_version"}
    return {"count_version": COUNT_VERSION, "model": model_name, "config": config_dict,
            "length": length, "target_length": target_length, "new_tokens": new_tokens,
            **_versions()}


def cached_count(model_name: str, encoder_layers: int, decoder_layers: int, length: int,
                 target_length: int, new_tokens: int, dropout: float, scale: str = "full",
                 vocab_size: int = MINI_VOCAB_SIZE, cache_dir: Path | str | None = None,
                 use_cache: bool = True) -> DepthCount:
    """``count_depth`` through the on-disk cache.

    Args:
        cache_dir: the cache folder (default: ``COST_CACHE_DIR``, ``.cache/cost``).
        use_cache: False counts afresh and writes nothing.
        (the others as in ``count_depth``)

    Returns:
        The counts, read from the cache when an identical count was made before.
    """
    config = depth_config(model_name, scale, encoder_layers, decoder_layers, dropout, vocab_size)
    key = _cache_key(model_name, config, length, target_length, new_tokens)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = None
    if use_cache:
        name = f"{model_name}-{scale}-{encoder_layers}x{decoder_layers}-{length}-{digest}.json"
        path = Path(COST_CACHE_DIR if cache_dir is None else cache_dir) / name
        if path.exists():
            try:
                return DepthCount(**json.loads(path.read_text())["counts"])
            except (ValueError, KeyError, TypeError) as err:
                log.warning("ignoring unreadable cost cache %s: %s", path, err)
    started = time.perf_counter()
    counts = count_depth(model_name, encoder_layers, decoder_layers, length, target_length,
                         new_tokens, dropout, scale=scale, vocab_size=vocab_size)
    if path is not None:
        record = {"key": key, "counts": dataclasses.asdict(counts),
                  "count_seconds": time.perf_counter() - started}
        # Atomic: an interrupted count leaves no half-written file.
        write_atomically(path, json.dumps(record, indent=1, default=str))
    return counts


# --------------------------------------------------------------------------------------- rows


def parameter_count(model_name: str, scale: str = "full", vocab_size: int = MINI_VOCAB_SIZE) -> int:
    """Parameters of the full-depth model, built on the meta device (no memory, no compute)."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    config = build_config(model_name, scale, vocab_size=vocab_size)
    with torch.device("meta"):
        model = AutoModelForSeq2SeqLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def max_batch(params: int, memory_per_sample_bytes: int, memory_gb: float) -> int:
    """Largest batch whose training memory fits ``memory_gb`` GiB.

    Memory model: ``16 x params`` (fp32 weights, gradients and AdamW's two moments; no mixed
    precision, as the paper) plus ``batch x memory_per_sample_bytes`` (counted saved-for-backward
    activations and the output logits of one sample). Known error sources, all making the real
    largest batch smaller: allocator fragmentation and caching, CUDA context and library
    workspaces, temporary peaks inside an op or layer (attention scores before they are saved,
    the logits' gradient during backward), the optimizer step's temporaries, and a usable
    capacity below the card's nominal one.

    Args:
        params: parameter count.
        memory_per_sample_bytes: bytes that grow with the batch, per sample.
        memory_gb: card memory in GiB.

    Returns:
        The largest batch, 0 when not even one sample fits.
    """
    free = memory_gb * GIB - TRAIN_STATE_BYTES_PER_PARAM * params
    if free <= 0 or memory_per_sample_bytes <= 0:
        return 0
    return int(free // memory_per_sample_bytes)


def paper_batch(model: str, length: int) -> int | None:
    """The paper's batch at a cell when PAPER.md states one (and its sources agree)."""
    sizes = {b.batch_size for b in PAPER_BATCHES if b.model == model and b.length == length}
    return sizes.pop() if len(sizes) == 1 else None


def _validate(models: Sequence[str], lengths: Sequence[int], scale: str, target_length: int,
              new_tokens: int) -> None:
    for model in models:
        if model not in PRESETS:
            raise ConfigError(f"unknown model '{model}'; valid: {', '.join(PRESETS)}")
        for length in lengths:
            check_length(model, scale, length)
        arch = getattr(get_preset(model), scale)
        # LongT5's relative positions bound neither side: no limit but the count's memory.
        decoder_positions = arch.get("max_decoder_position_embeddings", position_limit(arch))
        if decoder_positions is None:
            if target_length <= 0 or new_tokens <= 0:
                raise ConfigError(f"target length {target_length} and new tokens {new_tokens} "
                                  f"must be at least 1 for {model}")
            continue
        if not 0 < target_length <= decoder_positions:
            raise ConfigError(f"target length {target_length} is impossible for {model} ({scale}): "
                              f"it must be between 1 and {decoder_positions} tokens")
        if not 0 < new_tokens < decoder_positions:
            raise ConfigError(f"new tokens {new_tokens} is impossible for {model} ({scale}): "
                              f"it must be between 1 and {decoder_positions - 1}")


def _paper_defaults() -> tuple[list[int], int, float, float]:
    profile = load_profile("paper")
    return list(profile.lengths), profile.max_target_length, profile.dropout, profile.gpu_memory_gb


def cost_rows(models: Sequence[str] = MODELS, lengths: Sequence[int] | None = None,
              target_length: int | None = None, new_tokens: int = DEFAULT_NEW_TOKENS,
              dropout: float | None = None, scale: str = "full", vocab_size: int = MINI_VOCAB_SIZE,
              full_depth: bool = False, cache_dir: Path | str | None = None,
              use_cache: bool = True, progress: bool = True) -> list[CostRow]:
    """Counted cost of one training sample and one inference per model and length.

    Args:
        models: preset names.
        lengths: input lengths in tokens (default: the ``paper`` profile's).
        target_length: target tokens of the training sample (default: the ``paper`` profile's
            ``max_target_length``).
        new_tokens: greedy tokens generated in the inference count.
        dropout: dropout of the training count (default: the ``paper`` profile's).
        scale: "full" (the paper's architectures) or "mini".
        vocab_size: vocabulary of a mini model.
        full_depth: count at full depth instead of extrapolating (slow at full scale).
        cache_dir: where counts are cached (default: ``COST_CACHE_DIR``, ``.cache/cost``).
        use_cache: False counts everything afresh and writes nothing.
        progress: show a progress bar over the counts still to make.

    Returns:
        One row per model x length, in the order given.

    Raises:
        ConfigError: an unknown model or an impossible length, target or generation length.
    """
    paper_lengths, paper_target, paper_dropout, paper_memory_gb = _paper_defaults()
    lengths = paper_lengths if lengths is None else lengths
    target_length = paper_target if target_length is None else target_length
    dropout = paper_dropout if dropout is None else dropout
    _validate(models, lengths, scale, target_length, new_tokens)

    plan = []  # (model, length, depths to count)
    for model in models:
        full = layer_counts(getattr(get_preset(model), scale))
        for length in lengths:
            plan.append((model, length, [full] if full_depth else _depths_needed(*full)))

    from tqdm.auto import tqdm

    bar = tqdm(total=sum(len(depths) for *_, depths in plan), desc="cost counts", unit="count",
               disable=not progress, file=sys.stderr)
    rows = []
    params_by_model = {}
    try:
        for model, length, depths in plan:
            counts = {}
            for depth in depths:
                bar.set_postfix_str(f"{model} {length} depth {depth[0]}x{depth[1]}")
                counts[depth] = cached_count(model, *depth, length, target_length, new_tokens,
                                             dropout, scale=scale, vocab_size=vocab_size,
                                             cache_dir=cache_dir, use_cache=use_cache)
                bar.update()
            encoder_layers, decoder_layers = layer_counts(getattr(get_preset(model), scale))
            if full_depth or depths == [(1, 1)]:
                total = counts[depths[0]]
                method = "counted at full depth"
            else:
                total = extrapolate(counts, encoder_layers, decoder_layers)
                method = ("extrapolated from depths "
                          + ",".join(f"({e},{d})" for e, d in depths))
            if model not in params_by_model:
                params_by_model[model] = parameter_count(model, scale, vocab_size)
            rows.append(_row(model, length, target_length, new_tokens, dropout, scale,
                             params_by_model[model], encoder_layers, decoder_layers, total, method,
                             paper_memory_gb))
    finally:
        bar.close()
    return rows


def _row(model: str, length: int, target_length: int, new_tokens: int, dropout: float, scale: str,
         params: int, encoder_layers: int, decoder_layers: int, total: DepthCount, method: str,
         paper_memory_gb: float) -> CostRow:
    per_sample = total.saved_activation_bytes + total.output_logits_bytes
    def share(part: int, whole: int) -> float:
        return part / whole if whole else math.nan

    if scale != "full":
        method += f" ({scale} scale)"
    return CostRow(
        model=model, length=length, target_length=target_length, generated_tokens=new_tokens,
        params=params, encoder_layers=encoder_layers, decoder_layers=decoder_layers,
        dropout=dropout, encoder_forward_flops=total.encoder_forward_flops,
        forward_flops=total.forward_flops, train_step_flops=total.train_step_flops,
        inference_flops=total.inference_flops,
        attention_flops_share=share(total.forward_attention_flops, total.forward_flops),
        attention_core_flops_share=share(total.forward_attention_core_flops, total.forward_flops),
        inference_attention_flops_share=share(total.inference_attention_flops,
                                              total.inference_flops),
        saved_activation_bytes=total.saved_activation_bytes,
        output_logits_bytes=total.output_logits_bytes,
        train_state_bytes=TRAIN_STATE_BYTES_PER_PARAM * params,
        max_batch_48gb=max_batch(params, per_sample, paper_memory_gb),
        max_batch_80gb=max_batch(params, per_sample, H100_MEMORY_GB),
        paper_batch=paper_batch(model, length) if scale == "full" else None,
        attention=total.attention, method=method,
    )


def extrapolation_check(model: str, length: int, target_length: int, new_tokens: int,
                        dropout: float, scale: str = "full", vocab_size: int = MINI_VOCAB_SIZE,
                        cache_dir: Path | str | None = None, use_cache: bool = True,
                        ) -> dict[str, float]:
    """Relative difference, per counted field, between extrapolated and full-depth counts.

    Returns:
        ``{field: extrapolated / full_depth - 1}``; 0 everywhere when the extrapolation is exact.
    """
    kwargs = {"models": [model], "lengths": [length], "target_length": target_length,
              "new_tokens": new_tokens, "dropout": dropout, "scale": scale,
              "vocab_size": vocab_size, "cache_dir": cache_dir, "use_cache": use_cache,
              "progress": False}
    extrapolated, = cost_rows(**kwargs)
    counted, = cost_rows(**kwargs, full_depth=True)
    fields = ["encoder_forward_flops", "forward_flops", "train_step_flops", "inference_flops",
              "saved_activation_bytes", "output_logits_bytes"]
    return {f: getattr(extrapolated, f) / getattr(counted, f) - 1 if getattr(counted, f) else
            float(getattr(extrapolated, f) != 0) for f in fields}


# ------------------------------------------------------------------------------ tables, fits


def cost_frame(rows: Sequence[CostRow] | None = None, **kwargs):
    """The rows as a pandas DataFrame (one row per model x length).

    Args:
        rows: rows from ``cost_rows``; when None, ``cost_rows(**kwargs)`` is called.
        **kwargs: passed to ``cost_rows``.

    Returns:
        A DataFrame with one column per ``CostRow`` field plus ``memory_per_sample_bytes``.
    """
    import pandas as pd

    rows = cost_rows(**kwargs) if rows is None else rows
    frame = pd.DataFrame([dataclasses.asdict(r) for r in rows])
    if len(frame):
        frame["memory_per_sample_bytes"] = [r.memory_per_sample_bytes for r in rows]
        frame["paper_batch"] = frame["paper_batch"].astype("Int64")
    return frame


def fit_length_exponent(rows, column: str) -> dict[str, LengthFit]:
    """Exponent ``a`` of ``column ~ length^a`` per model, by log-log least squares.

    Args:
        rows: ``CostRow``s or a DataFrame with ``model``, ``length`` and ``column``.
        column: the cost to fit (e.g. "train_step_flops").

    Returns:
        ``{model: LengthFit}`` for models with at least two lengths and positive values.
    """
    import numpy as np
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else cost_frame(list(rows))
    fits = {}
    for model, group in frame.groupby("model", sort=False):
        group = group[group[column] > 0]
        if group["length"].nunique() < 2:
            continue
        x = np.log(group["length"].to_numpy(float))
        y = np.log(group[column].to_numpy(float))
        design = np.column_stack([np.ones_like(x), x])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        residuals = y - design @ coef
        n = len(x)
        if n > 2:
            sigma2 = residuals @ residuals / (n - 2)
            stderr = float(np.sqrt(sigma2 / ((x - x.mean()) @ (x - x.mean()))))
        else:
            stderr = math.nan
        fits[model] = LengthFit(model=model, column=column, exponent=float(coef[1]),
                                exponent_stderr=stderr, prefactor=float(np.exp(coef[0])),
                                max_relative_residual=float(np.max(np.abs(np.expm1(residuals)))),
                                n_lengths=n)
    return fits


@dataclass(frozen=True)
class AffineFit:
    """Least-squares fit of ``value = intercept + slope * length`` (the power law's alternative).

    A cost made of a part that does not grow with the input (the decoder and the output layer at
    a fixed target length, and the weights) plus a part proportional to it (windowed or
    block-sparse attention, the feed-forward layers over the input) is affine in the length: a
    power law then fits it poorly, with an exponent below 1 that falls as the fixed part grows.
    """

    model: str
    column: str
    intercept: float  # the value extrapolated to a 0-token input
    slope: float  # per input token
    max_relative_residual: float  # largest |value / fitted - 1| over the lengths
    n_lengths: int

    def at(self, length: float) -> float:
        """The fitted value at ``length`` tokens."""
        return self.intercept + self.slope * length

    def fixed_share(self, length: float) -> float:
        """Share of the fitted value at ``length`` that does not grow with the input."""
        return self.intercept / self.at(length)

    def local_exponent(self, length: float) -> float:
        """``d log(value) / d log(length)`` at ``length``: 1 is proportional, 0 is flat."""
        return self.slope * length / self.at(length)


def fit_length_affine(rows, column: str) -> dict[str, AffineFit]:
    """``column = intercept + slope * length`` per model, by least squares.

    Args:
        rows: ``CostRow``s or a DataFrame with ``model``, ``length`` and ``column``.
        column: the cost to fit (e.g. "train_step_flops").

    Returns:
        ``{model: AffineFit}`` for models with at least two lengths.
    """
    import numpy as np
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else cost_frame(list(rows))
    fits = {}
    for model, group in frame.groupby("model", sort=False):
        group = group.dropna(subset=[column])
        if group["length"].nunique() < 2:
            continue
        x = group["length"].to_numpy(float)
        y = group[column].to_numpy(float)
        slope, intercept = np.polyfit(x, y, 1)
        fitted = intercept + slope * x
        residual = np.abs(y / fitted - 1) if np.all(fitted != 0) else np.full_like(y, np.inf)
        fits[model] = AffineFit(model=model, column=column, intercept=float(intercept),
                                slope=float(slope), max_relative_residual=float(residual.max()),
                                n_lengths=len(x))
    return fits


def format_table(rows: Sequence[CostRow]) -> str:
    """A readable fixed-width table of the rows, with the notes on how numbers were obtained."""
    header = ["model", "length", "params", "enc fwd", "train step", "infer", "attn %",
              "attn core %", "saved/sample", "logits", "batch 48G", "batch 80G", "paper", "method"]
    lines = []
    for r in rows:
        lines.append([r.model, str(r.length), f"{r.params / 1e6:.1f}M",
                      f"{r.encoder_forward_flops / 1e12:.3f}", f"{r.train_step_flops / 1e12:.3f}",
                      f"{r.inference_flops / 1e12:.3f}", f"{100 * r.attention_flops_share:.1f}",
                      f"{100 * r.attention_core_flops_share:.1f}",
                      f"{r.saved_activation_bytes / GIB:.2f}", f"{r.output_logits_bytes / GIB:.2f}",
                      str(r.max_batch_48gb), str(r.max_batch_80gb),
                      "" if r.paper_batch is None else str(r.paper_batch), r.method])
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]
    def fmt(cells: list[str]) -> str:
        # Names left-aligned, numbers right-aligned.
        return "  ".join(c.ljust(w) if i in (0, len(header) - 1) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    out = [fmt(header), fmt(["-" * w for w in widths])] + [fmt(line) for line in lines]
    if rows:
        r = rows[0]
        out += [
            "",
            (f"TFLOP per sample, batch 1: enc fwd = encoder forward; train step = forward + "
             f"backward with a {r.target_length}-token target; infer = encoder pass + "
             f"{r.generated_tokens} greedy tokens with KV cache."),
            f"{FLOPS_NOTE}.",
            ("attn % = share of the training forward's FLOPs in self-/cross-attention modules "
             "(projections included); attn core % = the same without the Linear projections."),
            (f"saved/sample = GiB saved for backward per sample (dropout {r.dropout:g}, masks at "
             "the GPU's 1 byte an element, deduplicated by storage, parameters excluded); "
             "logits = GiB of output logits held beside them."),
            (f"batch 48G/80G = largest batch under 16 bytes/param (fp32 weights, grads, AdamW) "
             f"+ batch x (saved + logits) in {_paper_defaults()[3]:g}/{H100_MEMORY_GB:g} GiB "
             "(the paper's A6000 and an H100); an upper bound: "
             f"{MEMORY_ERROR_SOURCES}."),
            "paper = the batch the paper or its code reports (PAPER.md).",
        ]
    return "\n".join(out)


# ----------------------------------------------------------------------------- reference data

REFERENCE_FILE = REPO_ROOT / "reference" / "cost" / "cost-rows.json"
REFERENCE_SCHEMA = "tradeoff.cost-reference/1"
SAVED_BYTES_NOTE = (
    "saved activations counted through torch.autograd.graph.saved_tensors_hooks at the end of "
    "a training forward at batch 1, once per storage, parameters and buffers excluded; dropout "
    "masks at the GPU's 1 byte an element")
DEPTHS_NOTE = (
    "counted at (encoder, decoder) depths (1,1), (2,1) and (1,2) and extrapolated to full depth "
    "(exact: the layers of a model are identical); extrapolation_checks compare it with a "
    "full-depth count")
# Fields a row entry of the reference file holds beside the CostRow's.
_ROW_EXTRAS = ("memory_per_sample_bytes", "counted_with", "written")


class ReferenceError(ValueError):
    """The committed reference data is missing, unreadable or inconsistent (one line, the fix)."""


@dataclass(frozen=True)
class ExtrapolationCheck:
    """Extrapolated counts against a full-depth count of one cell (see ``extrapolation_check``)."""

    model: str
    length: int
    target_length: int
    relative_difference: dict  # field -> extrapolated / full depth - 1
    counted_with: dict
    written: str

    @property
    def largest(self) -> float:
        """The largest absolute relative difference over the counted fields."""
        return max((abs(v) for v in self.relative_difference.values()), default=math.nan)


@dataclass(frozen=True)
class CostReference:
    """The committed cost rows (:data:`REFERENCE_FILE`) and what they were counted with.

    Attributes:
        rows: one ``CostRow`` per model x length x target length.
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


def _row_key(row: CostRow) -> tuple:
    return row.model, row.length, row.target_length


def _row_order(row: CostRow) -> tuple:
    order = list(PRESETS)  # the paper's three first, then the ones it did not study
    rank = order.index(row.model) if row.model in order else len(order)
    return row.target_length, rank, row.model, row.length


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def _counted_with() -> dict:
    return {**_versions(), "count_version": COUNT_VERSION}


def _check_value(where: str, name: str, value, kind) -> None:
    ok = (isinstance(value, kind) and not isinstance(value, bool)) if kind is not bool \
        else isinstance(value, bool)
    if not ok:
        raise ReferenceError(f"{where}: field '{name}' is {value!r}, expected {kind.__name__}")


def _row_from_entry(entry: dict, where: str) -> tuple[CostRow, dict, str]:
    if not isinstance(entry, dict):
        raise ReferenceError(f"{where}: a row must be an object")
    fields = {f.name: f for f in dataclasses.fields(CostRow)}
    missing = [n for n in (*fields, *_ROW_EXTRAS) if n not in entry]
    unknown = [n for n in entry if n not in fields and n not in _ROW_EXTRAS]
    if missing or unknown:
        raise ReferenceError(f"{where}: missing field(s) {missing or 'none'}, unknown field(s) "
                             f"{unknown or 'none'}")
    kinds = {"int": int, "float": (int, float), "str": str}
    for name, f in fields.items():
        value = entry[name]
        if f.type == "int | None":
            if value is not None:
                _check_value(where, name, value, int)
        elif f.type == "float":
            if isinstance(value, bool) or not isinstance(value, kinds["float"]):
                raise ReferenceError(f"{where}: field '{name}' is {value!r}, expected a number")
        else:
            _check_value(where, name, value, kinds[f.type])
    row = CostRow(**{n: entry[n] for n in fields})
    if entry["memory_per_sample_bytes"] != row.memory_per_sample_bytes:
        raise ReferenceError(f"{where}: memory_per_sample_bytes is not saved + logits bytes")
    counted = entry["counted_with"]
    needed = {"torch", "transformers", "count_version"}
    if not isinstance(counted, dict) or not needed <= set(counted):
        raise ReferenceError(f"{where}: counted_with must name torch, transformers, count_version")
    _check_value(where, "written", entry["written"], str)
    return row, counted, entry["written"]


def load_reference(path: Path | str | None = None) -> CostReference:
    """Read and validate the committed cost rows.

    Args:
        path: the reference file (default :data:`REFERENCE_FILE`).

    Returns:
        The rows, what they were counted with, and the recorded extrapolation checks.

    Raises:
        ReferenceError: the file is missing, is not this schema, or a row is malformed
            (a missing or unknown field, a wrong type, a duplicate model x length x target).
    """
    path = Path(REFERENCE_FILE if path is None else path)
    regenerate = "regenerate it with `python -m tradeoff cost --write-reference`"
    if not path.is_file():
        raise ReferenceError(f"no cost reference at {path}; {regenerate}")
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise ReferenceError(f"{path} is not JSON ({err}); {regenerate}") from None
    if not isinstance(data, dict) or data.get("schema") != REFERENCE_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise ReferenceError(f"{path}: schema {found!r}, expected {REFERENCE_SCHEMA!r}; "
                             f"{regenerate}")
    rows, counted, written, seen = [], [], [], set()
    for i, entry in enumerate(data.get("rows") or []):
        row, with_, when = _row_from_entry(entry, f"{path} row {i}")
        if _row_key(row) in seen:
            raise ReferenceError(f"{path} row {i}: a second row for {row.model} at {row.length} "
                                 f"tokens with {row.target_length}-token targets")
        seen.add(_row_key(row))
        rows.append(row)
        counted.append(with_)
        written.append(when)
    checks = []
    for i, entry in enumerate(data.get("extrapolation_checks") or []):
        try:
            checks.append(ExtrapolationCheck(**entry))
        except TypeError as err:
            raise ReferenceError(f"{path} extrapolation check {i}: {err}") from None
    return CostReference(tuple(rows), tuple(counted), tuple(written), tuple(checks), str(path))


def reference_rows(target_length: int | None = None, path: Path | str | None = None
                   ) -> list[CostRow]:
    """The committed rows of one target length (all when None); see :func:`load_reference`."""
    return load_reference(path).select(target_length)


def check_extrapolation(model: str, length: int, target_length: int,
                        new_tokens: int = DEFAULT_NEW_TOKENS, dropout: float | None = None,
                        scale: str = "full", vocab_size: int = MINI_VOCAB_SIZE,
                        cache_dir: Path | str | None = None) -> ExtrapolationCheck:
    """:func:`extrapolation_check` as a record for the reference file (counts are cached).

    A full-depth count at full scale takes a minute or two for LED-base at 1024 tokens.
    """
    dropout = _paper_defaults()[2] if dropout is None else dropout
    differences = extrapolation_check(model, length, target_length, new_tokens, dropout,
                                      scale=scale, vocab_size=vocab_size, cache_dir=cache_dir)
    return ExtrapolationCheck(model=model, length=length, target_length=target_length,
                              relative_difference=differences, counted_with=_counted_with(),
                              written=_today())


def write_reference(rows: Sequence[CostRow], path: Path | str | None = None,
                    checks: Sequence[ExtrapolationCheck] = ()) -> CostReference:
    """Merge rows (and extrapolation checks) into the reference file, atomically.

    A row replaces the file's row of the same model, length and target length; other rows stay,
    so the paper's targets and the released code's can be written by separate calls. Rows are
    tagged with the torch and transformers versions of this process (a cache hit implies the same
    versions: they are part of the count's key) and today's date.

    Args:
        rows: rows from :func:`cost_rows`.
        path: the reference file (default :data:`REFERENCE_FILE`).
        checks: extrapolation checks to record (see :func:`check_extrapolation`).

    Returns:
        The reference as written, read back through :func:`load_reference`.

    Raises:
        ReferenceError: the existing file is malformed (it is not overwritten).
    """
    path = Path(REFERENCE_FILE if path is None else path)
    existing = load_reference(path) if path.exists() else None
    entries: dict[tuple, tuple[CostRow, dict, str]] = {}
    if existing is not None:
        for row, counted, when in zip(existing.rows, existing.counted_with, existing.written):
            entries[_row_key(row)] = (row, counted, when)
    for row in rows:
        entries[_row_key(row)] = (row, _counted_with(), _today())
    merged_checks = {(c.model, c.length, c.target_length): c
                     for c in (existing.checks if existing else ())}
    merged_checks |= {(c.model, c.length, c.target_length): c for c in checks}

    data = {
        "schema": REFERENCE_SCHEMA,
        "notes": {"flops": FLOPS_NOTE, "saved_bytes": SAVED_BYTES_NOTE, "depths": DEPTHS_NOTE,
                  "memory_model": MEMORY_ERROR_SOURCES,
                  "hardware": "counts do not depend on the hardware (random-init models on a CPU)",
                  "regenerate": "python -m tradeoff cost --write-reference [--target-length N "
                                "--new-tokens N | --dataset NAME] [--models ...] [--lengths ...] "
                                "(resumes from the count cache in .cache/cost)",
                  "dataset_targets": "rows counted with --dataset NAME have target and generated "
                                     "tokens = the dataset's mean reference words in SCROLLS' "
                                     "Table 1, rounded up (tradeoff.config.COST_TARGET_TOKENS): "
                                     "a lower bound on its subword tokens"},
        "rows": [dataclasses.asdict(row) | {"memory_per_sample_bytes": row.memory_per_sample_bytes,
                                            "counted_with": counted, "written": when}
                 for row, counted, when in sorted(entries.values(),
                                                  key=lambda e: _row_order(e[0]))],
        "extrapolation_checks": [dataclasses.asdict(c) for _, c in sorted(merged_checks.items())],
    }
    write_atomically(path, json.dumps(data, indent=1) + "\n")
    return load_reference(path)
