"""Where each cell stands: its record first, then its last job's state.

A cell with a record is done (or failed, with the record's reason). Otherwise a cell's last
submission (:func:`tradeoff.executors.jobs.last_submission`) names its job, whose state is read
from the results folder (submitit's result file), then, for SLURM jobs, from the scheduler
(:func:`tradeoff.executors.slurm.slurm_states`); a local job runs while its controller process
lives. A job that ended without a record (time limit, preemption, node failure, a killed process)
leaves the cell failed, with the scheduler's state as the reason. A job that reached its time
limit ends through submitit's warning signal, 90 s before the limit, with submitit's
``UncompletedJobError`` as its result (the cell is not checkpointable: a restart under the same
limit would not finish either); it is a scheduler failure too, and the grid submits the cell
again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Cell, Profile
from ..errors import RecordError
from ..grid import SCHEDULER_FAILURE, validate_cells
from ..records import load_record, record_path, RunRecord, save_record
from .jobs import has_result, job_error, jobs_folder, last_submission, TIME_LIMIT_ERROR
from .slurm import QUEUED_STATES, RUNNING_STATES, slurm_states


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
    subs = [last_submission(profile, path) for path in paths]
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
            out.append(CellState(cell, "unknown", path, job_id,
                                 "SLURM did not answer (neither sacct nor squeue)"))
        elif record is not None and record.status == "ok":  # a forced re-run died
            out.append(CellState(cell, "done", path, job_id,
                                 f"a re-run (job {job_id}) ended {job}; the earlier record stands"))
        else:  # the job ended and left no record
            logs = f"logs: {jobs_folder(profile) / job_id}"
            ended = "left the queue" if job == "GONE" else f"ended {job}"
            reason = f"{SCHEDULER_FAILURE}job {job_id} {ended} without a record ({logs})"
            if job == "FINISHED":
                error = job_error(profile, job_id)
                if error.startswith(TIME_LIMIT_ERROR):  # submitit's handler of the time limit
                    reason = (f"{SCHEDULER_FAILURE}job {job_id} reached its time limit "
                              f"({profile.slurm_time_min} min, slurm_time_min) without a "
                              f"record ({logs})")
                else:  # the job ran and raised outside the cell: not the scheduler
                    reason = f"job {job_id}: {error}"
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


def status_counts(states: list[CellState]) -> str:
    """One summary line: how many cells are in each state."""
    order = ("done", "running", "queued", "unknown", "failed", "not submitted")
    counts = {k: sum(s.state == k for s in states) for k in order}
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n) + f" of {len(states)} cells"


def _job_states(profile: Profile, submissions: list[dict]) -> dict[str, str]:
    """The scheduler's state of each submitted job, by job id.

    ``FINISHED`` when submitit's result file exists; local jobs are ``RUNNING`` while their
    controller process lives and ``INTERRUPTED`` after it died without a result; SLURM jobs take
    their state from :func:`slurm_states`, ``UNKNOWN`` only where SLURM could not be asked.
    """
    states, on_slurm = {}, []
    for sub in submissions:
        job_id = sub["job_id"]
        if has_result(profile, job_id):
            states[job_id] = "FINISHED"
        elif sub["executor"] == "local":
            states[job_id] = "RUNNING" if _local_job_alive(job_id) else "INTERRUPTED"
        else:
            on_slurm.append(job_id)
    if on_slurm:
        states |= slurm_states(on_slurm)
        for job_id in on_slurm:  # a job that ended since: its result file is the better word
            if states[job_id] not in QUEUED_STATES | RUNNING_STATES and has_result(profile, job_id):
                states[job_id] = "FINISHED"
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
