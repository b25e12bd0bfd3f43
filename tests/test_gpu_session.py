"""The GPU session (benchmarks/gpu_session.py, .sh), checked on the CPU before any device time:
its plan and the device call, the wheels folder, a rehearsal of its cell loop, and the chapters'
GPU sections with and without records (reference/gpu/)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.display import Markdown
from pandas.io.formats.style import Styler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_session  # noqa: E402

from tradeoff.config import Cell, load_profile  # noqa: E402
from tradeoff.records.reference import load_cost_reference  # noqa: E402
from tradeoff.report import cost as cost_report  # noqa: E402
from tradeoff.report import cost_tables  # noqa: E402
from tradeoff.report import gpu as gpu_report  # noqa: E402
from tradeoff.records import InferenceSummary, TrainSummary, save_record  # noqa: E402

PAPER_MODELS = ["led-base", "led-large", "bigbird-large"]


def run(*args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(list(args), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def planned_rows(stdout: str) -> list[tuple[str, str, int, int, float]]:
    """(stage, cell, model batch, start, estimate) of each plan line."""
    rows = []
    for line in stdout.splitlines():
        words = line.split()
        if len(words) == 6 and words[0].isdigit():
            rows.append((words[1], words[2], int(words[3]), int(words[4]),
                         float(words[5].rstrip("s"))))
    return rows


def test_the_dry_run_plans_the_required_cells_first_and_prints_the_device_call(tmp_path):
    done = run("bash", "benchmarks/gpu_session.sh", "--dry-run", "--wheels",
               str(tmp_path / ".whl"))
    assert done.returncode == 0, done.stderr
    rows = planned_rows(done.stdout)
    cells = [cell for _, cell, *_ in rows]
    assert cells[:6] == [f"govreport/{m}/L{n}/s0" for n in (4096, 1024) for m in PAPER_MODELS]
    assert [stage for stage, *_ in rows[:6]] == ["required"] * 6
    assert cells[6:12] == [f"govreport/{m}/L{n}/s0" for n in (2048, 3072) for m in PAPER_MODELS]
    assert cells[12:] == [f"govreport/led-base/L{n}/s0/{k}" for k in ("bf16", "grad-checkpointing")
                          for n in (1024, 4096)]
    # The finder starts above the memory model's bound at 128-token targets and 48 GB.
    reference = {(r.model, r.length): r.max_batch_48gb for r in load_cost_reference(None).select(128)
                 if r.generated_tokens == 128}
    for _, cell, predicted, start, _ in rows[:12]:
        _, model, length, _ = cell.split("/")
        assert predicted == reference[model, int(length[1:])], cell
        assert start > predicted
    # The six cells that matter fit the budget with the meter's checks.
    required = sum(estimate for stage, *_, estimate in rows if stage == "required")
    assert required + gpu_session.METER_CHECK_S <= gpu_session.BUDGET_S
    assert "OVER BUDGET" not in done.stdout
    assert ("run(command='bash benchmarks/gpu_session.sh --out \"$OUT\" --budget-s 480', "
            "carry=['.whl'], timeout_s=570)") in done.stdout
    assert "no .whl/ folder here" in done.stdout
    assert gpu_session.TIMEOUT_S <= 9.5 * 60  # one call of about 9 minutes


@pytest.mark.parametrize("setting, needle", [
    ("max_stepz: 3", "max_stepz"),
    ("models: [led-base, led-small]", "unknown model 'led-small'"),
    ("max_target_length: 200", "no counted row at 200-token targets"),
    ("batch_size: 4", "needs batch_size auto"),
])
def test_a_bad_profile_fails_in_one_line_before_anything_runs(tmp_path, setting, needle):
    base = (ROOT / "params" / "gpu-session.yaml").read_text()
    key = setting.split(":")[0]
    lines = [line for line in base.splitlines() if not line.startswith(f"{key}:")]
    profile = tmp_path / "bad.yaml"
    profile.write_text("\n".join(lines + [setting]) + "\n")
    done = run(sys.executable, "benchmarks/gpu_session.py", "--dry-run", "--profile", str(profile))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and needle in done.stderr, done.stderr


def test_the_wheels_check_finds_missing_duplicate_and_foreign_wheels(tmp_path):
    folder = tmp_path / ".whl"
    folder.mkdir()
    for name in gpu_session.WHEELS:
        if name != "zeus":
            (folder / f"{gpu_session.normalized(name)}-1.0-py3-none-any.whl").touch()
    (folder / "pydantic-2.0-py3-none-any.whl").touch()  # a second version
    (folder / "pydantic_core-1.0-py3-none-any.whl").unlink()
    (folder / "pydantic_core-1.0-cp311-cp311-manylinux_2_17_x86_64.whl").touch()  # 3.11's
    check = gpu_session.check_wheels(folder)
    assert check.missing == ["zeus"]
    assert check.duplicates == {"pydantic": ["pydantic-1.0-py3-none-any.whl",
                                             "pydantic-2.0-py3-none-any.whl"]}
    assert check.incompatible == ["pydantic_core-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"]
    assert len(check.broken) == 2
    done = run(sys.executable, "benchmarks/gpu_session.py", "--dry-run", "--wheels", str(folder))
    assert done.returncode == 1 and "BROKEN" in done.stdout and "missing: zeus" in done.stdout


@pytest.mark.parametrize("tags, ok", [
    (("cp312", "cp312", "manylinux2014_x86_64.manylinux_2_17_x86_64"), True),
    (("py3", "none", "any"), True),
    (("py2.py3", "none", "any"), True),
    (("py312", "none", "any"), True),
    (("cp39", "abi3", "manylinux_2_17_x86_64"), True),
    (("cp311", "cp311", "manylinux_2_17_x86_64"), False),
    (("cp312", "cp312", "manylinux_2_17_aarch64"), False),
    (("cp312", "cp312", "macosx_11_0_arm64"), False),
])
def test_wheel_tags_for_the_device(tags, ok):
    assert gpu_session.device_compatible(*tags) is ok


def test_the_env_check_stops_without_a_gpu_its_energy_counter_or_an_import():
    good = {"environment": {"gpu_count": 1}, "energy": {"gpu": {"method": "nvml-counter"}}}
    assert gpu_session.check_env(good) == []
    sampled = {"environment": {"gpu_count": 1},
               "energy": {"gpu": {"method": "nvml-sampled"}, "reason": "pre-Volta"}}
    assert gpu_session.check_env(sampled) == [
        "no NVML energy counter (GPU method 'nvml-sampled': pre-Volta)"]
    cpu = {"environment": {"gpu_count": 0}, "energy": {"gpu": {"method": "none"}}}
    assert len(gpu_session.check_env(cpu)) == 2
    assert gpu_session.import_problems(["json", "no_such_module"]) == [
        "import no_such_module: ModuleNotFoundError: No module named 'no_such_module'"]


@pytest.mark.e2e
def test_the_session_loop_writes_each_record_at_once_and_skips_what_does_not_fit(tmp_path):
    """A rehearsal on the CPU: smoke cells through the session's loop (no GPU required, no meter
    checks), then the import into a reference folder the cost chapter reads."""
    profile = load_profile("smoke")
    plan = [gpu_session.PlannedCell("required", Cell("govreport", "led-base", 1024), 2, 3, 30.0),
            gpu_session.PlannedCell("lengths", Cell("govreport", "led-base", 2048), 2, 3, 1e6)]
    out = tmp_path / "out"
    assert gpu_session.run_session(profile, plan, out, 600, require_gpu=False,
                                   meter_check=None) == 0
    lines = (out / "records.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["label"] == "govreport/led-base/L1024/s0"
    log = (out / "session.log").read_text()
    assert "skip govreport/led-base/L2048/s0: needs ~" in log
    assert json.loads((out / "env.json").read_text())["requirements"] == []
    written = gpu_session.import_session(out, tmp_path / "gpu")
    assert [p.name for p in written if p.parent.name == "runs"] == [
        json.loads(lines[0])["params_hash"].join(["govreport_led-base_L1024_s0_", ".json"])]
    assert len(gpu_report.open_gpu(tmp_path / "gpu" / "runs").finished) == 1
    # A line cut short by a kill at the time limit is skipped, not fatal.
    (out / "records.jsonl").write_text(lines[0] + "\n" + lines[0][:100] + "\n")
    assert len([p for p in gpu_session.import_session(out, tmp_path / "again")
                if p.parent.name == "runs"]) == 1


# ------------------------------------------------------------------------ the chapters' sections

@pytest.fixture
def gpu_record(make_record):
    """Finished GPU runs from the tests' record factory (conftest.py), at the session's shape."""
    def gpu_record(model="led-large", length=4096, variant="none", **train):
        base = make_record("govreport", model, length, gpu=True, scale="full", variant=variant,
                           settings={"max_target_length": 128, "gpu_memory_gb": 48.0,
                                     "measure_after_steps": 2, "batch_size": "auto"})
        efficiency = base.efficiency.model_copy(update={
            "steady_samples_per_s": 2.5, "train_gpu_energy_j": 6000.0, "train_time_s": 20.0,
            "train_gpu_util_mean_pct": 88.0, "train_gpu_mem_peak_mib": 40000.0,
            "infer_energy_per_sample_j": 12.0, "infer_time_s": 8.0})
        return base.model_copy(update={
            "efficiency": efficiency,
            "train": TrainSummary(**{"batch_size": 3, "effective_batch_size": 3,
                                     "samples_trained": 36,
                                     "step_times_s": [5.0, 2.0, 1.2, 1.1, 1.3],
                                     "max_memory_allocated_gib": 30.0} | train),
            "inference": InferenceSummary(samples=32, generated_tokens=32 * 128)})
    return gpu_record


def test_without_records_each_chapter_says_so_in_one_line(tmp_path):
    gpu = gpu_report.open_gpu(tmp_path / "runs", tmp_path / "meter.json")
    shown = gpu_report.labelled(gpu_report.energy_table(gpu.records), gpu)
    assert isinstance(shown, Markdown) and shown.data == gpu_report.NO_RECORDS
    assert "benchmarks/gpu_session.sh" in shown.data and shown.data.count("\n") == 0
    view = cost_report.open_reference(reference_file=None, models=PAPER_MODELS, lengths=[1024],
                                      target_length=1024, released_target_length=128,
                                      gpu_dir=str(tmp_path / "runs"))
    assert view.gpu_speed.empty
    assert gpu_report.labelled(cost_tables.gpu_table(view.gpu_speed), view.gpu).data == \
        gpu_report.NO_RECORDS
    assert gpu_report.meter_table(gpu.meter).empty


def test_a_gpu_record_shows_as_a_labelled_table_of_measured_against_predicted(tmp_path,
                                                                              gpu_record):
    save_record(gpu_record(), tmp_path / "runs" / "a.json")
    failed = gpu_record(length=1024).model_copy(update={"status": "oom", "reason": "OOM"})
    save_record(failed, tmp_path / "runs" / "b.json")
    view = cost_report.open_reference(reference_file=None, models=PAPER_MODELS, lengths=[1024],
                                      target_length=1024, released_target_length=128,
                                      gpu_dir=str(tmp_path / "runs"))
    table = cost_tables.gpu_table(view.gpu_speed)
    assert len(table) == 1  # the failed run has no row
    (row,) = table.to_dict("records")
    (count,) = [r for r in load_cost_reference(None).select(128, ["led-large"], [4096])
                if r.generated_tokens == 128]
    assert row["largest batch (memory model)"] == count.max_batch_48gb
    predicted = (16 * count.params + 3 * count.memory_per_sample_bytes) / 2**30
    assert row["memory model at that batch (GiB)"] == pytest.approx(predicted)
    assert row["peak / model"] == pytest.approx(30.0 / predicted)
    assert row["achieved TFLOP/s (counted / measured)"] == pytest.approx(
        count.train_step_flops * 2.5 / 1e12)
    assert row["MFU (%)"] == pytest.approx(100 * count.train_step_flops * 2.5 / 66.9e12)
    assert row["peak it is measured against"] == "H100 dense FP32 peak, 66.9 TFLOP/s"
    shown = gpu_report.labelled(table, view.gpu)
    assert isinstance(shown, Styler)
    assert shown.caption == "Measured on 2 x NVIDIA H100, random weights: efficiency only."

    energy = gpu_report.energy_table(view.gpu.records)
    assert list(energy["training energy per sample (J)"]) == [pytest.approx(6000.0 / 36)]
    assert list(energy["mean GPU power (W)"]) == [pytest.approx(300.0)]


def test_a_bf16_run_is_measured_against_the_bf16_peak_and_has_no_memory_prediction(tmp_path,
                                                                                    gpu_record):
    save_record(gpu_record("led-base", 1024, "bf16"), tmp_path / "a.json")
    speed = cost_report.open_reference(
        reference_file=None, models=PAPER_MODELS, lengths=[1024], target_length=1024,
        released_target_length=128, gpu_dir=str(tmp_path)).gpu_speed
    (row,) = speed.to_dict("records")
    assert (row["precision"], row["peak_tflops"]) == ("bf16", 989.4)
    assert math.isnan(row["predicted_memory_gib"]) and math.isnan(row["predicted_max_batch"])


def test_the_meter_checks_are_shown_with_their_goals():
    meter = {"counter": {"verdict": "counter 3600.0 J vs sampled 3610.0 J", "ok": True},
             "overhead_wall": {"verdict": "median 1.004", "ok": True},
             "idle": {"gpu_w": 71.5, "seconds": 5.0}}
    table = gpu_report.meter_table(meter)
    assert list(table["goal"]) == ["within 2%, window of 10 s or more", "at most 1%",
                                   "(reported, not subtracted)"]
    assert table["result"].iloc[2] == "GPU 71.5 W over 5.0 s"
