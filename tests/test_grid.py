"""One cell end to end, caching and resume, failures recorded, bad input rejected up front."""

import json
import subprocess
import sys

import pytest

from tradeoff import grid, pipeline
from tradeoff.config import Cell, load_profile
from tradeoff.errors import ConfigError
from tradeoff.records import Efficiency, TrainSummary, load_record

CELL = Cell("qasper", "led-base", 1024)


@pytest.fixture(scope="module")
def finished(smoke_grid, tmp_path_factory):
    """One real smoke cell (from the shared grid, conftest.py), in a results folder of its own,
    shared by the tests that only read its record."""
    profile = load_profile("smoke", results_dir=str(tmp_path_factory.mktemp("results")))
    smoke_grid.copy([CELL], profile.results_path)
    return profile, load_record(grid.cell_record_path(profile, CELL))


def test_cell_runs_end_to_end_and_labels_its_energy_method(finished):
    profile, record = finished
    assert record.status == "ok", record.reason
    assert record.energy_method == "cpu-time-estimate"  # no NVML, no RAPL on the test machines
    assert "ESTIMATE" in record.energy_reason
    assert record.train.steps == 2 and record.train.batch_size == 2
    assert record.accuracy_metric == "f1" and 0 <= record.accuracy["f1"] <= 100
    assert record.accuracy["val_loss"] > 0
    # Teacher-forced task scores beside the generated-text ones, timed in a window of their own.
    assert 0 <= record.accuracy["tf_f1"] <= 100 and 0 <= record.accuracy["tf_token_accuracy"] <= 100
    assert record.measurements["teacher_forced"].time_s > 0
    eff = record.efficiency
    assert eff.train_energy_j > 0 and eff.train_samples_per_s > 0
    assert eff.power_efficiency_samples_per_s_per_w == pytest.approx(
        eff.train_samples_per_s / eff.train_avg_power_w)
    # The raw windows behind the efficiency are kept, in the meter's own schema.
    assert record.measurements["train"].total_energy_j == pytest.approx(eff.train_energy_j)
    assert record.data.stand_in is True
    # That the saved file validates and matches what the run returned, every typed part key for
    # key, is checked when the shared grid runs (tests/smoke_book.py).


def test_summarization_cell_records_teacher_forced_rouge(smoke_grid):
    record = smoke_grid.record(Cell("govreport", "led-large", 1024))
    assert record.status == "ok", record.reason
    tf = {k: v for k, v in record.accuracy.items() if k.startswith("tf_")}
    assert set(tf) == {"tf_rouge1", "tf_rouge2", "tf_rougeL", "tf_rougeLsum", "tf_rouge_geomean",
                       "tf_token_accuracy"}
    assert all(0 <= v <= 100 + 1e-9 for v in tf.values())


def test_finished_cell_is_never_redone(finished, monkeypatch):
    profile, record = finished
    monkeypatch.setattr(pipeline, "_execute", lambda *a: pytest.fail("a finished cell ran again"))
    assert pipeline.run_cell(profile, CELL).started_at == record.started_at
    assert grid.run_grid(profile, [CELL], show_progress=False)[0].started_at == record.started_at


def test_same_seed_same_metrics(finished, tmp_path):
    profile, record = finished
    again = pipeline.run_cell(load_profile("smoke", results_dir=str(tmp_path)), CELL,
                          show_progress=False)
    assert again.accuracy == record.accuracy
    losses = lambda r: [h["loss"] for h in r.train.log_history if "loss" in h]
    assert losses(again) == losses(record)


def test_interrupted_grid_resumes_without_redoing_cells(smoke_profile, fake_execute):
    cells = [CELL._replace(length=n) for n in (1024, 2048, 3072)]
    fake_execute.fail = {2048: KeyboardInterrupt()}
    with pytest.raises(KeyboardInterrupt):
        grid.run_grid(smoke_profile, cells, show_progress=False)
    assert fake_execute.calls == [("qasper", 1024), ("qasper", 2048)]
    fake_execute.calls.clear()
    fake_execute.fail.clear()
    grid.run_grid(smoke_profile, cells, show_progress=False)
    assert fake_execute.calls == [("qasper", 2048), ("qasper", 3072)]


def test_failures_are_recorded_and_the_grid_goes_on(smoke_profile, fake_execute):
    import torch

    try:  # the CPU allocator's own error, as a memory limit (ulimit -v) makes it fail
        torch.empty(2**50, dtype=torch.uint8)
    except RuntimeError as err:
        cpu_refusal = err
    cells = [CELL._replace(length=n) for n in (1024, 2048, 3072, 4096)]
    fake_execute.fail = {
        1024: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        2048: ValueError("tokenizer exploded"), 3072: cpu_refusal}
    records = grid.run_grid(smoke_profile, cells, show_progress=False)
    assert [r.status for r in records] == ["oom", "failed", "oom", "ok"]
    assert "tokenizer exploded" in records[1].reason
    # Recorded failures are kept unless asked to retry them.
    fake_execute.calls.clear()
    grid.run_grid(smoke_profile, cells, show_progress=False)
    assert fake_execute.calls == []
    grid.run_grid(smoke_profile, cells, retry_failed=True, show_progress=False)
    assert fake_execute.calls == [("qasper", 1024), ("qasper", 2048), ("qasper", 3072)]


@pytest.mark.parametrize("args, needle", [
    (["--dataset", "arxiv", "--model", "led-base", "--length", "1024"], "unknown dataset 'arxiv'"),
    (["--dataset", "qasper", "--model", "t5", "--length", "1024"], "unknown model 't5'"),
    (["--dataset", "qasper", "--model", "led-base", "--length", "0"], "impossible"),
    (["--dataset", "qasper", "--model", "bigbird-large", "--length", "8192"], "impossible"),
])
def test_cli_rejects_bad_input_with_one_line_before_compute(args, needle, tmp_path):
    out = subprocess.run([sys.executable, "-m", "tradeoff", "run", "--profile", "smoke",
                          "--results-dir", str(tmp_path), *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert needle in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written


def test_missing_data_fails_before_compute(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    profile = load_profile("smoke", results_dir=str(tmp_path), source="scrolls")
    monkeypatch.setattr(pipeline, "_execute", lambda *a: pytest.fail("training started"))
    from tradeoff.errors import DataUnavailableError

    with pytest.raises(DataUnavailableError, match="qasper"):
        grid.run_grid(profile, [CELL], show_progress=False)
    assert not list(tmp_path.iterdir())


def test_batch_size_auto_needs_a_gpu(tmp_path):
    profile = load_profile("smoke", results_dir=str(tmp_path), batch_size="auto")
    with pytest.raises(ConfigError, match="needs a GPU"):
        pipeline.run_cell(profile, CELL, show_progress=False)


def test_grid_list_prints_one_schedulable_cell_per_line():
    out = subprocess.run([sys.executable, "-m", "tradeoff", "grid", "--profile", "smoke", "--list"],
                         capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == len(load_profile("smoke").cells()) == 4 * 3 * 2 + 2
    assert lines[0].startswith("--dataset govreport --model led-base --length 1024")


def test_env_command_says_which_method_it_will_use():
    out = subprocess.run([sys.executable, "-m", "tradeoff", "env", "--json"],
                         capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(out.stdout)
    assert report["energy"]["method"] == "cpu-time-estimate"
    assert report["environment"]["cpu_cores"] >= 1


@pytest.mark.e2e
def test_cell_runs_unchanged_under_torchrun_with_two_gloo_processes(tmp_path):
    # The paper's QA runs are data-parallel; the same command must work under torchrun.
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "-m", "tradeoff", "run", "--profile", "smoke", "--dataset", "qasper",
                          "--model", "led-base", "--length", "1024", "--results-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    [path] = tmp_path.glob("*.json")  # only rank 0 writes
    record = load_record(path)
    assert record.status == "ok"
    assert record.train.world_size == 2
    assert record.train.effective_batch_size == 2 * record.train.batch_size


def test_accumulation_does_not_scale_the_loss(finished):
    # The same first micro-batches with accumulation 2 must log a loss of the same size,
    # not one summed over the accumulation steps.
    profile, record = finished
    accumulated = pipeline.run_cell(profile, CELL._replace(grad_accum=2), show_progress=False)
    first = lambda r: next(h["loss"] for h in r.train.log_history if "loss" in h)
    assert first(accumulated) == pytest.approx(first(record), rel=0.2)


def test_a_window_without_energy_gives_nan_efficiency_not_a_failed_cell():

    from tradeoff.energy import Measurement

    nothing = Measurement(key="train", time_s=2.0, gpu_energy_j={}, cpu_energy_j=0.0,
                          gpu_method="none", cpu_method="cpu-time-estimate")
    training = TrainSummary(samples_trained=8, steady_steps=4, effective_batch_size=2)
    eff = Efficiency.from_windows(nothing, nothing, training, nothing, n_inferred=4,
                                  generated_tokens=0)
    assert eff.train_samples_per_s == 4.0
    assert eff.power_efficiency_samples_per_s_per_w is None  # NaN: stored as null
    assert eff.gpu_power_efficiency_samples_per_s_per_w is None
    assert eff.infer_samples_per_s == 2.0


def test_a_corrupt_record_is_run_again_not_fatal(smoke_profile, fake_execute):
    grid.run_grid(smoke_profile, [CELL], show_progress=False)
    grid.cell_record_path(smoke_profile, CELL).write_text('{"truncated": ')
    [record] = grid.run_grid(smoke_profile, [CELL], show_progress=False)
    assert record.status == "ok"
    assert len(fake_execute.calls) == 2
