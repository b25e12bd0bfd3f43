"""The grid on a real one-node SLURM (tests/slurm_cluster.py), with accounting and without.

Drills with smoke cells: a few cells submitted and followed through ``--status``; one cancelled
mid-cell; one run past its time limit. A job's state must be decided from the records, sacct
and squeue, so that no cell is stranded where sacct cannot answer. Refusals by sbatch end in
one line. The mocked unit tests of tests/test_executors.py stay; these show what a mock cannot.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import warnings

import psutil
import pytest

from tradeoff import cli, executors, grid
from tradeoff.config import PARAMS_DIR, Cell, load_profile
from tradeoff.records import load_record

CELLS = [Cell("qmsum", "led-base", 1024), Cell("summscreenfd", "led-base", 1024)]
VICTIM = CELLS[0]  # cancelled mid-cell; the other cell queues behind it
LONG = Cell("govreport", "led-base", 1024)  # runs until its time limit ends it
# Resources every drill profile asks for: the node has two CPU slots and little memory to spare.
SMALL = dict(slurm_cpus_per_gpu=1, slurm_mem_gb=1, slurm_time_min=5)


def _wait_until(predicate, timeout_s: float, what: str, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    pytest.fail(f"timed out waiting for {what}")


def _started(profile, job_id: str) -> bool:
    """The job's cell has begun (submitit's signal handlers are installed by then)."""
    err = executors.jobs_folder(profile) / job_id / f"{job_id}_0_log.err"
    return err.exists() and "tokenizing" in err.read_text(errors="replace")


def _job_processes(job_id: str) -> list[psutil.Process]:
    """The processes of a SLURM job on this node, found by their SLURM variables."""
    found = []
    for process in psutil.process_iter():
        try:
            env = process.environ()
        except psutil.Error:  # gone, or a process of another user
            continue
        ids = {env.get("SLURM_JOB_ID"),
               f"{env.get('SLURM_ARRAY_JOB_ID')}_{env.get('SLURM_ARRAY_TASK_ID')}"}
        if job_id in ids:
            found.append(process)
    return found


def _niced(job_id: str) -> bool:
    """Lower the priority of the job's processes to nice 19; True once its cell's process was
    found."""
    found = False
    for process in _job_processes(job_id):
        with contextlib.suppress(psutil.Error):
            process.nice(19)
            found = found or "submitit" in " ".join(process.cmdline())
    return found


def _cancel(job_id: str) -> None:
    """``scancel``, then SIGKILL to what is left of the job, as a cluster's cgroups would do.

    This cluster tracks processes without cgroups (proctrack/linuxproc): submitit's cell ignores
    the SIGTERM that scancel sends first, and once the batch script has ended no SIGKILL reaches
    the cell, which would then run to its end and write its record.
    """
    subprocess.run(["scancel", job_id], check=True, env=os.environ)
    for process in _job_processes(job_id):
        with contextlib.suppress(psutil.Error):
            process.kill()


def _profile_yaml(tmp_path, **settings) -> str:
    """A copy of the smoke profile with settings added, for the command line."""
    path = tmp_path / "smoke.yaml"
    path.write_text((PARAMS_DIR / "smoke.yaml").read_text() + "name: smoke\n"
                    + "".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}\n"
                              for k, v in settings.items()))
    return str(path)


@pytest.fixture(scope="module")
def drill(slurm_cluster, tmp_path_factory):
    """Two smoke cells and one long cell as SLURM jobs on two CPU slots (and, on the accounting
    cluster, two GPUs), so one cell queues; the first cell is cancelled mid-cell, the queued one
    then runs, and the long one's time limit is cut short while it runs; then the grid is called
    again.

    Returns what each step saw, for the tests below to check.
    """
    results = tmp_path_factory.mktemp("slurm-results")
    on_gpus = slurm_cluster.gpus > 0  # the GPU cluster takes GPU requests; the other has none
    profile = load_profile("smoke", results_dir=str(results / "grid"), slurm_gpus=on_gpus, **SMALL)
    long = load_profile("smoke", results_dir=str(results / "long"), slurm_gpus=on_gpus,
                        max_steps=100_000, num_train_epochs=10_000.0, **SMALL)
    seen = {"history": {c: [] for c in CELLS}}
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mp.setenv("SLURM_CONF", str(slurm_cluster.conf))
        mp.setenv("PATH", slurm_cluster.env["PATH"])
        [(_, long_job)] = executors.submit_grid(long, [LONG])
        # The long cell only has to be running when its time limit passes, which slurmctld
        # checks every 30 s; at nice 19 it trains on the cycles the other cells leave.
        _wait_until(lambda: _niced(long_job), 60, "the long cell's process", every_s=0.1)
        jobs = dict(executors.submit_grid(profile, CELLS))
        seen["jobs"], seen["long_job"] = jobs, long_job
        seen["script"] = (executors.jobs_folder(profile) / jobs[CELLS[0]].split("_")[0]
                          / f"{jobs[CELLS[0]].split('_')[0]}_submission.sh").read_text()

        def follow():
            for state in executors.cell_states(profile, CELLS):
                history = seen["history"][state.cell]
                if not history or history[-1] != state.state:
                    history.append(state.state)
            return seen["history"]

        _wait_until(lambda: follow() and _started(profile, jobs[VICTIM]), 240,
                    "the cell to cancel to start", every_s=0.3)
        _cancel(jobs[VICTIM])
        _wait_until(lambda: _started(long, long_job), 240, "the long cell to start")
        # Its time limit is now two minutes: SLURM sends submitit's warning signal at once.
        subprocess.run(["scontrol", "update", f"JobId={long_job}", "TimeLimit=2"], check=True)
        _wait_until(lambda: all(h[-1] in ("done", "failed") for h in follow().values()), 300,
                    "the cells to end", every_s=0.3)
        seen["long_state"] = _wait_until(
            lambda: (s := executors.cell_states(long, [LONG])[0]).state == "failed" and s,
            120, "the long cell to end")
        seen["states"] = {s.cell: s for s in executors.cell_states(profile, CELLS)}
        # Any file of the cancelled cell: a record, or an atomic write's temporary file.
        victim_name = grid.cell_record_path(profile, VICTIM).stem
        seen["partial_files"] = sorted(p.name for p in profile.results_path.iterdir()
                                       if p.name.lstrip(".").startswith(victim_name))
        seen["second"] = executors.submit_grid(profile, CELLS)
        seen["long_second"] = executors.submit_grid(long, [LONG])
        seen["victim_record"] = load_record(grid.cell_record_path(profile, VICTIM))
        seen["long_record"] = load_record(grid.cell_record_path(long, LONG))
        for _, job_id in seen["second"] + seen["long_second"]:  # their work is not needed
            subprocess.run(["scancel", job_id], env=os.environ)
        status = subprocess.run(
            [sys.executable, "-m", "tradeoff", "grid", "--profile",
             _profile_yaml(tmp_path_factory.mktemp("yaml"), slurm_gpus=on_gpus),
             "--results-dir", str(profile.results_path), "--status"],
            capture_output=True, text=True, env=os.environ)
    seen["status"] = status
    seen["warnings"] = [str(w.message) for w in caught]
    return profile, long, seen


def test_cells_go_through_queued_running_done_with_valid_records(drill):
    profile, _, seen = drill
    # Two slots for three jobs: a cell waits, then runs, then is done.
    assert any(h[:3] == ["queued", "running", "done"] for h in seen["history"].values()), \
        seen["history"]
    for cell in CELLS:
        if cell == VICTIM:
            continue
        assert seen["states"][cell].state == "done", seen["states"][cell].line
        record = load_record(grid.cell_record_path(profile, cell))
        assert record.status == "ok", record.reason
        assert record.params == cell.resolve(profile)
        assert record.params_hash == cell.resolve(profile).digest
        assert record.train.steps == 2


def test_jobs_ask_for_gpus_only_on_a_cluster_that_has_them(drill, slurm_cluster):
    _, _, seen = drill
    lines = seen["script"].splitlines()
    if slurm_cluster.gpus:
        assert "#SBATCH --gpus-per-node=1" in lines
    else:  # a CPU-only cluster refuses any GPU request, so none is made
        assert not any("gpu" in line for line in lines if line.startswith("#SBATCH"))


def test_a_cancelled_cell_leaves_no_record_and_is_the_only_one_resubmitted(drill):
    profile, _, seen = drill
    job = seen["jobs"][VICTIM]
    assert seen["states"][VICTIM].state == "failed"
    assert seen["states"][VICTIM].detail.startswith(f"scheduler: job {job} ")
    assert seen["partial_files"] == []
    [(cell, again)] = seen["second"]
    assert cell == VICTIM and again != job
    assert grid.is_scheduler_failure(seen["victim_record"])


def test_a_cell_past_its_time_limit_is_a_scheduler_timeout_and_is_resubmitted(drill):
    _, long, seen = drill
    job = seen["long_job"]
    reason = seen["long_record"].reason
    assert reason.startswith(f"scheduler: job {job} reached its time limit (5 min, "
                             f"slurm_time_min)"), reason
    assert seen["long_record"].status == "failed"
    assert grid.is_scheduler_failure(seen["long_record"])
    [(cell, again)] = seen["long_second"]
    assert cell == LONG and again != job


def test_status_and_submission_print_no_scheduler_warnings(drill):
    _, _, seen = drill
    assert seen["status"].returncode == 0, seen["status"].stderr
    assert seen["status"].stderr == ""
    assert "unknown" not in seen["status"].stdout
    assert not [w for w in seen["warnings"] if "sacct" in w], seen["warnings"]


@pytest.fixture
def on_cluster(slurm_cluster, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    monkeypatch.setenv("PATH", slurm_cluster.env["PATH"])
    return slurm_cluster


@pytest.mark.parametrize("settings, key", [
    ({"slurm_partition": "no-such-partition"}, "slurm_partition"),
    ({"slurm_mem_gb": 100_000}, "slurm_mem_gb"),
    ({"slurm_gpus": True, "qa_gpus_per_cell": 4}, "slurm_gpus"),
])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_refused_setting_is_one_line_naming_its_key_and_leaves_nothing(
        on_cluster, tmp_path, capsys, settings, key, dry_run):
    if key == "slurm_gpus" and on_cluster.gpus == 0:
        settings = {"slurm_gpus": True}  # a CPU-only cluster refuses even one GPU
    results = tmp_path / "results"
    yaml = _profile_yaml(tmp_path, datasets="[qasper]", models="[led-base]", lengths="[1024]",
                         **(SMALL | {"slurm_gpus": False} | settings))
    code = cli.main(["grid", "--profile", yaml, "--results-dir", str(results),
                     "--executor", "slurm", *(["--dry-run"] if dry_run else [])])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert key in err and err.startswith("error: ")
    assert not results.exists()
