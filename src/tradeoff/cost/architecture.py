"""The full architectures' counted runs: FLOPs, saved activations and batch fit per model,
input length and target length, as cost rows (:class:`tradeoff.records.reference.CostRow`).

Everything here is counted on this machine's CPU from random-init models of the exact
architectures (``tradeoff.models.PRESETS``: the paper's three, and BART, LongT5 and Pegasus-X,
which it did not study); no weights, data or GPU are needed, and nothing is derived by hand:

* **FLOPs** and **saved activations**: the instruments of :mod:`.instruments`, on models built
  with ``attn_implementation="eager"`` (:mod:`.depth`).
* **Depth**: each number is counted at (encoder, decoder) depths (1, 1), (2, 1) and (1, 2) and
  extrapolated (:func:`tradeoff.cost.depth.extrapolate`); exact because the layers are identical
  (:func:`extrapolation_check` compares it with a full-depth count); the ``method`` field of each
  row says how it was obtained.
* **Attention share**: FLOPs inside the self- and cross-attention modules (``self_attn``,
  ``encoder_attn``; with and without their Linear projections) over the training forward's
  FLOPs, and over the inference FLOPs. Read from the forward only: the counter attributes
  backward FLOPs to modules unreliably (see ``instruments._group_flops``); a training step here
  is 3x its forward in the counts.
* **Batch fit**: :func:`tradeoff.records.reference.max_batch`, the memory model and its known
  error sources.

Counts are cached under ``.cache/cost/`` keyed by a hash of everything that changes them, so
later readers recompute nothing.

**Reference data.** A cold count of the twelve full-architecture cells takes about half an hour
on a 2-core CPU, too long for ``make book``; the rows are committed instead, in
``reference/cost/cost-rows.json`` (:data:`tradeoff.records.reference.COST_FILE`), each with the
torch and transformers versions it was counted with, its method and the date it was written,
beside the recorded extrapolation check. The book reads them with
:func:`tradeoff.records.reference.load_cost_reference`; ``python -m tradeoff cost
--write-reference`` (:mod:`tradeoff.cost.reference_file`) regenerates them, resuming from the
count cache. Counts do not depend on the hardware.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import CACHE_DIR, load_profile
from ..errors import ConfigError
from ..models import (
    MINI_VOCAB_SIZE,
    PRESETS,
    build_config,
    check_length,
    check_tokens,
    get_preset,
    guard_block_sparse,
    layer_counts,
    position_limit,
)
from ..records import write_atomically
from ..records.reference import (
    FLOPS_NOTE,
    MEMORY_ERROR_SOURCES,
    TRAIN_STATE_BYTES_PER_PARAM,
    CostRow,
    max_batch,
)
from ..tasks import (CARDS_GB, DEFAULT_NEW_TOKENS, GIB, H100_MEMORY_GB, MODELS, PAPER_CARD_GB,
                     paper_batch)
from .depth import (
    build_counting_model,
    depth_config,
    depths_needed,
    extrapolate,
    random_inputs,
)
from .instruments import count_flops, count_training_step, gpu_dropout, torch_threads

log = logging.getLogger(__name__)

COST_CACHE_DIR = CACHE_DIR / "cost"
# Bumped whenever the counting procedure changes, so stale cached counts are not reused.
COUNT_VERSION = 3


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
    with torch.no_grad(), torch_threads(1):
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



def extrapolate_counts(counts: dict[tuple[int, int], DepthCount], encoder_layers: int,
                       decoder_layers: int) -> DepthCount:
    """Full-depth counts from counts at depths (1,1), (2,1) and (1,2), field by field
    (:func:`tradeoff.cost.depth.extrapolate`)."""
    values = {name: extrapolate({depth: getattr(c, name) for depth, c in counts.items()},
                                encoder_layers, decoder_layers)
              for name in DepthCount.additive_fields()}
    attention = ",".join(sorted({c.attention for c in counts.values()}))
    return DepthCount(**values, attention=attention)


# -------------------------------------------------------------------------------------- cache


def counted_with() -> dict:
    """What a count depends on beyond its inputs: the torch and transformers versions and the
    counting procedure's version (written beside every reference row)."""
    return {**_versions(), "count_version": COUNT_VERSION}


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


def validate_request(models: Sequence[str], lengths: Sequence[int], scale: str,
                     target_length: int, new_tokens: int) -> None:
    """The checks :func:`cost_rows` makes before counting: models, lengths, target, new tokens.

    Raises:
        ConfigError: an unknown model or an impossible length, target or generation length.
    """
    for model in models:
        if model not in PRESETS:
            raise ConfigError(f"unknown model '{model}'; valid: {', '.join(PRESETS)}")
        for length in lengths:
            check_length(model, scale, length)
        arch = getattr(get_preset(model), scale)
        # LongT5's relative positions bound neither side: no limit but the count's memory.
        decoder_positions = arch.get("max_decoder_position_embeddings", position_limit(arch))
        check_tokens("target length", target_length, decoder_positions, model, scale)
        # Generation starts from the decoder's start token, which takes one position.
        check_tokens("new tokens", new_tokens,
                     None if decoder_positions is None else decoder_positions - 1, model, scale)


def paper_defaults() -> tuple[list[int], int, float]:
    """The ``paper`` profile's input lengths, target length and dropout: a count's defaults."""
    profile = load_profile("paper")
    return list(profile.lengths), profile.max_target_length, profile.dropout


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
    paper_lengths, paper_target, paper_dropout = paper_defaults()
    lengths = paper_lengths if lengths is None else lengths
    target_length = paper_target if target_length is None else target_length
    dropout = paper_dropout if dropout is None else dropout
    validate_request(models, lengths, scale, target_length, new_tokens)

    plan = []  # (model, length, depths to count)
    for model in models:
        full = layer_counts(getattr(get_preset(model), scale))
        for length in lengths:
            plan.append((model, length, [full] if full_depth else depths_needed(*full)))

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
                total = extrapolate_counts(counts, encoder_layers, decoder_layers)
                method = ("extrapolated from depths "
                          + ",".join(f"({e},{d})" for e, d in depths))
            if model not in params_by_model:
                params_by_model[model] = parameter_count(model, scale, vocab_size)
            rows.append(_row(model, length, target_length, new_tokens, dropout, scale,
                             params_by_model[model], encoder_layers, decoder_layers, total,
                             method))
    finally:
        bar.close()
    return rows


def _row(model: str, length: int, target_length: int, new_tokens: int, dropout: float, scale: str,
         params: int, encoder_layers: int, decoder_layers: int, total: DepthCount, method: str,
         ) -> CostRow:
    state = TRAIN_STATE_BYTES_PER_PARAM * params
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
        train_state_bytes=state,
        **{f"max_batch_{card}": max_batch(state, per_sample, gb) for card, gb in CARDS_GB.items()},
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


# ------------------------------------------------------------------------------------- text


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
             f"+ batch x (saved + logits) in {PAPER_CARD_GB:g}/{H100_MEMORY_GB:g} GiB "
             "(the paper's A6000 and an H100); an upper bound: "
             f"{MEMORY_ERROR_SOURCES}."),
            "paper = the batch the paper or its code reports (PAPER.md).",
        ]
    return "\n".join(out)
