"""Models of the grid: presets (the paper's LED base/large and BigBird-Pegasus large, and BART,
LongT5 and Pegasus-X, which it did not study), each pretrained or random, full or mini, and models
named by checkpoint.

``full`` is the paper's exact architecture (the published checkpoints' configs, written out here
so a random-init model builds offline). ``mini`` keeps each family's attention pattern (LED's
sliding window with global attention on the first token; BigBird's block-sparse attention with
the same block size and random blocks) and roughly the base:large size ratio, small enough to
train on a 2-core CPU.

A profile may also name a model by checkpoint (``checkpoints: {name: hub id or local folder}``):
its architecture is the checkpoint's ``config.json``, at the one size it has. What the grid does
differently per family is keyed by the config's ``model_type`` (:data:`FAMILY_HANDLING`): LED gets
global attention on the first token, BigBird-Pegasus the block-sparse guard; any other
encoder-decoder that ``AutoModelForSeq2SeqLM`` builds runs as it is.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

log = logging.getLogger(__name__)

# The BPE vocabulary of a random-init model when none is given (the profile's ``vocab_size``
# default, and the cost model's builds); pretrained models keep their checkpoint's vocabulary.
MINI_VOCAB_SIZE = 8000


@dataclass(frozen=True)
class Preset:
    """A model family member: its checkpoint and the architecture at each scale."""

    name: str
    checkpoint: str
    family: str  # the config's model_type: "led", "bigbird_pegasus", "bart", "longt5", "pegasus_x"
    full: dict = field(repr=False)
    mini: dict = field(repr=False)
    # False for architectures the paper did not study: BART (Lewis et al., arXiv 1910.13461;
    # SCROLLS' short-input baseline), LongT5 (Guo et al., arXiv 2112.07916, four months before
    # the paper's) and Pegasus-X (Phang et al., arXiv 2208.04347, after it). They are here
    # because SCROLLS test scores are published for them, to set beside their counted cost.
    in_paper: bool = True


def _led(d_model: int, layers: int, heads: int, ffn: int, window: int, max_source: int, vocab: int | None):
    arch = dict(d_model=d_model, encoder_layers=layers, decoder_layers=layers,
                encoder_attention_heads=heads, decoder_attention_heads=heads,
                encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, attention_window=[window] * layers,
                max_encoder_position_embeddings=max_source, max_decoder_position_embeddings=1024)
    return arch | ({"vocab_size": vocab} if vocab else {})


def _bigbird(d_model: int, layers: int, heads: int, ffn: int, vocab: int | None):
    arch = dict(d_model=d_model, encoder_layers=layers, decoder_layers=layers,
                encoder_attention_heads=heads, decoder_attention_heads=heads,
                encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, max_position_embeddings=4096,
                attention_type="block_sparse", block_size=64, num_random_blocks=3,
                scale_embedding=True, use_bias=False)
    return arch | ({"vocab_size": vocab} if vocab else {})


def _bart(d_model: int, layers: int, heads: int, ffn: int, vocab: int | None):
    # Full attention over a learned table of 1024 positions, GELU, no embedding scaling, as
    # facebook/bart-base's config.json (transformers' BartConfig defaults are bart-large's sizes).
    arch = dict(d_model=d_model, encoder_layers=layers, decoder_layers=layers,
                encoder_attention_heads=heads, decoder_attention_heads=heads,
                encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, max_position_embeddings=1024,
                activation_function="gelu", scale_embedding=False)
    return arch | ({"vocab_size": vocab} if vocab else {})


def _longt5(d_model: int, layers: int, heads: int, ffn: int, vocab: int | None):
    # Transient-global attention as google/long-t5-tglobal-base's config.json: a local radius of
    # 127 tokens, one global token per 16-token block, gated-GELU feed-forward, T5's 32
    # relative-position buckets up to distance 128. tie_word_embeddings False is T5.1.1's flag;
    # transformers 5 reads it as "no decoder-output scaling" and ties the output layer to the
    # embeddings anyway (LongT5Config.__post_init__), so the built model has 222.9M parameters.
    arch = dict(d_model=d_model, d_kv=d_model // heads, num_layers=layers,
                num_decoder_layers=layers, num_heads=heads, d_ff=ffn,
                encoder_attention_type="transient-global", local_radius=127,
                global_block_size=16, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                relative_attention_num_buckets=32, relative_attention_max_distance=128,
                pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    return arch | ({"vocab_size": vocab} if vocab else {})


def _pegasus_x(d_model: int, layers: int, heads: int, ffn: int, vocab: int | None):
    # Block-local attention with staggered blocks of 512 tokens and 128 global tokens, sinusoidal
    # positions, ReLU, as google/pegasus-x-base's config.json and the authors' Flax configs
    # (google-research/pegasus, pegasus/flax/configs/pegasus_x_{base,large}.py: global_local
    # encoder, 128 global tokens, block 512, staggered, 16384 input tokens; ReLU from
    # pegasus_{base,large}.py). transformers' PegasusXConfig default of 32 global tokens is not
    # the checkpoints'.
    arch = dict(d_model=d_model, encoder_layers=layers, decoder_layers=layers,
                encoder_attention_heads=heads, decoder_attention_heads=heads,
                encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, max_position_embeddings=16384,
                block_size=512, num_global_tokens=128, stagger_local_blocks=True,
                activation_function="relu", scale_embedding=True)
    return arch | ({"vocab_size": vocab} if vocab else {})


# Full sizes follow the checkpoints' config.json; vocab sizes are kept so a random-init model's
# embedding and output layers cost what the real ones do. Mini sizes mirror the checkpoints'
# shape: LED-large has twice LED-base's layers at 4/3 its width (2.6x the parameters at a 4k
# vocabulary; the checkpoints: 2.8x); BigBird-large matches LED-large's width and depth (its
# checkpoint has 16 layers to LED-large's 12, a cost the mini leaves out to fit the CPU budget).
# The architectures the paper did not study follow the same rule: a large mini has twice its base
# mini's layers at 4/3 its width, LongT5-XL's the large mini's layers at twice its width.
# PRESETS' order is the order of every table: the paper's three first.
PRESETS = {
    "led-base": Preset("led-base", "allenai/led-base-16384", "led",
                       full=_led(768, 6, 12, 3072, 1024, 16384, 50265),
                       mini=_led(96, 2, 4, 384, 256, 4096, None)),
    "led-large": Preset("led-large", "allenai/led-large-16384", "led",
                        full=_led(1024, 12, 16, 4096, 1024, 16384, 50265),
                        mini=_led(128, 4, 4, 512, 256, 4096, None)),
    "bigbird-large": Preset("bigbird-large", "google/bigbird-pegasus-large-pubmed", "bigbird_pegasus",
                            full=_bigbird(1024, 16, 16, 4096, 96103),
                            mini=_bigbird(128, 4, 4, 512, None)),
    # Not in the paper. google/long-t5-tglobal-base's config.json (Hub commit 452ea23): d_model
    # 768, d_kv 64, 12 heads, d_ff 2048, 12 + 12 layers, vocabulary 32128.
    "longt5-base": Preset("longt5-base", "google/long-t5-tglobal-base", "longt5",
                          full=_longt5(768, 12, 12, 2048, 32128),
                          mini=_longt5(96, 2, 4, 384, None), in_paper=False),
    # google/pegasus-x-base's config.json as fine-tuned copies on the Hub reproduce it (its
    # _name_or_path): d_model 768, 12 heads, feed-forward 3072, 12 + 12 layers; the vocabulary
    # is Pegasus' 96103 (transformers' PegasusXConfig default).
    "pegasus-x-base": Preset("pegasus-x-base", "google/pegasus-x-base", "pegasus_x",
                             full=_pegasus_x(768, 12, 12, 3072, 96103),
                             mini=_pegasus_x(96, 2, 4, 384, None), in_paper=False),
    # SCROLLS' short-input baseline (its Table 2: 256, 512 and 1024 input tokens). Sizes as
    # facebook/bart-base's config.json: d_model 768, 6 + 6 layers, 12 heads, feed-forward 3072,
    # 1024 positions, vocabulary 50265 (139.4M parameters built; the model card: 139M).
    "bart-base": Preset("bart-base", "facebook/bart-base", "bart",
                        full=_bart(768, 6, 12, 3072, 50265),
                        mini=_bart(96, 2, 4, 384, None), in_paper=False),
    # The LongT5 sizes with SCROLLS test scores at 16k tokens. The authors' gin files
    # (google/flaxformer, flaxformer/t5x/configs/longt5/models/
    # longt5_1_1_transient_global_{large,xl}.gin) give large: 16 heads of 64, 24 + 24 layers,
    # embedding 1024, MLP 2816; XL: 32 heads of 64, 24 + 24 layers, embedding 2048, MLP 5120;
    # both the base's 32128-entry vocabulary, local radius 127 and 16 tokens per global block.
    # Built with the output layer tied as for the base (above): 750.3M and 2784.0M parameters,
    # 783.2M and 2849.8M with the checkpoints' separate output layer (the authors: 780M, 3B).
    "longt5-large": Preset("longt5-large", "google/long-t5-tglobal-large", "longt5",
                           full=_longt5(1024, 24, 16, 2816, 32128),
                           mini=_longt5(128, 4, 4, 512, None), in_paper=False),
    "longt5-xl": Preset("longt5-xl", "google/long-t5-tglobal-xl", "longt5",
                        full=_longt5(2048, 24, 32, 5120, 32128),
                        mini=_longt5(256, 4, 8, 1024, None), in_paper=False),
    # PEGASUS-large's sizes (pegasus/flax/configs/pegasus_large.py: 16 + 16 layers, width 1024,
    # MLP 4096, 16 heads, ReLU) with Pegasus-X's encoder; transformers' PegasusXConfig docstring
    # names google/pegasus-x-large for the same sizes and vocabulary 96103.
    "pegasus-x-large": Preset("pegasus-x-large", "google/pegasus-x-large", "pegasus_x",
                              full=_pegasus_x(1024, 16, 16, 4096, 96103),
                              mini=_pegasus_x(128, 4, 4, 512, None), in_paper=False),
}
# How the grid treats a family, keyed by the config's model_type; any other encoder-decoder runs
# as transformers builds it, with no family-specific input or guard.
FAMILY_HANDLING = {
    "led": "global attention on the first token (global_attention_mask)",
    "bigbird_pegasus": "block-sparse guard (guard_block_sparse)",
}


def get_preset(name: str) -> Preset:
    """Look a preset up by name, with one clear error for an unknown one."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}'; valid: {', '.join(PRESETS)}") from None


def is_led(name: str) -> bool:
    """LED takes a ``global_attention_mask``; the paper's setting puts it on the first token."""
    return get_preset(name).family == "led"


def global_attention_mask(input_ids):
    """LED's global attention on the first token of each row (SCROLLS' baseline setting).

    Args:
        input_ids: a batch of token ids, a tensor or a list of lists.

    Returns:
        A mask of the same shape and kind: 1 on each row's first token, 0 elsewhere.
    """
    if isinstance(input_ids, list):
        return [[1] + [0] * (len(ids) - 1) for ids in input_ids]
    mask = input_ids.new_zeros(input_ids.shape)
    mask[:, 0] = 1
    return mask


def position_limit(config) -> int | None:
    """The longest input a config's position embeddings allow; None for relative positions.

    LED has a learned table of ``max_encoder_position_embeddings``; BigBird-Pegasus, Pegasus-X
    and BART-like models one of ``max_position_embeddings`` (Pegasus-X's are sinusoidal, but it
    was pretrained and published for that limit). T5-like models (LongT5 among them) have no
    position table: relative-position buckets (``relative_attention_num_buckets``) take any
    distance, so no position bounds the input and only memory does; their ``n_positions`` is a
    leftover T5 field the model never reads.
    """
    values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    if "max_encoder_position_embeddings" in values:
        return values["max_encoder_position_embeddings"]
    if "relative_attention_num_buckets" in values:
        return None
    return values.get("max_position_embeddings")


def max_input_length(name: str, scale: str) -> int | None:
    """The longest input the preset's position embeddings allow (None: no position limit)."""
    return position_limit(getattr(get_preset(name), scale))


def check_length(name: str, scale: str, length: int, checkpoint: str | None = None) -> None:
    """Reject a length of 0 or beyond the model's positions before anything is built.

    Args:
        name: preset name, or the display name of a model by checkpoint.
        scale: "full" or "mini" (a model by checkpoint has its config's size only).
        length: input tokens.
        checkpoint: hub id or local folder of a model by checkpoint; None for a preset.

    Raises:
        ConfigError: a length the model cannot take, or a checkpoint that cannot run.
    """
    if checkpoint is None:
        limit = max_input_length(name, scale)
    else:
        limit = position_limit(checkpoint_config(name, checkpoint))
    check_tokens("input length", length, limit, name, scale)


def check_tokens(what: str, tokens: int, limit: int | None, name: str, scale: str) -> None:
    """Reject a token count outside 1..``limit`` (``limit`` None: no bound but at least 1).

    Raises:
        ConfigError: e.g. "input length 0 is impossible for led-base (full): it must be
            between 1 and 16384 tokens".
    """
    if not 0 < tokens <= (math.inf if limit is None else limit):
        bound = "at least 1 token" if limit is None else f"between 1 and {limit} tokens"
        raise ConfigError(f"{what} {tokens} is impossible for {name} ({scale}): it must be "
                          f"{bound}")


def checkpoint_config(name: str, checkpoint: str):
    """The config of a model named by checkpoint, checked to be an encoder-decoder the grid runs.

    A local folder is read as it is; a hub id is read from the Hugging Face cache (downloaded
    when online: only ``config.json``, a few kB).

    Args:
        name: the model's display name in the profile.
        checkpoint: a hub id (``google/long-t5-tglobal-base``) or a folder with ``config.json``.

    Returns:
        The transformers config.

    Raises:
        ConfigError: no config found, an unknown ``model_type``, or a model that is not a
            sequence-to-sequence model (decoder-only, encoder-only).
    """
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES as SEQ2SEQ,
    )

    local = Path(checkpoint).expanduser()
    if local.is_dir() and not (local / "config.json").is_file():
        raise ConfigError(f"model '{name}': folder {checkpoint} has no config.json")
    try:
        config = AutoConfig.from_pretrained(str(local) if local.is_dir() else checkpoint)
    except (OSError, ValueError, KeyError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"model '{name}': cannot read the config of checkpoint "
                          f"'{checkpoint}': {reason}") from None
    if config.model_type not in SEQ2SEQ:
        raise ConfigError(
            f"model '{name}' (checkpoint '{checkpoint}') has model_type '{config.model_type}', "
            f"which is not an encoder-decoder the grid can run (AutoModelForSeq2SeqLM: led, "
            f"bigbird_pegasus, longt5, pegasus_x, t5, bart, ...)")
    return config


def layer_counts(config) -> tuple[int, int]:
    """(encoder, decoder) depth of a config, whichever naming its family uses."""
    values = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    if "encoder_layers" in values:
        return values["encoder_layers"], values["decoder_layers"]
    encoder = values["num_layers"]  # T5-like
    return encoder, values.get("num_decoder_layers") or encoder


def set_layer_counts(config, encoder_layers: int, decoder_layers: int) -> None:
    """Change a config's depth in place (LED also gets one attention window per encoder layer)."""
    if config.model_type == "led":
        window = config.attention_window
        window = window[0] if isinstance(window, list) else window
        config.attention_window = [window] * encoder_layers
    if hasattr(config, "encoder_layers"):
        config.encoder_layers, config.decoder_layers = encoder_layers, decoder_layers
    else:
        config.num_layers, config.num_decoder_layers = encoder_layers, decoder_layers


def _set_dropout(config, dropout: float) -> None:
    # BART-like configs call it ``dropout``, T5-like ones ``dropout_rate``; passing the wrong
    # name to a config stores an attribute that nothing reads.
    key = "dropout" if "dropout" in config.to_dict() else "dropout_rate"
    setattr(config, key, dropout)


def _special_tokens(config, tokenizer) -> None:
    # LED keeps BART's convention (the decoder starts with </s>); Pegasus- and T5-like models
    # start it with the padding token.
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.eos_token_id
    if "bos_token_id" in config.to_dict():
        config.bos_token_id = tokenizer.bos_token_id
    config.decoder_start_token_id = (tokenizer.eos_token_id if config.model_type == "led"
                                     else tokenizer.pad_token_id)


def build_config(name: str, scale: str, vocab_size: int, tokenizer=None, dropout: float = 0.1):
    """Build the transformers config of a preset at a scale, offline.

    Args:
        name: preset name.
        scale: "full" or "mini".
        vocab_size: vocabulary size for a mini model (full models keep the checkpoint's).
        tokenizer: supplies the special-token ids.
        dropout: dropout probability.

    Returns:
        The family's config (``LEDConfig``, ``BigBirdPegasusConfig``, ``BartConfig``,
        ``LongT5Config``, ``PegasusXConfig``).
    """
    from transformers import AutoConfig

    preset = get_preset(name)
    arch = dict(getattr(preset, scale))
    arch.setdefault("vocab_size", vocab_size)
    config = AutoConfig.for_model(preset.family, **arch)
    if tokenizer is not None:
        _special_tokens(config, tokenizer)
    _set_dropout(config, dropout)
    return config


def check_scale(name: str, scale: str, checkpoint: str | None) -> None:
    """A model by checkpoint has one size, its config's: scale 'mini' exists for presets only."""
    if checkpoint is not None and scale != "full":
        raise ConfigError(f"model '{name}' is named by checkpoint and has only its config's "
                          f"size: use scale 'full' (for a CPU-sized run, point it at a folder "
                          f"with a smaller config.json)")


def build_model(name: str, init: str, scale: str, tokenizer=None,
                vocab_size: int = MINI_VOCAB_SIZE, dropout: float = 0.1,
                checkpoint: str | None = None):
    """Build a model (and, for pretrained ones, its tokenizer).

    Args:
        name: preset name ("led-base", ..., "pegasus-x-base") or a model's display name.
        init: "pretrained" (the checkpoint's weights) or "random" (built from the config).
        scale: "full" or "mini"; mini models have no pretrained weights.
        tokenizer: the tokenizer for a random-init model (trained on the training split).
        vocab_size: vocabulary of a random-init mini model.
        dropout: dropout probability (SCROLLS: 0.1).
        checkpoint: hub id or local folder of a model named by checkpoint (None: the preset's).

    Returns:
        ``(model, tokenizer)``.
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    check_scale(name, scale, checkpoint)
    source = checkpoint or get_preset(name).checkpoint
    if init == "pretrained":
        if scale != "full":
            raise ConfigError(f"{name}: pretrained weights exist only at scale 'full'")
        config = (checkpoint_config(name, checkpoint) if checkpoint
                  else build_config(name, "full", vocab_size=vocab_size))
        dropout_key = "dropout" if "dropout" in config.to_dict() else "dropout_rate"
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForSeq2SeqLM.from_pretrained(source, **{dropout_key: dropout})
        except OSError as err:  # the library's message does not say which checkpoint
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise OSError(f"checkpoint '{source}' could not be loaded: {reason}") from err
    else:
        if tokenizer is None:
            raise ValueError("a random-init model needs the tokenizer trained for it")
        if checkpoint:
            config = checkpoint_config(name, checkpoint)
            config.vocab_size = len(tokenizer)
            _special_tokens(config, tokenizer)
            _set_dropout(config, dropout)
        else:
            config = build_config(name, scale, vocab_size=len(tokenizer), tokenizer=tokenizer,
                                  dropout=dropout)
        model = AutoModelForSeq2SeqLM.from_config(config)
    # LED and BigBird-Pegasus take **kwargs in forward but average their loss themselves,
    # ignoring the token count the Trainer passes; left as is, the Trainer would skip its own
    # division by the accumulation steps (and multiply by the world size under DDP), scaling
    # the gradients and the logged loss by those factors.
    model.accepts_loss_kwargs = False
    if model.config.model_type == "bigbird_pegasus":
        guard_block_sparse(model)
    return model, tokenizer


def uses_global_attention(config) -> bool:
    """LED takes a ``global_attention_mask`` (keyed by the config's model_type)."""
    return config.model_type == "led"


def guard_block_sparse(model) -> None:
    """Keep BigBird-Pegasus block-sparse for inputs that allow it.

    The encoder switches to full attention for an input of at most (5 + 2 x random blocks) x
    block size tokens (704 with the defaults), and the switch is permanent for that model
    object: every later long input would run full attention too, silently changing what is
    measured. A pre-forward hook restores the configured type before each call, so the encoder
    decides per input; a forward hook records which types actually ran.
    """
    encoder = model.get_encoder()
    configured = model.config.attention_type
    encoder.attention_types_ran = set()

    def restore(module, args, kwargs):
        module.set_attention_type(configured)

    def record(module, args, kwargs, output):
        module.attention_types_ran.add(module.attention_type)

    encoder.register_forward_pre_hook(restore, with_kwargs=True)
    encoder.register_forward_hook(record, with_kwargs=True)


def describe_model(model, name: str, init: str, scale: str, checkpoint: str | None = None) -> dict:
    """What actually ran: architecture, size, attention pattern and its padding."""
    config = model.config
    encoder_layers, decoder_layers = layer_counts(config)
    info = {
        "preset": name, "checkpoint": checkpoint or get_preset(name).checkpoint,
        "by_checkpoint": checkpoint is not None, "model_type": config.model_type,
        "init": init, "scale": scale,
        "parameters": sum(p.numel() for p in model.parameters()),
        "d_model": config.d_model, "encoder_layers": encoder_layers,
        "decoder_layers": decoder_layers, "vocab_size": config.vocab_size,
        "position_limit": position_limit(config),
    }
    if config.model_type == "longt5":
        return info | {"attention": config.encoder_attention_type,
                       "local_radius": config.local_radius,
                       "global_block_size": config.global_block_size}
    if config.model_type == "pegasus_x":
        return info | {"attention": "block-local + global tokens",
                       "block_size": config.block_size,
                       "num_global_tokens": config.num_global_tokens,
                       "stagger_local_blocks": config.stagger_local_blocks}
    if config.model_type not in FAMILY_HANDLING:
        return info | {"attention": "as the model's own implementation (no family handling)"}
    if config.model_type == "led":
        window = config.attention_window
        info |= {"attention": "sliding window + global attention on the first token",
                 "attention_window": window[0] if isinstance(window, list) else window,
                 "pads_inputs_to_multiple_of": window[0] if isinstance(window, list) else window}
    else:
        encoder = model.get_encoder()
        info |= {"attention": config.attention_type, "block_size": config.block_size,
                 "num_random_blocks": config.num_random_blocks,
                 "full_attention_at_or_below": (5 + 2 * config.num_random_blocks) * config.block_size,
                 "pads_inputs_to_multiple_of": config.block_size,
                 "attention_types_ran": sorted(getattr(encoder, "attention_types_ran", []))}
    return info
