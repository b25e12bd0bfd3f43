"""Cells as scheduler jobs through submitit: local processes for real, SLURM through a fake sbatch.

The local executor runs the real code path (pickled call, a separate process per cell, the
record written by the job); SLURM is exercised with submitit's own mocked sbatch/sacct (no
cluster exists here), which lets the test read the sbatch script the executor writes and play
the scheduler's states.
"""

from __future__ import annotations

import signal
import time

import psutil
import pytest
from submitit.core.test_core import MockedSubprocess
from submitit.core.utils import DelayedSubmission
from submitit.slurm.slurm import SlurmJob

from tradeoff import cli, executors, grid
from tradeoff.config import PARAMS_DIR, Cell, load_profile
from tradeoff.records import load_record

QA = Cell("qasper", "led-base", 1024)
SUMM = Cell("govreport", "led-base", 1024)


def _wait_until(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _kill_tree(pid: int) -> None:
    proc = psutil.Process(pid)
    for p in [*proc.children(recursive=True), proc]:
        p.send_signal(signal.SIGKILL)


def _states(profile, cells):
    return {s.cell: s for s in executors.cell_states(profile, cells)}


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    """Two smoke cells as local submitit jobs; the QA one (two processes, as a multi-GPU cell
    runs) is SIGKILLed mid-cell, then resumed.

    Returns what each step saw, for the tests below to check.
    """
    profile = load_profile("smoke", results_dir=str(tmp_path_factory.mktemp("results")),
                           qa_gpus_per_cell=2)
    cells = [QA, SUMM]
    seen = {"first": executors.submit_grid(profile, cells, executor="local")}
    jobs = dict(seen["first"])
    # Mid-cell: the job's process has loaded the pickled call and started tokenizing.
    err = profile.results_path / "jobs" / jobs[QA] / f"{jobs[QA]}_0_log.err"
    _wait_until(lambda: err.exists() and "tokenizing" in err.read_text(), 240, "the QA cell to start")
    _kill_tree(int(jobs[QA]))
    seen["after_kill"] = _wait_until(
        lambda: (s := _states(profile, cells))[QA].state == "failed" and s, 30, "the kill")
    # Any file of the killed cell: a record, or an atomic write's temporary file.
    seen["partial_files"] = sorted(p.name for p in profile.results_path.iterdir()
                                   if p.name.lstrip(".").startswith("qasper"))
    # The other cell still runs: it must not be submitted twice.
    seen["second"] = executors.submit_grid(profile, cells, executor="local")
    seen["failed_record"] = load_record(grid.cell_record_path(profile, QA))
    seen["after_resume"] = _wait_until(
        lambda: all((s := _states(profile, cells))[c].state in ("done", "failed") for c in cells)
        and s, 400, "both cells")
    job_folders = lambda: sorted(p.name for p in (profile.results_path / "jobs").iterdir())
    before = job_folders()
    seen["third"] = executors.submit_grid(profile, cells, executor="local")
    seen["new_job_folders"] = sorted(set(job_folders()) - set(before))
    return profile, jobs, seen


@pytest.mark.e2e
def test_local_jobs_are_separate_processes_that_write_the_grids_records(local_grid):
    profile, jobs, seen = local_grid
    assert [c for c, _ in seen["first"]] == [QA, SUMM]
    assert len(set(jobs.values()) | {str(psutil.Process().pid)}) == 3  # two processes, not this one
    states = seen["after_resume"]
    for cell in (QA, SUMM):
        assert states[cell].state == "done", states[cell].line
        record = load_record(grid.cell_record_path(profile, cell))  # the in-process grid's name
        assert record.status == "ok", record.reason
        assert record.params_hash == cell.resolve(profile).digest
        assert record.params == cell.resolve(profile)
        assert record.train.steps == 2 and record.efficiency.train_energy_j > 0
    # The QA cell trained data-parallel on its job's two tasks (gloo here), as under torchrun.
    qa = load_record(grid.cell_record_path(profile, QA)).train
    assert qa.world_size == 2 and qa.effective_batch_size == 2 * qa.batch_size
    assert load_record(grid.cell_record_path(profile, SUMM)).train.world_size == 1
    # The run records of the folder are exactly the two cells' (job files are not records).
    assert sorted(p.name for p in profile.results_path.glob("*.json")) == sorted(
        grid.cell_record_path(profile, c).name for c in (QA, SUMM))


@pytest.mark.e2e
def test_a_job_killed_mid_cell_leaves_no_record_and_is_resubmitted(local_grid):
    profile, jobs, seen = local_grid
    killed = seen["after_kill"][QA]
    assert killed.state == "failed" and killed.job_id == jobs[QA]
    assert killed.detail.startswith(f"scheduler: job {jobs[QA]} ended INTERRUPTED")
    # No record, no half-written temporary file of the killed cell.
    assert seen["partial_files"] == []
    # The next call records the death with the scheduler's reason, and submits the cell again.
    [(cell, new_job)] = seen["second"]
    assert cell == QA and new_job != jobs[QA]
    assert seen["failed_record"].status == "failed"
    assert seen["failed_record"].reason.startswith(f"scheduler: job {jobs[QA]} ended INTERRUPTED")
    assert seen["after_resume"][QA].job_id == new_job


@pytest.mark.e2e
def test_finished_cells_are_never_submitted(local_grid):
    _, _, seen = local_grid
    assert seen["third"] == []
    assert seen["new_job_folders"] == []


@pytest.mark.e2e
def test_status_command_reads_records_and_job_states(local_grid, capsys, tmp_path):
    profile, jobs, seen = local_grid
    # The grid's profile: smoke with Qasper on two processes, which is part of the cell's name.
    yaml = tmp_path / "smoke.yaml"
    yaml.write_text((PARAMS_DIR / "smoke.yaml").read_text() + "qa_gpus_per_cell: 2\n")
    assert cli.main(["grid", "--profile", str(yaml), "--results-dir", str(profile.results_path),
                     "--status"]) == 0
    out = capsys.readouterr().out
    assert f"qasper/led-base/L1024/s0: done (job {seen['second'][0][1]})" in out
    assert f"govreport/led-base/L1024/s0: done (job {jobs[SUMM]})" in out
    n = len(profile.cells())
    assert f"2 done, {n - 2} not submitted of {n} cells" in out


class FakeSlurm(MockedSubprocess):
    """submitit's fake, plus a squeue that knows no job (a fake sacct answers for them all)."""

    def __call__(self, command, **kwargs):
        if command[0] == "squeue":
            return b""
        return super().__call__(command, **kwargs)


@pytest.fixture
def slurm(tmp_path):
    """submitit's own fake sbatch/sacct/srun (from its test suite): nothing reaches a cluster."""
    mock = FakeSlurm(known_cmds=["srun"])
    profile = load_profile("smoke", results_dir=str(tmp_path / "results"), qa_gpus_per_cell=8,
                           slurm_partition="gpu", slurm_time_min=720, slurm_mem_gb=200,
                           slurm_setup=["source .venv/bin/activate"])
    try:
        with mock.context():
            yield mock, profile
    finally:
        SlurmJob.watcher.clear()


def test_slurm_script_of_a_multi_gpu_qasper_cell(slurm):
    _, profile = slurm
    cells = [QA, SUMM, SUMM._replace(length=2048)]
    submitted = dict(executors.submit_grid(profile, cells, executor="slurm"))
    # The two summarization cells share a job array on one GPU each; Qasper has its own job.
    assert sorted(submitted.values()) == ["12", "13_0", "13_1"]
    assert submitted[QA] == "12"
    script = (profile.results_path / "jobs" / "12" / "12_submission.sh").read_text()
    for line in ("#SBATCH --gpus-per-node=8", "#SBATCH --ntasks-per-node=8", "#SBATCH --nodes=1",
                 "#SBATCH --time=720", "#SBATCH --partition=gpu", "#SBATCH --mem=200GB",
                 "#SBATCH --cpus-per-task=8", "source .venv/bin/activate"):
        assert line in script.splitlines(), line
    jobs = (profile.results_path / "jobs").resolve()
    assert f"-m submitit.core._submit {jobs}/%j" in script
    assert f"--output {jobs}/%j/%j_%t_log.out" in script  # logs in the known folder
    array = (profile.results_path / "jobs" / "13" / "13_submission.sh").read_text()
    assert "#SBATCH --array=0-1%2" in array and "#SBATCH --gpus-per-node=1" in array
    # The job's call: one cell through run_cell_job, the results folder named absolutely.
    call = DelayedSubmission.load(profile.results_path / "jobs" / "12" / "12_submitted.pkl")
    assert call.function is executors.run_cell_job
    job_profile, cell = call.args
    assert cell == QA and job_profile.results_dir == str(profile.results_path.resolve())
    # The dry run's script (written without SLURM) is the one the executor wrote.
    assert executors.slurm_script(profile, executors.Resources(8, 8)) == script


def test_slurm_states_and_a_timed_out_job_resubmitted(slurm):
    mock, profile = slurm
    submitted = dict(executors.submit_grid(profile, [QA, SUMM], executor="slurm"))
    mock.set_job_state(submitted[QA], "PENDING")
    mock.set_job_state(submitted[SUMM], "RUNNING")
    states = _states(profile, [QA, SUMM])
    assert (states[QA].state, states[SUMM].state) == ("queued", "running")
    # Queued and running cells are never submitted twice.
    assert executors.submit_grid(profile, [QA, SUMM], executor="slurm") == []
    mock.set_job_state(submitted[QA], "TIMEOUT")
    status = _states(profile, [QA])[QA]
    assert status.state == "failed" and "ended TIMEOUT" in status.detail
    assert not grid.cell_record_path(profile, QA).exists()  # --status changes nothing
    [(cell, again)] = executors.submit_grid(profile, [QA, SUMM], executor="slurm")
    assert cell == QA and again != submitted[QA]
    record = load_record(grid.cell_record_path(profile, QA))
    assert record.status == "failed"
    assert record.reason == (f"scheduler: job {submitted[QA]} ended TIMEOUT without a record "
                             f"(logs: {profile.results_path.resolve() / 'jobs' / submitted[QA]})")
    assert grid.needs_run(grid.cell_record_path(profile, QA))  # so the in-process grid too


def test_dry_run_with_slurm_submits_nothing(tmp_path, capsys):
    results = tmp_path / "results"
    assert cli.main(["grid", "--profile", "paper", "--results-dir", str(results),
                     "--executor", "slurm", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "qasper/led-base/L1024/s0-ga4: would submit (slurm, 8 processes, 8 GPU)" in out
    assert "govreport/led-base/L1024/s0: would submit (slurm, 1 process, 1 GPU)" in out
    assert "#SBATCH --array=0-15%16" in out and "#SBATCH --gpus-per-node=8" in out
    assert "52 of 52 cells would be submitted" in out
    assert not results.exists()


def test_slurm_without_slurm_says_so_before_loading_anything(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    from tradeoff import pipeline

    monkeypatch.setattr(pipeline, "preflight_data", lambda *a: pytest.fail("data loaded"))
    assert cli.main(["grid", "--profile", "smoke", "--results-dir", str(tmp_path),
                     "--executor", "slurm"]) == 2
    assert "no SLURM here (srun not found)" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
