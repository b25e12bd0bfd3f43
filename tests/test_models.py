"""Model presets build offline, keep their attention pattern, and guard BigBird's silent switch."""

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from tradeoff.errors import ConfigError
from tradeoff.models import (
    PRESETS,
    build_config,
    check_length,
    describe_model,
    get_preset,
    guard_block_sparse,
)


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
               "bart": ("max_position_embeddings",),  # full attention over its positions
               "longt5": ("encoder_attention_type", "local_radius", "global_block_size"),
               "pegasus_x": ("block_size", "num_global_tokens", "stagger_local_blocks")}
    if name.startswith("led"):
        assert config.attention_window[0] < full.attention_window[0]
    else:
        keys = pattern[config.model_type]
        assert [getattr(config, k) for k in keys] == [getattr(full, k) for k in keys]


@pytest.mark.parametrize("small, big", [
    ("led-base", "led-large"),  # the checkpoints: 460M / 162M = 2.8
    ("longt5-base", "longt5-large"),  # 780M / 250M = 3.1 (the LongT5 README)
    ("longt5-large", "longt5-xl"),  # 3B / 780M = 3.8
    ("pegasus-x-base", "pegasus-x-large"),  # 568M / 272M = 2.1 (Phang et al.)
])
def test_mini_base_to_large_ratio_is_roughly_the_checkpoints(small, big):
    count = lambda name: AutoModelForSeq2SeqLM.from_config(
        build_config(name, "mini", vocab_size=4000)).num_parameters()
    assert 1.8 < count(big) / count(small) < 4.0


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


def _meta_parameters(name: str) -> int:
    with torch.device("meta"):
        return AutoModelForSeq2SeqLM.from_config(
            build_config(name, "full", vocab_size=0)).num_parameters()


@pytest.mark.parametrize("name, published, rel", [
    ("bart-base", 139e6, 0.01),  # facebook/bart-base's model card: 139M
    ("pegasus-x-large", 568e6, 0.01),  # Phang et al. (2022): PEGASUS-X, 568M
    # The LongT5 README: 780M and 3 billion, counting the checkpoints' separate output layer,
    # which transformers 5 ties to the embeddings (tradeoff.models: _longt5).
    ("longt5-large", 780e6, 0.01),
    ("longt5-xl", 3e9, 0.06),  # "3 billion" is rounded: 2.85B with the output layer
])
def test_added_presets_match_the_published_sizes(name, published, rel):
    params = _meta_parameters(name)
    config = build_config(name, "full", vocab_size=0)
    if config.model_type == "longt5":
        params += config.vocab_size * config.d_model  # the checkpoint's own output layer
    assert params == pytest.approx(published, rel=rel)


def test_added_presets_are_marked_and_ordered_after_the_papers():
    assert list(PRESETS)[:3] == ["led-base", "led-large", "bigbird-large"]
    assert all(p.in_paper for p in list(PRESETS.values())[:3])
    assert not any(p.in_paper for p in list(PRESETS.values())[3:])


@pytest.mark.parametrize("name, longest", [
    ("led-base", 16384), ("pegasus-x-base", 16384), ("pegasus-x-large", 16384),
    ("bart-base", 1024),
])
def test_published_lengths_fit_the_positions(name, longest):
    # SCROLLS' published lengths: LED-base up to 16384, BART-base 256-1024, Pegasus-X 16384.
    for length in (256, longest):
        check_length(name, "full", length)
    with pytest.raises(ConfigError, match=f"between 1 and {longest} tokens"):
        check_length(name, "full", longest + 1)


@pytest.mark.parametrize("name", ["longt5-base", "longt5-large", "longt5-xl"])
def test_longt5_has_no_position_limit(name):
    check_length(name, "full", 16384)  # relative positions: only memory bounds the input
    with pytest.raises(ConfigError, match="at least 1 token"):
        check_length(name, "full", 0)
