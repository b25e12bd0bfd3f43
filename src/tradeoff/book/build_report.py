"""What a build did, saved as ``<build_dir>/build-report.json``: each notebook executed, reused
or failed, the grid cells that are not ok, the ceilings step and the timings."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

REPORT_NAME = "build-report.json"


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

    def failures(self) -> str:
        """One line naming each notebook that failed to execute, with its reason."""
        return (f"{len(self.failed)} notebook(s) failed to execute: "
                + "; ".join(f"{r.name}: {r.reason}" for r in self.failed))

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
