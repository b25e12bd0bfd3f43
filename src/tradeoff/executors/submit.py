"""Submitting cells as jobs through submitit: SLURM on a cluster, separate processes locally.

:func:`submit_grid` submits one job per unfinished cell (a SLURM job array per group of cells
that need the same resources); each job calls :func:`tradeoff.pipeline.run_cell`, so it writes
its record exactly as the in-process grid (:func:`tradeoff.grid.run_grid`) does, into the same
results folder, named by the same hash. The skip and resume rules are the grid's: a cell with a
record is never submitted; a cell whose job is queued or running is not submitted twice; a cell
whose job ended without a record is recorded as failed with the scheduler's state as the reason
(:func:`tradeoff.executors.states.cell_states`) and submitted again by the next call, as an
interrupted grid resumes.

A cell on several processes runs them as SLURM tasks (or local processes); :func:`run_cell_job`
exports torch distributed's environment from submitit's job environment, as ``torchrun`` does,
so the cell takes the same data-parallel code path as ``torchrun -m tradeoff run``.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from datetime import datetime, timezone

from ..config import Cell, Profile
from ..errors import ConfigError
from ..grid import needs_run, SCHEDULER_FAILURE
from .. import pipeline
from .jobs import (
    check_executor,
    group_cells,
    jobs_folder,
    note_submission,
    Resources,
    resources_for,
)
from .slurm import check_with_scheduler, refusal, slurm_parameters, slurm_script
from .states import cell_states, CellState


def make_executor(kind: str, profile: Profile, resources: Resources):
    """A submitit executor for jobs of the given resources, logging into :func:`jobs_folder`.

    Raises:
        ConfigError: an unknown kind.
        RuntimeError: ``slurm`` where no ``srun`` is found (submitit's check).
    """
    import submitit

    check_executor(kind)
    folder = jobs_folder(profile) / "%j"
    if kind == "slurm":
        executor = submitit.SlurmExecutor(folder=folder)
        executor.update_parameters(**slurm_parameters(profile, resources))
        return executor
    executor = submitit.LocalExecutor(folder=folder)
    executor.update_parameters(timeout_min=profile.slurm_time_min,
                               tasks_per_node=resources.processes,
                               gpus_per_node=_local_gpus(resources))
    return executor


def _local_gpus(resources: Resources) -> int:
    # torch loads only when a local job is made: `grid --status` and `--dry-run` start quickly.
    import torch

    return resources.gpus if torch.cuda.is_available() else 0


def run_cell_job(profile: Profile, cell: Cell) -> tuple[str, str]:
    """What each job runs: one cell, its record written as the in-process grid writes it.

    On several tasks (one per GPU), torch distributed's variables (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT) are exported from submitit's job environment, as ``torchrun``
    would set them; only rank 0 writes the record (:func:`tradeoff.pipeline.run_cell`).

    Returns:
        The record's status and reason.
    """
    import submitit
    from submitit.core.utils import UncompletedJobError

    if submitit.JobEnvironment().num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False,
                                                              overwrite=True)
    # submitit's handler of the time-limit signal raises UncompletedJobError wherever the cell
    # is: it must end the job (submitit keeps it as the result), not become the cell's record.
    record = pipeline.run_cell(profile, cell, force=True, show_progress=False,
                               interruptions=(UncompletedJobError,))
    return record.status, record.reason


def plan_grid(profile: Profile, cells: list[Cell] | None = None, *, executor: str = "slurm",
              force: bool = False, retry_failed: bool = False) -> tuple[list[Cell], list[CellState]]:
    """Which cells :func:`submit_grid` would submit, without submitting or writing anything.

    Returns:
        The cells to submit, and every cell's current state.
    """
    check_executor(executor)
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
    if executor == "slurm" and shutil.which("srun") is None:  # submitit's own test
        raise ConfigError("--executor slurm: no SLURM here (srun not found); --dry-run shows "
                          "what would be submitted, --executor local runs the jobs on this machine")
    cell_states(profile, cells, record_deaths=True)
    todo, _ = plan_grid(profile, cells, executor=executor, force=force, retry_failed=retry_failed)
    if not todo:
        return []
    groups = group_cells(profile, todo)
    if executor == "slurm":  # before anything is loaded or written: SLURM would take them
        check_with_scheduler(profile, {r: len(g) for r, g in groups.items()})
    pipeline.prepare_environment(profile)
    pipeline.preflight_data(profile, [c.dataset for c in todo])
    # Jobs run elsewhere (another node, another working folder): name the results absolutely.
    profile = profile.model_copy(update={"results_dir": str(profile.results_path.resolve())})
    step = parallel if executor == "local" else None  # SLURM queues its arrays itself
    waves = []
    for resources, group in groups.items():
        size = step or len(group)
        waves += [(resources, group[i:i + size]) for i in range(0, len(group), size)]
    submitted = []
    for n, (resources, wave) in enumerate(waves):
        ex = make_executor(executor, profile, resources)
        # Taken before the jobs start, so that their records are never older than it.
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with _refused_cleanly(profile, resources):
            with ex.batch():  # a SLURM job array when the wave has several cells
                jobs = [ex.submit(run_cell_job, profile, cell) for cell in wave]
        for cell, job in zip(wave, jobs):
            note_submission(profile, cell, job.job_id, executor, resources, now)
            submitted.append((cell, job))
        if wait or (executor == "local" and parallel and n < len(waves) - 1):
            for job in jobs:
                job.wait()
    return [(cell, job.job_id) for cell, job in submitted]


@contextmanager
def _refused_cleanly(profile: Profile, resources: Resources):
    """A submission that sbatch refuses (after :func:`check_with_scheduler` passed: the
    cluster changed in between) leaves no submitit file behind and ends in one line."""
    from submitit.core.utils import FailedJobError

    folder = jobs_folder(profile)
    existed = folder.exists()
    before = set(folder.iterdir()) if existed else set()
    try:
        yield
    except FailedJobError as err:
        for path in (set(folder.iterdir()) if folder.exists() else set()) - before:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        if not existed and folder.exists() and not any(folder.iterdir()):
            folder.rmdir()
        raise refusal(profile, resources, str(err)) from None


def describe_plan(profile: Profile, todo: list[Cell], states: list[CellState],
                  executor: str) -> list[str]:
    """The lines ``tradeoff grid --executor ... --dry-run`` prints: each cell, what happens to
    it, and (SLURM) the sbatch script of each job array, as submitit would write it."""
    todo_set = set(todo)
    lines = []
    for s in states:
        if s.cell in todo_set:
            lines.append(f"{s.cell.label}: would submit ({executor}, "
                         f"{resources_for(profile, s.cell).text}): {s.record}")
        else:
            lines.append(s.line)
    groups = {r: len(g) for r, g in group_cells(profile, todo).items()}
    if executor == "slurm":
        for resources, n in groups.items():
            lines.append(f"# sbatch script of the array of {n} job(s), {resources.text} each:")
            lines += [f"#   {line}" for line in slurm_script(profile, resources, n if n > 1 else None)
                      .splitlines() if line.startswith("#SBATCH") or "srun" in line]
        if groups:
            asked = check_with_scheduler(profile, groups)
            lines.append("# SLURM would accept every job (sbatch --test-only)" if asked else
                         "# no SLURM to ask here: partition, GPUs, time and memory unchecked")
    lines.append(f"{len(todo)} of {len(states)} cells would be submitted; logs in "
                 f"{jobs_folder(profile)}")
    return lines
