"""One visit of a lent GPU (H100 or H200), about 9 minutes, everything it writes under ``--out``.

In order, each step written down before the next starts (a kill at the time limit loses at most
the cell in progress):

1. ``python -m tradeoff env``: the GPU and NVML's energy counter must be there, or the session
   stops; the carried packages' requirements are checked against what the image holds.
2. The meter's own checks (``benchmarks/meter_overhead.py`` on the GPU): NVML's energy counter
   against the integral of the sampled power over a window of a training loop (goal: within
   2%), the sampler's overhead on that loop as an A-B-B-A ratio (goal: at most 1%), the idle
   power.
3. The cells of the ``gpu-session`` profile in priority order: 4096 and 1024 tokens for the
   three models; then 2048 and 3072; then bf16 and gradient checkpointing on LED-base at 1024
   and 4096. A cell starts only while the budget left holds its estimate (counted FLOPs at an
   assumed throughput, corrected by the cells already run); the batch finder starts a little
   above the memory model's largest batch under the 48 GB cap, so it needs few attempts and
   would show a model that undercounts. Each finished cell's record is appended to
   ``records.jsonl`` at once.

Files under ``--out`` (at most 8 come back from a device call): ``session.log``, ``env.json``,
``meter.json``, ``records.jsonl``.

Usage:
    bash benchmarks/gpu_session.sh --dry-run       # here: the plan, the wheels, the device call
    bash benchmarks/gpu_session.sh --out "$OUT"    # on the device (the call the dry run prints)
    python benchmarks/gpu_session.py --fetch-wheels            # the wheels the image lacks
    python benchmarks/gpu_session.py --import <files_at>       # what came back -> reference/gpu/
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from tradeoff.config import Cell, load_profile, Profile, REPO_ROOT
from tradeoff.errors import ConfigError

PROFILE = "gpu-session"
# Priority: the lengths every model runs first, the other lengths of the profile next, then
# the knobs on one model (each against the same cell without it).
REQUIRED_LENGTHS = (4096, 1024)
KNOBS = ("bf16", "grad-checkpointing")
KNOB_MODEL, KNOB_LENGTHS = "led-base", (1024, 4096)

# The device call: a budget for this script's own clock, inside the call's limit (the
# wheels' install and the interpreter's start come before the clock starts).
BUDGET_S = 480
TIMEOUT_S = 570
CARRY = (".whl",)
WHEELS_DIR = ".whl"
# What the device image lacks of what a cell imports (its KINDS.md lists what it has: torch,
# transformers, accelerate, peft, pandas, pyarrow, nvidia-ml-py, ...), at this environment's
# versions; installed without dependencies. typing_extensions: pydantic needs a recent one.
WHEELS = ("aclsum", "sienna", "datasets", "dill", "multiprocess", "evaluate", "rouge_score",
          "nltk", "defusedxml", "pydantic", "pydantic_core", "annotated-types",
          "typing-inspection", "typing_extensions", "zeus")
# Published only as source: built here into a pure-Python wheel.
SOURCE_ONLY = ("rouge_score",)
DEVICE_PYTHON = "3.12"  # the image's python3
DEVICE_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                    "manylinux2014_x86_64", "manylinux1_x86_64")

# The meter's checks on the GPU: an MLP big enough to hold the GPU at load (~30 ms a step in
# fp32), three A-B-B-A blocks, a 12 s counter window, 5 s idle.
METER_CHECK = dict(device="cuda", width=4096, batch=8192, blocks=3, steps=60, interval=0.1,
                   counter_s=12.0, idle_s=5.0, warmup_steps=30)
METER_CHECK_S = 75.0  # its estimate, with the env check
# Per-cell estimate: set-up (model build, tokenization, trainer, teacher-forced validation),
# the finder's failed attempts, the training steps at an assumed throughput, and inference
# (greedy decoding is latency-bound: a fixed time per generated token and batch). Guesses
# before any GPU number exists; the session corrects them by the cells it has run.
SETUP_S = 25.0
FAILED_ATTEMPTS, FAILED_ATTEMPT_S = 3, 3.0
ASSUMED_TFLOPS = {"fp32": 20.0, "tf32": 60.0, "bf16": 60.0, "fp16": 60.0}
DECODE_STEP_S = 0.03
START_HEADROOM = 1.25  # the finder starts this far above the memory model's largest batch


@dataclass(frozen=True)
class PlannedCell:
    """One cell of the session: where it stands in the plan and what it should cost.

    Attributes:
        stage: "required", "lengths" or "knobs".
        cell: the grid cell.
        predicted_batch: the memory model's largest batch under the profile's cap (for a
            knob, scaled by its counted memory per sample).
        start_batch: where the batch finder starts (``max_auto_batch_size``).
        estimate_s: the time it should take.
    """

    stage: str
    cell: Cell
    predicted_batch: int
    start_batch: int
    estimate_s: float


def session_cells(profile: Profile) -> list[tuple[str, Cell]]:
    """The session's cells in priority order, each with its stage."""
    dataset = profile.datasets[0]
    required = [l for l in REQUIRED_LENGTHS if l in profile.lengths]
    others = [l for l in profile.lengths if l not in required]
    cells = [("required", Cell(dataset, m, l)) for l in required for m in profile.models]
    cells += [("lengths", Cell(dataset, m, l)) for l in others for m in profile.models]
    cells += [("knobs", Cell(dataset, KNOB_MODEL, l, variant=k))
              for k in KNOBS for l in KNOB_LENGTHS if KNOB_MODEL in profile.models]
    return cells


def plan_session(profile: Profile) -> list[PlannedCell]:
    """Validate the session's cells and size each one.

    Raises:
        ConfigError: a cell that cannot run, a missing counted row (the estimate and the
            finder's start need one), or a profile the session cannot use.
    """
    from tradeoff.records.reference import (
        TRAIN_STATE_BYTES_PER_PARAM,
        load_cost_reference,
        load_memory_reference,
        max_batch,
    )
    from tradeoff.analysis.hardware import matmul_precision
    from tradeoff.grid import validate_cells

    if profile.batch_size != "auto" or not profile.gpu_memory_gb or not profile.max_steps:
        raise ConfigError(f"profile '{profile.name}': the session needs batch_size auto, a "
                          f"gpu_memory_gb cap and max_steps (fixed steps)")
    cells = session_cells(profile)
    validate_cells(profile, [c for _, c in cells], here=False)
    reference = load_cost_reference(None)
    knob_memory = load_memory_reference()
    generated = profile.max_new_tokens[profile.datasets[0]]
    planned = []
    for stage, cell in cells:
        rows = [r for r in reference.select(profile.max_target_length, [cell.model], [cell.length])
                if r.generated_tokens == generated]
        if not rows:
            raise ConfigError(
                f"{cell.label}: no counted row at {profile.max_target_length}-token targets and "
                f"{generated} generated tokens in reference/cost/; count it with `python -m "
                f"tradeoff cost --models {cell.model} --lengths {cell.length} --target-length "
                f"{profile.max_target_length} --new-tokens {generated} --write-reference`")
        row = rows[0]
        per_sample = row.memory_per_sample_bytes / _knob_ratio(knob_memory, cell)
        predicted = max(max_batch(TRAIN_STATE_BYTES_PER_PARAM * row.params, int(per_sample),
                                  profile.gpu_memory_gb), 1)
        precision = matmul_precision(cell.variant, profile.tf32)
        recompute = 4 / 3 if cell.variant == "grad-checkpointing" else 1.0
        train_s = (profile.max_steps * predicted * row.train_step_flops * recompute
                   / (ASSUMED_TFLOPS[precision] * 1e12))
        n_infer = profile.max_eval_samples or 16
        infer_s = (math.ceil(n_infer / profile.infer_batch_size) * generated * DECODE_STEP_S
                   + n_infer * row.inference_flops / (ASSUMED_TFLOPS[precision] * 1e12))
        estimate = SETUP_S + FAILED_ATTEMPTS * FAILED_ATTEMPT_S + train_s + infer_s
        planned.append(PlannedCell(stage, cell, predicted,
                                   math.ceil(START_HEADROOM * predicted) + 1, estimate))
    return planned


def _knob_ratio(knob_memory, cell: Cell) -> float:
    """A knob's counted memory per sample over the paper's setting's (1 for ``none``)."""
    if cell.variant == "none":
        return 1.0
    rows = knob_memory[(knob_memory["model"] == cell.model) & (knob_memory["length"] == cell.length)]
    per = dict(zip(rows["variant"], rows["memory_per_sample_bytes"]))
    if "none" not in per or cell.variant not in per:
        raise ConfigError(f"{cell.label}: no counted knob memory in reference/knobs-full/"
                          f"memory.json; count it with `python -m tradeoff cost --knobs "
                          f"--models {cell.model} --write-reference`")
    return per["none"] / per[cell.variant]


# ------------------------------------------------------------------------------------ wheels

_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(?:-\d[^-]*)?"
                    r"-(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>[^-]+)\.whl$")


def normalized(name: str) -> str:
    """A distribution's name as wheel files spell it (PEP 503, underscores)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def device_compatible(python: str, abi: str, platform: str) -> bool:
    """Whether a wheel's tags install on the device (CPython 3.12, x86-64 Linux)."""
    target = "cp" + DEVICE_PYTHON.replace(".", "")
    pythons = python.split(".")
    python_ok = (target in pythons or "py3" in pythons or "py" + target[2:] in pythons
                 or (abi == "abi3" and any(p.startswith("cp3") and int(p[3:] or 0) <= int(target[3:])
                                           for p in pythons)))
    platform_ok = platform == "any" or all(p.startswith("manylinux") and p.endswith("x86_64")
                                           for p in platform.split("."))
    return python_ok and platform_ok


@dataclass(frozen=True)
class WheelCheck:
    """What a wheels folder holds against what the device needs.

    Attributes:
        folder: the folder.
        found: wheel files by needed (normalized) name.
        missing: needed names without a wheel.
        incompatible: wheel files that would not install on the device.
    """

    folder: Path
    found: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    incompatible: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> dict[str, list[str]]:
        """Names with more than one wheel: two versions stop the whole install."""
        return {name: files for name, files in self.found.items() if len(files) > 1}

    @property
    def broken(self) -> list[str]:
        """What stops the install on the device."""
        return ([f"two or more wheels of {n}: {', '.join(f)}" for n, f in self.duplicates.items()]
                + [f"not installable on the device (CPython {DEVICE_PYTHON}, x86-64): {f}"
                   for f in self.incompatible])

    def lines(self) -> list[str]:
        if not self.folder.is_dir():
            return [f"wheels: no {self.folder.name}/ folder here: fetch them with `python "
                    f"benchmarks/gpu_session.py --fetch-wheels` before a device call"]
        have = sum(1 for files in self.found.values() if files)
        lines = [f"wheels in {self.folder.name}/: {have} of {have + len(self.missing)} needed"]
        if self.missing:
            lines.append(f"  NOT READY, missing: {', '.join(self.missing)} (`python "
                         f"benchmarks/gpu_session.py --fetch-wheels`)")
        lines += [f"  BROKEN: {line}" for line in self.broken]
        return lines


def check_wheels(folder: Path | str, names=WHEELS) -> WheelCheck:
    """Match the ``.whl`` files of ``folder`` against the needed distributions."""
    folder = Path(folder)
    files = sorted(p.name for p in folder.glob("*.whl")) if folder.is_dir() else []
    found: dict[str, list[str]] = {normalized(n): [] for n in names}
    incompatible = []
    for file in files:
        match = _WHEEL.match(file)
        if match is None:
            incompatible.append(file)
            continue
        if not device_compatible(match["python"], match["abi"], match["platform"]):
            incompatible.append(file)
        found.setdefault(normalized(match["name"]), []).append(file)
    missing = [n for n in names if not found[normalized(n)]]
    return WheelCheck(folder, {k: v for k, v in found.items() if v}, missing, incompatible)


def fetch_commands(folder: Path | str = WHEELS_DIR) -> list[list[str]]:
    """The pip commands that put the device's wheels, at this environment's versions, into
    ``folder``: binary wheels for the device's Python, and the source-only ones built here."""
    pins = [f"{name}=={metadata.version(name)}" for name in WHEELS]
    binary = [p for p, n in zip(pins, WHEELS) if n not in SOURCE_ONLY]
    source = [p for p, n in zip(pins, WHEELS) if n in SOURCE_ONLY]
    platforms = [a for p in DEVICE_PLATFORMS for a in ("--platform", p)]
    return [[sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", DEVICE_PYTHON, "--implementation", "cp", *platforms,
             "-d", str(folder), *binary],
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(folder), *source]]


def requirement_problems(names=WHEELS) -> list[str]:
    """Requirements of the named distributions that the installed versions do not meet (the
    wheels go in without their dependencies, so nothing else checks this)."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    problems = []
    for name in names:
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: not installed")
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            try:
                have = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                problems.append(f"{name} needs {requirement}: not installed")
                continue
            if not requirement.specifier.contains(Version(have), prereleases=True):
                problems.append(f"{name} needs {requirement}: {have} installed")
    return problems


# ------------------------------------------------------------------------------------- plan

def device_command(budget_s: int = BUDGET_S) -> str:
    return f'bash benchmarks/gpu_session.sh --out "$OUT" --budget-s {budget_s}'


def plan_lines(profile: Profile, plan: list[PlannedCell], budget_s: int) -> list[str]:
    """The plan as printed by ``--dry-run`` and at the top of the session's log."""
    lines = [f"gpu session: profile {profile.name}, {len(plan)} cells, budget {budget_s} s "
             f"(this script's clock; the device call's limit is {TIMEOUT_S} s)",
             f"{'#':>2}  {'stage':<8}  {'cell':<44}  {'model batch':>11}  {'start':>5}  "
             f"{'estimate':>8}"]
    for i, p in enumerate(plan, 1):
        lines.append(f"{i:>2}  {p.stage:<8}  {p.cell.label:<44}  {p.predicted_batch:>11}  "
                     f"{p.start_batch:>5}  {p.estimate_s:>7.0f}s")
    required = sum(p.estimate_s for p in plan if p.stage == "required")
    total = METER_CHECK_S + required
    lines.append(f"required cells: {sum(p.stage == 'required' for p in plan)}, estimated "
                 f"{required:.0f} s; with the env check and the meter's checks (~"
                 f"{METER_CHECK_S:.0f} s): {total:.0f} s of {budget_s} s"
                 + ("" if total <= budget_s else " -- OVER BUDGET: the last required cells "
                    "would be skipped"))
    return lines


# ---------------------------------------------------------------------------------- session

class Log:
    """Prints a line and appends it to the session's log at once."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, *lines: str) -> None:
        with open(self.path, "a") as f:
            for line in lines:
                print(line, flush=True)
                f.write(line + "\n")


def check_env(report: dict) -> list[str]:
    """Why ``tradeoff env --json``'s report rules the session out; empty when it can go on."""
    problems = []
    environment, energy = report.get("environment", {}), report.get("energy", {})
    if not environment.get("gpu_count"):
        problems.append("torch sees no CUDA GPU")
    gpu = energy.get("gpu", {})
    if gpu.get("method") != "nvml-counter":
        problems.append(f"no NVML energy counter (GPU method {gpu.get('method')!r}: "
                        f"{energy.get('reason') or 'no reason given'})")
    return problems


# What a cell imports beyond torch: a carried wheel that does not import stops the session
# before the meter's checks spend a minute.
CELL_IMPORTS = ("pydantic", "zeus.monitor", "datasets", "evaluate", "rouge_score", "aclsum",
                "transformers", "accelerate", "tradeoff.pipeline", "tradeoff.metrics")


def import_problems(modules=CELL_IMPORTS) -> list[str]:
    """The modules that fail to import, each with its error."""
    import importlib

    problems = []
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - any failure to import stops the session
            problems.append(f"import {module}: {type(err).__name__}: {err}")
    return problems


def append_line(path: Path, text: str) -> None:
    """Append one line and push it to disk before the next cell starts."""
    with open(path, "a") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_session(profile: Profile, plan: list[PlannedCell], out: Path, budget_s: float, *,
                require_gpu: bool = True, meter_check: dict | None = METER_CHECK) -> int:
    """The device visit (steps 1-3 of the module's docstring). Returns the exit status.

    Args:
        profile: the session's profile.
        plan: :func:`plan_session`'s cells, in order.
        out: where everything goes.
        budget_s: seconds of this function's clock for the whole visit.
        require_gpu: stop unless ``tradeoff env`` reports a GPU with NVML's energy counter
            (False: a rehearsal on a CPU).
        meter_check: :func:`meter_overhead.validate_meter`'s arguments; None skips the checks.
    """
    start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "session.log")
    log(*plan_lines(profile, plan, int(budget_s)))

    done = subprocess.run([sys.executable, "-m", "tradeoff", "env", "--json"],
                          capture_output=True, text=True, timeout=180)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        log(f"STOP: `tradeoff env` failed (exit {done.returncode}):", done.stderr[-2000:])
        return 3
    report["requirements"] = requirement_problems()
    (out / "env.json").write_text(json.dumps(report, indent=1, default=str))
    environment = report.get("environment", {})
    log(f"env: {environment.get('gpu_count')} x {environment.get('gpu')}, torch "
        f"{environment.get('version_torch')}, transformers "
        f"{environment.get('version_transformers')}; energy: {report['energy'].get('method')}",
        "requirements of the carried packages: "
        + ("; ".join(report["requirements"]) or "all met"))
    if (problems := check_env(report)) and require_gpu:
        log(f"STOP: {'; '.join(problems)}")
        return 3
    if problems := import_problems():
        log("STOP: a cell could not run here:", *problems)
        return 3
    if meter_check is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from meter_overhead import summary_lines, validate_meter

        try:
            meter = validate_meter(**meter_check)
            (out / "meter.json").write_text(json.dumps(meter, indent=1))
            log(*summary_lines(meter))
        except Exception as err:  # noqa: BLE001 - the cells are worth running without it
            log(f"meter checks failed: {type(err).__name__}: {err}")

    import gc

    import torch

    from tradeoff.records.reference import load_cost_reference
    from tradeoff.pipeline import preflight_data, prepare_environment, run_cell

    reference = load_cost_reference(None)
    prepare_environment(profile)
    data = preflight_data(profile, profile.datasets)
    records, ratios = [], []
    # Each cell also writes its record file; records.jsonl above is what is kept.
    with tempfile.TemporaryDirectory(prefix="gpu-session-") as scratch:
        for planned in plan:
            left = budget_s - (time.monotonic() - start)
            scale = min(max(statistics.median(ratios), 0.5), 4.0) if ratios else 1.0
            need = planned.estimate_s * scale
            if need > left:
                log(f"skip {planned.cell.label}: needs ~{need:.0f} s, {left:.0f} s left")
                continue
            log(f"run {planned.cell.label} ({planned.stage}; finder from batch "
                f"{planned.start_batch}; ~{need:.0f} s, {left:.0f} s left)")
            cell_profile = profile.model_copy(update={"max_auto_batch_size": planned.start_batch,
                                                      "results_dir": scratch})
            began = time.monotonic()
            record = run_cell(cell_profile, planned.cell, data=data[planned.cell.dataset],
                              force=True, show_progress=False)
            took = time.monotonic() - began
            append_line(out / "records.jsonl", record.model_dump_json())
            records.append(record)
            ratios.append(took / planned.estimate_s)
            log(f"  {record.status} in {took:.0f} s{': ' + record.reason if record.reason else ''}")
            del record
            gc.collect()
            torch.cuda.empty_cache()
    log(*summary_table(records, reference))
    return 0


def summary_table(records: list, reference) -> list[str]:
    """One line per finished cell: batch against the model, memory, throughput, MFU, energy."""
    from tradeoff.analysis.cost_claims import measured_speed
    from tradeoff.models import PRESETS

    speed = measured_speed(records, reference, PRESETS)
    lines = [f"{len(speed)} of {len(records)} cells finished",
             f"{'model':<14} {'L':>5} {'knob':<18} {'batch':>5} {'model':>5} {'peak GiB':>8} "
             f"{'model GiB':>9} {'samples/s':>9} {'TFLOP/s':>7} {'MFU %':>6}"]
    for r in speed.itertuples():
        lines.append(f"{r.model:<14} {r.length:>5} {r.variant:<18} {r.batch_size:>5} "
                     f"{r.predicted_max_batch:>5} {r.max_memory_allocated_gib:>8.1f} "
                     f"{r.predicted_memory_gib:>9.1f} {r.steady_samples_per_s:>9.2f} "
                     f"{r.achieved_steady_gflops / 1e3:>7.1f} {100 * r.mfu:>6.1f}")
    energy = {r.label: r.efficiency.train_gpu_energy_j for r in records if r.status == "ok"}
    lines += [f"  {label}: training {joules:.0f} J (NVML counter)" for label, joules in energy.items()
              if joules is not None]
    return lines


# ----------------------------------------------------------------------------------- import

def import_session(folder: Path, dest: Path | None = None) -> list[Path]:
    """Write what a device call brought back into ``reference/gpu/``: each record of
    ``records.jsonl`` as a run record in ``runs/`` (named as the grid names it), and
    ``meter.json``, ``env.json`` and ``session.log`` beside. A line cut short by a kill is
    skipped, with a warning."""
    from tradeoff.records import RunRecord, save_record
    from tradeoff.report.gpu import GPU_DIR

    dest = Path(GPU_DIR if dest is None else dest)
    written = []
    lines = (folder / "records.jsonl").read_text().splitlines() \
        if (folder / "records.jsonl").is_file() else []
    for number, line in enumerate(lines, 1):
        try:
            record = RunRecord.model_validate_json(line)
        except ValueError as err:
            print(f"records.jsonl line {number}: skipped ({str(err).splitlines()[0]})",
                  file=sys.stderr)
            continue
        written.append(save_record(record, dest / "runs" / record.params.record_name))
    for name in ("meter.json", "env.json", "session.log"):
        if (folder / name).is_file():
            dest.mkdir(parents=True, exist_ok=True)
            (dest / name).write_text((folder / name).read_text())
            written.append(dest / name)
    return written


# ------------------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=PROFILE, help="profile name in params/ or a YAML path")
    parser.add_argument("--out", default=os.environ.get("OUT"),
                        help="where everything goes (default: $OUT)")
    parser.add_argument("--budget-s", type=int, default=BUDGET_S,
                        help="seconds of this script's clock for the whole session")
    parser.add_argument("--wheels", default=str(REPO_ROOT / WHEELS_DIR), help="the wheels folder")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the profile and cells, print the plan, check the wheels "
                             "folder and print the device call; run nothing")
    parser.add_argument("--require-wheels", action="store_true",
                        help="with --dry-run: a missing wheel is an error too")
    parser.add_argument("--fetch-wheels", action="store_true",
                        help="download (and build) the wheels the device lacks into --wheels")
    parser.add_argument("--import", dest="import_from", metavar="DIR",
                        help="write the files a device call brought back into reference/gpu/")
    args = parser.parse_args(argv)

    if args.fetch_wheels:
        for command in fetch_commands(args.wheels):
            print(" ".join(command))
            if not args.dry_run and subprocess.run(command).returncode != 0:
                return 1
        return 0
    if args.import_from:
        written = import_session(Path(args.import_from))
        print("\n".join(str(p) for p in written) or "nothing to import")
        return 0 if written else 1
    try:
        profile = load_profile(args.profile)
        plan = plan_session(profile)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        wheels = check_wheels(args.wheels)
        print("\n".join(plan_lines(profile, plan, args.budget_s) + wheels.lines()))
        print("device call (one, about 9 minutes of device time):",
              f"  run(command='{device_command(args.budget_s)}', carry={list(CARRY)}, "
              f"timeout_s={TIMEOUT_S})",
              "then here, with the folder the files came back to:",
              "  python benchmarks/gpu_session.py --import <files_at>   "
              "# records -> reference/gpu/runs/", sep="\n")
        return 1 if wheels.broken or (args.require_wheels and wheels.missing) else 0
    if not args.out:
        print("error: --out (or $OUT) is required", file=sys.stderr)
        return 2
    return run_session(profile, plan, Path(args.out), args.budget_s)


if __name__ == "__main__":
    sys.exit(main())
