"""The GPU records in the energy and cost chapters: ``reference/gpu/``, or one line saying none.

``benchmarks/gpu_session.py`` measures the paper's full architectures with random weights on a
lent H200 or H100 (one visit, the ``gpu-session`` profile) and, back on this machine, its
``--import`` writes what came back here: the run records in ``runs/`` (read through the same
code as the CPU's ``reference/cpu-arch``: :func:`measured_records` and
:func:`tradeoff.analysis.cost_claims.measured_speed`), the meter's own checks in ``meter.json``
and the device's environment in ``env.json``. Efficiency only: random weights carry no accuracy.
The cost chapter's table (measured against predicted memory and FLOP/s) is
:func:`tradeoff.report.cost_tables.gpu_table`; the energy chapter's, :func:`energy_table`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from IPython.display import Markdown

from ..config import REPO_ROOT
from ..records import RunRecord, load_records
from .style import MODEL_LABELS
from .tables import styled

GPU_DIR = REPO_ROOT / "reference" / "gpu"
RUNS_DIR = GPU_DIR / "runs"
METER_FILE = GPU_DIR / "meter.json"
EFFICIENCY_ONLY = "random weights: efficiency only"
NO_RECORDS = ("No GPU records yet: `bash benchmarks/gpu_session.sh` produces them when a GPU is "
              f"lent (H200 or H100, {EFFICIENCY_ONLY}).")


@dataclass(frozen=True)
class GpuRecords:
    """The GPU records and the meter's checks the chapters show.

    Attributes:
        records: every run record in the folder (finished or not).
        meter: the session's meter validation (``meter.json``), empty when absent.
        folder: where the records were looked for.
    """

    records: list[RunRecord] = field(default_factory=list)
    meter: dict = field(default_factory=dict)
    folder: str = str(RUNS_DIR)

    @property
    def finished(self) -> list[RunRecord]:
        return [r for r in self.records if r.status == "ok"]

    @property
    def label(self) -> str:
        """Where the numbers come from, e.g. ``1 x NVIDIA H100 80GB HBM3, random weights:
        efficiency only``."""
        hardware = ", ".join(sorted({r.env.hardware for r in self.records}))
        return f"{hardware or 'H200 or H100'}, {EFFICIENCY_ONLY}"

    @property
    def note(self) -> str:
        """The one line shown instead of a table: no records, or none finished."""
        if not self.records:
            return NO_RECORDS
        reasons = "; ".join(f"{r.label}: {r.status}" for r in self.records)
        return (f"No finished GPU runs: the {len(self.records)} records in "
                f"{display_path(self.folder)} ended without finishing ({reasons}).")


def open_gpu(folder: str | Path | None = None, meter_file: str | Path | None = None) -> GpuRecords:
    """Read the GPU records (``reference/gpu/runs`` by default) and the meter's checks.

    A missing or empty folder means no records yet, never an error.
    """
    folder = Path(RUNS_DIR if folder is None else folder)
    meter_path = Path(METER_FILE if meter_file is None else meter_file)
    meter = json.loads(meter_path.read_text()) if meter_path.is_file() else {}
    return GpuRecords(measured_records(folder), meter, str(folder))


def measured_records(folder: Path | str) -> list[RunRecord]:
    """The run records in ``folder`` (the GPU's here, the CPU's ``reference/cpu-arch`` for the
    cost chapter); none when it has no record."""
    folder = Path(folder)
    return load_records(folder) if folder.is_dir() and any(folder.glob("*.json")) else []


def labelled(table: pd.DataFrame, gpu: GpuRecords):
    """The table, styled and captioned with :attr:`GpuRecords.label`, or the one-line note."""
    if table.empty:
        return Markdown(gpu.note)
    return styled(table).set_caption(f"Measured on {gpu.label}.")


def energy_table(records: list[RunRecord]) -> pd.DataFrame:
    """Energy of each finished GPU run, from NVML's counter, with units in the headers."""
    columns = ["model", "input length (tokens)", "knob", "batch", "energy method",
               "training energy (J)", "training energy per sample (J)", "mean GPU power (W)",
               "mean GPU utilization (%)", "GPU memory in use, peak (MiB, sampled)",
               "inference energy per sample (J)"]
    rows = []
    for r in records:
        if r.status != "ok":
            continue
        e = r.efficiency
        samples = r.train.samples_trained or math.nan
        rows.append([MODEL_LABELS.get(r.params.model, r.params.model), r.params.length,
                     r.params.variant, r.train.batch_size, r.energy_method,
                     _num(e.train_gpu_energy_j), _num(e.train_gpu_energy_j) / samples,
                     _num(e.train_gpu_energy_j) / _num(e.train_time_s),
                     _num(e.train_gpu_util_mean_pct), _num(e.train_gpu_mem_peak_mib),
                     _num(e.infer_energy_per_sample_j)])
    return pd.DataFrame(rows, columns=columns)


def meter_table(meter: dict) -> pd.DataFrame:
    """The session's checks of the meter (``meter.json``): check, result, goal, passed."""
    columns = ["check", "result", "goal", "passed"]
    rows = []
    if "counter" in meter:
        rows.append(["NVML energy counter vs integrated sampled power, one window of a "
                     "training loop", meter["counter"].get("verdict", ""),
                     "within 2%, window of 10 s or more", meter["counter"].get("ok")])
    if "overhead_wall" in meter:
        rows.append(["the sampler's overhead on the loop (A-B-B-A, wall time)",
                     meter["overhead_wall"].get("verdict", ""), "at most 1%",
                     meter["overhead_wall"].get("ok")])
    if "idle" in meter:
        idle = meter["idle"]
        rows.append(["idle baseline", f"GPU {idle.get('gpu_w', math.nan):.1f} W over "
                     f"{idle.get('seconds', math.nan):.1f} s", "(reported, not subtracted)", None])
    return pd.DataFrame(rows, columns=columns)


def _num(value) -> float:
    return float(value) if value is not None else math.nan


def display_path(path: str) -> str:
    """``path`` relative to the repository when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
