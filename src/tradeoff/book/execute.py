"""One notebook executed with papermill into the build folder, unless its cached copy still holds.

A notebook that fails to execute is kept, with its error under its title, so its page is in the
book; the build report lists it (:class:`tradeoff.book.build_report.BuildReport`). The parameters
a page was executed with are shown once, folded.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import default

from .build_report import NotebookRun
from .cache import stored_meta

# Kernels log an error when interrupted at shutdown; what a notebook does wrong is in its outputs
# anyway.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


class UnixSocketKernelManager(AsyncKernelManager):
    """A kernel that talks over Unix sockets named by a random id, not over TCP ports.

    For a TCP kernel, jupyter_client picks five free ports by binding and releasing them, and the
    kernel binds them again once it has started. In between, another process can take one (a
    second kernel of the build, torch's rendezvous, a scheduler's daemon), and the kernel dies
    before replying ("Address already in use"; jupyter/jupyter_client#154, nteract/papermill#511).
    A socket file with a random name cannot be taken. TCP stays where there are no Unix sockets.
    """

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc" if os.name == "posix" else "tcp"

    def _ip_default(self) -> str:  # jupyter_client's name for the address's default
        if self.transport != "ipc":
            return super()._ip_default()
        # The sockets are <ip>-1 ... <ip>-5; the kernel's shutdown removes them. 64 random bits
        # keep the path short: a socket's path has at most 104 bytes on macOS, 108 on Linux.
        return os.path.join(tempfile.gettempdir(), f"tradeoff-kernel-{uuid.uuid4().hex[:16]}")


def execute_cached(name: str, source: Path, output: Path, params: dict, *, key, title,
                   build_dir: Path) -> NotebookRun:
    """Execute ``source`` into ``output`` with papermill unless its stored key still matches.

    ``key`` is a callable, evaluated before (to decide) and after execution (to store), because a
    lab notebook writes the very records its key hashes. The notebook runs into a temporary file
    that replaces ``output`` only once finished (or failed, with its error), so an interrupted
    build never leaves a half-executed notebook that looks complete.

    Args:
        name: the page's name in the build report (``lab/<name>``, ``notebooks/<chapter>``).
        source: the notebook to execute.
        output: where the executed copy goes.
        params: papermill's parameters.
        key: returns the cache key of the execution (:mod:`tradeoff.book.cache`).
        title: the executed copy's title, or None to keep the notebook's.
        build_dir: the build folder (its ``tmp/`` holds the copy while it runs).

    Returns:
        What happened: executed, cached or failed (with the reason).
    """
    # papermill and nbformat load only when a notebook runs, not where the book's pages are listed.
    import nbformat
    import papermill

    stored = stored_meta(output)
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
                                   kernel_manager_class=UnixSocketKernelManager,
                                   extra_arguments=KERNEL_ARGS)
    except Exception as err:  # noqa: BLE001 - a failed notebook is shown in the book, not lost
        status, reason = "failed", reason_of(err)
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


def reason_of(err: BaseException) -> str:
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
