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

Resources (:func:`resources_for`) follow from the cell and the profile: a cell runs on its
``processes`` (``qa_gpus_per_cell`` for Qasper, one for summarization; part of its hash), with one
GPU each unless the profile says ``slurm_gpus: false`` (a CPU-only cluster) or the cell's knob
runs on CPUs only; then come ``slurm_partition``, ``slurm_time_min``, ``slurm_mem_gb``,
``slurm_cpus_per_gpu``, ``slurm_setup`` and ``slurm_additional`` (outside the hash). A cell on
several processes runs them as SLURM tasks; :func:`run_cell_job` exports torch distributed's
environment from submitit's job environment, as ``torchrun`` does, so the cell takes the same
data-parallel code path as ``torchrun -m tradeoff run``.

Before anything is submitted, ``sbatch --test-only`` checks each job against the cluster
(:func:`check_with_scheduler`, also run by ``--dry-run`` where SLURM is installed): a refused
partition, GPU request, time limit or memory ends in one line that names the profile key.

Where a job stands is read from the results folder first (submitit's result file), then from
``sacct``, then from ``squeue`` where ``sacct`` has no answer (a cluster without accounting): a
job neither knows, without a result, has ended without a record. A job that reached its time
limit ends through submitit's warning signal, 90 s before the limit, with submitit's
``UncompletedJobError`` as its result (the cell is not checkpointable: a restart under the same
limit would not finish either); it is recorded as a scheduler failure and submitted again by
the next call, like a job the scheduler killed.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .config import Cell, Profile
from .errors import ConfigError
from .grid import SCHEDULER_FAILURE, is_scheduler_failure, needs_run, validate_cells
from .errors import RecordError
from .records import load_record, record_path, RunRecord, save_record

log = logging.getLogger(__name__)

EXECUTORS = ("local", "slurm")
JOBS_FOLDER = "jobs"
# sacct states of a job still waiting, or running (https://slurm.schedmd.com/sacct.html).
QUEUED_STATES = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED",
                 "CONFIGURING"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
# What submitit's result file holds when its signal handler ended the job at the time limit.
TIME_LIMIT_ERROR = "UncompletedJobError"
# sbatch's refusals (its error text, lower case) and the profile key that asked for it.
# The first match wins: a time or memory refusal may mention the partition's limit.
REFUSALS = (
    ("generic resource", "slurm_gpus (or qa_gpus_per_cell)", "GPU request (gres)"),
    ("gres", "slurm_gpus (or qa_gpus_per_cell)", "GPU request (gres)"),
    ("time limit", "slurm_time_min", "time limit"),
    ("memory", "slurm_mem_gb", "memory"),
    ("node configuration", "slurm_cpus_per_gpu or slurm_mem_gb", "CPUs or memory"),
    ("partition", "slurm_partition", "partition"),
)


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


@dataclass(frozen=True, order=True)
class Resources:
    """What one cell's job asks for: its processes (SLURM tasks) and GPUs (one per process,
    or none)."""

    processes: int
    gpus: int

    @property
    def text(self) -> str:
        procs = f"{self.processes} process{'es' * (self.processes > 1)}"
        return f"{procs}, {self.gpus} GPU" if self.gpus else f"{procs}, no GPU"


def resources_for(profile: Profile, cell: Cell) -> Resources:
    """The processes and GPUs a cell's job asks for.

    Processes are the cell's own (:attr:`tradeoff.config.CellParams.processes`); each gets a
    GPU, unless the profile says ``slurm_gpus: false`` or the cell's knob runs on CPU kernels
    only (``int8-dynamic``).

    Raises:
        ConfigError: a knob that needs a GPU (``fp16``) where the profile asks for none.
    """
    from .knobs import check_machine

    processes = cell.resolve(profile).processes
    on_gpu = profile.slurm_gpus
    if on_gpu:
        try:
            check_machine(cell.variant, use_cuda=True)
        except ConfigError:  # a CPU-only knob: its job needs no GPU
            on_gpu = False
    else:
        try:
            check_machine(cell.variant, use_cuda=False)
        except ConfigError as err:
            raise ConfigError(f"{cell.label}: {err}; the profile says slurm_gpus: false") from None
    return Resources(processes, processes if on_gpu else 0)


def slurm_parameters(profile: Profile, resources: Resources) -> dict:
    """The SLURM resources of a job, as submitit's SlurmExecutor names them.

    One node, one task per process, which :func:`run_cell_job` turns into torch distributed
    ranks; a GPU per task only where the job needs GPUs (a CPU-only cluster refuses any GPU
    request).
    """
    params = dict(job_name=f"tradeoff-{profile.name}", time=profile.slurm_time_min, nodes=1,
                  ntasks_per_node=resources.processes,
                  cpus_per_task=profile.slurm_cpus_per_gpu, mem=f"{profile.slurm_mem_gb}GB")
    if resources.gpus:
        params["gpus_per_node"] = resources.gpus
    if profile.slurm_partition:
        params["partition"] = profile.slurm_partition
    if profile.slurm_setup:
        params["setup"] = list(profile.slurm_setup)
    if profile.slurm_additional:
        params["additional_parameters"] = dict(profile.slurm_additional)
    return params


def slurm_script(profile: Profile, resources: Resources, array_size: int | None = None) -> str:
    """The sbatch script submitit writes for a job (or an array) of cells.

    Needs no SLURM installation (for ``--dry-run``); the executor writes the same text.
    """
    from submitit.slurm.slurm import _make_sbatch_string

    folder = jobs_folder(profile).resolve() / "%j"
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit",
                        shlex.quote(str(folder))])
    return _make_sbatch_string(command=command, folder=folder, map_count=array_size,
                               **slurm_parameters(profile, resources))


def refusal(profile: Profile, resources: Resources, stderr: str) -> ConfigError:
    """sbatch's refusal of a job as one line naming the setting and its profile key."""
    lines = [line.removeprefix("sbatch: error: ").strip() for line in stderr.splitlines()
             if line.strip()]
    said = next((line for line in reversed(lines) if "error" not in line.lower()[:6]),
                lines[-1] if lines else "no reason given")
    text = stderr.lower()
    for needle, key, what in REFUSALS:
        if needle in text:
            asked = {"slurm_partition": f"partition {profile.slurm_partition or '(default)'}",
                     "slurm_time_min": f"{profile.slurm_time_min} min",
                     "slurm_mem_gb": f"{profile.slurm_mem_gb} GB"}.get(key, resources.text)
            return ConfigError(f"SLURM refused the jobs' {what} ({asked}; profile key {key}): "
                               f"{said}")
    return ConfigError(f"SLURM refused the jobs ({resources.text}): {said} (profile keys "
                       f"slurm_*; further #SBATCH options come from slurm_additional)")


def check_with_scheduler(profile: Profile, groups: dict[Resources, int]) -> bool:
    """Ask SLURM whether it would accept each job array, without submitting (``sbatch
    --test-only``): the partition, GPU request, time limit and memory against the cluster.

    Args:
        profile: the validated profile.
        groups: the number of cells of each job array, by its resources.

    Returns:
        Whether SLURM was asked (False: no sbatch here, nothing could be checked).

    Raises:
        ConfigError: SLURM would refuse a job (one line naming the profile key).
    """
    # One line per partition and node kind: name (default marked *), CPUs, memory MB, GRES.
    nodes = _ask(["sinfo", "--noheader", "--format", "%P|%c|%m|%G"]) if shutil.which("sbatch") else None
    if nodes is None:  # no SLURM here, or no controller to ask
        return False
    rows = [line.split("|") for line in nodes.splitlines() if line.count("|") == 3]
    known = sorted({r[0].rstrip("*") for r in rows})
    wanted = profile.slurm_partition
    if wanted and wanted not in known:
        raise ConfigError(f"SLURM has no partition '{wanted}' (profile key slurm_partition); "
                          f"its partitions: {', '.join(known) or 'none'}")
    mine = [r for r in rows if (r[0].rstrip("*") == wanted if wanted else r[0].endswith("*"))]
    where = f"partition {wanted or '(default)'}"
    for resources in groups:
        # sbatch --test-only says "Requested node configuration is not available" for CPUs,
        # memory and GPUs alike: the nodes' sizes tell which setting asks too much.
        _check_fits(profile, resources, mine, where)
    for resources, count in groups.items():
        with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="tradeoff-test-only-") as f:
            f.write(slurm_script(profile, resources, count if count > 1 else None))
            f.flush()
            done = subprocess.run(["sbatch", "--test-only", f.name], capture_output=True,
                                  text=True, timeout=60)
        # sbatch --test-only answers on stderr in both cases; the exit status tells them apart.
        if done.returncode != 0:
            raise refusal(profile, resources, done.stderr or done.stdout)
    return True


def _check_fits(profile: Profile, resources: Resources, rows: list[list[str]], where: str) -> None:
    """Whether one node of the partition (sinfo's rows) holds a job; one line naming the key."""
    if not rows:
        return
    cpus = max(_number(r[1]) for r in rows)
    memory_gb = max(_number(r[2]) for r in rows) / 1024
    gpus = max(_gpu_count(r[3]) for r in rows)
    if resources.gpus > gpus:
        fix = ("set slurm_gpus: false for a CPU-only cluster" if gpus == 0
               else "lower qa_gpus_per_cell")
        raise ConfigError(f"SLURM's {where} has {gpus} GPU(s) a node and a job asks for "
                          f"{resources.gpus} (profile key slurm_gpus, qa_gpus_per_cell): {fix}")
    if resources.processes * profile.slurm_cpus_per_gpu > cpus:
        raise ConfigError(f"SLURM's {where} has {cpus} CPU(s) a node and a job asks for "
                          f"{resources.processes} x {profile.slurm_cpus_per_gpu} (profile key "
                          f"slurm_cpus_per_gpu)")
    if profile.slurm_mem_gb > memory_gb:
        raise ConfigError(f"SLURM's {where} has {memory_gb:.0f} GB a node and a job asks for "
                          f"{profile.slurm_mem_gb} GB (profile key slurm_mem_gb)")


def _number(text: str) -> int:
    match = re.match(r"\d+", text.strip())
    return int(match.group()) if match else 0


def _gpu_count(gres: str) -> int:
    """GPUs in sinfo's GRES column (``gpu:2``, ``gpu:a100:4(S:0-1)``, ``(null)``)."""
    return sum(int(m.group(1)) for m in re.finditer(r"gpu(?::[^:,(]+)?:(\d+)", gres))


def make_executor(kind: str, profile: Profile, resources: Resources):
    """A submitit executor for jobs of the given resources, logging into :func:`jobs_folder`.

    Raises:
        ConfigError: an unknown kind.
        RuntimeError: ``slurm`` where no ``srun`` is found (submitit's check).
    """
    import submitit

    folder = jobs_folder(profile) / "%j"
    if kind == "slurm":
        executor = submitit.SlurmExecutor(folder=folder)
        executor.update_parameters(**slurm_parameters(profile, resources))
        return executor
    if kind == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=profile.slurm_time_min,
                                   tasks_per_node=resources.processes,
                                   gpus_per_node=_local_gpus(resources))
        return executor
    raise ConfigError(f"unknown executor '{kind}'; valid: {', '.join(EXECUTORS)}")


def _local_gpus(resources: Resources) -> int:
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

    from .pipeline import run_cell

    if submitit.JobEnvironment().num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False,
                                                              overwrite=True)
    # submitit's handler of the time-limit signal raises UncompletedJobError wherever the cell
    # is: it must end the job (submitit keeps it as the result), not become the cell's record.
    record = run_cell(profile, cell, force=True, show_progress=False,
                      interruptions=(UncompletedJobError,))
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
    their state from :func:`slurm_states`, ``UNKNOWN`` only where SLURM could not be asked.
    """
    states, on_slurm = {}, []
    for sub in submissions:
        job_id = sub["job_id"]
        if _has_result(profile, job_id):
            states[job_id] = "FINISHED"
        elif sub["executor"] == "local":
            states[job_id] = "RUNNING" if _local_job_alive(job_id) else "INTERRUPTED"
        else:
            on_slurm.append(job_id)
    if on_slurm:
        states |= slurm_states(on_slurm)
        for job_id in on_slurm:  # a job that ended since: its result file is the better word
            if states[job_id] not in QUEUED_STATES | RUNNING_STATES and _has_result(profile, job_id):
                states[job_id] = "FINISHED"
    return states


def _has_result(profile: Profile, job_id: str) -> bool:
    from submitit.core.utils import JobPaths

    return JobPaths(jobs_folder(profile) / "%j", job_id=job_id, task_id=0).result_pickle.exists()


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """SLURM's state of each job: sacct's where it answers, else squeue's.

    sacct fails on a cluster without accounting and may not know a job for a few seconds after
    its submission; squeue knows every job that is queued or running (and, for a few minutes,
    those that ended). A job that neither knows has left the queue: ``GONE``. Where squeue does
    not answer either (the controller is down), the state is ``UNKNOWN``.

    Args:
        job_ids: SLURM job ids as submitit names them (``12``, or ``13_0`` in an array).

    Returns:
        An upper-case state per job id (``PENDING``, ``RUNNING``, ``COMPLETED``, ``TIMEOUT``,
        ``CANCELLED``, ..., ``GONE`` or ``UNKNOWN``).
    """
    from submitit.slurm.slurm import SlurmInfoWatcher

    states: dict[str, str] = {}
    command = ["sacct", "-o", "JobID,State", "--parsable2"]
    for main_id in sorted({j.split("_")[0] for j in job_ids}):
        command += ["-j", main_id]
    sacct = _ask(command)
    if sacct is not None:  # one call for every job; submitit reads its arrays and ranges
        info = SlurmInfoWatcher().read_info(sacct)
        states = {j: info[j]["State"].split()[0].upper() for j in job_ids
                  if info.get(j, {}).get("State")}
    rest = [j for j in job_ids if j not in states]
    if rest:
        # --array: one line per array task; --states all: jobs that ended a moment ago too.
        queue = _ask(["squeue", "--me", "--noheader", "--array", "--states", "all",
                      "--format", "%i|%T"])
        listed = dict(line.strip().split("|", 1) for line in (queue or "").splitlines()
                      if "|" in line)
        for job_id in rest:
            states[job_id] = (listed.get(job_id, "GONE").upper() if queue is not None
                              else "UNKNOWN")
    return states


def _ask(command: list[str]) -> str | None:
    """A SLURM command's output, or None where it fails (no accounting, no controller)."""
    try:
        out = subprocess.check_output(command, stderr=subprocess.PIPE, timeout=60)
    except subprocess.CalledProcessError as err:
        log.info("%s: %s", command[0], (err.stderr or b"").decode(errors="replace").strip())
        return None
    except (OSError, subprocess.TimeoutExpired) as err:
        log.info("%s: %s", command[0], err)
        return None
    return out.decode(errors="replace") if isinstance(out, bytes) else out


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
    if outcome == "error":  # a traceback's text; its last line names the exception
        last = str(value).strip().splitlines()[-1]
        return re.sub(r"^[\w.]+\.(?=\w+Error)", "", last)  # the class without its module
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
                error = _job_error(profile, job_id)
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


def plan_grid(profile: Profile, cells: list[Cell] | None = None, *, executor: str = "slurm",
              force: bool = False, retry_failed: bool = False) -> tuple[list[Cell], list[CellState]]:
    """Which cells :func:`submit_grid` would submit, without submitting or writing anything.

    Returns:
        The cells to submit, and every cell's current state.
    """
    if executor not in EXECUTORS:
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
        raise ConfigError("--executor slurm: no SLURM here (srun not found); --dry-run shows "
                          "what would be submitted, --executor local runs the jobs on this machine")
    cell_states(profile, cells, record_deaths=True)
    todo, _ = plan_grid(profile, cells, executor=executor, force=force, retry_failed=retry_failed)
    if not todo:
        return []
    groups = group_cells(profile, todo)
    if executor == "slurm":  # before anything is loaded or written: SLURM would take them
        check_with_scheduler(profile, {r: len(g) for r, g in groups.items()})
    prepare_environment(profile)
    preflight_data(profile, [c.dataset for c in todo])
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
            _note_submission(profile, cell, job.job_id, executor, resources, now)
            submitted.append((cell, job))
        if wait or (executor == "local" and parallel and n < len(waves) - 1):
            for job in jobs:
                job.wait()
    return [(cell, job.job_id) for cell, job in submitted]


def group_cells(profile: Profile, cells: list[Cell]) -> dict[Resources, list[Cell]]:
    """Cells by the resources of their jobs: each group is one job array."""
    groups: dict[Resources, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(resources_for(profile, cell), []).append(cell)
    return groups


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


def _note_submission(profile: Profile, cell: Cell, job_id: str, executor: str,
                     resources: Resources, submitted_at: str) -> None:
    ledger = _ledger(profile, record_path(profile.results_path, cell.resolve(profile)))
    ledger.parent.mkdir(parents=True, exist_ok=True)
    entry = {"job_id": job_id, "executor": executor, "label": cell.label,
             "processes": resources.processes, "gpus": resources.gpus,
             "submitted_at": submitted_at}
    with ledger.open("a") as f:
        f.write(json.dumps(entry) + "\n")
    log.info("%s: submitted as job %s (%s, %s)", cell.label, job_id, executor, resources.text)


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


def status_counts(states: list[CellState]) -> str:
    """One summary line: how many cells are in each state."""
    order = ("done", "running", "queued", "unknown", "failed", "not submitted")
    counts = {k: sum(s.state == k for s in states) for k in order}
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n) + f" of {len(states)} cells"


__all__ = ["EXECUTORS", "CellState", "Resources", "cell_states", "check_with_scheduler",
           "describe_plan", "group_cells", "refusal", "resources_for", "slurm_states",
           "is_scheduler_failure", "jobs_folder", "make_executor", "plan_grid", "run_cell_job",
           "slurm_parameters", "slurm_script", "status_counts", "submit_grid"]
