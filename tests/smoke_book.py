"""The smoke grid and the smoke book that the end-to-end tests share (fixtures in conftest.py).

The book is the smoke profile on one input length and without Qasper's batch study (12 cells,
one per dataset and model), with one cell seeded as failed. Its cells are run once, in this
process, into a grid folder that every end-to-end test copies the records it needs from: the
book, the documented commands (which also read two cells at 2048 tokens), the tests of one cell.
Two cells of the book are not in the grid: the failed one, and the cell of the group whose lab
notebook runs it (govreport x led-base), so that the book build exercises the path "papermill
runs the grid" too.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import yaml

from tradeoff import book
from tradeoff.config import PARAMS_DIR, Cell, Profile, load_profile
from tradeoff.grid import cell_record_path, run_grid
from tradeoff.records import RunRecord, load_record, save_record

FAILED_CELL = Cell("qasper", "bigbird-large", 1024)
FAILED_REASON = "RuntimeError: seeded failure to check that failed cells are shown"
KERNEL_GROUP = ("govreport", "led-base")  # the group whose cell the lab notebook runs
# The smoke records of the documented examples that the book does not have: two lengths of a
# QA and a summarization set (their 1024-token cells are the book's).
LONGER = [Cell(d, "led-base", 2048) for d in ("qasper", "qmsum")]


def reduced_smoke(folder: Path) -> Profile:
    """The smoke profile on one input length and without Qasper's batch study: 12 cells."""
    raw = yaml.safe_load((PARAMS_DIR / "smoke.yaml").read_text())
    raw.update(name="smoke-book", lengths=[1024], qasper_grad_accum_study=[])
    path = folder / "smoke-book.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_profile(path, results_dir=str(folder / "results"))


def seed_failed_cell(profile: Profile) -> None:
    """A record that says the cell failed: the grid keeps it, and the book must show it."""
    params = FAILED_CELL.resolve(profile)
    record = RunRecord(profile=profile.name, label=FAILED_CELL.label,
                       params_hash=params.digest, params=params, status="failed",
                       reason=FAILED_REASON, train={"traceback": "Traceback: seeded\n"},
                       wall_time_s=0.0)
    save_record(record, cell_record_path(profile, FAILED_CELL))


def book_cells(profile: Profile) -> list[Cell]:
    """The book's cells that the grid runs: all but the lab notebook's group and the failed one."""
    return [c for c in profile.cells()
            if (c.dataset, c.model) != KERNEL_GROUP and c != FAILED_CELL]


@dataclass(frozen=True)
class SmokeGrid:
    """Smoke records run once: the book's cells (profile ``smoke-book``) and :data:`LONGER`
    (profile ``smoke``), all in ``folder``. Read them, or copy them; never write there."""

    folder: Path
    cells: tuple[Cell, ...]
    profile: Profile  # the smoke profile, its results in ``folder``

    def path(self, cell: Cell) -> Path:
        # A cell's parameters, and so its record's name, do not depend on the grid's lengths.
        return cell_record_path(self.profile, cell)

    def record(self, cell: Cell) -> RunRecord:
        return load_record(self.path(cell))

    def copy(self, cells: list[Cell], results: Path) -> None:
        """Copy the records of ``cells`` into the results folder ``results``."""
        results.mkdir(parents=True, exist_ok=True)
        for cell in cells:
            assert cell in self.cells, f"{cell.label} is not in the shared smoke grid"
            shutil.copy2(self.path(cell), results / self.path(cell).name)


def run_smoke_grid(folder: Path) -> SmokeGrid:
    """Run the shared grid's cells into ``folder``/results (every one must succeed)."""
    profile = reduced_smoke(folder)
    cells = book_cells(profile)
    smoke = load_profile("smoke", results_dir=str(profile.results_path))
    records = run_grid(profile, cells, show_progress=False)
    records += run_grid(smoke, LONGER, show_progress=False)
    assert all(r.status == "ok" for r in records), [r.reason for r in records]
    grid = SmokeGrid(profile.results_path, tuple(cells + LONGER), smoke)
    # Each saved file validates and holds what its run returned, every typed part key for key.
    assert [grid.record(c).model_dump_json() for c in grid.cells] == \
        [r.model_dump_json() for r in records]
    return grid


def build_smoke_book(grid: SmokeGrid, folder: Path) -> SimpleNamespace:
    """The smoke book built twice in ``folder`` (the second build must execute nothing), on the
    grid's records, the failed cell seeded and the lab notebook's group left to run."""
    profile = reduced_smoke(folder)
    seed_failed_cell(profile)
    grid.copy(book_cells(profile), profile.results_path)
    # The grid finds every cell recorded (the failed one is kept): nothing runs here.
    run_grid(profile, cells=[c for c in profile.cells() if (c.dataset, c.model) != KERNEL_GROUP],
             show_progress=False)
    kernel_records = [cell_record_path(profile, c) for c in profile.cells()
                      if (c.dataset, c.model) == KERNEL_GROUP]
    assert not any(p.exists() for p in kernel_records)
    build_dir = folder / "build"
    index = book.build_book(profile, build_dir=build_dir, strict=True, show_progress=False)
    first = book.read_report(build_dir)
    index_again = book.build_book(profile, build_dir=build_dir, strict=True,
                                  show_progress=False)
    second = book.read_report(build_dir)
    return SimpleNamespace(profile=profile, build_dir=build_dir, index=index, html=index.parent,
                           first=first, second=second, index_again=index_again, folder=folder)
