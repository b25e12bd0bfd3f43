"""Build the book: papermill runs the grid, then the chapters, then jupyter-book renders HTML.

Layout of a build folder (``_build`` by default)::

    <build_dir>/
      src/                      the staged book that jupyter-book builds
        _config.yml _toc.yml    copied from the repository (config gets a provenance banner)
        book/                   the prose pages and references.bib
        lab/<nn>-<dataset>-<model>.ipynb   notebooks/run.ipynb executed per dataset x model,
                                      numbered in grid order
        notebooks/<chapter>.ipynb     the chapter notebooks, executed with the profile
      _build/html/index.html    the rendered book
      profiles/<name>.yaml      a profile that is not in params/ (handed to the kernels)
      build-report.json         what the last build executed, reused and failed
      ceilings-key.txt          the inputs' hash of the last ceilings step (see below)

Caching: each executed notebook stores, in its metadata, a key hashing everything its output
depends on: the notebook's source, the package's source, the papermill parameters, the profile
and the run records it reads (names and contents). A notebook whose stored key matches is not
executed again, so a warm rebuild only asks Sphinx, which rebuilds incrementally; staging writes
a file only when its content changed, so unchanged pages keep their modification times.

Before the chapters, the profile's ceilings and baselines (what longer inputs can buy, a
property of the data: :func:`tradeoff.analysis.ceilings.ceiling_records`) are brought up to date
under ``<results_dir>/ceilings/``; only what has no record is computed. The step is skipped
outright when the hash of its inputs (profile, package source, data version, the ceiling records
themselves) matches the last build's. The chapters' keys hash every JSON file of the results
folder, ceiling records included, so a changed ceiling re-executes the chapters.

A lab notebook runs its group's cells through :func:`tradeoff.grid.run_grid`, which skips cells
that have a record; an interrupted build therefore resumes at the first cell without one. A cell
that fails is recorded with its reason and shown as failed; a notebook that fails to execute is
kept, with its error, in the book and listed in the build report.

Lab pages with a cell to run execute one at a time, since their cells are the measurements; lab
pages whose cells all have records, and the chapters, only read records and execute two at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import yaml

from .config import Cell, load_profile, Profile, REPO_ROOT
from .errors import ConfigError
from .grid import cell_record_path, needs_run, validate_cells
from .records import CEILINGS_FOLDER
from .report.provenance import book_banner
from .tasks import DATASET_LABELS

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
# Chapter pages in book order: page name -> (source notebook, parameters beyond the common ones).
# The three summarization chapters are one notebook, executed once per dataset. Chapters that
# compare runs also get the profile's models and lengths (see `_chapter_parameters`).
CHAPTER_SOURCES = {
    "setup": ("setup", {}),
    "cost": ("cost", {}),
    "govreport": ("summarization", {"dataset": "govreport"}),
    "summscreenfd": ("summarization", {"dataset": "summscreenfd"}),
    "qmsum": ("summarization", {"dataset": "qmsum"}),
    "qasper": ("qasper", {}),
    "energy": ("energy", {}),
    # The knob runs are committed reference runs of their own profile (params/knobs.yaml).
    "knobs": ("knobs", {"profile": "knobs", "results_dir": "reference/knobs"}),
    "conclusions": ("conclusions", {}),
}
_SELECTION = ("models", "lengths")
CHAPTERS = tuple(CHAPTER_SOURCES)
# Committed reference data that chapters read (the cost model's counted rows,
# reference/cost/cost-rows.json): hashed into every chapter's cache key like the run records.
REFERENCE_DIR = REPO_ROOT / "reference"
LAB_NOTEBOOK = "run.ipynb"
# Kernels executed at once where they only read records (chapters; lab pages whose cells all have
# records): two use a 2-core machine, each mostly one busy core.
READER_WORKERS = min(2, os.cpu_count() or 1)
REPORT_NAME = "build-report.json"
# Bump when the meaning of a cache key changes, so old executed copies are not trusted.
CACHE_VERSION = 1
# Kernels log a warning about their local TCP transport on every start (and an error when
# interrupted at shutdown); what a notebook does wrong is in its outputs anyway.
_KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


class BookError(RuntimeError):
    """The book cannot be built (missing sources, failed notebooks in strict mode, Sphinx)."""


@dataclass
class NotebookRun:
    """One notebook of a build: executed now, reused from the cache, or failed."""

    name: str
    status: Literal["executed", "cached", "failed"]
    seconds: float = 0.0
    reason: str = ""


@dataclass
class BuildReport:
    """What a build did; saved as ``<build_dir>/build-report.json``.

    Attributes:
        profile: the profile's name.
        index: the rendered book's ``index.html``.
        notebooks: every lab and chapter notebook, in build order.
        staged_files: files written while staging the book (0 when nothing changed).
        sphinx_seconds: wall time of ``jupyter-book build``.
        total_seconds: wall time of the whole build.
        failed_cells: ``label: status: reason`` of every grid cell whose record is not ``ok``.
        ceilings: the ceilings step: ``"cached"`` (inputs unchanged, nothing checked),
            ``"up to date"`` (checked; ``ceilings_computed`` results computed) or
            ``"failed: <reason>"``.
        ceilings_computed: ceiling and baseline results computed by this build.
        ceilings_seconds: wall time of the ceilings step.
    """

    profile: str
    index: str = ""
    notebooks: list[NotebookRun] = field(default_factory=list)
    staged_files: int = 0
    sphinx_seconds: float = math.nan
    total_seconds: float = math.nan
    failed_cells: list[str] = field(default_factory=list)
    ceilings: str = ""
    ceilings_computed: int = 0
    ceilings_seconds: float = math.nan

    def count(self, status: str) -> int:
        return sum(nb.status == status for nb in self.notebooks)

    @property
    def executed(self) -> int:
        return self.count("executed") + self.count("failed")

    @property
    def cached(self) -> int:
        return self.count("cached")

    @property
    def failed(self) -> list[NotebookRun]:
        return [nb for nb in self.notebooks if nb.status == "failed"]

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1, default=str))

    @classmethod
    def load(cls, path: Path) -> BuildReport:
        data = json.loads(Path(path).read_text())
        data["notebooks"] = [NotebookRun(**nb) for nb in data.get("notebooks", [])]
        return cls(**data)

    def summary(self) -> str:
        parts = [f"{self.executed} notebook(s) executed, {self.cached} reused"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.failed_cells:
            parts.append(f"{len(self.failed_cells)} grid cell(s) not ok")
        if self.ceilings.startswith("failed"):
            parts.append("ceilings failed")
        elif self.ceilings_computed:
            parts.append(f"{self.ceilings_computed} ceiling result(s) computed")
        return (f"book {self.profile}: " + ", ".join(parts)
                + f"; {self.total_seconds:.0f} s (Sphinx {self.sphinx_seconds:.0f} s)")


def read_report(build_dir: Path | str = "_build") -> BuildReport:
    """The report of the last build in ``build_dir``."""
    return BuildReport.load(Path(build_dir) / REPORT_NAME)


# ----------------------------------------------------------------------------- build


def build_book(profile: Profile, build_dir: Path | str = "_build", *, strict: bool = False,
               show_progress: bool = True, source_root: Path | str = REPO_ROOT) -> Path:
    """Run the grid through papermill, execute the chapters, and render the book.

    Args:
        profile: the validated profile; its records live in ``profile.results_path``.
        build_dir: the build folder (see the module docstring for its layout).
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
    cells = profile.cells()
    validate_cells(profile, cells)
    _check_sources(source_root)
    src = build_dir / "src"
    for sub in ("lab", "notebooks", "book"):
        (src / sub).mkdir(parents=True, exist_ok=True)
    report = BuildReport(profile=profile.name)
    common = {"profile": _profile_argument(profile, build_dir),
              "results_dir": str(profile.results_path)}
    code = _package_digest()

    groups = _groups(profile, cells)
    lab_source = source_root / "notebooks" / LAB_NOTEBOOK
    names = lab_names(groups)
    _remove_stale(src / "lab", {f"{n}.ipynb" for n in names.values()})
    all_records = [p for paths in groups.values() for p in paths]
    bar = _bar(len(groups), "lab records", "notebook", show_progress)

    def lab_run(group: tuple[str, str]) -> NotebookRun:
        (dataset, model), paths, name = group, groups[group], names[group]
        params = {**common, "dataset": dataset, "model": model}
        inputs = {"notebook": lab_source, "params": params, "profile": profile, "code": code}
        with _RecordWatcher(bar, name, all_records):
            run = _execute_cached(
                f"lab/{name}", lab_source, src / "lab" / f"{name}.ipynb", params,
                key=lambda: _cache_key(**inputs, records=paths),
                title=f"Lab record: {dataset} × {model}", build_dir=build_dir)
        bar.update()
        return run

    # A group with a cell to run measures it, so it runs alone; a group whose cells all have
    # records only reads them (a grid run before, or a changed package), so those run side by side.
    pending = [g for g, paths in groups.items() if any(map(needs_run, paths))]
    runs = {group: lab_run(group) for group in pending}
    with ThreadPoolExecutor(max_workers=READER_WORKERS) as pool:
        recorded = [g for g in groups if g not in runs]
        runs |= dict(zip(recorded, pool.map(lab_run, recorded)))
    report.notebooks.extend(runs[group] for group in groups)
    bar.close()

    _ceilings_step(profile, build_dir, code, report, show_progress)

    chapters = _bar(len(CHAPTERS), "chapters", "notebook", show_progress)
    records = chapter_inputs(profile) + reference_inputs()
    _remove_stale(src / "notebooks", {f"{c}.ipynb" for c in CHAPTERS})

    def chapter_run(chapter: str) -> NotebookRun:
        notebook, extra = CHAPTER_SOURCES[chapter]
        source = source_root / "notebooks" / f"{notebook}.ipynb"
        params = _chapter_parameters(source, profile, {**common, **extra})
        key = _cache_key(source, params, profile, code, records)
        title = DATASET_LABELS[extra["dataset"]] if "dataset" in extra else None
        run = _execute_cached(
            f"notebooks/{chapter}", source, src / "notebooks" / f"{chapter}.ipynb", params,
            key=lambda: key, title=title, build_dir=build_dir)
        chapters.set_postfix_str(chapter)
        chapters.update()
        return run

    # Chapters only read records (they time nothing), so they run side by side.
    with ThreadPoolExecutor(max_workers=READER_WORKERS) as pool:
        report.notebooks.extend(pool.map(chapter_run, CHAPTERS))
    chapters.close()

    with contextlib.suppress(OSError):
        (build_dir / "tmp").rmdir()
    report.failed_cells = _failed_cells(all_records)
    report.staged_files = _stage(source_root, src, book_banner(profile, all_records))
    if show_progress:
        print(f"rendering HTML with jupyter-book ({src}) ...", file=sys.stderr, flush=True)
    report.save(build_dir / REPORT_NAME)
    clock = time.perf_counter()
    try:
        index = _jupyter_book(src, build_dir, strict)
    except BookError as err:
        if report.failed:  # the likely cause: say it first
            raise BookError(_failures(report) + f"; then {err}") from None
        raise
    report.sphinx_seconds = time.perf_counter() - clock
    report.index = str(index)
    report.total_seconds = time.perf_counter() - started
    report.save(build_dir / REPORT_NAME)

    for run in report.failed:
        log.warning("notebook %s failed: %s", run.name, run.reason)
    for cell in report.failed_cells:
        log.warning("grid cell %s", cell)
    if show_progress:
        print(report.summary(), file=sys.stderr, flush=True)
    if strict and report.failed:
        raise BookError(_failures(report) + f" (the book with their errors is at {index})")
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
    _check_sources(Path(source_root))
    groups = _groups(profile, profile.cells())
    lines = [f"lab/{name}: {sum(p.exists() for p in groups[group])}/{len(groups[group])} "
             f"cells recorded in {profile.results_path}"
             for group, name in lab_names(groups).items()]
    lines.append(f"ceilings: {len(profile.datasets)} dataset(s) x {len(profile.lengths)} "
                 f"length(s), records in {profile.results_path / CEILINGS_FOLDER} "
                 f"(only missing ones are computed)")
    return lines + [f"notebooks/{page}: {notebook}.ipynb {extra or ''}".rstrip()
                    for page, (notebook, extra) in CHAPTER_SOURCES.items()]


def chapter_inputs(profile: Profile) -> list[Path]:
    """The files a chapter's cache key hashes: every run record and every ceiling record.

    A changed record of either kind (a cell run again, a ceiling recomputed) re-executes the
    chapters.
    """
    root = profile.results_path
    return sorted(root.rglob("*.json")) if root.exists() else []


def _data_fingerprint(profile: Profile) -> dict:
    """What identifies the profile's data without loading it.

    The stand-ins are built from the ``aclsum`` package (its version); SCROLLS zips or folders
    in ``data_dir`` by their names, sizes and modification times; the Hub's by name only.
    """
    from importlib import metadata

    if profile.source == "aclsum":
        try:
            return {"aclsum": metadata.version("aclsum")}
        except metadata.PackageNotFoundError:
            return {"aclsum": "not installed"}
    if not profile.data_dir:
        return {"scrolls": "hub"}
    root = Path(profile.data_dir)
    files = sorted(p for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file())
    return {"scrolls": [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]}


def _ceilings_key(profile: Profile, code: str) -> str:
    """The inputs of the ceilings step: profile, package source, data, the ceiling records."""
    h = hashlib.sha256(json.dumps(
        {"version": CACHE_VERSION, "profile": profile.model_dump(), "code": code,
         "data": _data_fingerprint(profile)}, sort_keys=True, default=str).encode())
    folder = profile.results_path / CEILINGS_FOLDER
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        h.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _ceilings_step(profile: Profile, build_dir: Path, code: str, report: BuildReport,
                   show_progress: bool) -> None:
    """Bring the profile's ceiling records up to date before the chapters read them.

    Skipped when its inputs' hash matches the last build's; otherwise
    :func:`tradeoff.analysis.ceilings.ceiling_records` checks every record's key and computes
    only what is missing. A failure (e.g. data not available) is reported, and the chapters
    say that they have no ceiling records; it does not stop the book.
    """
    stamp = build_dir / "ceilings-key.txt"
    clock = time.perf_counter()
    if stamp.exists() and stamp.read_text() == _ceilings_key(profile, code):
        report.ceilings, report.ceilings_seconds = "cached", time.perf_counter() - clock
        return
    if show_progress:
        print("ceilings and baselines per input length (properties of the data; only missing "
              "results are computed) ...", file=sys.stderr, flush=True)
    try:
        from .ceilings import ceiling_records

        update = ceiling_records(profile, show_progress=show_progress)
    except Exception as err:  # noqa: BLE001 - the chapters show that ceilings are missing
        report.ceilings = f"failed: {_reason(err)}"
        report.ceilings_seconds = time.perf_counter() - clock
        log.warning("ceilings step %s", report.ceilings)
        stamp.unlink(missing_ok=True)
        return
    report.ceilings, report.ceilings_computed = "up to date", update.computed
    report.ceilings_seconds = time.perf_counter() - clock
    _write_if_changed(stamp, _ceilings_key(profile, code).encode())


def _failures(report: BuildReport) -> str:
    return (f"{len(report.failed)} notebook(s) failed to execute: "
            + "; ".join(f"{r.name}: {r.reason}" for r in report.failed))


def _chapter_parameters(source: Path, profile: Profile, params: dict) -> dict:
    """A chapter's papermill parameters: the profile's models and lengths where it takes them."""
    import papermill

    declared = papermill.inspect_notebook(str(source))
    return params | {name: list(getattr(profile, name)) for name in _SELECTION if name in declared}


def reference_inputs() -> list[Path]:
    """The committed reference data files (``reference/**/*.json``) a chapter may read."""
    return sorted(REFERENCE_DIR.rglob("*.json")) if REFERENCE_DIR.is_dir() else []


def _check_sources(root: Path) -> None:
    needed = [root / "_config.yml", root / "_toc.yml", root / "book",
              root / "notebooks" / LAB_NOTEBOOK]
    needed += [root / "notebooks" / f"{n}.ipynb" for n in {n for n, _ in CHAPTER_SOURCES.values()}]
    missing = [str(p.relative_to(root)) for p in needed if not p.exists()]
    if missing:
        raise BookError(f"missing book sources under {root}: {', '.join(missing)}")


def _groups(profile: Profile, cells: list[Cell]) -> dict[tuple[str, str], list[Path]]:
    """Record paths of each dataset x model group, in grid order."""
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


def _profile_argument(profile: Profile, build_dir: Path) -> str:
    """What the kernels pass to ``load_profile``: the name when params/ has that very profile.

    Otherwise (a profile built in code or from a YAML elsewhere) it is written to
    ``<build_dir>/profiles/<name>.yaml`` and that path is passed.
    """
    try:
        if load_profile(profile.name, results_dir=profile.results_dir) == profile:
            return profile.name
    except ConfigError:
        pass
    path = (build_dir / "profiles" / f"{profile.name}.yaml").resolve()
    _write_if_changed(path, yaml.safe_dump(profile.model_dump(), sort_keys=True).encode())
    return str(path)


def _package_digest() -> str:
    """Hash of the package's source: a changed helper or figure re-executes the notebooks."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _cache_key(notebook: Path, params: dict, profile: Profile, code: str,
               records: list[Path]) -> str:
    """Everything an executed notebook depends on, hashed."""
    h = hashlib.sha256()
    head = {"version": CACHE_VERSION, "params": params, "profile": profile.model_dump(),
            "code": code, "notebook": hashlib.sha256(notebook.read_bytes()).hexdigest()}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for path in records:
        h.update(b"\0" + path.name.encode() + b"\0")
        h.update(path.read_bytes() if path.exists() else b"<missing>")
    return h.hexdigest()


def _stored_meta(path: Path) -> dict:
    try:
        return json.loads(path.read_text())["metadata"].get("tradeoff", {})
    except (OSError, ValueError, KeyError):
        return {}


def _execute_cached(name: str, source: Path, output: Path, params: dict, *, key, title,
                    build_dir: Path) -> NotebookRun:
    """Execute ``source`` into ``output`` with papermill unless its stored key still matches.

    ``key`` is a callable, evaluated before (to decide) and after execution (to store), because a
    lab notebook writes the very records its key hashes. The notebook runs into a temporary file
    that replaces ``output`` only once finished (or failed, with its error), so an interrupted
    build never leaves a half-executed notebook that looks complete.
    """
    import nbformat
    import papermill

    stored = _stored_meta(output)
    if stored.get("status") == "ok" and stored.get("key") == key():
        return NotebookRun(name, "cached")
    nb = nbformat.read(source, as_version=4)
    if title:
        _retitle(nb, title)
    tmp_dir = build_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / output.name
    clock, status, reason = time.perf_counter(), "ok", ""
    try:
        papermill.execute_notebook(nb, str(tmp), parameters=params, progress_bar=False,
                                   cwd=str(Path.cwd()), kernel_name="python3",
                                   extra_arguments=_KERNEL_ARGS)
    except Exception as err:  # noqa: BLE001 - a failed notebook is shown in the book, not lost
        status, reason = "failed", _reason(err)
    seconds = time.perf_counter() - clock
    try:
        executed = nbformat.read(tmp, as_version=4) if tmp.exists() else _stub(nb)
        _show_parameters_once(executed)
        if status == "failed":
            _mark_failed(executed, reason)
        executed.metadata["tradeoff"] = {
            "key": key(), "status": status, "reason": reason, "seconds": round(seconds, 1),
            "executed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        nbformat.write(executed, tmp)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return NotebookRun(name, "executed" if status == "ok" else "failed", seconds, reason)


def _reason(err: BaseException) -> str:
    """One line for a failed execution: papermill's ename/evalue when it has them."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(err).__name__}: {err}"
    lines = [line for line in str(text).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(err).__name__


def _retitle(nb, title: str) -> None:
    """Give the executed copy a specific title (papermill parameterizes code, not markdown)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("# "):
            _, _, rest = cell.source.lstrip().partition("\n")
            cell.source = f"# {title}\n{rest}"
            return


def _show_parameters_once(nb) -> None:
    """Show the parameters a page was executed with once, not twice.

    papermill adds its ``injected-parameters`` cell after the notebook's own ``parameters`` cell;
    the page keeps the injected one (the values used), folded, and drops the defaults.
    """
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    if not any("injected-parameters" in t for t in tags):
        return
    for cell, cell_tags in zip(nb.cells, tags):
        if "parameters" in cell_tags:
            cell.metadata["tags"] = [*cell_tags, "remove-cell"]
        elif "injected-parameters" in cell_tags:
            cell.metadata["tags"] = [*cell_tags, "hide-input"]


def _stub(nb):
    """A notebook whose execution never started: its markdown only, so the page still exists."""
    import nbformat

    stub = nbformat.v4.new_notebook(metadata=nb.metadata)
    stub.cells = [c for c in nb.cells if c.cell_type == "markdown"][:1]
    return stub


def _mark_failed(nb, reason: str) -> None:
    """Put the failure right under the title (papermill puts its own banner above it)."""
    import nbformat

    nb.cells = [c for c in nb.cells
                if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    at = next((i + 1 for i, c in enumerate(nb.cells)
               if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), 0)
    text = reason.replace("`", "'")
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(
        f"```{{error}}\nThis notebook failed to execute: {text}\n\n"
        "The outputs below stop where it failed; the build report lists it too.\n```"))


def _failed_cells(paths: list[Path]) -> list[str]:
    from .errors import RecordError
    from .records import load_record

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


# ----------------------------------------------------------------------------- staging


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write only a changed file: unchanged mtimes keep Sphinx's incremental build effective."""
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def _remove_stale(folder: Path, keep: set[str]) -> None:
    for path in folder.glob("*.ipynb"):
        if path.name not in keep:
            path.unlink()


def _stage(root: Path, src: Path, banner: str) -> int:
    """Copy the config, toc and prose into the staged book; returns the files written."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    config.setdefault("html", {})["announcement"] = banner
    written = _write_if_changed(src / "_config.yml",
                                yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode())
    written += _write_if_changed(src / "_toc.yml", (root / "_toc.yml").read_bytes())
    prose = {p.relative_to(root / "book") for p in (root / "book").rglob("*") if p.is_file()}
    for rel in sorted(prose):
        written += _write_if_changed(src / "book" / rel, (root / "book" / rel).read_bytes())
    for path in (src / "book").rglob("*"):
        if path.is_file() and path.relative_to(src / "book") not in prose:
            path.unlink()
            written += 1
    return int(written)


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


# ----------------------------------------------------------------------------- progress


def _bar(total: int, desc: str, unit: str, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not show, file=sys.stderr,
                dynamic_ncols=True)


class _RecordWatcher:
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

    def __enter__(self) -> _RecordWatcher:
        self._update()
        if not self.bar.disable:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._update()
