"""Which notebooks of a build run, and which run at once.

A lab page runs its group's cells through :func:`tradeoff.grid.run_grid`, which skips cells that
have a record; an interrupted build therefore resumes at the first cell without one. A cell that
fails is recorded with its reason and shown as failed.

Lab pages with a cell to run execute one at a time, since their cells are the measurements: a
kernel beside them would share the cores they are timed and metered on. Lab pages whose cells all
have records (a grid run before, or a changed package), and the chapters, only read records and
execute :data:`READER_WORKERS` at a time. The build report lists the pages in book order either
way.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Collection, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..config import Profile
from ..grid import needs_run
from ..tasks import DATASET_LABELS
from .build_report import NotebookRun
from .cache import chapter_inputs, notebook_key, reference_inputs
from .execute import execute_cached
from .pages import chapter_parameters, CHAPTER_FOLDER

# Kernels executed at once where they only read records (chapters; lab pages whose cells all have
# records): two use a 2-core machine, each mostly one busy core.
READER_WORKERS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class Build:
    """What every notebook of one build is executed with.

    Attributes:
        profile: the validated profile.
        common: the papermill parameters every page gets (the profile, its results folder).
        code: the digest of the package's source, which every cache key hashes.
        src: the staged book, where the executed copies go.
        build_dir: the build folder.
        show_progress: progress bars on stderr.
    """

    profile: Profile
    common: dict
    code: str
    src: Path
    build_dir: Path
    show_progress: bool


def run_lab_pages(build: Build, groups: dict[tuple[str, str], list[Path]],
                  names: dict[tuple[str, str], str], source: Path) -> list[NotebookRun]:
    """Execute one lab page per dataset x model group: pending ones alone, then the others.

    Args:
        build: the build's settings.
        groups: each group's record paths (:func:`tradeoff.book.pages.lab_groups`).
        names: each group's page name (:func:`tradeoff.book.pages.lab_names`).
        source: the lab notebook (``notebooks/run.ipynb``).

    Returns:
        One run per group, in grid order.
    """
    all_records = [p for paths in groups.values() for p in paths]
    bar = progress_bar(len(groups), "lab records", build.show_progress)

    def run(group: tuple[str, str]) -> NotebookRun:
        (dataset, model), paths, name = group, groups[group], names[group]
        params = {**build.common, "dataset": dataset, "model": model}
        with RecordWatcher(bar, name, all_records):
            done = execute_cached(
                f"lab/{name}", source, build.src / "lab" / f"{name}.ipynb", params,
                key=lambda: notebook_key(source, params, build.profile, build.code, paths),
                title=f"Lab record: {dataset} × {model}", build_dir=build.build_dir)
        bar.update()
        return done

    pending = [g for g, paths in groups.items() if any(map(needs_run, paths))]
    runs = in_book_order(list(groups), run, alone=pending)
    bar.close()
    return runs


def run_chapters(build: Build, chapters: dict[str, tuple[str, dict]],
                 source_root: Path) -> list[NotebookRun]:
    """Execute the chapters, side by side: they only read records (they time nothing).

    Args:
        build: the build's settings.
        chapters: page name -> (source notebook, extra parameters), in book order
            (:func:`tradeoff.book.pages.chapter_sources`).
        source_root: the folder holding ``notebooks/``.

    Returns:
        One run per chapter, in book order.
    """
    bar = progress_bar(len(chapters), "chapters", build.show_progress)
    records = chapter_inputs(build.profile) + reference_inputs()

    def run(chapter: str) -> NotebookRun:
        notebook, extra = chapters[chapter]
        source = source_root / CHAPTER_FOLDER / f"{notebook}.ipynb"
        params = chapter_parameters(source, build.profile, {**build.common, **extra})
        key = notebook_key(source, params, build.profile, build.code, records)
        title = DATASET_LABELS[extra["dataset"]] if "dataset" in extra else None
        done = execute_cached(
            f"{CHAPTER_FOLDER}/{chapter}", source,
            build.src / CHAPTER_FOLDER / f"{chapter}.ipynb", params,
            key=lambda: key, title=title, build_dir=build.build_dir)
        bar.set_postfix_str(chapter)
        bar.update()
        return done

    runs = in_book_order(list(chapters), run)
    bar.close()
    return runs


def in_book_order(pages: Sequence[Hashable], run: Callable[..., NotebookRun],
                  alone: Collection[Hashable] = ()) -> list[NotebookRun]:
    """Run the ``alone`` pages one at a time, then the others :data:`READER_WORKERS` at a time.

    Returns:
        The runs in the order of ``pages``.
    """
    runs = {page: run(page) for page in pages if page in alone}
    with ThreadPoolExecutor(max_workers=READER_WORKERS) as pool:
        readers = [page for page in pages if page not in runs]
        runs |= dict(zip(readers, pool.map(run, readers)))
    return [runs[page] for page in pages]


# ----------------------------------------------------------------------------- progress


def progress_bar(total: int, desc: str, show: bool):
    """A bar of notebooks on stderr (disabled, but still counting, when ``show`` is False)."""
    return tqdm(total=total, desc=desc, unit="notebook", disable=not show, file=sys.stderr,
                dynamic_ncols=True)


class RecordWatcher:
    """Show, while a kernel runs a group's cells, how many grid cells have a record."""

    def __init__(self, bar, group: str, paths: list[Path], interval_s: float = 1.0):
        self.bar, self.group, self.paths, self.interval_s = bar, group, paths, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._shown = ""

    def _update(self) -> None:
        done = sum(p.exists() for p in self.paths)
        text = f"{self.group}, {done}/{len(self.paths)} cells recorded"
        if text != self._shown:
            self._shown = text
            self.bar.set_postfix_str(text)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._update()

    def __enter__(self) -> RecordWatcher:
        self._update()
        if not self.bar.disable:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._update()
