"""Each efficiency knob takes effect, read from the model, not only "the run finished"."""

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from tradeoff import knobs
from tradeoff.cost.instruments import saved_tensor_bytes
from tradeoff.config import Cell, load_profile
from tradeoff.errors import ConfigError
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
    # The hardware is looked up (which imports torch) only for the knobs that depend on it.
    asked = []
    knobs.check_machine("bf16", use_cuda=lambda: asked.append("bf16") or False)
    with pytest.raises(ConfigError, match="'fp16' needs a CUDA GPU"):
        knobs.check_machine("fp16", use_cuda=lambda: asked.append("fp16") or False)
    assert asked == ["fp16"]
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
    # Generation with the key-value cache runs: the kept layers' cache indices are renumbered.
    ids = torch.randint(5, VOCAB, (1, 64))
    assert student.eval().generate(input_ids=ids, max_new_tokens=3, min_new_tokens=3,
                                   do_sample=False).shape == (1, 4)


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


@pytest.mark.e2e
@pytest.mark.parametrize("variant", ["bf16", "int8-dynamic", "lora"])
def test_a_knob_cell_runs_end_to_end_and_records_what_took_effect(tmp_path, variant):
    profile = load_profile("smoke", results_dir=str(tmp_path))
    record = run_cell(profile, Cell("govreport", "led-base", 256, variant=variant),
                      show_progress=False)
    assert record.status == "ok", record.reason
    assert record.params.variant == variant and record.label.endswith(f"/{variant}")
    steps = record.train.step_times_s  # each optimizer step's wall time: the spread
    assert len(steps) == record.train.steps and all(t > 0 for t in steps)
    knob = record.model.knob
    if variant == "bf16":
        assert knob.training.logits_dtype == ["bfloat16"]
        assert knob.inference.logits_dtype == ["bfloat16"]
    if variant == "int8-dynamic":
        assert knob.training.int8_linear_layers == 0
        assert knob.inference.int8_linear_layers > 0
    if variant == "lora":
        assert knob.training.trainable_parameters < 0.1 * record.model.parameters


# --------------------------------------------------------------------------------------------
# The memory knobs, counted (tradeoff.cost.knob_memory)


def test_memory_knobs_change_what_a_training_sample_holds():
    from tradeoff.cost.knob_memory import FROZEN_BYTES, TRAINABLE_BYTES, memory_rows

    rows = {r.variant: r for r in memory_rows(["led-base"], [512], scale="mini",
                                                target_length=32)}
    none, ckpt, bf16, lora = (rows[v] for v in ("none", "grad-checkpointing", "bf16", "lora"))
    # Checkpointing keeps layer inputs only, and pays one layer's recompute at the peak.
    assert ckpt.saved_bytes_per_sample < 0.5 * none.saved_bytes_per_sample
    assert ckpt.recompute_peak_bytes > 0 and none.recompute_peak_bytes == 0
    assert ckpt.memory_per_sample_bytes == (ckpt.saved_bytes_per_sample
                                            + ckpt.recompute_peak_bytes + ckpt.logits_bytes)
    # bf16 autocast saves the matmul inputs in 2 bytes: fewer bytes, not half of them all.
    assert none.saved_bytes_per_sample * 0.5 < bf16.saved_bytes_per_sample \
        < none.saved_bytes_per_sample
    assert bf16.state_bytes == 18 * bf16.parameters and none.state_bytes == 16 * none.parameters
    # LoRA: only the adapters carry gradients and moments.
    assert 0 < lora.trainable_parameters < 0.1 * lora.parameters
    assert lora.state_bytes == (FROZEN_BYTES * (lora.parameters - lora.trainable_parameters)
                                + TRAINABLE_BYTES * lora.trainable_parameters)
    assert none.trainable_parameters == none.parameters


def test_max_batch_is_what_fits_after_the_state():
    from tradeoff.records.reference import max_batch
    from tradeoff.tasks import GIB

    assert max_batch(state_bytes=8 * GIB, per_sample_bytes=2 * GIB, memory_gb=48.0) == 20
    assert max_batch(state_bytes=8 * GIB, per_sample_bytes=3 * GIB, memory_gb=48.0) == 13
    assert max_batch(state_bytes=50 * GIB, per_sample_bytes=GIB, memory_gb=48.0) == 0


def test_the_committed_memory_rows_back_what_the_chapter_says():
    """The knobs chapter's prose reads these rows; its qualitative claims must hold in them."""
    from tradeoff.records.reference import MEMORY_FILE, load_memory_reference

    assert MEMORY_FILE.is_file(), "reference/knobs-full/memory.json is committed reference data"
    memory = load_memory_reference()
    for (model, length), rows in memory.groupby(["model", "length"]):
        by = rows.set_index("variant")
        assert set(by.index) == {"none", "grad-checkpointing", "bf16", "lora"}, (model, length)
        batch = by["max_batch_48gb"]
        # "Checkpointing buys the most batch"
        assert batch["grad-checkpointing"] >= max(batch["bf16"], batch["lora"]), (model, length)
        # "bf16 autocast saves less than half"
        saved = by["saved_bytes_per_sample"]
        assert saved["none"] * 0.5 < saved["bf16"] < saved["none"], (model, length)
        # "the activations are still saved for the adapters' gradients"
        assert saved["lora"] > 0.5 * saved["none"], (model, length)


# --------------------------------------------------------------------------------------------
# The chapter's ratios


def test_effects_are_ratios_to_the_same_configuration_without_the_knob():
    import pandas as pd

    from tradeoff.analysis.table import tidy
    from tradeoff.energy import Measurement
    from tradeoff.records import Efficiency, RunRecord, TrainSummary
    from tradeoff.report.chapter import Chapter
    from tradeoff.report.knobs import KnobsView, effects

    def record(variant, seconds, loss):
        train = Measurement(key="train", time_s=seconds, gpu_energy_j={}, cpu_energy_j=10 * seconds,
                            gpu_method="none", cpu_method="rapl")
        infer = Measurement(key="inference", time_s=1.0, gpu_energy_j={}, cpu_energy_j=10.0,
                            gpu_method="none", cpu_method="rapl")
        eff = Efficiency.from_windows(train, None, TrainSummary(samples_trained=8,
                                                                effective_batch_size=1,
                                                                steady_steps=None),
                                      infer, 4, 16)
        params = Cell("govreport", "led-base", 1024, variant=variant).resolve(
            load_profile("smoke"))
        return RunRecord(profile="t", label=params.cell.label, params_hash=params.digest,
                         params=params, status="ok", efficiency=eff, accuracy_metric="rouge_geomean",
                         accuracy={"val_loss": loss}, model={"parameters": 100})

    records = [record("none", 10.0, 7.0), record("bf16", 5.0, 7.5)]
    frame = tidy(records)
    view = KnobsView(Chapter(None, "x", records, frame, "val_loss", None),
                     pd.DataFrame(), pd.DataFrame())
    row = effects(view).iloc[0]
    assert row["variant"] == "bf16"
    assert row["train_energy_kwh_ratio"] == pytest.approx(0.5)
    assert row["train_samples_per_s_ratio"] == pytest.approx(2.0)
    assert row["signal_change"] == pytest.approx(0.5)


def test_the_effects_figure_draws_one_mark_per_knob_and_quantity():
    import pandas as pd

    from tradeoff.report.figure_data import plotted_data
    from tradeoff.report.knobs import AXES, effects_figure

    table = pd.DataFrame({
        "dataset": "govreport", "model": "led-base", "length": 1024,
        "variant": ["bf16", "lora"], "signal": [7.5, 7.2], "signal_change": [0.5, 0.2],
        **{f"{column}_ratio": [0.5 * (i + 1), 2.0 * (i + 1)] for i, (column, _) in enumerate(AXES)},
        "took_effect": ""})
    data = plotted_data(effects_figure(table, "val_loss"))
    marks = data[data["kind"] == "scatter"]
    assert len(marks) == 2 * (len(AXES) + 1)  # two knobs x four ratios and the signal's change
    for i, (_, words) in enumerate(AXES):
        panel = marks[marks["panel"] == f"{words} (knob / none)"]
        assert dict(zip(panel["category"], panel["x"])) == {"bf16": 0.5 * (i + 1),
                                                            "lora": 2.0 * (i + 1)}
    change = marks[marks["panel"] == "accuracy signal (knob - none)"]
    assert dict(zip(change["category"], change["x"])) == {"bf16": 0.5, "lora": 0.2}
    assert "validation loss" in change["x_label"].iloc[0]
    lines = data[data["kind"] == "vertical reference line"]
    assert sorted(lines["x"]) == [0.0, 1.0, 1.0, 1.0, 1.0]  # no change: x1, and +0 for the signal


def test_the_effects_figure_without_runs_says_so_in_every_panel():
    import pandas as pd

    from tradeoff.report.figure_data import plotted_data
    from tradeoff.report.knobs import effects_figure

    fig = effects_figure(pd.DataFrame(columns=["variant", "length"]), "val_loss")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 5
    assert all([t.get_text() for t in ax.texts] == ["no knob runs"] for ax in panels)
    assert plotted_data(fig).empty
