"""Model presets: LED base/large and BigBird-Pegasus large, each pretrained or random, full or mini.

``full`` is the paper's exact architecture (the published checkpoints' configs, written out here
so a random-init model builds offline). ``mini`` keeps each family's attention pattern (LED's
sliding window with global attention on the first token; BigBird's block-sparse attention with
the same block size and random blocks) and roughly the base:large size ratio, small enough to
train on a 2-core CPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .config import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    """A model family member: its checkpoint and the architecture at each scale."""

    name: str
    checkpoint: str
    family: str  # "led" or "bigbird_pegasus"
    full: dict = field(repr=False)
    mini: dict = field(repr=False)


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


# Full sizes follow the checkpoints' config.json; vocab sizes are kept so a random-init model's
# embedding and output layers cost what the real ones do. Mini sizes mirror the checkpoints'
# shape: LED-large has twice LED-base's layers at 4/3 its width (2.6x the parameters at a 4k
# vocabulary; the checkpoints: 2.8x); BigBird-large matches LED-large's width and depth (its
# checkpoint has 16 layers to LED-large's 12, a cost the mini leaves out to fit the CPU budget).
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


def max_input_length(name: str, scale: str) -> int:
    """The longest input the preset's position embeddings allow."""
    arch = getattr(get_preset(name), scale)
    return arch.get("max_encoder_position_embeddings", arch.get("max_position_embeddings"))


def check_length(name: str, scale: str, length: int) -> None:
    """Reject a length of 0 or beyond the model's positions before anything is built."""
    limit = max_input_length(name, scale)
    if not 0 < length <= limit:
        raise ConfigError(f"input length {length} is impossible for {name} ({scale}): "
                          f"it must be between 1 and {limit} tokens")


def build_config(name: str, scale: str, vocab_size: int, tokenizer=None, dropout: float = 0.1):
    """Build the transformers config of a preset at a scale, offline.

    Args:
        name: preset name.
        scale: "full" or "mini".
        vocab_size: vocabulary size for a mini model (full models keep the checkpoint's).
        tokenizer: supplies the special-token ids.
        dropout: dropout probability.

    Returns:
        An ``LEDConfig`` or ``BigBirdPegasusConfig``.
    """
    from transformers import BigBirdPegasusConfig, LEDConfig

    preset = get_preset(name)
    arch = dict(getattr(preset, scale))
    arch.setdefault("vocab_size", vocab_size)
    if tokenizer is not None:
        arch.update(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    decoder_start_token_id=tokenizer.eos_token_id
                    if preset.family == "led" else tokenizer.pad_token_id)
    arch.update(dropout=dropout)
    config_class = LEDConfig if preset.family == "led" else BigBirdPegasusConfig
    return config_class(**arch)


def build_model(name: str, init: str, scale: str, tokenizer=None, vocab_size: int = 8000,
                dropout: float = 0.1):
    """Build a preset's model (and, for pretrained ones, its tokenizer).

    Args:
        name: preset name ("led-base", "led-large", "bigbird-large").
        init: "pretrained" (download the checkpoint) or "random" (build from config).
        scale: "full" or "mini"; mini models have no pretrained weights.
        tokenizer: the tokenizer for a random-init model (trained on the training split).
        vocab_size: vocabulary of a random-init mini model.
        dropout: dropout probability (SCROLLS: 0.1).

    Returns:
        ``(model, tokenizer)``.
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    preset = get_preset(name)
    if init == "pretrained":
        if scale != "full":
            raise ConfigError(f"{name}: pretrained weights exist only at scale 'full'")
        tokenizer = AutoTokenizer.from_pretrained(preset.checkpoint)
        model = AutoModelForSeq2SeqLM.from_pretrained(preset.checkpoint, dropout=dropout)
    else:
        if tokenizer is None:
            raise ValueError("a random-init model needs the tokenizer trained for it")
        config = build_config(name, scale, vocab_size=len(tokenizer), tokenizer=tokenizer,
                              dropout=dropout)
        model = AutoModelForSeq2SeqLM.from_config(config)
    # LED and BigBird-Pegasus take **kwargs in forward but average their loss themselves,
    # ignoring the token count the Trainer passes; left as is, the Trainer would skip its own
    # division by the accumulation steps (and multiply by the world size under DDP), scaling
    # the gradients and the logged loss by those factors.
    model.accepts_loss_kwargs = False
    if preset.family == "bigbird_pegasus":
        guard_block_sparse(model)
    return model, tokenizer


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


def describe_model(model, name: str, init: str, scale: str) -> dict:
    """What actually ran: architecture, size, attention pattern and its padding."""
    config = model.config
    info = {
        "preset": name, "checkpoint": get_preset(name).checkpoint, "init": init, "scale": scale,
        "parameters": sum(p.numel() for p in model.parameters()),
        "d_model": config.d_model, "encoder_layers": config.encoder_layers,
        "decoder_layers": config.decoder_layers, "vocab_size": config.vocab_size,
    }
    if is_led(name):
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
