"""The book, top to bottom: check, run the grid's lab pages, bring the ceilings up to date,
execute the chapters, stage the prose, render with jupyter-book.

Each step lives in a module of its own (:mod:`~tradeoff.book.pages`, :mod:`~tradeoff.book.schedule`,
:mod:`~tradeoff.book.execute`, :mod:`~tradeoff.book.cache`, :mod:`~tradeoff.book.stage`); this
one is the recipe, and the layout of the build folder is in :mod:`tradeoff.book`.

Before the chapters, the profile's ceilings and baselines (what longer inputs can buy, a
property of the data: :func:`tradeoff.ceilings.ceiling_records`) are brought up to date
under ``<results_dir>/ceilings/``; only what has no record is computed, and the step is skipped
outright when its inputs are those of the last build (:func:`tradeoff.book.cache.ceilings_key`).
A failure there (data not available, say) is reported and does not stop the book: the chapters
say that they have no ceiling records.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import time
from pathlib import Path

from ..config import Profile, REPO_ROOT
from ..errors import BookError, RecordError
from ..grid import validate_cells
from ..records import CEILINGS_FOLDER, load_record
from ..report.provenance import book_banner
from .build_report import BuildReport, REPORT_NAME
from .cache import ceilings_key, CEILINGS_STAMP, package_digest
from .execute import reason_of
from .pages import CHAPTER_FOLDER, check_sources, LAB_NOTEBOOK, lab_groups, lab_names
from .schedule import Build, run_chapters, run_lab_pages
from .stage import profile_argument, remove_stale, stage_sources, staged_book, write_if_changed

log = logging.getLogger(__name__)


def build_book(profile: Profile, build_dir: Path | str = "_build", *, strict: bool = False,
               show_progress: bool = True, source_root: Path | str = REPO_ROOT) -> Path:
    """Run the grid through papermill, execute the chapters, and render the book.

    Args:
        profile: the validated profile; its records live in ``profile.results_path``.
        build_dir: the build folder (see :mod:`tradeoff.book` for its layout).
        strict: turn Sphinx warnings into errors (``jupyter-book build -W``) and raise after
            the build when a notebook failed to execute.
        show_progress: progress bars on stderr.
        source_root: the folder holding ``_config.yml``, ``_toc.yml``, ``book/`` and
            ``notebooks/`` (the repository).

    Returns:
        The path of the rendered book's ``index.html``.

    Raises:
        ConfigError: a cell of the profile cannot run (checked before any compute).
        BookError: a source is missing, Sphinx failed, or (strict) a notebook failed.
    """
    started = time.perf_counter()
    source_root, build_dir = Path(source_root), Path(build_dir)
    # Nothing runs before every cell is valid and every source of the book exists.
    cells = profile.cells()
    validate_cells(profile, cells)
    chapters = check_sources(source_root)
    src = staged_book(build_dir)
    report = BuildReport(profile=profile.name)
    build = Build(profile, common={"profile": profile_argument(profile, build_dir),
                                   "results_dir": str(profile.results_path)},
                  code=package_digest(), src=src, build_dir=build_dir,
                  show_progress=show_progress)

    # 1. The grid: one lab page per dataset x model; its kernel runs the cells without a record.
    groups = lab_groups(profile, cells)
    names = lab_names(groups)
    remove_stale(src / "lab", {f"{n}.ipynb" for n in names.values()})
    report.notebooks += run_lab_pages(build, groups, names,
                                      source_root / CHAPTER_FOLDER / LAB_NOTEBOOK)
    records = [p for paths in groups.values() for p in paths]

    # 2. What longer inputs can buy (a property of the data), before the chapters show it.
    _ceilings_step(profile, build_dir, build.code, report, show_progress)

    # 3. The chapters, in the order of _toc.yml: they read the records.
    remove_stale(src / CHAPTER_FOLDER, {f"{c}.ipynb" for c in chapters})
    report.notebooks += run_chapters(build, chapters, source_root)
    with contextlib.suppress(OSError):
        (build_dir / "tmp").rmdir()

    # 4. Stage the config and prose beside the executed notebooks; render HTML.
    report.failed_cells = _failed_cells(records)
    report.staged_files = stage_sources(source_root, src, book_banner(profile, records))
    if show_progress:
        print(f"rendering HTML with jupyter-book ({src}) ...", file=sys.stderr, flush=True)
    report.save(build_dir / REPORT_NAME)
    clock = time.perf_counter()
    try:
        index = _jupyter_book(src, build_dir, strict)
    except BookError as err:
        if report.failed:  # the likely cause: say it first
            raise BookError(report.failures() + f"; then {err}") from None
        raise
    report.sphinx_seconds = time.perf_counter() - clock
    report.index = str(index)
    report.total_seconds = time.perf_counter() - started
    report.save(build_dir / REPORT_NAME)

    # 5. Say what went wrong; in strict mode, fail.
    for run in report.failed:
        log.warning("notebook %s failed: %s", run.name, run.reason)
    for cell in report.failed_cells:
        log.warning("grid cell %s", cell)
    if show_progress:
        print(report.summary(), file=sys.stderr, flush=True)
    if strict and report.failed:
        raise BookError(report.failures() + f" (the book with their errors is at {index})")
    if strict and report.ceilings.startswith("failed"):
        raise BookError(f"ceilings step {report.ceilings} (the book without them is at {index})")
    return index


def plan_book(profile: Profile, source_root: Path | str = REPO_ROOT) -> list[str]:
    """What :func:`build_book` would execute, validated as a build does before any compute.

    Returns:
        One line per page: lab pages (with their cells' record status), then chapters.

    Raises:
        ConfigError: a cell of the profile cannot run.
        BookError: a source of the book is missing.
    """
    validate_cells(profile, profile.cells())
    chapters = check_sources(Path(source_root))
    groups = lab_groups(profile, profile.cells())
    lines = [f"lab/{name}: {sum(p.exists() for p in groups[group])}/{len(groups[group])} "
             f"cells recorded in {profile.results_path}"
             for group, name in lab_names(groups).items()]
    lines.append(f"ceilings: {len(profile.datasets)} dataset(s) x {len(profile.lengths)} "
                 f"length(s), records in {profile.results_path / CEILINGS_FOLDER} "
                 f"(only missing ones are computed)")
    return lines + [f"{CHAPTER_FOLDER}/{page}: {notebook}.ipynb {extra or ''}".rstrip()
                    for page, (notebook, extra) in chapters.items()]


def _ceilings_step(profile: Profile, build_dir: Path, code: str, report: BuildReport,
                   show_progress: bool) -> None:
    """Bring the profile's ceiling records up to date before the chapters read them.

    Skipped when its inputs' hash matches the last build's; otherwise
    :func:`tradeoff.ceilings.ceiling_records` checks every record's key and computes
    only what is missing. A failure (e.g. data not available) is reported, and the chapters
    say that they have no ceiling records; it does not stop the book.
    """
    stamp = build_dir / CEILINGS_STAMP
    clock = time.perf_counter()
    if stamp.exists() and stamp.read_text() == ceilings_key(profile, code):
        report.ceilings, report.ceilings_seconds = "cached", time.perf_counter() - clock
        return
    if show_progress:
        print("ceilings and baselines per input length (properties of the data; only missing "
              "results are computed) ...", file=sys.stderr, flush=True)
    try:
        # Loaded here, when the step runs: the ceilings load the data and its tokenizers, which
        # a cached step, `book --dry-run` and the chapter list need not import.
        from ..ceilings import ceiling_records

        update = ceiling_records(profile, show_progress=show_progress)
    except Exception as err:  # noqa: BLE001 - the chapters show that ceilings are missing
        report.ceilings = f"failed: {reason_of(err)}"
        report.ceilings_seconds = time.perf_counter() - clock
        log.warning("ceilings step %s", report.ceilings)
        stamp.unlink(missing_ok=True)
        return
    report.ceilings, report.ceilings_computed = "up to date", update.computed
    report.ceilings_seconds = time.perf_counter() - clock
    write_if_changed(stamp, ceilings_key(profile, code).encode())


def _failed_cells(paths: list[Path]) -> list[str]:
    """``label: status: reason`` of every grid cell whose record is missing or not ``ok``."""
    failed = []
    for path in paths:
        if not path.exists():
            failed.append(f"{path.stem}: missing: no record was written")
            continue
        try:
            record = load_record(path)
        except RecordError as err:
            failed.append(f"{path.stem}: unreadable: {err}")
            continue
        if record.status != "ok":
            failed.append(f"{record.label}: {record.status}: {record.reason}")
    return failed


def _jupyter_book(src: Path, build_dir: Path, strict: bool) -> Path:
    """``jupyter-book build`` (incremental); returns the index page."""
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build",
           str(src), "--path-output", str(build_dir)]
    if strict:
        cmd += ["-W", "--keep-going"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    index = build_dir / "_build" / "html" / "index.html"
    if done.returncode != 0 or not index.exists():
        tail = "\n".join(output.splitlines()[-40:])
        raise BookError(f"jupyter-book build failed (exit {done.returncode}):\n{tail}")
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    for line in warnings:
        log.warning("sphinx: %s", line)
    return index.resolve()
