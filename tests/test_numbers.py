"""Behaviours behind the numbers a reader sees, each tested where the number is made.

The unit conversions stored in a record, what enters a cell's hash (and that the hash is stable
across processes), atomic saving, the claims' majority rule at its thresholds, and the exact
input length of every training and evaluation example.
"""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys

import pytest

from tradeoff.analysis.table import tidy
from tradeoff.analysis.verdict import MAJORITY, MINORITY, share_verdict
from tradeoff.config import Cell, CellParams, Profile, Settings
from tradeoff.energy import Measurement
from tradeoff.grid import cell_record_path, run_grid
from tradeoff.records import Efficiency, RunRecord, TrainSummary, load_record, save_record

CELL = Cell("govreport", "led-base", 1024)
TRAINING = TrainSummary(samples_trained=8, steady_steps=4, effective_batch_size=2)


def window(key: str, time_s: float, cpu_j: float, gpu_j: dict | None = None) -> Measurement:
    return Measurement(key=key, time_s=time_s, gpu_energy_j=gpu_j or {}, cpu_energy_j=cpu_j,
                       gpu_method="nvml-counter" if gpu_j else "none", cpu_method="rapl")


# --------------------------------------------------------------------------------------------
# Units stored in the record


def test_record_energy_in_kwh_is_its_joules_over_3_6e6():
    train = window("train", 100.0, cpu_j=1800.0, gpu_j={0: 5400.0})
    eff = Efficiency.from_windows(train, None, TRAINING, window("inference", 2.0, 10.0), 4, 8)
    assert eff.train_energy_j == 7200.0
    assert eff.train_energy_kwh == pytest.approx(7200.0 / 3.6e6)  # 0.002 kWh
    assert eff.train_avg_power_w == pytest.approx(72.0)
    assert eff.power_efficiency_samples_per_s_per_w == pytest.approx((8 / 100.0) / 72.0)
    assert eff.infer_energy_per_sample_j == pytest.approx(10.0 / 4)
    # The tidy table every figure reads carries the same value, unconverted.
    record = RunRecord(profile="t", label=CELL.label, params_hash="h",
                       params=CELL.resolve(Profile()), status="ok", efficiency=eff)
    assert tidy([record])["train_energy_kwh"].iloc[0] == pytest.approx(0.002)


def test_an_unmeasured_energy_is_nan_in_the_table_never_zero():
    nothing = Measurement(key="train", time_s=2.0, gpu_energy_j={}, cpu_energy_j=math.nan,
                          gpu_method="none", cpu_method="none", reason="nothing readable")
    eff = Efficiency.from_windows(nothing, None, TRAINING, nothing, 4, 0)
    record = RunRecord(profile="t", label=CELL.label, params_hash="h",
                       params=CELL.resolve(Profile()), status="ok", efficiency=eff)
    row = tidy([record]).iloc[0]
    assert math.isnan(row["train_energy_j"]) and math.isnan(row["train_energy_kwh"])
    assert math.isnan(row["power_efficiency_samples_per_s_per_w"])
    assert row["train_samples_per_s"] == 4.0


# --------------------------------------------------------------------------------------------
# The hash


# What describes the grid or where records go: outside a cell's hash.
BOOKKEEPING = {"name", "description", "datasets", "models", "lengths", "seeds", "variants",
               "results_dir",
               # Each cell hashes its own model's checkpoint (CellParams.checkpoint).
               "checkpoints",
               "qasper_grad_accum_study", "batch_study_model", "slurm_gpus",
               "slurm_partition", "slurm_time_min", "slurm_mem_gb", "slurm_cpus_per_gpu",
               "slurm_setup", "slurm_additional"}
# Dataset- or length-dependent defaults: resolved per cell, and hashed as resolved.
RESOLVED = {"learning_rate", "num_train_epochs", "eval_steps", "max_new_tokens"}
# Resolved per cell under another name: Qasper's GPUs become the cell's `processes`.
RESOLVED_AS = {"qa_gpus_per_cell": "processes"}


def test_every_profile_setting_is_hashed_or_bookkeeping():
    hashed = set(Settings.model_fields)
    assert set(Profile.model_fields) == hashed | BOOKKEEPING | RESOLVED | set(RESOLVED_AS), (
        "a new Profile field must be a Settings field (hashed) or listed as bookkeeping here")
    assert not hashed & BOOKKEEPING
    assert set(CellParams.model_fields) == hashed | RESOLVED | {
        "dataset", "model", "checkpoint", "length", "seed", "variant", "task",
        *RESOLVED_AS.values()}


def _changed(name: str, value):
    """Another valid value of a setting, by its type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value + 1 if isinstance(value, int) else value * 1.5 + 0.01
    if value is None:
        return {"data_dir": "/elsewhere", "gpu_memory_gb": 24.0}.get(name, 7)
    return {"source": "aclsum", "init": "random", "scale": "mini", "batch_size": 3,
            "convergence_metric": "loss"}[name]


@pytest.mark.parametrize("name", sorted(set(Settings.model_fields)
                                         - {"gradient_accumulation_steps"}))
def test_each_setting_changes_the_hash(name):
    base = Profile()
    value = getattr(base, name)
    changed = base.model_copy(update={name: _changed(name, value)})
    assert CELL.resolve(changed).digest != CELL.resolve(base).digest, name


def test_the_profiles_accumulation_reaches_the_hash_through_its_cells():
    # A cell carries its accumulation (Qasper's batch study varies it per cell).
    base, more = Profile(), Profile(gradient_accumulation_steps=4)
    assert {c.grad_accum for c in more.cells()} == {4}
    assert more.cells()[0].resolve(more).digest != base.cells()[0].resolve(base).digest


def test_the_knob_reaches_the_hash_through_its_cells():
    # The profile's list of knobs is bookkeeping; each cell's knob is hashed.
    knobs = Profile(variants=["none", "bf16"])
    plain, bf16 = (cell.resolve(knobs).digest for cell in knobs.cells()[:2])
    assert plain == CELL.resolve(Profile()).digest
    assert bf16 != plain


@pytest.mark.parametrize("name, value", [
    ("learning_rate", 3e-4), ("num_train_epochs", 2.0), ("eval_steps", 7),
    ("max_new_tokens", {"govreport": 9})])
def test_each_resolved_default_changes_the_hash(name, value):
    changed = Profile().model_copy(update={name: value})
    assert CELL.resolve(changed).digest != CELL.resolve(Profile()).digest


@pytest.mark.parametrize("name, value", [
    ("name", "other"), ("description", "x"), ("results_dir", "/tmp/x"),
    ("seeds", [0, 1]), ("lengths", [1024]), ("models", ["led-base"]),
    ("datasets", ["govreport"]), ("qasper_grad_accum_study", [4]),
    ("batch_study_model", "led-large"), ("checkpoints", {"mine": "org/mine"})])
def test_bookkeeping_leaves_the_hash(name, value):
    changed = Profile().model_copy(update={name: value})
    assert CELL.resolve(changed).digest == CELL.resolve(Profile()).digest


# The digest of CELL under the default (paper) profile. It changes only when a setting is added,
# removed or changes its default, or when the hashing changes; then every record re-runs, so
# update this value deliberately.
GOLDEN_DIGEST = "6bf7df42cf6a"


def test_the_hash_is_a_stable_golden_value_across_processes():
    code = ("from tradeoff.config import Cell, Profile; "
            "print(Cell('govreport', 'led-base', 1024).resolve(Profile()).digest)")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env=os.environ | {"PYTHONHASHSEED": seed}).stdout.strip()
            for seed in ("1", "2")}
    assert runs == {GOLDEN_DIGEST}
    assert CELL.resolve(Profile()).digest == GOLDEN_DIGEST


# --------------------------------------------------------------------------------------------
# Atomic saving


class Crash(Exception):
    pass


def _half_written(real_fdopen):
    """os.fdopen whose file writes half of what it is given, then the machine 'crashes'."""
    def fdopen(fd, mode="r", *args, **kwargs):
        f = real_fdopen(fd, mode, *args, **kwargs)
        real_write = f.write

        def write(text):
            real_write(text[: len(text) // 2])
            f.flush()
            raise Crash("power cut while writing")
        f.write = write
        return f
    return fdopen


def test_a_crash_mid_write_leaves_the_previous_record_and_reruns_that_cell_only(
        smoke_profile, fake_execute, monkeypatch):
    from tradeoff import records

    profile = smoke_profile
    cells = [CELL, CELL._replace(length=2048)]
    run_grid(profile, cells, show_progress=False)
    path = cell_record_path(profile, CELL)
    before = path.read_text()

    with monkeypatch.context() as m:  # a crash while the new version is half written
        m.setattr(records.io.os, "fdopen", _half_written(os.fdopen))
        with pytest.raises(Crash):
            save_record(load_record(path), path)
    assert path.read_text() == before  # the previous record, whole
    assert sorted(p.name for p in profile.results_path.iterdir()) == sorted(
        cell_record_path(profile, c).name for c in cells)  # no partial or temporary file

    # With no record yet, a crash leaves none, and the next grid runs that cell only.
    path.unlink()
    with monkeypatch.context() as m:
        m.setattr(records.io.os, "fdopen", _half_written(os.fdopen))
        with pytest.raises(Crash):
            run_grid(profile, cells, show_progress=False)
    assert not path.exists()
    fake_execute.calls.clear()
    run_grid(profile, cells, show_progress=False)
    assert fake_execute.calls == [("govreport", 1024)]
    assert json.loads(path.read_text())["status"] == "ok"


def test_a_saved_record_has_a_new_files_permissions_not_owner_only(tmp_path, monkeypatch):
    from tradeoff import records

    umask = os.umask(0o022)
    os.umask(umask)
    assert records.io._UMASK == umask  # the process's umask, read at import
    monkeypatch.setattr(records.io, "_UMASK", 0o027)  # a group-shared results folder: rw-r-----
    path = records.write_atomically(tmp_path / "r.json", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "{}"


# --------------------------------------------------------------------------------------------
# The claims' majority rule (method page: >= 75% holds, <= 25% does not hold, else inconclusive)


@pytest.mark.parametrize("agree, total, verdict", [
    (3, 4, "holds"), (75, 100, "holds"), (76, 100, "holds"), (74, 100, "inconclusive"),
    (1, 4, "does not hold"), (25, 100, "does not hold"), (26, 100, "inconclusive"),
    (24, 100, "does not hold"), (0, 0, "inconclusive")])
def test_majority_rule_at_its_thresholds(agree, total, verdict):
    assert MAJORITY == 0.75 and MINORITY == 0.25
    assert share_verdict(agree, total) == verdict


# --------------------------------------------------------------------------------------------
# Every input is exactly the cell's length


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from tradeoff.data import train_tokenizer

    texts = ["the study of long inputs and their cost " * 20, "energy per sample " * 30]
    return train_tokenizer(texts, 300, tmp_path_factory.mktemp("tok"))


@pytest.mark.parametrize("model", ["led-base", "bigbird-large"])
@pytest.mark.parametrize("length", [64, 128])
def test_every_training_and_evaluation_input_has_the_cell_length(tokenizer, model, length):
    import datasets
    import torch

    from tradeoff.infer import _encode
    from tradeoff.models import is_led
    from tradeoff.train import tokenize

    short, long = "a short input", "energy per sample " * 200
    split = datasets.Dataset.from_dict({"input": [short, long], "output": ["x", "y"]})
    encoded = tokenize(split, tokenizer, length, 8, is_led(model))
    assert [len(ids) for ids in encoded["input_ids"]] == [length, length]
    assert [len(m) for m in encoded["attention_mask"]] == [length, length]
    assert sum(encoded["attention_mask"][0]) < length  # the short one is padded ...
    assert sum(encoded["attention_mask"][1]) == length  # ... the long one truncated
    if is_led(model):
        assert [sum(m) for m in encoded["global_attention_mask"]] == [1, 1]
    # A split of short inputs only is padded to the length too (not to its longest row).
    only_short = datasets.Dataset.from_dict({"input": [short, "shorter"], "output": ["x", "y"]})
    encoded = tokenize(only_short, tokenizer, length, 8, is_led(model))
    assert [len(ids) for ids in encoded["input_ids"]] == [length, length]
    for texts in ([short, long], [short]):
        batch = _encode(tokenizer, texts, length, is_led(model), torch.device("cpu"))
        assert tuple(batch["input_ids"].shape) == (len(texts), length)


@pytest.mark.parametrize("pad_targets", [False, True])
def test_labels_are_the_target_cut_to_its_length_with_padding_ignored(tokenizer, pad_targets):
    # Mutation survivors (benchmarks/mutation-report.md): LED's global attention mask of the
    # length of the input (models.global_attention_mask mutmut_5/6: one token more or less),
    # on the first token only, with the value 1, for training and inference (mutmut_10/11).
    import datasets
    import torch

    from tradeoff.infer import _encode
    from tradeoff.train import tokenize

    target = "energy per sample " * 10
    full = tokenizer(text_target=target)["input_ids"]
    short = tokenizer(text_target="x")["input_ids"]
    assert len(full) > 8 > len(short)
    split = datasets.Dataset.from_dict({"input": ["a short input"] * 2, "output": ["x", target]})
    encoded = tokenize(split, tokenizer, 16, 8, True, pad_targets)
    # The long target keeps its first tokens and its end token; the short one is padded to the
    # target length with ignored positions only when asked (the released code's setting).
    cut = full[:7] + full[-1:]
    padding = [-100] * (8 - len(short)) if pad_targets else []
    assert encoded["labels"] == [short + padding, cut]
    assert encoded["global_attention_mask"] == [[1] + [0] * 15] * 2
    batch = _encode(tokenizer, ["a short input"], 16, True, torch.device("cpu"))
    assert batch["global_attention_mask"].tolist() == [[1] + [0] * 15]


def test_steady_speed_counts_only_the_steps_after_warm_up():
    train, steady = window("train", 10.0, cpu_j=100.0), window("steady", 0.5, cpu_j=5.0)
    training = TrainSummary(samples_trained=12, steady_steps=4, effective_batch_size=3)
    stats = {"n_samples": 7.0, "cpu_util_mean_pct": 150.0}
    eff = Efficiency.from_windows(train, steady, training, window("inference", 2.0, 1.0), 4, 8,
                                  stats)
    assert eff.steady_samples_per_s == pytest.approx(4 * 3 / 0.5)  # 24 samples/s, not 12 / 10
    assert eff.train_samples_per_s == pytest.approx(1.2)
    assert eff.train_trace_points == 7.0 and eff.train_cpu_util_mean_pct == 150.0
    # No steady window, or one of zero length: NaN (stored as null), never a speed.
    assert Efficiency.from_windows(train, None, training, train, 4, 8).steady_samples_per_s is None
    zero = window("steady", 0.0, cpu_j=0.0)
    assert Efficiency.from_windows(train, zero, training, train, 4, 8).steady_samples_per_s is None
    # A steady window that saw no optimizer step trained no sample in it.
    none = training.model_copy(update={"steady_steps": None})
    assert Efficiency.from_windows(train, steady, none, train, 4, 8).steady_samples_per_s == 0.0
