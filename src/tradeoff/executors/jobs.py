"""What the executors share: a cell's job, what it asks for, and the files it leaves.

Resources (:func:`resources_for`) follow from the cell and the profile: a cell runs on its
``processes`` (``qa_gpus_per_cell`` for Qasper, one for summarization; part of its hash), with one
GPU each unless the profile says ``slurm_gpus: false`` (a CPU-only cluster) or the cell's knob
runs on CPUs only; cells that ask for the same resources share a job array (:func:`group_cells`).

Jobs and their logs live in ``<results_dir>/jobs/<job id>/`` (submitit's files: the pickled
call, ``*_log.out``, ``*_log.err``, the sbatch script, the result); ``<results_dir>/jobs/cells/``
keeps, per cell, one JSON line per submission (:func:`note_submission`), from which
:func:`tradeoff.executors.states.cell_states` reads each cell's job while jobs run. None of these
files ends in ``.json``, so readers of run records never see them.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..config import Cell, Profile
from ..errors import ConfigError
from ..knobs import check_machine
from ..records import record_path

log = logging.getLogger(__name__)

EXECUTORS = ("local", "slurm")
JOBS_FOLDER = "jobs"
# What submitit's result file holds when its signal handler ended the job at the time limit.
TIME_LIMIT_ERROR = "UncompletedJobError"


def jobs_folder(profile: Profile) -> Path:
    """Where the profile's jobs keep their submitit files and logs."""
    return profile.results_path / JOBS_FOLDER


def check_executor(kind: str) -> None:
    """Raises ConfigError for an executor that is not one of :data:`EXECUTORS`."""
    if kind not in EXECUTORS:
        raise ConfigError(f"unknown executor '{kind}'; valid: {', '.join(EXECUTORS)}")


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


def group_cells(profile: Profile, cells: list[Cell]) -> dict[Resources, list[Cell]]:
    """Cells by the resources of their jobs: each group is one job array."""
    groups: dict[Resources, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(resources_for(profile, cell), []).append(cell)
    return groups


# ----------------------------------------------------------------------------- the ledger


def _ledger(profile: Profile, path: Path) -> Path:
    return jobs_folder(profile) / "cells" / f"{path.stem}.jobs"


def last_submission(profile: Profile, path: Path) -> dict | None:
    """The last submission noted for the cell whose record is ``path``; None if never."""
    ledger = _ledger(profile, path)
    if not ledger.exists():
        return None
    lines = [line for line in ledger.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


def note_submission(profile: Profile, cell: Cell, job_id: str, executor: str,
                    resources: Resources, submitted_at: str) -> None:
    """Append a submission to the cell's ledger: job id, executor, resources, time."""
    ledger = _ledger(profile, record_path(profile.results_path, cell.resolve(profile)))
    ledger.parent.mkdir(parents=True, exist_ok=True)
    entry = {"job_id": job_id, "executor": executor, "label": cell.label,
             "processes": resources.processes, "gpus": resources.gpus,
             "submitted_at": submitted_at}
    with ledger.open("a") as f:
        f.write(json.dumps(entry) + "\n")
    log.info("%s: submitted as job %s (%s, %s)", cell.label, job_id, executor, resources.text)


# ----------------------------------------------------------------------------- results


def _result_pickle(profile: Profile, job_id: str) -> Path:
    from submitit.core.utils import JobPaths

    return JobPaths(jobs_folder(profile) / "%j", job_id=job_id, task_id=0).result_pickle


def has_result(profile: Profile, job_id: str) -> bool:
    """Whether the job ended and submitit wrote its result file."""
    return _result_pickle(profile, job_id).exists()


def job_error(profile: Profile, job_id: str) -> str:
    """The first line of the exception a finished job raised outside the cell, if any."""
    from submitit.core.utils import pickle_load

    try:
        outcome, value = pickle_load(_result_pickle(profile, job_id))
    except Exception:  # noqa: BLE001 - an unreadable result says nothing more
        return "no result"
    if outcome == "error":  # a traceback's text; its last line names the exception
        last = str(value).strip().splitlines()[-1]
        return re.sub(r"^[\w.]+\.(?=\w+Error)", "", last)  # the class without its module
    return "the job returned without writing the record"
