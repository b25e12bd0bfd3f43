"""Model presets build offline, keep their attention pattern, and guard BigBird's silent switch."""

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from tradeoff.config import ConfigError
from tradeoff.models import PRESETS, build_config, describe_model, get_preset, guard_block_sparse


def _bigbird_mini():
    torch.manual_seed(0)
    return AutoModelForSeq2SeqLM.from_config(build_config("bigbird-large", "mini", vocab_size=500))


def _encode(model, length):
    ids = torch.randint(5, 500, (1, length))
    with torch.no_grad():
        model.get_encoder()(input_ids=ids)
    return model.get_encoder().attention_type


def test_unknown_model_is_one_clear_error():
    with pytest.raises(ConfigError, match="valid: led-base, led-large, bigbird-large"):
        get_preset("t5-large")


def test_bigbird_switch_to_full_attention_is_permanent_without_the_guard():
    # The pitfall the guard exists for: one short input, and every later long input runs full.
    model = _bigbird_mini()
    assert _encode(model, 512) == "original_full"
    assert _encode(model, 1024) == "original_full"


def test_guard_restores_block_sparse_for_long_inputs():
    model = _bigbird_mini()
    guard_block_sparse(model)
    assert _encode(model, 512) == "original_full"  # at or below 704 tokens nothing else is possible
    assert _encode(model, 1024) == "block_sparse"
    info = describe_model(model, "bigbird-large", "random", "mini")
    assert info["attention_types_ran"] == ["block_sparse", "original_full"]
    assert info["full_attention_at_or_below"] == 704


@pytest.mark.parametrize("name", list(PRESETS))
def test_mini_models_keep_family_attention_and_size_order(name):
    config = build_config(name, "mini", vocab_size=1000)
    full = build_config(name, "full", vocab_size=1000)
    assert type(config) is type(full)
    pattern = {"bigbird_pegasus": ("attention_type", "block_size", "num_random_blocks"),
               "longt5": ("encoder_attention_type", "local_radius", "global_block_size"),
               "pegasus_x": ("block_size", "num_global_tokens", "stagger_local_blocks")}
    if name.startswith("led"):
        assert config.attention_window[0] < full.attention_window[0]
    else:
        keys = pattern[config.model_type]
        assert [getattr(config, k) for k in keys] == [getattr(full, k) for k in keys]


def test_mini_base_to_large_ratio_is_roughly_the_papers():
    count = lambda name: AutoModelForSeq2SeqLM.from_config(
        build_config(name, "mini", vocab_size=4000)).num_parameters()
    ratio = count("led-large") / count("led-base")
    assert 1.8 < ratio < 4.0  # LED-large / LED-base checkpoints: 460M / 162M = 2.8


def test_full_led_base_matches_the_checkpoint_size():
    # allenai/led-base-16384 has 161.8M parameters; the config written here must rebuild it.
    with torch.device("meta"):
        model = AutoModelForSeq2SeqLM.from_config(build_config("led-base", "full", vocab_size=0))
    assert model.num_parameters() == pytest.approx(161.8e6, rel=0.01)


def test_full_pegasus_x_base_matches_the_published_size():
    # Phang et al. (2022) give PEGASUS-X Base 272M parameters.
    with torch.device("meta"):
        model = AutoModelForSeq2SeqLM.from_config(build_config("pegasus-x-base", "full", vocab_size=0))
    assert model.num_parameters() == pytest.approx(272e6, rel=0.01)
