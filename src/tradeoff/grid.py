"""Which cells of a profile to run: validate up front, skip finished cells, resume after a crash.

This module runs the cells in-process, one after another; :mod:`tradeoff.executors` submits
the same cells as scheduler jobs (SLURM, or local processes) with the same skip and resume rules.

Each cell runs :func:`tradeoff.pipeline.run_cell`; its record is named by the hash of its
resolved parameters, so re-running a grid redoes nothing that finished and a changed setting
never reuses a stale record.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm.auto import tqdm

from .config import Cell, CellParams, Profile
from .pipeline import check_machine, preflight_data, prepare_environment, run_cell
from .errors import RecordError
from .records import load_record, record_path, RunRecord

log = logging.getLogger(__name__)


def validate_cells(profile: Profile, cells: list[Cell], *,
                   here: bool = True) -> list[CellParams]:
    """Resolve every cell, rejecting unknown datasets/models/knobs, impossible lengths and,
    when the cells run ``here``, knobs this machine cannot run.

    Args:
        profile: the validated profile.
        cells: cells of the profile.
        here: the cells run on this machine (False: they go to a scheduler's nodes, which
            check their own hardware).

    Returns:
        The cells' parameters, in order.

    Raises:
        ConfigError: with one line naming the bad value, before any compute.
    """
    resolved = [cell.resolve(profile) for cell in cells]
    for params in resolved if here else ():
        check_machine(params)
    return resolved


def cell_record_path(profile: Profile, cell: Cell) -> Path:
    """Where a cell's record lives (whether or not it exists yet)."""
    return record_path(profile.results_path, cell.resolve(profile))


def run_grid(profile: Profile, cells: list[Cell] | None = None, *, force: bool = False,
             retry_failed: bool = False, show_progress: bool = True) -> list[RunRecord]:
    """Run cells of a profile (all by default), skipping those with a record.

    A cell that runs out of memory or fails is recorded with its reason and the grid goes on;
    an interrupted grid resumes at the first cell without a record.

    Args:
        profile: the validated profile.
        cells: a subset of ``profile.cells()``; all when None.
        force: re-run cells that already have a record.
        retry_failed: re-run cells whose record says ``oom`` or ``failed``.
        show_progress: progress bars for the grid and for each cell's training.

    Returns:
        The record of every requested cell, in order.
    """
    cells = profile.cells() if cells is None else cells
    paths = {cell: record_path(profile.results_path, params)
             for cell, params in zip(cells, validate_cells(profile, cells))}
    todo = {c for c in cells if needs_run(paths[c], force, retry_failed)}
    if todo:
        prepare_environment(profile)
        data = preflight_data(profile, [c.dataset for c in todo])
    bar = tqdm(cells, desc=f"grid {profile.name}", unit="cell", disable=not show_progress)
    records = []
    for cell in bar:
        bar.set_postfix_str(cell.label)
        if cell in todo:
            records.append(run_cell(profile, cell, data=data[cell.dataset], force=True,
                                    show_progress=show_progress))
        else:
            records.append(load_record(paths[cell]))
    return records


def needs_run(path: Path, force: bool = False, retry_failed: bool = False) -> bool:
    """Whether the cell whose record belongs at ``path`` runs (again).

    A cell runs when it has no record, a record that cannot be read, or, with ``retry_failed``,
    an ``oom`` or ``failed`` one. A cell whose scheduler job died (time limit, preemption, node
    failure; :func:`is_scheduler_failure`) always runs again, as an interrupted grid resumes.
    """
    if force or not path.exists():
        return True
    try:
        record = load_record(path)
    except RecordError as err:  # a truncated or outdated file: run the cell again
        log.warning("%s; running the cell again", err)
        return True
    return (retry_failed and record.status != "ok") or is_scheduler_failure(record)


# The reason of a record written for a cell whose job ended without one (tradeoff.executors).
SCHEDULER_FAILURE = "scheduler: "


def is_scheduler_failure(record: RunRecord) -> bool:
    """A failed record written because the scheduler ended the cell's job, not by the cell."""
    return record.status == "failed" and record.reason.startswith(SCHEDULER_FAILURE)
