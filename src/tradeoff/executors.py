"""Cells as scheduler jobs through submitit: SLURM on a cluster, separate processes locally.

:func:`submit_grid` submits one job per unfinished cell (a SLURM job array per group of cells
that need the same resources); each job calls :func:`tradeoff.pipeline.run_cell`, so it writes
its record exactly as the in-process grid (:func:`tradeoff.grid.run_grid`) does, into the same
results folder, named by the same hash. The skip and resume rules are the grid's: a cell with a
record is never submitted; a cell whose job is queued or running is not submitted twice; a cell
whose job ended without a record (time limit, preemption, node failure, a killed process) is
recorded as failed with the scheduler's state as the reason and submitted again by the next
call, as an interrupted grid resumes.

Jobs and their logs live in ``<results_dir>/jobs/<job id>/`` (submitit's files: the pickled
call, ``*_log.out``, ``*_log.err``, the sbatch script); ``<results_dir>/jobs/cells/`` keeps, per
cell, one JSON line per submission, from which :func:`cell_states` (``tradeoff grid --status``)
reads each cell's job state while jobs run. None of these files ends in ``.json``, so readers of
run records never see them.

Resources come from the profile's bookkeeping fields (outside the hash): ``qa_gpus_per_cell``
GPUs for Qasper cells, one for summarization, ``slurm_partition``, ``slurm_time_min``,
``slurm_mem_gb``, ``slurm_cpus_per_gpu``, ``slurm_setup`` and ``slurm_additional``. A cell on
several GPUs runs one process per GPU (SLURM tasks); :func:`run_cell_job` exports torch
distributed's environment from submitit's job environment, as ``torchrun`` does, so the cell
takes the same data-parallel code path as ``torchrun -m tradeoff run``.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .config import TASKS, Cell, Profile
from .grid import SCHEDULER_FAILURE, is_scheduler_failure, needs_run, validate_cells
from .records import RecordError, RunRecord, load_record, record_path, save_record

log = logging.getLogger(__name__)

EXECUTORS = ("local", "slurm")
JOBS_FOLDER = "jobs"
# sacct states of a job still waiting, or running (https://slurm.schedmd.com/sacct.html).
QUEUED_STATES = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED",
                 "CONFIGURING"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}


@dataclass(frozen=True)
class CellState:
    """Where one cell stands: ``done``, ``failed``, ``queued``, ``running``, ``unknown`` (the
    scheduler does not know the job yet, or has no accounting) or ``not submitted``."""

    cell: Cell
    state: str
    record: Path
    job_id: str | None = None
    detail: str = ""

    @property
    def line(self) -> str:
        job = f" (job {self.job_id})" if self.job_id else ""
        return f"{self.cell.label}: {self.state}{job}{': ' + self.detail if self.detail else ''}"


def jobs_folder(profile: Profile) -> Path:
    """Where the profile's jobs keep their submitit files and logs."""
    return profile.results_path / JOBS_FOLDER


def gpus_for(profile: Profile, cell: Cell) -> int:
    """GPUs (one process each) a cell's job asks for: the profile's count for QA, else one."""
    return profile.qa_gpus_per_cell if TASKS[cell.dataset] == "qa" else 1


def slurm_parameters(profile: Profile, gpus: int) -> dict:
    """The SLURM resources of a job on ``gpus`` GPUs, as submitit's SlurmExecutor names them.

    One node, one task (process) per GPU, which :func:`run_cell_job` turns into torch
    distributed ranks.
    """
    params = dict(job_name=f"tradeoff-{profile.name}", time=profile.slurm_time_min, nodes=1,
                  ntasks_per_node=gpus, gpus_per_node=gpus,
                  cpus_per_task=profile.slurm_cpus_per_gpu, mem=f"{profile.slurm_mem_gb}GB")
    if profile.slurm_partition:
        params["partition"] = profile.slurm_partition
    if profile.slurm_setup:
        params["setup"] = list(profile.slurm_setup)
    if profile.slurm_additional:
        params["additional_parameters"] = dict(profile.slurm_additional)
    return params


def slurm_script(profile: Profile, gpus: int, array_size: int | None = None) -> str:
    """The sbatch script submitit writes for a job (or an array) of cells on ``gpus`` GPUs.

    Needs no SLURM installation (for ``--dry-run``); the executor writes the same text.
    """
    from submitit.slurm.slurm import _make_sbatch_string

    folder = jobs_folder(profile).resolve() / "%j"
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit",
                        shlex.quote(str(folder))])
    return _make_sbatch_string(command=command, folder=folder, map_count=array_size,
                               **slurm_parameters(profile, gpus))


def make_executor(kind: str, profile: Profile, gpus: int):
    """A submitit executor for jobs on ``gpus`` GPUs, logging into :func:`jobs_folder`.

    Raises:
        ConfigError: an unknown kind.
        RuntimeError: ``slurm`` where no ``srun`` is found (submitit's check).
    """
    import submitit

    from .config import ConfigError

    folder = jobs_folder(profile) / "%j"
    if kind == "slurm":
        executor = submitit.SlurmExecutor(folder=folder)
        executor.update_parameters(**slurm_parameters(profile, gpus))
        return executor
    if kind == "local":
        import torch

        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=profile.slurm_time_min, tasks_per_node=gpus,
                                   gpus_per_node=gpus if torch.cuda.is_available() else 0)
        return executor
    raise ConfigError(f"unknown executor '{kind}'; valid: {', '.join(EXECUTORS)}")


def run_cell_job(profile: Profile, cell: Cell) -> tuple[str, str]:
    """What each job runs: one cell, its record written as the in-process grid writes it.

    On several tasks (one per GPU), torch distributed's variables (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT) are exported from submitit's job environment, as ``torchrun``
    would set them; only rank 0 writes the record (:func:`tradeoff.pipeline.run_cell`).

    Returns:
        The record's status and reason.
    """
    import submitit

    from .pipeline import run_cell

    if submitit.JobEnvironment().num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False,
                                                              overwrite=True)
    record = run_cell(profile, cell, force=True, show_progress=False)
    return record.status, record.reason


def _ledger(profile: Profile, path: Path) -> Path:
    return jobs_folder(profile) / "cells" / f"{path.stem}.jobs"


def _last_submission(profile: Profile, path: Path) -> dict | None:
    ledger = _ledger(profile, path)
    if not ledger.exists():
        return None
    lines = [line for line in ledger.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


def _job_states(profile: Profile, submissions: list[dict]) -> dict[str, str]:
    """The scheduler's state of each submitted job, by job id.

    ``FINISHED`` when submitit's result file exists; local jobs are ``RUNNING`` while their
    controller process lives and ``INTERRUPTED`` after it died without a result; SLURM jobs take
    sacct's state through submitit's watcher (one sacct call), ``UNKNOWN`` where sacct has none.
    """
    from submitit.core.utils import JobPaths
    from submitit.slurm.slurm import SlurmInfoWatcher

    folder = jobs_folder(profile) / "%j"
    states, on_slurm = {}, []
    for sub in submissions:
        job_id = sub["job_id"]
        if JobPaths(folder, job_id=job_id, task_id=0).result_pickle.exists():
            states[job_id] = "FINISHED"
        elif sub["executor"] == "local":
            states[job_id] = "RUNNING" if _local_job_alive(job_id) else "INTERRUPTED"
        else:
            on_slurm.append(job_id)
    if on_slurm:
        watcher = SlurmInfoWatcher()  # a fresh one: no state cached from an earlier call
        for job_id in on_slurm:
            watcher.register_job(job_id)
        watcher.update()  # one sacct call for every SLURM job
        for job_id in on_slurm:
            states[job_id] = watcher.get_state(job_id, mode="cache").split()[0].upper()
    return states


def _local_job_alive(job_id: str) -> bool:
    """Whether a local job's controller (its id is the controller's pid) still runs."""
    import psutil

    try:
        proc = psutil.Process(int(job_id))
        return (proc.status() != psutil.STATUS_ZOMBIE
                and "submitit.local._local" in " ".join(proc.cmdline()))
    except (psutil.Error, ValueError):
        return False


def _job_error(profile: Profile, job_id: str) -> str:
    """The first line of the exception a finished job raised outside the cell, if any."""
    from submitit.core.utils import JobPaths, pickle_load

    path = JobPaths(jobs_folder(profile) / "%j", job_id=job_id, task_id=0).result_pickle
    try:
        outcome, value = pickle_load(path)
    except Exception:  # noqa: BLE001 - an unreadable result says nothing more
        return "no result"
    if outcome == "error":
        return str(value).strip().splitlines()[-1]
    return "the job returned without writing the record"


def cell_states(profile: Profile, cells: list[Cell] | None = None, *,
                record_deaths: bool = False) -> list[CellState]:
    """Where each cell stands, from the records folder and the scheduler's job states.

    Read-only unless ``record_deaths``: then a cell whose last job ended without a record gets a
    ``failed`` record whose reason names the job and the scheduler's state (the grid then submits
    it again, see :func:`tradeoff.grid.needs_run`).

    Args:
        profile: the validated profile.
        cells: a subset of ``profile.cells()``; all when None.
        record_deaths: write the failed records of dead jobs.

    Returns:
        One :class:`CellState` per cell, in order.
    """
    cells = profile.cells() if cells is None else cells
    params = validate_cells(profile, cells, here=False)
    paths = [record_path(profile.results_path, p) for p in params]
    subs = [_last_submission(profile, path) for path in paths]
    states = _job_states(profile, [s for s in subs if s])
    out = []
    for cell, cell_params, path, sub in zip(cells, params, paths, subs):
        record = _read(path)
        # A record started after the cell's last submission is that job's (or a later run's).
        if sub is None or (record is not None and record.started_at >= sub["submitted_at"]):
            if record is None:
                out.append(CellState(cell, "not submitted", path))
            else:
                out.append(CellState(cell, "done" if record.status == "ok" else "failed", path,
                                     sub and sub["job_id"], record.reason))
            continue
        job_id, job = sub["job_id"], states.get(sub["job_id"], "UNKNOWN")
        if job in QUEUED_STATES:
            out.append(CellState(cell, "queued", path, job_id, job))
        elif job in RUNNING_STATES:
            out.append(CellState(cell, "running", path, job_id, job))
        elif job == "UNKNOWN":
            out.append(CellState(cell, "unknown", path, job_id, "the scheduler has no state for it"))
        elif record is not None and record.status == "ok":  # a forced re-run died
            out.append(CellState(cell, "done", path, job_id,
                                 f"a re-run (job {job_id}) ended {job}; the earlier record stands"))
        else:  # the job ended and left no record
            reason = (f"{SCHEDULER_FAILURE}job {job_id} ended {job} without a record "
                      f"(logs: {jobs_folder(profile) / job_id})")
            if job == "FINISHED":  # the job ran and raised outside the cell: not the scheduler
                reason = f"job {job_id}: {_job_error(profile, job_id)}"
            if record_deaths:
                save_record(RunRecord(profile=profile.name, label=cell.label,
                                      params_hash=cell_params.digest, params=cell_params,
                                      status="failed", reason=reason,
                                      started_at=sub["submitted_at"]), path)
            out.append(CellState(cell, "failed", path, job_id, reason))
    return out


def _read(path: Path) -> RunRecord | None:
    try:
        return load_record(path) if path.exists() else None
    except RecordError:
        return None


def plan_grid(profile: Profile, cells: list[Cell] | None = None, *, executor: str = "slurm",
              force: bool = False, retry_failed: bool = False) -> tuple[list[Cell], list[CellState]]:
    """Which cells :func:`submit_grid` would submit, without submitting or writing anything.

    Returns:
        The cells to submit, and every cell's current state.
    """
    if executor not in EXECUTORS:
        from .config import ConfigError

        raise ConfigError(f"unknown executor '{executor}'; valid: {', '.join(EXECUTORS)}")
    states = cell_states(profile, cells)
    return [s.cell for s in states if _submits(s, force, retry_failed)], states


def _submits(state: CellState, force: bool, retry_failed: bool) -> bool:
    if state.state in ("queued", "running", "unknown"):  # never twice
        return False
    if state.state == "failed" and not state.record.exists():  # a dead job, not yet recorded
        return force or retry_failed or state.detail.startswith(SCHEDULER_FAILURE)
    return needs_run(state.record, force, retry_failed)


def submit_grid(profile: Profile, cells: list[Cell] | None = None, *, executor: str = "slurm",
                force: bool = False, retry_failed: bool = False, parallel: int | None = None,
                wait: bool = False) -> list[tuple[Cell, str]]:
    """Submit one job per unfinished cell; cells that need the same GPUs share a job array.

    First records the cells whose earlier job died as failed (see :func:`cell_states`), then
    submits every cell without a record, with a scheduler-failed record, or (with ``force`` /
    ``retry_failed``) with any record / an ``oom`` or ``failed`` one; a queued or running cell
    is never submitted twice. The data of every submitted cell is loaded here first, so missing
    data fails before anything is queued (and compute nodes find it in the cache).

    Args:
        profile: the validated profile.
        cells: a subset of ``profile.cells()``; all when None.
        executor: ``slurm`` (sbatch) or ``local`` (processes on this machine).
        force: submit cells that have a record.
        retry_failed: submit cells whose record says ``oom`` or ``failed``.
        parallel: local only: at most this many jobs at once (waits between waves); all at once
            when None.
        wait: return only once every submitted job ended.

    Returns:
        ``(cell, job id)`` of every submitted job.
    """
    from .pipeline import preflight_data, prepare_environment

    if executor == "slurm" and shutil.which("srun") is None:  # submitit's own test
        from .config import ConfigError

        raise ConfigError("--executor slurm: no SLURM here (srun not found); --dry-run shows "
                          "what would be submitted, --executor local runs the jobs on this machine")
    cell_states(profile, cells, record_deaths=True)
    todo, _ = plan_grid(profile, cells, executor=executor, force=force, retry_failed=retry_failed)
    if not todo:
        return []
    prepare_environment(profile)
    preflight_data(profile, [c.dataset for c in todo])
    # Jobs run elsewhere (another node, another working folder): name the results absolutely.
    profile = profile.model_copy(update={"results_dir": str(profile.results_path.resolve())})
    groups: dict[int, list[Cell]] = {}
    for cell in todo:
        groups.setdefault(gpus_for(profile, cell), []).append(cell)
    step = parallel if executor == "local" else None  # SLURM queues its arrays itself
    waves = []
    for gpus, group in groups.items():
        size = step or len(group)
        waves += [(gpus, group[i:i + size]) for i in range(0, len(group), size)]
    submitted = []
    for n, (gpus, wave) in enumerate(waves):
        ex = make_executor(executor, profile, gpus)
        # Taken before the jobs start, so that their records are never older than it.
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with ex.batch():  # a SLURM job array when the wave has several cells
            jobs = [ex.submit(run_cell_job, profile, cell) for cell in wave]
        for cell, job in zip(wave, jobs):
            _note_submission(profile, cell, job.job_id, executor, gpus, now)
            submitted.append((cell, job))
        if wait or (executor == "local" and parallel and n < len(waves) - 1):
            for job in jobs:
                job.wait()
    return [(cell, job.job_id) for cell, job in submitted]


def _note_submission(profile: Profile, cell: Cell, job_id: str, executor: str, gpus: int,
                     submitted_at: str) -> None:
    ledger = _ledger(profile, record_path(profile.results_path, cell.resolve(profile)))
    ledger.parent.mkdir(parents=True, exist_ok=True)
    entry = {"job_id": job_id, "executor": executor, "label": cell.label, "gpus": gpus,
             "submitted_at": submitted_at}
    with ledger.open("a") as f:
        f.write(json.dumps(entry) + "\n")
    log.info("%s: submitted as job %s (%s, %d GPU)", cell.label, job_id, executor, gpus)


def describe_plan(profile: Profile, todo: list[Cell], states: list[CellState],
                  executor: str) -> list[str]:
    """The lines ``tradeoff grid --executor ... --dry-run`` prints: each cell, what happens to
    it, and (SLURM) the sbatch script of each job array, as submitit would write it."""
    todo_set = set(todo)
    lines = []
    for s in states:
        if s.cell in todo_set:
            n = gpus_for(profile, s.cell)
            what = f"{n} GPU" if executor == "slurm" else f"{n} process{'es' * (n > 1)}"
            lines.append(f"{s.cell.label}: would submit ({executor}, {what}): {s.record}")
        else:
            lines.append(s.line)
    counts: dict[int, int] = {}
    for cell in todo:
        counts[gpus_for(profile, cell)] = counts.get(gpus_for(profile, cell), 0) + 1
    for gpus, n in counts.items():
        if executor == "slurm":
            lines.append(f"# sbatch script of the array of {n} job(s) on {gpus} GPU(s) each:")
            lines += [f"#   {line}" for line in slurm_script(profile, gpus, n if n > 1 else None)
                      .splitlines() if line.startswith("#SBATCH") or "srun" in line]
    lines.append(f"{len(todo)} of {len(states)} cells would be submitted; logs in "
                 f"{jobs_folder(profile)}")
    return lines


def status_counts(states: list[CellState]) -> str:
    """One summary line: how many cells are in each state."""
    order = ("done", "running", "queued", "unknown", "failed", "not submitted")
    counts = {k: sum(s.state == k for s in states) for k in order}
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n) + f" of {len(states)} cells"


__all__ = ["EXECUTORS", "CellState", "cell_states", "describe_plan", "gpus_for",
           "is_scheduler_failure", "jobs_folder", "make_executor", "plan_grid", "run_cell_job",
           "slurm_parameters", "slurm_script", "status_counts", "submit_grid"]
