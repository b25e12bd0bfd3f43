"""Random-init builds of the full architectures at reduced depth, and the one extrapolation
back to full depth.

Full depth at 4096 tokens is slow on a CPU, so a count is made at (encoder, decoder) depths
(1, 1), (2, 1) and (1, 2) and extrapolated (:func:`extrapolate`):
``total = c(1,1) + (E - 1) * [c(2,1) - c(1,1)] + (D - 1) * [c(1,2) - c(1,1)]``. The layers of a
model are identical, so this is exact; :func:`tradeoff.cost.architecture.extrapolation_check`
compares it with a full-depth count. Both the architectures' counts (:mod:`.architecture`) and
the memory knobs' (:mod:`.knob_memory`) build and extrapolate through here.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..models import build_config, global_attention_mask, is_led, set_layer_counts

DEPTHS = ((1, 1), (2, 1), (1, 2))


def depths_needed(encoder_layers: int, decoder_layers: int) -> list[tuple[int, int]]:
    """The depths a full (``encoder_layers``, ``decoder_layers``) count is extrapolated from: a
    side that is one layer deep at full size needs no second count."""
    needed = [(1, 1)]
    if encoder_layers > 1:
        needed.append((2, 1))
    if decoder_layers > 1:
        needed.append((1, 2))
    return needed


def extrapolate(counts: Mapping[tuple[int, int], int], encoder_layers: int,
                decoder_layers: int) -> int:
    """A full-depth count from counts at depths (1,1), (2,1) and (1,2).

    ``total = c(1,1) + (E - 1) * [c(2,1) - c(1,1)] + (D - 1) * [c(1,2) - c(1,1)]``; exact
    because the layers of a model are identical. Only the depths of :func:`depths_needed` are
    read.

    Args:
        counts: one count keyed by (encoder, decoder) depth.
        encoder_layers: full encoder depth E.
        decoder_layers: full decoder depth D.

    Returns:
        The extrapolated count.
    """
    base = counts[(1, 1)]
    value = base
    if encoder_layers > 1:
        value += (encoder_layers - 1) * (counts[(2, 1)] - base)
    if decoder_layers > 1:
        value += (decoder_layers - 1) * (counts[(1, 2)] - base)
    return value


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

