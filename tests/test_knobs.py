"""Each efficiency knob takes effect, read from the model, not only "the run finished"."""

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from tradeoff import knobs
from tradeoff.analysis.cost import saved_tensor_bytes
from tradeoff.config import Cell, ConfigError, load_profile
from tradeoff.models import build_config, global_attention_mask
from tradeoff.pipeline import run_cell

VOCAB = 300


def _mini(name="led-base", seed=0):
    torch.manual_seed(seed)
    return AutoModelForSeq2SeqLM.from_config(
        build_config(name, "mini", vocab_size=VOCAB, dropout=0.0))


def _batch(name="led-base", length=256):
    torch.manual_seed(1)
    ids = torch.randint(5, VOCAB, (2, length))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
             "labels": torch.randint(5, VOCAB, (2, 16))}
    if name == "led-base":
        batch["global_attention_mask"] = global_attention_mask(ids)
    return batch


def test_unknown_knob_is_one_clear_error_before_compute(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("variants: [none, fp8]\n")
    with pytest.raises(ConfigError, match=r"unknown variant 'fp8'; valid: none, bf16") as err:
        load_profile(bad)
    assert "\n" not in str(err.value)
    for wrong in ("pruned-0", "pruned-100", "pruned-x"):
        with pytest.raises(ConfigError, match="pruned-N"):
            knobs.knob(wrong)
    assert knobs.prune_amount("pruned-30") == pytest.approx(0.3)


def test_a_knob_the_machine_cannot_run_is_rejected_before_compute():
    with pytest.raises(ConfigError, match="'fp16' needs a CUDA GPU"):
        knobs.check_machine("fp16", use_cuda=False)
    with pytest.raises(ConfigError, match="CPU kernels only"):
        knobs.check_machine("int8-dynamic", use_cuda=True)
    knobs.check_machine("bf16", use_cuda=False)  # CPU autocast has bf16
    # Through a cell run: the error comes before any data, tokenizer or model.
    profile = load_profile("smoke", results_dir="/nonexistent/never-written")
    with pytest.raises(ConfigError, match="'fp16' needs a CUDA GPU"):
        run_cell(profile, Cell("govreport", "led-base", 1024, variant="fp16"))


def test_mixed_precision_knobs_set_the_trainers_flags():
    assert knobs.training_arguments("bf16") == {"bf16": True, "fp16": False}
    assert knobs.training_arguments("none") == {"bf16": False, "fp16": False}
    assert knobs.training_arguments("grad-checkpointing")["gradient_checkpointing"] is True


@pytest.mark.parametrize("name", ["led-base", "bigbird-large"])
def test_gradient_checkpointing_saves_fewer_activation_bytes(name):
    batch = _batch(name, length=1024)  # BigBird stays block-sparse above 704 tokens

    def saved(checkpointing: bool) -> int:
        model = _mini(name).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        _, nbytes = saved_tensor_bytes(lambda: model(**batch).loss,
                                       exclude=list(model.parameters()))
        return nbytes

    full, recomputed = saved(False), saved(True)
    assert recomputed < 0.5 * full, (recomputed, full)


def test_int8_dynamic_quantizes_every_linear_layer_and_still_generates():
    model = knobs.before_inference(_mini().eval(), "int8-dynamic")
    info = knobs.describe_variant(model, "int8-dynamic")
    assert info["int8_linear_layers"] > 0
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
    batch = _batch()
    batch.pop("labels")
    out = model.generate(**batch, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape == (2, 4)


def test_pruning_zeroes_the_share_asked_and_keeps_it_through_training():
    model = knobs.before_training(_mini().train(), "pruned-40")
    assert knobs.describe_variant(model, "pruned-40")["linear_weight_sparsity"] == \
        pytest.approx(0.40, abs=0.005)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(**_batch()).loss.backward()
    optimizer.step()
    model = knobs.before_inference(model, "pruned-40")
    assert not any(hasattr(m, "weight_mask") for m in model.modules())  # made permanent
    assert knobs.describe_variant(model, "pruned-40")["linear_weight_sparsity"] == \
        pytest.approx(0.40, abs=0.005)


def test_student_keeps_every_other_decoder_layer_with_the_teachers_weights():
    teacher = _mini("bigbird-large")
    student = knobs.before_training(_mini("bigbird-large"), "student")
    layers = teacher.get_decoder().layers
    assert len(student.get_decoder().layers) == len(layers) // 2 == student.config.decoder_layers
    for kept, original in zip(student.get_decoder().layers, list(layers)[::2]):
        assert torch.equal(kept.fc1.weight, original.fc1.weight)
    assert len(student.get_encoder().layers) == len(teacher.get_encoder().layers)


def test_lora_trains_only_the_adapters_and_merges_back():
    model = knobs.before_training(_mini(), "lora")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert {n.split(".")[-4] for n in trainable} >= {"query", "key", "value", "q_proj", "v_proj"}
    info = knobs.describe_variant(model, "lora")
    total = sum(p.numel() for p in model.parameters())
    assert 0 < info["trainable_parameters"] < 0.1 * total
    merged = knobs.before_inference(model, "lora")
    assert not any("lora_" in n for n, _ in merged.named_parameters())


@pytest.mark.parametrize("variant", ["bf16", "int8-dynamic", "lora"])
def test_a_knob_cell_runs_end_to_end_and_records_what_took_effect(tmp_path, variant):
    profile = load_profile("smoke", results_dir=str(tmp_path))
    record = run_cell(profile, Cell("govreport", "led-base", 256, variant=variant),
                      show_progress=False)
    assert record.status == "ok", record.reason
    assert record.params.variant == variant and record.label.endswith(f"/{variant}")
    knob = record.model["knob"]
    if variant == "bf16":
        assert knob["training"]["logits_dtype"] == ["bfloat16"]
        assert knob["inference"]["logits_dtype"] == ["bfloat16"]
    if variant == "int8-dynamic":
        assert knob["training"]["int8_linear_layers"] == 0
        assert knob["inference"]["int8_linear_layers"] > 0
    if variant == "lora":
        assert knob["training"]["trainable_parameters"] < 0.1 * record.model["parameters"]
