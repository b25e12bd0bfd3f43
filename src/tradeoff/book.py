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

Caching: each executed notebook stores, in its metadata, a key hashing everything its output
depends on: the notebook's source, the package's source, the papermill parameters, the profile
and the run records it reads (names and contents). A notebook whose stored key matches is not
executed again, so a warm rebuild only asks Sphinx, which rebuilds incrementally; staging writes
a file only when its content changed, so unchanged pages keep their modification times.

A lab notebook runs its group's cells through :func:`tradeoff.grid.run_grid`, which skips cells
that have a record; an interrupted build therefore resumes at the first cell without one. A cell
that fails is recorded with its reason and shown as failed; a notebook that fails to execute is
kept, with its error, in the book and listed in the build report.
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
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import yaml

from .config import Cell, ConfigError, Profile, load_profile
from .grid import cell_record_path, validate_cells

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(__file__).resolve().parent
CHAPTERS = ("setup", "govreport", "summscreenfd", "qmsum", "qasper", "energy", "conclusions")
LAB_NOTEBOOK = "run.ipynb"
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
    """

    profile: str
    index: str = ""
    notebooks: list[NotebookRun] = field(default_factory=list)
    staged_files: int = 0
    sphinx_seconds: float = math.nan
    total_seconds: float = math.nan
    failed_cells: list[str] = field(default_factory=list)

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
        return (f"book {self.profile}: " + ", ".join(parts)
                + f"; {self.total_seconds:.0f} s (Sphinx {self.sphinx_seconds:.0f} s)")


def read_report(build_dir: Path | str = "_build") -> BuildReport:
    """The report of the last build in ``build_dir``."""
    return BuildReport.load(Path(build_dir) / REPORT_NAME)


# ----------------------------------------------------------------------------- build


def build_book(profile: Profile, build_dir: Path | str = "_build", *, strict: bool = False,
               show_progress: bool = True, source_root: Path | str = ROOT) -> Path:
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
    for (dataset, model), paths in groups.items():
        name = names[dataset, model]
        params = {**common, "dataset": dataset, "model": model}
        inputs = {"notebook": lab_source, "params": params, "profile": profile, "code": code}
        with _RecordWatcher(bar, name, all_records):
            run = _execute_cached(
                f"lab/{name}", lab_source, src / "lab" / f"{name}.ipynb", params,
                key=lambda: _cache_key(**inputs, records=paths),
                title=f"Lab record: {dataset} × {model}", build_dir=build_dir)
        report.notebooks.append(run)
        bar.update()
    bar.close()

    chapters = _bar(len(CHAPTERS), "chapters", "notebook", show_progress)
    records = sorted(profile.results_path.rglob("*.json")) if profile.results_path.exists() else []
    _remove_stale(src / "notebooks", {f"{c}.ipynb" for c in CHAPTERS})
    for chapter in CHAPTERS:
        chapters.set_postfix_str(chapter)
        source = source_root / "notebooks" / f"{chapter}.ipynb"
        key = _cache_key(source, common, profile, code, records)
        report.notebooks.append(_execute_cached(
            f"notebooks/{chapter}", source, src / "notebooks" / f"{chapter}.ipynb", common,
            key=lambda key=key: key, title=None, build_dir=build_dir))
        chapters.update()
    chapters.close()

    with contextlib.suppress(OSError):
        (build_dir / "tmp").rmdir()
    report.failed_cells = _failed_cells(all_records)
    report.staged_files = _stage(source_root, src, _banner(profile, all_records))
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
    return index


def _failures(report: BuildReport) -> str:
    return (f"{len(report.failed)} notebook(s) failed to execute: "
            + "; ".join(f"{r.name}: {r.reason}" for r in report.failed))


def _check_sources(root: Path) -> None:
    needed = [root / "_config.yml", root / "_toc.yml", root / "book",
              root / "notebooks" / LAB_NOTEBOOK]
    needed += [root / "notebooks" / f"{c}.ipynb" for c in CHAPTERS]
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
    from .records import RecordError, load_record

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


def _banner(profile: Profile, paths: list[Path]) -> str:
    """Provenance line shown on every page: profile, data, weights and the energy method(s)."""
    from .records import RecordError, load_record

    methods = set()
    for path in paths:
        try:
            methods.add(load_record(path).energy_method)
        except (OSError, RecordError):
            continue
    data = "ACLSum stand-ins, not SCROLLS" if profile.source == "aclsum" else "SCROLLS"
    text = f"Built from profile <b>{profile.name}</b>"
    if profile.description:
        text += f": {profile.description}"
    text += f" &middot; data: {data} &middot; weights: {profile.init} ({profile.scale})"
    if methods:
        text += f" &middot; energy: {', '.join(sorted(methods))}"
    return text


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


# ----------------------------------------------------------------------------- lab notebook helpers


def lab_cells(profile: Profile, dataset: str, model: str) -> list[Cell]:
    """The grid cells of one dataset x model group, in grid order.

    Raises:
        ConfigError: the profile has no such group.
    """
    cells = [c for c in profile.cells() if c.dataset == dataset and c.model == model]
    if not cells:
        raise ConfigError(f"profile '{profile.name}' has no cells for {dataset} x {model}; "
                          f"datasets {profile.datasets}, models {profile.models}")
    return cells


def lab_provenance(profile: Profile, dataset: str, model: str, records) -> str:
    """Where this group's numbers come from: profile, data, weights, hardware, energy method."""
    lines = [f"group: {dataset} x {model}", f"profile: {profile.name} ({profile.description})",
             f"records: {profile.results_path}"]
    ok = [r for r in records if r.status == "ok"] or list(records)
    if ok:
        r = ok[0]
        data, mdl, env = r.data, r.model, r.env
        if data:
            lines.append(f"data: {data.get('source')} - {data.get('description', '')}")
        if mdl:
            lines.append(f"weights: {mdl.get('init')} init, {mdl.get('scale')} scale "
                         f"({mdl.get('checkpoint', '')}), {mdl.get('parameters', '?')} parameters")
        if env:
            lines.append(f"hardware: {env.get('cpu_cores', '?')} CPU cores ({env.get('cpu')}), "
                         f"GPU: {env.get('gpu')} x {env.get('gpu_count', 0)}; "
                         f"git {env.get('git_commit', '?')}")
        lines.append(f"energy method: {r.energy_method}")
    return "\n".join(lines)


def _short_label(record) -> str:
    """A cell's label without its dataset and model (a lab page is about one group)."""
    parts = record.label.split("/")
    return "/".join(parts[2:]) if len(parts) > 2 else record.label


def lab_status(records):
    """One row per cell: status, reason and the headline numbers, with units in the names.

    Numbers are rounded to four significant digits for display; the records keep full precision.
    """
    import pandas as pd

    rows = []
    for r in records:
        eff, acc = r.efficiency, r.accuracy
        rows.append({
            "cell": _short_label(r), "status": r.status, "reason": r.reason,
            r.accuracy_metric or "accuracy": acc.get(r.accuracy_metric),
            "val_loss": acc.get("val_loss"), "batch": r.train.get("effective_batch_size"),
            "train_time_s": eff.get("train_time_s"),
            "train_samples_per_s": eff.get("train_samples_per_s"),
            "train_energy_j": eff.get("train_energy_j"),
            "infer_samples_per_s": eff.get("infer_samples_per_s"),
            "energy_method": r.energy_method,
        })
    frame = pd.DataFrame(rows).set_index("cell")
    numeric = frame.select_dtypes("number").columns.drop("batch", errors="ignore")
    frame[numeric] = frame[numeric].apply(lambda col: col.map(
        lambda v: float(f"{v:.4g}") if pd.notna(v) else v))
    frame["batch"] = frame["batch"].astype("Int64")  # a failed cell has none
    return frame


def _trace_series(trace: list[dict]) -> tuple[list[float], list[float], str]:
    """The trace to draw: summed GPU power when measured, else this process's CPU utilization."""
    if not trace:
        return [], [], ""
    t = [row.get("t_s") for row in trace]
    power_cols = sorted(k for k in trace[0] if k.startswith("gpu") and k.endswith("_power_w"))
    if power_cols:
        values = [sum(v for c in power_cols if (v := row.get(c)) is not None) for row in trace]
        return t, values, "GPU power (W, all GPUs)"
    return t, [row.get("cpu_util_pct") for row in trace], "CPU utilization (% of one core)"


def plot_lab(records):
    """Loss curves (train loss per step, validation loss) and the training power trace.

    Args:
        records: the group's run records.

    Returns:
        A matplotlib Figure with two panels, one line per cell.
    """
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_trace) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    trace_label = ""
    for i, r in enumerate(records):
        color, name = f"C{i % 10}", _short_label(r)
        history = r.train.get("log_history", [])
        train = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
        evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h and "step" in h]
        if train:
            ax_loss.plot(*zip(*train), color=color, marker=".", label=name)
        if evals:
            ax_loss.plot(*zip(*evals), color=color, ls="--", marker="s")
        val = r.accuracy.get("val_loss")
        if val is not None and r.train.get("steps"):
            ax_loss.scatter([r.train["steps"]], [val], color=color, marker="*", s=120, zorder=3)
        t, values, label = _trace_series(r.traces.get("train", []))
        if t:
            ax_trace.plot(t, values, color=color, label=name)
            trace_label = trace_label or label
    ax_loss.set(xlabel="optimizer step", ylabel="loss (cross-entropy)",
                title="Loss: train (line), validation (dashed), final (star)")
    gpu = trace_label.startswith("GPU")
    ax_trace.set(xlabel="seconds into training", ylabel=trace_label or "no trace recorded",
                 title="GPU power during training" if gpu
                 else "CPU utilization during training (no GPU power measured)")
    for ax in (ax_loss, ax_trace):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if not any(r.status == "ok" for r in records):
        fig.suptitle("no cell of this group finished: see the status table")
    fig.text(0.0, -0.02, _figure_provenance(records), fontsize=7, color="0.35", ha="left",
             va="top")
    return fig


def _figure_provenance(records) -> str:
    """The line under a lab figure: profile, data, weights, hardware, energy method."""
    done = [r for r in records if r.status == "ok"] or list(records)
    if not done:
        return "no records"
    r = done[0]
    p, env = r.params, r.env
    hardware = (f"{env.get('gpu_count')} x {env.get('gpu')}" if env.get("gpu_count")
                else f"CPU, {env.get('cpu_cores', '?')} cores")
    methods = ", ".join(sorted({x.energy_method for x in done}))
    return (f"profile {r.profile} | data: {p.get('source')}"
            f"{' stand-ins' if r.data.get('stand_in') else ''} | weights: {p.get('init')} init, "
            f"{p.get('scale')} scale | hardware: {hardware} | energy: {methods}")


def lab_examples(records):
    """Sample predictions (first validation inputs) of every finished cell."""
    import pandas as pd

    rows = []
    for r in records:
        for ex in r.inference.get("examples", []):
            refs = ex.get("references") or [""]
            rows.append({"cell": _short_label(r), "input (start)": ex.get("input", "")[:160] + " ...",
                         "reference": refs[0][:200], "prediction": ex.get("prediction", "")[:200]})
    return pd.DataFrame(rows, columns=["cell", "input (start)", "reference", "prediction"])


def lab_notes(records) -> str:
    """Each energy method with its reason, then every failure with its traceback."""
    lines = []
    for method, reason in dict.fromkeys((r.energy_method, r.energy_reason) for r in records):
        lines.append(f"energy method {method}: {reason or 'measured'}")
    for r in records:
        if r.status != "ok":
            lines += ["", f"{r.label} {r.status}: {r.reason}", r.train.get("traceback", "")]
    return "\n".join(lines)
