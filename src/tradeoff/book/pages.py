"""The book's executed pages: the chapters that ``_toc.yml`` lists, and one lab page per group of
grid cells.

The chapters, and their order, are read from the table of contents: every entry
``file: notebooks/<page>`` is a chapter, executed by papermill into ``<build_dir>/src/notebooks/``.
A page is ``notebooks/<page>.ipynb`` run with the common parameters (the profile and its results
folder), unless :data:`PAGE_SOURCES` says otherwise. The lab pages are ``notebooks/run.ipynb``,
once per dataset x model of the profile's grid; the toc lists them as ``glob: lab/*``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..config import Cell, Profile, REPO_ROOT
from ..errors import BookError
from ..grid import cell_record_path
from ..report.knobs import KNOBS_DIR
from ..tasks import SUMMARIZATION

CHAPTER_FOLDER = "notebooks"
LAB_NOTEBOOK = "run.ipynb"
# Chapter pages executed from another notebook, or with parameters beyond the common ones.
PAGE_SOURCES: dict[str, tuple[str, dict]] = {
    # The summarization chapters are one notebook, executed once per dataset.
    **{dataset: ("summarization", {"dataset": dataset}) for dataset in SUMMARIZATION},
    # The knob runs are committed reference runs of their own profile (params/knobs.yaml).
    "knobs": ("knobs", {"profile": "knobs",
                        "results_dir": KNOBS_DIR.relative_to(REPO_ROOT).as_posix()}),
}
# Parameters of the profile that a chapter comparing runs takes, when its notebook declares them.
SELECTION = ("models", "lengths")


def toc_chapters(toc: Path) -> list[str]:
    """The chapter pages a table of contents lists, in book order: its ``notebooks/*`` files."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("root", "file") and isinstance(value, str):
                    folder, _, page = value.partition("/")
                    if folder == CHAPTER_FOLDER and page and page not in found:
                        found.append(page)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(Path(toc).read_text()))
    return found


def chapter_sources(root: Path | str = REPO_ROOT) -> dict[str, tuple[str, dict]]:
    """Each chapter of ``<root>/_toc.yml``: page name -> (source notebook, extra parameters)."""
    return {page: PAGE_SOURCES.get(page, (page, {}))
            for page in toc_chapters(Path(root) / "_toc.yml")}


def chapter_parameters(source: Path, profile: Profile, params: dict) -> dict:
    """A chapter's papermill parameters: the profile's models and lengths where it takes them."""
    # papermill loads only when a notebook is inspected: the chapter list needs none of it.
    import papermill

    declared = papermill.inspect_notebook(str(source))
    return params | {name: list(getattr(profile, name)) for name in SELECTION if name in declared}


def check_sources(root: Path) -> dict[str, tuple[str, dict]]:
    """Every source a build reads exists under ``root``; returns its chapters.

    Raises:
        BookError: naming every missing file.
    """
    toc = root / "_toc.yml"
    chapters = chapter_sources(root) if toc.exists() else {}
    needed = [root / "_config.yml", toc, root / "book", root / CHAPTER_FOLDER / LAB_NOTEBOOK]
    needed += [root / CHAPTER_FOLDER / f"{n}.ipynb"
               for n in dict.fromkeys(n for n, _ in chapters.values())]
    missing = [str(p.relative_to(root)) for p in needed if not p.exists()]
    if missing:
        raise BookError(f"missing book sources under {root}: {', '.join(missing)}")
    return chapters


def lab_groups(profile: Profile, cells: list[Cell]) -> dict[tuple[str, str], list[Path]]:
    """Record paths of each dataset x model group (one lab page each), in grid order."""
    groups: dict[tuple[str, str], list[Path]] = {}
    for cell in cells:
        groups.setdefault((cell.dataset, cell.model), []).append(cell_record_path(profile, cell))
    return groups


def lab_names(groups) -> dict[tuple[str, str], str]:
    """Page names of the lab notebooks: ``<nn>-<dataset>-<model>``.

    The number keeps grid order in the book, whose table of contents lists ``lab/*`` by name.
    """
    width = max(2, len(str(len(groups))))
    return {(d, m): f"{i:0{width}d}-{d}-{m}" for i, (d, m) in enumerate(groups, start=1)}


# The repository's chapters, for the tests and checks that go through every chapter.
CHAPTER_SOURCES = chapter_sources(REPO_ROOT)
CHAPTERS = tuple(CHAPTER_SOURCES)
