"""Figures and tables of the book, drawn from run records only.

The chapter notebooks stay thin: they load the records, call these helpers and glue the
results into the prose. Every figure function returns a fresh :class:`matplotlib.figure.Figure`
(not registered with pyplot, so a notebook shows it only where it is displayed or glued) and
never raises on missing data: a panel without finished runs says so in words.

Provenance travels with every figure: :func:`banner` opens each chapter with where the numbers
come from (profile, data source, weights, hardware, energy method, accuracy signal), and axis
labels say when energy is an estimate or when accuracy is the validation loss.

Nothing here imports torch or transformers at module level; the data helpers of the setup
chapter import :mod:`tradeoff.data` (and a tokenizer) only when called.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import io

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown
from matplotlib.figure import Figure

from . import claims as C
from .config import DATASETS, MODELS, ConfigError, Profile, load_profile
from .env import hardware_label
from .records import RunRecord, load_records, to_frame

if TYPE_CHECKING:
    import datasets
    from pandas.io.formats.style import Styler

LENGTHS = (1024, 2048, 3072, 4096)

# One color and marker per model across the whole book (seaborn's colour-blind palette).
_PALETTE = sns.color_palette("colorblind").as_hex()
MODEL_COLORS = {"led-base": _PALETTE[0], "led-large": _PALETTE[1], "bigbird-large": _PALETTE[2]}
MODEL_MARKERS = {"led-base": "o", "led-large": "s", "bigbird-large": "^"}
MODEL_LABELS = {"led-base": "LED-base", "led-large": "LED-large", "bigbird-large": "BigBird-large"}
DATASET_LABELS = {"govreport": "GovReport", "summscreenfd": "SummScreenFD", "qmsum": "QMSum",
                  "qasper": "Qasper"}

POWER_EFFICIENCY = C.POWER_EFFICIENCY
ENERGY_KWH = C.ENERGY_KWH
TRAIN_SPEED = C.TRAIN_SPEED
INFER_SPEED = C.INFER_SPEED
TRAIN_TIME = C.TRAIN_TIME

_GRID_KEYS = ["dataset", "model", "length", "grad_accum"]
_NUMERIC = [POWER_EFFICIENCY, ENERGY_KWH, TRAIN_SPEED, INFER_SPEED, TRAIN_TIME, "accuracy",
            "acc_val_loss", "effective_batch_size", "train_energy_j", "train_avg_power_w",
            "train_gpu_util_mean_pct", "train_gpu_mem_mean_mib", "train_cpu_util_mean_pct",
            "train_rss_mean_mib"]
_RC = {"axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
       "axes.spines.right": False, "font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8}
_GPU_POWER = re.compile(r"gpu\d+_power_w")

ENERGY_METHOD_TEXT = {
    "nvml-counter": "measured: NVML GPU energy counter",
    "nvml-sampled": "GPU power sampled through NVML and integrated over time",
    "rapl": "measured: RAPL CPU package and DRAM counters",
    "cpu-time-estimate": "estimated from CPU time: process CPU time x {w:g} W per busy core "
                         "(assumed)",
    "none": "not measured",
}


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def _register_png_formatter() -> None:
    """Let IPython, and so myst-nb's ``glue``, render this module's Figures as PNG.

    The figures live outside pyplot (a notebook never shows one twice), so the inline backend
    may not have registered a formatter for them; this does, once, inside a kernel only.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "display_formatter"):
        shell.display_formatter.formatters["image/png"].for_type(Figure, _png)


_register_png_formatter()


# --------------------------------------------------------------------------------------------
# Loading and the tidy table


def load(results_dir: str | Path, *, models: Iterable[str] | None = None,
         lengths: Iterable[int] | None = None, datasets: Iterable[str] | None = None,
         ) -> tuple[list[RunRecord], pd.DataFrame]:
    """Read the run records of a folder and their tidy table, filtered to a selection.

    Args:
        results_dir: folder of run records (searched recursively); a missing folder gives none.
        models: keep only these models (None: all).
        lengths: keep only these input lengths (None: all).
        datasets: keep only these datasets (None: all).

    Returns:
        The kept records and :func:`tidy` of them; ``frame.attrs["results_dir"]`` names the folder.
    """
    path = Path(results_dir)
    records = load_records(path) if path.is_dir() else []
    records = select_records(records, models=models, lengths=lengths, datasets=datasets)
    frame = tidy(records)
    frame.attrs["results_dir"] = str(results_dir)
    return records, frame


def select_records(records: Sequence[RunRecord], *, models: Iterable[str] | None = None,
                   lengths: Iterable[int] | None = None, datasets: Iterable[str] | None = None,
                   ) -> list[RunRecord]:
    """The records whose model, length and dataset are in the given selections (None: any)."""
    keep = {"model": models, "length": lengths, "dataset": datasets}
    keep = {k: {int(x) if k == "length" else x for x in v} for k, v in keep.items()
            if v is not None}
    return [r for r in records if all(r.params.get(k) in v for k, v in keep.items())]


def tidy(records: Sequence[RunRecord]) -> pd.DataFrame:
    """:func:`tradeoff.records.to_frame` plus the provenance columns the banner reads.

    Args:
        records: run records.

    Returns:
        The tidy table with extra columns ``hardware`` (:func:`tradeoff.env.hardware_label` of
        the record's environment), ``on_gpu``, ``energy_reason``, ``stand_in``,
        ``data_description``, ``cpu_watts_per_core`` and ``record_profile``. Every column the
        figures read exists (NaN when nothing measured it), even for no records.
    """
    frame = to_frame(list(records))
    extra = {r.params_hash: {
        "hardware": hardware_label(r.env) if r.env else "unknown",
        "on_gpu": bool(r.env.get("gpu_count")),
        "energy_reason": r.energy_reason,
        "stand_in": bool(r.data.get("stand_in", r.params.get("source") == "aclsum")),
        "data_description": r.data.get("description", ""),
        "cpu_watts_per_core": r.params.get("cpu_watts_per_core", math.nan),
        "record_profile": r.profile,
    } for r in records}
    columns = ["hardware", "on_gpu", "energy_reason", "stand_in", "data_description",
               "cpu_watts_per_core", "record_profile"]
    for column in columns:
        frame[column] = [extra.get(h, {}).get(column) for h in frame.get("params_hash", [])]
    for column in ["task", "source", "init", "scale", "energy_method", "accuracy_metric"]:
        if column not in frame:
            frame[column] = pd.Series(dtype=object)
    for column in _NUMERIC:
        frame[column] = (pd.to_numeric(frame[column], errors="coerce") if column in frame
                         else pd.Series(np.nan, index=frame.index, dtype=float))
    return frame


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty or "status" not in frame:
        return frame.iloc[:0]
    return frame[frame["status"] == "ok"]


_main_grid = C._main_grid  # the same main-grid rule as the claims


def configurations(frame: pd.DataFrame, signal: str = "headline", *, dataset: str | None = None,
                   main_grid: bool = True) -> pd.DataFrame:
    """Finished runs averaged over seeds: one row per dataset x model x length x accumulation.

    Args:
        frame: the tidy table (:func:`tidy`).
        signal: accuracy signal; its raw value (not negated) goes into column ``value``.
        dataset: keep one dataset (None: all).
        main_grid: keep only each dataset's smallest accumulation (drop the batch-size study).

    Returns:
        Numeric columns averaged, plus ``value`` (the signal), ``value_sd`` and ``n_seeds``.
    """
    rows = _ok(frame)
    missing = {c: np.nan for c in _NUMERIC if c not in rows}
    if missing:  # a hand-made or all-failed table: absent measures are NaN, never an error
        rows = rows.assign(**missing)
    if "grad_accum" not in rows:
        rows = rows.assign(grad_accum=1)
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    if main_grid:
        rows = _main_grid(rows)
    rows = rows.assign(value=signal_values(rows, signal))
    columns = ["value", *_NUMERIC]
    if rows.empty:
        return pd.DataFrame(columns=_GRID_KEYS + columns + ["value_sd", "n_seeds"])
    grouped = rows.groupby(_GRID_KEYS, as_index=False)
    out = grouped[columns].mean()
    out["value_sd"] = grouped["value"].std()["value"].to_numpy()
    out["n_seeds"] = grouped.size()["size"].to_numpy()
    return out.sort_values(_GRID_KEYS, ignore_index=True)


def _models_in(configs: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(configs["model"])) if len(configs) else []
    return [m for m in MODELS if m in present] + sorted(m for m in present if m not in MODELS)


# --------------------------------------------------------------------------------------------
# Accuracy signal and provenance


def accuracy_signal(frame: pd.DataFrame) -> str:
    """The accuracy signal with meaning for these records.

    Random-init models trained for minutes decode nothing useful, so their ROUGE / F1 are
    noise; the teacher-forced validation loss still ranks them.

    Args:
        frame: the tidy table.

    Returns:
        ``"val_loss"`` when any finished run has random-init weights, else ``"headline"``.
    """
    rows = _ok(frame)
    if "init" in rows and (rows["init"] == "random").any():
        return "val_loss"
    return "headline"


def signal_label(signal: str, dataset: str | None = None) -> str:
    """Axis label of an accuracy signal, e.g. ``"validation loss (lower is better)"``."""
    if signal == "val_loss":
        return "validation loss (lower is better)"
    if signal != "headline":
        raise ValueError(f"unknown accuracy signal {signal!r}; use one of {list(C.ACCURACY_SIGNALS)}")
    if dataset == "qasper":
        return "token F1 (higher is better)"
    if dataset in C.SUMMARIZATION:
        return "ROUGE geometric mean (higher is better)"
    return "ROUGE geometric mean / token F1 (higher is better)"


def signal_values(frame: pd.DataFrame, signal: str) -> pd.Series:
    """The signal's raw value per row (the validation loss is *not* negated, unlike claims)."""
    column = C.ACCURACY_SIGNALS.get(signal)
    if column is None:
        raise ValueError(f"unknown accuracy signal {signal!r}; use one of {list(C.ACCURACY_SIGNALS)}")
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce")


def energy_method_text(method: str, watts_per_core: float = 10.0) -> str:
    """A record's ``energy_method`` in words (parts joined by "+" are explained one by one)."""
    parts = [ENERGY_METHOD_TEXT.get(p, p).format(w=watts_per_core) for p in method.split("+")]
    return "; ".join(parts)


def _estimated(rows: pd.DataFrame) -> bool:
    methods = set(rows.get("energy_method", pd.Series(dtype=object)).dropna())
    return any("cpu-time-estimate" in m for m in methods)


def _energy_note(rows: pd.DataFrame) -> str:
    """Suffix for energy / power axis labels when the energy was estimated, not measured."""
    methods = set(rows.get("energy_method", pd.Series(dtype=object)).dropna())
    if not methods:
        return ""
    if all(m == "cpu-time-estimate" for m in methods):
        return "\n(estimated from CPU time, not measured)"
    if _estimated(rows):
        return "\n(partly estimated from CPU time)"
    return ""


def _resolve_profile(profile: Profile | str | None) -> Profile | None:
    if profile is None or isinstance(profile, Profile):
        return profile
    try:
        return load_profile(profile)
    except ConfigError:
        return None


def _unique(rows: pd.DataFrame, column: str) -> list:
    if column not in rows:
        return []
    return list(dict.fromkeys(v for v in rows[column] if v is not None and v == v))


def banner(profile: Profile | str | None, frame: pd.DataFrame) -> Markdown:
    """The provenance banner every chapter opens with, as a MyST admonition.

    It says where the numbers come from, read from the records (falling back to the profile):
    profile, records, data source, weights, hardware, energy method and accuracy signal. Demo
    runs (stand-in data, random or mini weights, estimated energy, CPU) get a warning box, so a
    reader never mistakes a demo figure for the paper's. Give the notebook cell the metadata
    ``{"mystnb": {"markdown_format": "myst"}}`` so the book renders the admonition.

    Args:
        profile: the profile (or its name) whose records are shown.
        frame: the tidy table (:func:`tidy`).

    Returns:
        An ``IPython.display.Markdown``; its ``.data`` is the MyST text.
    """
    prof = _resolve_profile(profile)
    name = prof.name if prof else str(profile)
    rows = frame
    ok = _ok(rows)
    basis = ok if len(ok) else rows

    lines = []
    description = f" - {prof.description}" if prof and prof.description else ""
    lines.append(f"**Profile:** `{name}`{description}")
    n = len(rows)
    where = rows.attrs.get("results_dir")
    where = f" in `{where}`" if where else ""
    if n == 0:
        lines.append(f"**Records:** none found{where}; the figures below are empty. Run the "
                     f"grid first (`tradeoff grid --profile {name}`).")
    else:
        statuses = rows["status"].value_counts()
        counts = ", ".join(f"{statuses[s]} {s}" for s in ("ok", "oom", "failed") if s in statuses)
        lines.append(f"**Records:** {n} runs{where} ({counts})")
        others = [p for p in _unique(rows, "record_profile") if p != name]
        if others:
            lines.append(f"**Note:** some records were written by profile(s) "
                         f"{', '.join(f'`{p}`' for p in others)}, not `{name}`.")

    sources = _unique(basis, "source") or ([prof.source] if prof else [])
    data = []
    for source in sources:
        if source == "aclsum":
            data.append("ACLSum stand-ins built from 250 ACL papers - **not the SCROLLS data**")
        elif source == "scrolls":
            data.append("SCROLLS (official train and validation splits)")
        else:
            data.append(str(source))
    lines.append(f"**Data:** {'; '.join(data) or 'unknown'}")

    inits = _unique(basis, "init") or ([prof.init] if prof else [])
    scales = _unique(basis, "scale") or ([prof.scale] if prof else [])
    weights = []
    for init in inits:
        weights.append("pretrained checkpoints" if init == "pretrained" else
                       "**random initialization** (not the paper's pretrained checkpoints)")
    for scale in scales:
        weights.append("paper architectures (full size)" if scale == "full" else
                       "**mini architectures** sized for a CPU (not the paper's models)")
    lines.append(f"**Weights:** {'; '.join(weights) or 'unknown'}")

    hardware = _unique(basis, "hardware")
    lines.append(f"**Hardware:** {'; '.join(hardware) or 'unknown'} (the paper: NVIDIA RTX A6000 "
                 f"48 GB; 1 GPU for summarization, 8 for Qasper)")

    watts = _unique(basis, "cpu_watts_per_core")
    watts_per_core = float(watts[0]) if watts else (prof.cpu_watts_per_core if prof else 10.0)
    methods = _unique(basis, "energy_method")
    energy = "; ".join(energy_method_text(m, watts_per_core) for m in methods) or "unknown"
    lines.append(f"**Energy:** {energy}")
    if any(m in ("none",) for m in methods):
        lines.append("**Note:** runs whose energy was not measured show no energy or power "
                     "efficiency (NaN, never 0).")

    signal = accuracy_signal(frame)
    if signal == "val_loss":
        lines.append("**Accuracy signal:** teacher-forced validation loss (lower is better): "
                     "random-init models decode nothing meaningful, so ROUGE / F1 are not shown")
    else:
        lines.append("**Accuracy signal:** the SCROLLS headline metric: ROUGE geometric mean "
                     "(summarization) and token F1 (Qasper)")

    demo = (any(s != "scrolls" for s in sources) or any(i != "pretrained" for i in inits)
            or any(s != "full" for s in scales) or _estimated(basis) or n == 0)
    if demo:
        title = "Demo run: these are not the paper's numbers"
        klass = "warning"
    else:
        title = "Where these numbers come from"
        klass = "note"
    body = "\n".join(f"- {line}" for line in lines)
    return Markdown(f"```{{admonition}} {title}\n:class: {klass}\n\n{body}\n```\n")


# --------------------------------------------------------------------------------------------
# Tables


def failed_runs_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Runs that did not finish (``oom`` or ``failed``) and why: shown, never dropped.

    Args:
        frame: the tidy table.

    Returns:
        Columns dataset, model, length, seed, grad_accum, status, reason; empty when all finished.
    """
    columns = ["dataset", "model", "length", "seed", "grad_accum", "status", "reason"]
    if frame.empty or "status" not in frame:
        return pd.DataFrame(columns=columns)
    rows = frame[frame["status"].isin(["oom", "failed"])]
    out = rows.reindex(columns=columns).reset_index(drop=True)
    out["reason"] = out["reason"].fillna("").astype(str).str.strip().str.slice(0, 300)
    return out


def table_or_note(table: pd.DataFrame, note: str):
    """The table (:func:`styled`) when it has rows, else the note as Markdown."""
    return styled(table) if len(table) else Markdown(note)


def styled(table: pd.DataFrame, digits: int = 4) -> Styler:
    """A table for the book: no index, numbers to significant digits, long text wrapped.

    Args:
        table: the table.
        digits: significant digits of floats (a general format, so micro-kWh stay readable).

    Returns:
        A pandas Styler (rendered as HTML by the book).
    """
    floats = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
    # Escaped: evidence text holds "<" and ">=" that HTML would otherwise swallow as tags.
    style = table.style.hide(axis="index").format(na_rep="n/a", escape="html")
    style = style.format(f"{{:.{digits}g}}", subset=floats, na_rep="n/a")
    return style.set_properties(**{"text-align": "left", "white-space": "normal"})


def protocol_table(profile: Profile | str, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's protocol next to this run's, row by row.

    Args:
        profile: the profile (or its name) of this run.
        frame: the tidy table, for what the records say (hardware, energy method); optional.

    Returns:
        Columns ``aspect``, ``paper``, ``this run``.

    Raises:
        ConfigError: a profile name that cannot be loaded.
    """
    p = profile if isinstance(profile, Profile) else load_profile(profile)
    rows = _ok(frame) if frame is not None else pd.DataFrame()
    rows = rows if len(rows) else (frame if frame is not None else pd.DataFrame())

    caps = []
    if p.max_train_samples is not None:
        caps.append(f"at most {p.max_train_samples} training ids")
    if p.max_eval_samples is not None:
        caps.append(f"at most {p.max_eval_samples} validation ids")
    data = ("SCROLLS official data" if p.source == "scrolls"
            else "ACLSum stand-ins (250 ACL papers shaped like each dataset; not SCROLLS)")
    if caps:
        data += " - " + ", ".join(caps)

    if p.batch_size == "auto":
        memory = f"{p.gpu_memory_gb:g} GB" if p.gpu_memory_gb else "the device's memory"
        batch = f"largest per-device batch that fits {memory} (up to {p.max_auto_batch_size})"
    else:
        batch = f"fixed per-device batch of {p.batch_size}"

    accum = f"{p.gradient_accumulation_steps}"
    if p.qasper_grad_accum_study:
        accum += (f"; Qasper batch-size study with {p.batch_study_model} at accumulation "
                  f"{', '.join(map(str, p.qasper_grad_accum_study))}")

    if p.patience is None:
        steps = f"{p.max_steps} optimizer steps" if p.max_steps else "the epoch budget"
        convergence = f"no convergence rule: fixed training of {steps}"
    else:
        every = f"every {p.eval_steps} steps" if p.eval_steps else "every 500 (summ.) / 10 (QA) steps"
        convergence = (f"validate {every}; stop after {p.patience} validations without "
                       f"improvement of the {'task metric' if p.convergence_metric == 'task' else 'validation loss'}")
        if p.max_steps:
            convergence += f"; capped at {p.max_steps} steps"
    if p.measure_after_steps:
        convergence += f" (speed measured after {p.measure_after_steps} warm-up steps)"
    epochs = (f"{p.num_train_epochs:g}" if p.num_train_epochs is not None
              else "10 (summarization) / 20 (Qasper), SCROLLS' values")

    decoding = ("greedy" if p.num_beams == 1 else f"beam search, {p.num_beams} beams")
    budget = ", ".join(f"{k} {v}" for k, v in p.max_new_tokens.items())
    decoding += f"; at most {budget} new tokens"
    if p.fixed_generation_length:
        decoding += " (always generated in full, so costs compare)"

    methods = _unique(rows, "energy_method") if len(rows) else []
    energy = ("; ".join(energy_method_text(m, p.cpu_watts_per_core) for m in methods) if methods
              else f"NVML energy counter if available, else RAPL, else CPU time x "
                   f"{p.cpu_watts_per_core:g} W per busy core (an estimate)")
    if p.idle_baseline_s:
        energy += f"; idle power measured for {p.idle_baseline_s:g} s per run (not subtracted)"
    hardware = "; ".join(_unique(rows, "hardware")) or "not recorded yet (no runs)"

    table = [
        ("data", "SCROLLS GovReport, SummScreenFD, QMSum, Qasper (train / validation)", data),
        ("weights", "pretrained checkpoints (allenai/led-*-16384, google/bigbird-pegasus-large-pubmed)",
         "pretrained checkpoints" if p.init == "pretrained" else "random initialization"),
        ("model scale", "LED-base, LED-large, BigBird-Pegasus-large",
         "paper architectures" if p.scale == "full" else "mini architectures (CPU-sized)"),
        ("models", "led-base, led-large, bigbird-large", ", ".join(p.models)),
        ("datasets", "govreport, summscreenfd, qmsum, qasper", ", ".join(p.datasets)),
        ("input lengths", "1024, 2048, 3072, 4096", ", ".join(map(str, p.lengths))),
        ("seeds", "1 (not stated)", ", ".join(map(str, p.seeds))),
        ("batch size rule", "largest batch that fits a 48 GB A6000", batch),
        ("gradient accumulation", "1 (summarization); 4 x 8 GPUs (Qasper)", accum),
        ("convergence", "validate every 500 (summ.) / 10 (QA) steps; stop after 3 validations "
                        "without improvement", convergence),
        ("epochs", "until convergence (SCROLLS: 10 summ. / 20 Qasper)", epochs),
        ("learning rate", "SCROLLS' LED-base rate per dataset and length",
         f"{p.learning_rate:g}" if p.learning_rate is not None
         else "SCROLLS' LED-base rate per dataset and length"),
        ("mixed precision", "no", p.mixed_precision),
        ("gradient checkpointing", "no", "yes" if p.gradient_checkpointing else "no"),
        ("inference", "validation set, batch 16", f"validation set, batch {p.infer_batch_size}"),
        ("decoding", "greedy (SCROLLS), up to 1024 target tokens", decoding),
        ("energy measurement", "Weights & Biases system metrics (NVML power, ~2 s polls)", energy),
        ("hardware", "NVIDIA RTX A6000 48 GB: 1 (summarization), 8 (Qasper)", hardware),
    ]
    return pd.DataFrame(table, columns=["aspect", "paper", "this run"])


def length_effect(frame: pd.DataFrame, dataset: str, column: str,
                  signal: str = "headline") -> pd.DataFrame:
    """Per model, a measure at its shortest and longest finished length, and their ratio.

    Args:
        frame: the tidy table.
        dataset: the dataset.
        column: a numeric column (e.g. :data:`POWER_EFFICIENCY`), or ``"value"`` for the signal.
        signal: accuracy signal used when ``column`` is ``"value"``.

    Returns:
        Indexed by model: ``short``, ``long`` (lengths), ``at_short``, ``at_long``, ``ratio``
        (long over short; NaN with fewer than two lengths).
    """
    configs = configurations(frame, signal, dataset=dataset)
    out = []
    for model in _models_in(configs):
        series = configs[configs["model"] == model].dropna(subset=[column]).sort_values("length")
        if series.empty:
            continue
        s, e = series.iloc[0], series.iloc[-1]
        ratio = e[column] / s[column] if len(series) >= 2 and s[column] else math.nan
        out.append({"model": model, "short": int(s["length"]), "long": int(e["length"]),
                    "at_short": s[column], "at_long": e[column], "ratio": ratio})
    return pd.DataFrame(out, columns=["model", "short", "long", "at_short", "at_long", "ratio"]
                        ).set_index("model")


def effect_text(table: pd.DataFrame, model: str) -> str:
    """One model's :func:`length_effect` ratio in words, e.g. ``"x0.31 (4096 vs 1024)"``."""
    if model not in table.index or not np.isfinite(table.loc[model, "ratio"]):
        return "n/a (fewer than two finished lengths)"
    row = table.loc[model]
    return f"x{row['ratio']:.2f} ({int(row['long'])} vs {int(row['short'])} tokens)"


def claims_table(frame: pd.DataFrame, signal: str = "headline",
                 claims: Iterable[int] | None = None) -> pd.DataFrame:
    """:func:`tradeoff.claims.evaluate_claims`, optionally only some findings (by number)."""
    table = C.evaluate_claims(frame, signal)
    if claims is not None:
        table = table[table["claim"].isin(list(claims))].reset_index(drop=True)
    return table


def best_text(frame: pd.DataFrame, dataset: str, signal: str = "headline") -> str:
    """The best-scoring configuration of a dataset in words, with its training energy."""
    configs = configurations(frame, signal, dataset=dataset).dropna(subset=["value"])
    if configs.empty:
        return "n/a (no finished runs)"
    best = configs.loc[configs["value"].idxmin() if signal == "val_loss"
                       else configs["value"].idxmax()]
    factor, unit = _energy_scale([best[ENERGY_KWH]])
    energy = (f", {best[ENERGY_KWH] * factor:.3g} {unit} of training energy"
              if np.isfinite(best[ENERGY_KWH]) else "")
    name = "validation loss" if signal == "val_loss" else "score"
    return (f"{MODEL_LABELS.get(best['model'], best['model'])} at {int(best['length'])} tokens "
            f"({name} {best['value']:.4g}{energy})")


def batch_gain(frame: pd.DataFrame, signal: str = "headline", dataset: str = "qasper",
               model: str | None = None) -> pd.DataFrame:
    """The batch-size study per length: the signal at the smallest and largest accumulation.

    Args:
        frame: the tidy table.
        signal: accuracy signal (raw values: a lower validation loss is better).
        dataset: the study's dataset.
        model: the study's model (None: the one with several accumulation values).

    Returns:
        Columns model, length, small / large accumulation, their values and ``change``
        (large minus small); empty without a study.
    """
    columns = ["model", "length", "accum_small", "accum_large", "value_small", "value_large",
               "change"]
    configs = configurations(frame, signal, dataset=dataset, main_grid=False)
    rows = []
    for (who, length), group in configs.groupby(["model", "length"]):
        group = group.dropna(subset=["value"]).sort_values("grad_accum")
        if (model is not None and who != model) or group["grad_accum"].nunique() < 2:
            continue
        s, e = group.iloc[0], group.iloc[-1]
        rows.append([who, int(length), int(s["grad_accum"]), int(e["grad_accum"]), s["value"],
                     e["value"], e["value"] - s["value"]])
    return pd.DataFrame(rows, columns=columns)


def caveat(frame: pd.DataFrame) -> str:
    """One sentence on what the verdicts of these runs can and cannot say."""
    rows = _ok(frame)
    if rows.empty:
        return "There are no finished runs, so every verdict is inconclusive."
    demo = []
    if (rows["source"] != "scrolls").any():
        demo.append("stand-in data instead of SCROLLS")
    if (rows["init"] != "pretrained").any():
        demo.append("randomly initialized weights")
    if (rows["scale"] != "full").any():
        demo.append("mini architectures")
    if _estimated(rows):
        demo.append("energy estimated from CPU time")
    if not demo:
        return ("These runs follow the paper's protocol as configured in the profile, so the "
                "verdicts bear on the paper's findings (within the differences of the protocol "
                "table).")
    return (f"These runs use {', '.join(demo)}: the verdicts exercise the analysis end to end; "
            f"they neither confirm nor refute the paper.")


def energy_methods_table(frame: pd.DataFrame) -> pd.DataFrame:
    """How each run's energy was obtained: method, the meter's reason, and how many runs."""
    columns = ["energy_method", "in words", "reason", "runs"]
    if frame.empty or "energy_method" not in frame:
        return pd.DataFrame(columns=columns)
    rows = frame.assign(energy_reason=frame.get("energy_reason", "").fillna(""))
    out = rows.groupby(["energy_method", "energy_reason"], as_index=False).size()
    watts = _unique(rows, "cpu_watts_per_core")
    out["in words"] = [energy_method_text(m, float(watts[0]) if watts else 10.0)
                       for m in out["energy_method"]]
    out = out.rename(columns={"energy_reason": "reason", "size": "runs"})
    return out[columns]


def recommendations(frame: pd.DataFrame, signal: str = "headline",
                    datasets: Iterable[str] | None = None, max_energy_kwh: float | None = None,
                    min_infer_samples_per_s: float | None = None) -> pd.DataFrame:
    """:func:`tradeoff.claims.recommend` for each dataset, one row each, with its reason.

    Args:
        frame: the tidy table.
        signal: accuracy signal.
        datasets: datasets (None: those with runs, in the paper's order).
        max_energy_kwh: training-energy budget (None or 0: no limit).
        min_infer_samples_per_s: slowest acceptable inference (None or 0: no limit).

    Returns:
        Columns dataset, model, length, grad_accum, score, training energy, inference speed
        and ``reason``; a dataset where nothing fits has only its reason.
    """
    present = set(frame["dataset"]) if len(frame) and "dataset" in frame else set()
    chosen = list(datasets) if datasets is not None else [d for d in DATASETS if d in present]
    rows = []
    for dataset in chosen:
        best = C.recommend(frame, dataset=dataset, signal=signal,
                           max_energy_kwh=max_energy_kwh or None,
                           min_infer_samples_per_s=min_infer_samples_per_s or None)
        row = best.iloc[0].to_dict() if len(best) else {"dataset": dataset}
        row["reason"] = best.attrs.get("reason", "")
        rows.append(row)
    columns = _GRID_KEYS + ["score", ENERGY_KWH, INFER_SPEED, "reason"]
    out = pd.DataFrame(rows, columns=columns)
    if signal == "val_loss":  # recommend's score is the negated loss: show the loss itself
        out["score"] = -pd.to_numeric(out["score"])
        out = out.rename(columns={"score": "validation loss"})
    return out


def profile_table(profile: Profile) -> pd.DataFrame:
    """Every setting of a profile with its value and its help text."""
    rows = [(name, repr(getattr(profile, name)), field.description or "")
            for name, field in type(profile).model_fields.items()]
    return pd.DataFrame(rows, columns=["setting", "value", "meaning"])


# --------------------------------------------------------------------------------------------
# Figure scaffolding


def _figure(ncols: int = 1, nrows: int = 1, width: float = 5.2, height: float = 3.8):
    """A Figure outside pyplot (so notebooks never show it twice) and its axes array."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_axisbelow(True)
        ax.grid(True, alpha=0.3)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig, axes


def _no_data(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=9,
            color="0.4", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _label(dataset: str | None) -> str:
    return DATASET_LABELS.get(dataset, str(dataset)) if dataset else "all datasets"


def _energy_scale(kwh: Iterable[float]) -> tuple[float, str]:
    """Factor and unit that keep energies readable: kWh, Wh or J (paper: kWh)."""
    values = [abs(v) for v in kwh if v is not None and np.isfinite(v)]
    top = max(values) if values else 1.0
    if top >= 0.1:
        return 1.0, "kWh"
    if top >= 1e-4:
        return 1e3, "Wh"
    return 3.6e6, "J"


def _plot_models(ax, configs: pd.DataFrame, x: str, y: str, *, annotate: bool = True,
                 x_factor: float = 1.0, y_factor: float = 1.0) -> int:
    """One line per model through its lengths; returns the number of lines drawn."""
    drawn = 0
    for model in _models_in(configs):
        series = configs[configs["model"] == model].dropna(subset=[x, y]).sort_values("length")
        if series.empty:
            continue
        xs, ys = series[x].to_numpy(float) * x_factor, series[y].to_numpy(float) * y_factor
        ax.plot(xs, ys, marker=MODEL_MARKERS.get(model, "o"), color=MODEL_COLORS.get(model),
                label=MODEL_LABELS.get(model, model), linewidth=1.5, markersize=6)
        if y == "value" and (series["n_seeds"] > 1).any():
            sd = series["value_sd"].to_numpy(float) * y_factor
            ax.vlines(xs, ys - sd, ys + sd, color=MODEL_COLORS.get(model), alpha=0.5)
        ax.margins(x=0.08, y=0.1)
        if annotate:
            for xv, yv, length in zip(xs, ys, series["length"]):
                ax.annotate(f"{int(length)}", (xv, yv), textcoords="offset points",
                            xytext=(4, 4), fontsize=7, color="0.25")
        drawn += 1
    if drawn:
        ax.legend(frameon=False)
    return drawn


def _length_axis(ax, configs: pd.DataFrame) -> None:
    lengths = sorted({int(v) for v in configs["length"].dropna()}) if len(configs) else []
    if lengths:
        ax.set_xticks(lengths)
    ax.set_xlabel("input length (tokens)")


# --------------------------------------------------------------------------------------------
# The paper's figures


def accuracy_vs_power_efficiency(frame: pd.DataFrame, dataset: str,
                                 signal: str = "headline") -> Figure:
    """Figure 1: accuracy against power efficiency, one line per model through its lengths.

    Args:
        frame: the tidy table.
        dataset: the dataset to draw.
        signal: accuracy signal (:func:`accuracy_signal`).

    Returns:
        A Figure; points are annotated with their input length.
    """
    configs = configurations(frame, signal, dataset=dataset)
    fig, axes = _figure()
    ax = axes[0, 0]
    ax.set_title(f"{_label(dataset)}: accuracy vs power efficiency")
    if not _plot_models(ax, configs, POWER_EFFICIENCY, "value"):
        _no_data(ax, f"no finished runs with power efficiency and {signal} on {_label(dataset)}")
        return fig
    rows = _ok(frame)
    ax.set_xlabel("power efficiency (samples / s / W)" + _energy_note(rows[rows["dataset"] == dataset]))
    ax.set_ylabel(signal_label(signal, dataset))
    return fig


def energy_vs_accuracy(frame: pd.DataFrame, dataset: str, signal: str = "headline") -> Figure:
    """Figure 2: total training energy against accuracy, one line per model through its lengths.

    Args:
        frame: the tidy table.
        dataset: the dataset to draw.
        signal: accuracy signal.

    Returns:
        A Figure; energy in kWh as the paper, or Wh / J when the runs are small.
    """
    configs = configurations(frame, signal, dataset=dataset)
    factor, unit = _energy_scale(configs[ENERGY_KWH] if len(configs) else [])
    fig, axes = _figure()
    ax = axes[0, 0]
    ax.set_title(f"{_label(dataset)}: training energy vs accuracy")
    if not _plot_models(ax, configs, ENERGY_KWH, "value", x_factor=factor):
        _no_data(ax, f"no finished runs with training energy and {signal} on {_label(dataset)}")
        return fig
    rows = _ok(frame)
    ax.set_xlabel(f"total training energy ({unit})" + _energy_note(rows[rows["dataset"] == dataset]))
    ax.set_ylabel(signal_label(signal, dataset))
    return fig


def speed_vs_length(frame: pd.DataFrame, dataset: str, which: str = "train") -> Figure:
    """Figures 3 and 4: training or inference speed (samples/s) against input length.

    Args:
        frame: the tidy table.
        dataset: the dataset to draw.
        which: ``"train"`` (Figure 3) or ``"infer"`` (Figure 4).

    Returns:
        A Figure with one line per model.

    Raises:
        ValueError: ``which`` is neither "train" nor "infer".
    """
    if which not in ("train", "infer"):
        raise ValueError(f"which must be 'train' or 'infer', got {which!r}")
    column = TRAIN_SPEED if which == "train" else INFER_SPEED
    phase = "training" if which == "train" else "inference"
    configs = configurations(frame, dataset=dataset)
    fig, axes = _figure()
    ax = axes[0, 0]
    ax.set_title(f"{_label(dataset)}: {phase} speed vs input length")
    if not _plot_models(ax, configs, "length", column, annotate=False):
        _no_data(ax, f"no finished runs with {phase} speed on {_label(dataset)}")
        return fig
    _length_axis(ax, configs)
    ax.set_ylabel(f"{phase} speed (samples / s)")
    return fig


def qasper_efficiency(frame: pd.DataFrame, dataset: str = "qasper") -> Figure:
    """Figure 5: Qasper's four efficiency measures against input length, per model.

    Power efficiency, total training energy, training speed and inference speed, one panel each.

    Args:
        frame: the tidy table.
        dataset: the dataset (the paper's Figure 5 is Qasper).

    Returns:
        A 2 x 2 Figure.
    """
    configs = configurations(frame, dataset=dataset)
    factor, unit = _energy_scale(configs[ENERGY_KWH] if len(configs) else [])
    rows = _ok(frame)
    note = _energy_note(rows[rows["dataset"] == dataset])
    panels = [(POWER_EFFICIENCY, "power efficiency (samples / s / W)" + note, 1.0),
              (ENERGY_KWH, f"total training energy ({unit})" + note, factor),
              (TRAIN_SPEED, "training speed (samples / s)", 1.0),
              (INFER_SPEED, "inference speed (samples / s)", 1.0)]
    fig, axes = _figure(ncols=2, nrows=2, width=4.6, height=3.3)
    fig.suptitle(f"{_label(dataset)}: efficiency vs input length")
    for ax, (column, label, scale) in zip(axes.flat, panels):
        if not _plot_models(ax, configs, "length", column, annotate=False, y_factor=scale):
            _no_data(ax, f"no finished runs with {label.splitlines()[0]}")
            continue
        _length_axis(ax, configs)
        ax.set_ylabel(label)
    return fig


def batch_size_effect(frame: pd.DataFrame, signal: str = "headline", model: str | None = None,
                      dataset: str = "qasper") -> Figure:
    """The paper's preliminary study: a bigger batch (gradient accumulation) on Qasper.

    Left: accuracy against input length, one line per accumulation value; right: training
    energy, to show what the bigger batch costs.

    Args:
        frame: the tidy table.
        signal: accuracy signal.
        model: the study's model; None picks the model with several accumulation values on
            the dataset (else LED-base, the paper's).
        dataset: the dataset of the study.

    Returns:
        A Figure with two panels.
    """
    configs = configurations(frame, signal, dataset=dataset, main_grid=False)
    if model is None:
        counts = configs.groupby("model")["grad_accum"].nunique() if len(configs) else pd.Series()
        studied = [m for m in _models_in(configs) if counts.get(m, 0) > 1]
        model = studied[0] if studied else "led-base"
    configs = configs[configs["model"] == model]
    factor, unit = _energy_scale(configs[ENERGY_KWH] if len(configs) else [])
    fig, axes = _figure(ncols=2, width=4.6, height=3.5)
    fig.suptitle(f"{_label(dataset)}, {MODEL_LABELS.get(model, model)}: effect of a bigger batch "
                 f"(gradient accumulation)")
    accums = sorted(configs["grad_accum"].dropna().unique()) if len(configs) else []
    styles = ["-", "--", ":", "-."]
    rows = _ok(frame)
    for ax, (column, label, scale) in zip(
            axes.flat, [("value", signal_label(signal, dataset), 1.0),
                        (ENERGY_KWH, f"total training energy ({unit})"
                         + _energy_note(rows[rows["dataset"] == dataset]), factor)]):
        drawn = 0
        for i, accum in enumerate(accums):
            series = configs[configs["grad_accum"] == accum].dropna(subset=[column])
            series = series.sort_values("length")
            if series.empty:
                continue
            batch = series["effective_batch_size"].dropna()
            batch_text = f", effective batch {batch.iloc[0]:g}" if len(batch) else ""
            ax.plot(series["length"], series[column].to_numpy(float) * scale,
                    linestyle=styles[i % len(styles)], marker=MODEL_MARKERS.get(model, "o"),
                    color=MODEL_COLORS.get(model), alpha=1.0 - 0.25 * min(i, 2),
                    label=f"accumulation {int(accum)}{batch_text}")
            drawn += 1
        if not drawn:
            _no_data(ax, f"no finished runs of {model} on {_label(dataset)}")
            continue
        if len(accums) < 2:
            ax.text(0.02, 0.02, "only one accumulation value: no batch-size study in these runs",
                    transform=ax.transAxes, fontsize=7, color="0.4")
        _length_axis(ax, configs)
        ax.set_ylabel(label)
        ax.legend(frameon=False)
    return fig


def deep_dive(frame: pd.DataFrame, dataset: str = "govreport") -> Figure:
    """Figure 6: mean utilization, mean memory and training time per model and length.

    On GPU records: mean GPU utilization (%) and mean GPU memory (MiB). On CPU records (no GPU
    measured) the CPU equivalents: mean process CPU utilization (% of one core) and mean
    resident memory (MiB), labelled as such.

    Args:
        frame: the tidy table.
        dataset: the dataset (the paper's deep-dive is GovReport).

    Returns:
        A Figure with three panels of grouped bars (x: length, one bar per model).
    """
    configs = configurations(frame, dataset=dataset)
    on_gpu = len(configs) and configs["train_gpu_util_mean_pct"].notna().any()
    if on_gpu:
        panels = [("train_gpu_util_mean_pct", "mean GPU utilization (%)"),
                  ("train_gpu_mem_mean_mib", "mean GPU memory (MiB)"),
                  (TRAIN_TIME, "training time (s)")]
        title = f"{_label(dataset)}: GPU utilization, memory and training time"
    else:
        panels = [("train_cpu_util_mean_pct", "mean CPU utilization (% of one core)\n"
                                              "CPU equivalent of GPU utilization"),
                  ("train_rss_mean_mib", "mean resident memory (MiB)\nCPU equivalent of GPU memory"),
                  (TRAIN_TIME, "training time (s)")]
        title = (f"{_label(dataset)}: CPU utilization, memory and training time "
                 f"(CPU run: no GPU measured)")
    fig, axes = _figure(ncols=3, width=3.8, height=3.4)
    fig.suptitle(title)
    models = _models_in(configs)
    lengths = sorted({int(v) for v in configs["length"]}) if len(configs) else []
    width = 0.8 / max(len(models), 1)
    for ax, (column, label) in zip(axes.flat, panels):
        drawn = 0
        for i, model in enumerate(models):
            series = configs[configs["model"] == model].set_index("length")[column].dropna()
            if series.empty:
                continue
            xs = [lengths.index(int(length)) + (i - (len(models) - 1) / 2) * width
                  for length in series.index]
            ax.bar(xs, series.to_numpy(float), width=width, color=MODEL_COLORS.get(model),
                   label=MODEL_LABELS.get(model, model))
            drawn += 1
        if not drawn:
            _no_data(ax, f"not measured: {label.splitlines()[0]}")
            continue
        ax.set_xticks(range(len(lengths)), [str(n) for n in lengths])
        ax.set_xlabel("input length (tokens)")
        ax.set_ylabel(label)
        ax.grid(False, axis="x")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, frameon=False, loc="outside lower center", ncols=len(handles))
    return fig


def time_vs_energy(frame: pd.DataFrame, dataset: str = "govreport") -> Figure:
    """Training time against total training energy, one point per run (finding 7).

    Args:
        frame: the tidy table.
        dataset: the dataset.

    Returns:
        A Figure with one line per model through its lengths (seeds averaged).
    """
    configs = configurations(frame, dataset=dataset)
    factor, unit = _energy_scale(configs[ENERGY_KWH] if len(configs) else [])
    fig, axes = _figure()
    ax = axes[0, 0]
    ax.set_title(f"{_label(dataset)}: training time vs training energy")
    if not _plot_models(ax, configs, TRAIN_TIME, ENERGY_KWH, y_factor=factor):
        _no_data(ax, f"no finished runs with training time and energy on {_label(dataset)}")
        return fig
    rows = _ok(frame)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(f"total training energy ({unit})" + _energy_note(rows[rows["dataset"] == dataset]))
    return fig


def _trace_power(rows: pd.DataFrame) -> pd.Series | None:
    columns = [c for c in rows.columns if _GPU_POWER.fullmatch(c)]
    if not columns or rows[columns].isna().all().all():
        return None
    return rows[columns].sum(axis=1, min_count=1)


def power_traces(records: Sequence[RunRecord], dataset: str, *,
                 models: Iterable[str] | None = None, lengths: Iterable[int] | None = None,
                 phase: str = "train", max_runs: int = 6) -> Figure:
    """Power (GPU) or CPU-utilization (CPU run) traces of a few runs over time.

    By default, per model, the shortest and the longest finished length of the main grid.
    On a GPU run the y-axis is the GPU power summed over devices (W); on a CPU run, where no
    power was measured, it is the process CPU utilization (% of one core) with a secondary
    axis giving the power the CPU-time estimate implies.

    Args:
        records: run records.
        dataset: the dataset.
        models: models to draw (None: all).
        lengths: lengths to draw (None: shortest and longest per model).
        phase: ``"train"`` or ``"inference"``.
        max_runs: at most this many runs.

    Returns:
        A Figure with one line per run drawn.
    """
    runs = [r for r in records if r.status == "ok" and r.params.get("dataset") == dataset
            and r.traces.get(phase)]
    if runs:
        least = min(r.params.get("gradient_accumulation_steps", 1) for r in runs)
        runs = [r for r in runs if r.params.get("gradient_accumulation_steps", 1) == least]
    if models is not None:
        runs = [r for r in runs if r.params["model"] in set(models)]
    chosen: list[RunRecord] = []
    by_model: dict[str, list[RunRecord]] = {}
    for r in sorted(runs, key=lambda r: (r.params["length"], r.params.get("seed", 0))):
        by_model.setdefault(r.params["model"], []).append(r)
    for model in [m for m in MODELS if m in by_model] + sorted(set(by_model) - set(MODELS)):
        mine = by_model[model]
        if lengths is not None:
            wanted = {int(n) for n in lengths}
            picks = [r for r in mine if r.params["length"] in wanted]
        else:
            picks = [mine[0]] + ([mine[-1]] if mine[-1].params["length"] != mine[0].params["length"]
                                 else [])
        seen = set()
        for r in picks:  # one seed per (model, length)
            if r.params["length"] not in seen:
                seen.add(r.params["length"])
                chosen.append(r)
    chosen = chosen[:max_runs]

    frames = [(r, pd.DataFrame(r.traces[phase])) for r in chosen]
    on_gpu = any(_trace_power(df) is not None for _, df in frames)
    phase_text = "training" if phase == "train" else phase
    fig, axes = _figure(width=7.0, height=3.8)
    ax = axes[0, 0]
    if on_gpu:
        ax.set_title(f"{_label(dataset)}: GPU power during {phase_text}")
        ax.set_ylabel("GPU power, all devices (W)")
    else:
        ax.set_title(f"{_label(dataset)}: CPU utilization during {phase_text}\n"
                     f"(CPU equivalent: no GPU power measured)")
        ax.set_ylabel("process CPU utilization (% of one core)")
    if not frames:
        _no_data(ax, f"no finished runs with {phase} traces on {_label(dataset)}")
        return fig
    lengths_drawn = sorted({r.params["length"] for r in chosen})
    styles = {n: s for n, s in zip(lengths_drawn, ["--", "-", ":", "-."][:len(lengths_drawn)]
                                   if len(lengths_drawn) > 1 else ["-"])}
    watts = None
    for r, df in frames:
        y = _trace_power(df) if on_gpu else df.get("cpu_util_pct")
        if y is None or "t_s" not in df or y.isna().all():
            continue
        model, length = r.params["model"], r.params["length"]
        ax.plot(df["t_s"], y, color=MODEL_COLORS.get(model), linestyle=styles[length],
                linewidth=1.2, label=f"{MODEL_LABELS.get(model, model)}, {length}")
        watts = r.params.get("cpu_watts_per_core", watts)
    ax.set_xlabel(f"time since the start of {phase_text} (s)")
    ax.legend(frameon=False, fontsize=7, ncols=2)
    if not on_gpu and watts:
        ax.secondary_yaxis("right", functions=(lambda u, w=watts: u / 100 * w,
                                               lambda p, w=watts: p * 100 / w)
                           ).set_ylabel(f"implied estimated power (W)\n{watts:g} W per busy "
                                        f"core, assumed", fontsize=8)
    return fig


def pareto_frontiers(frame: pd.DataFrame, signal: str = "headline", cost: str = ENERGY_KWH,
                     datasets: Iterable[str] | None = None) -> Figure:
    """Every configuration's cost against its accuracy, with the Pareto frontier per dataset.

    Args:
        frame: the tidy table.
        signal: accuracy signal.
        cost: the efficiency column to trade (default total training energy); columns with
            ``_per_s`` are benefits (faster is better), as in :func:`tradeoff.claims.pareto_frontier`.
        datasets: datasets to draw (None: those with runs, in the paper's order).

    Returns:
        A Figure with one panel per dataset: all configurations as dots in model colors, the
        frontier as a black line with its points labelled by length (and accumulation).
    """
    configs = configurations(frame, signal, main_grid=False)
    if cost not in configs:
        configs[cost] = np.nan
    present = set(configs["dataset"]) if len(configs) else set()
    chosen = list(datasets) if datasets is not None else [d for d in DATASETS if d in present]
    chosen = chosen or ["(none)"]
    frontier = C.pareto_frontier(frame, cost, signal) if len(configs) else pd.DataFrame(
        columns=_GRID_KEYS + [cost, "score"])
    is_energy = cost == ENERGY_KWH
    factor, unit = _energy_scale(configs[cost]) if is_energy else (1.0, "")
    label = f"total training energy ({unit})" if is_energy else cost
    ncols = min(len(chosen), 2)
    nrows = math.ceil(len(chosen) / ncols)
    fig, axes = _figure(ncols=ncols, nrows=nrows, width=4.8, height=3.5)
    fig.suptitle(f"Pareto frontier: {label.split(' (')[0]} vs accuracy")
    for ax in list(axes.flat)[len(chosen):]:
        ax.set_visible(False)
    rows = _ok(frame)
    for ax, dataset in zip(axes.flat, chosen):
        ax.set_title(_label(dataset))
        mine = configs[configs["dataset"] == dataset].dropna(subset=[cost, "value"])
        if mine.empty:
            _no_data(ax, f"no finished runs with {label.split(' (')[0]} and {signal}")
            continue
        for model in _models_in(mine):
            m = mine[mine["model"] == model]
            ax.scatter(m[cost] * factor, m["value"], color=MODEL_COLORS.get(model),
                       marker=MODEL_MARKERS.get(model, "o"), label=MODEL_LABELS.get(model, model),
                       s=30, zorder=3)
        front = frontier[frontier["dataset"] == dataset].sort_values(cost)
        if len(front):
            # The frontier's score is "higher is better": the validation loss negated.
            values = -front["score"] if signal == "val_loss" else front["score"]
            ax.plot(front[cost] * factor, values, color="black", linewidth=1, zorder=2,
                    label="Pareto frontier")
            for _, f in front.assign(v=values).iterrows():
                text = f"{int(f['length'])}" + (f" ga{int(f['grad_accum'])}"
                                                if f["grad_accum"] != 1 else "")
                ax.annotate(text, (f[cost] * factor, f["v"]), textcoords="offset points",
                            xytext=(4, -9), fontsize=7, color="0.2")
        ax.set_xlabel(label + (_energy_note(rows[rows["dataset"] == dataset]) if is_energy else ""))
        ax.set_ylabel(signal_label(signal, dataset))
        ax.legend(frameon=False, fontsize=7)
    return fig


# --------------------------------------------------------------------------------------------
# Setup chapter: environment and data provenance


def environment_table(env: dict[str, Any]) -> pd.DataFrame:
    """:func:`tradeoff.env.describe_environment` as a two-column table (hardware first)."""
    rows = [("hardware", hardware_label(env))]
    rows += [(k.removeprefix("version_") + (" version" if k.startswith("version_") else ""), v)
             for k, v in env.items() if k != "hostname"]
    return pd.DataFrame(rows, columns=["item", "value"]).astype(str)


def meter_table(description: dict[str, Any]) -> pd.DataFrame:
    """``EnergyMeter.describe()`` flattened to a two-column table."""
    rows = [("method", description.get("method")), ("reason", description.get("reason") or "-")]
    gpu, cpu = description.get("gpu", {}), description.get("cpu", {})
    devices = gpu.get("devices") or []
    rows.append(("GPU method", gpu.get("method")))
    rows.append(("GPUs seen", ", ".join(f"{d['index']}: {d['name']} (energy counter: "
                                         f"{'yes' if d['energy_counter'] else 'no'})"
                                         for d in devices) or "none"))
    rows.append(("CPU method", cpu.get("method")))
    rows.append(("RAPL domains", ", ".join(cpu.get("rapl_domains") or []) or "none readable"))
    rows.append(("assumed W per busy core (estimate only)", cpu.get("cpu_watts_per_core")))
    rows.append(("sampling interval (s)", description.get("sampler", {}).get("interval_s")))
    return pd.DataFrame(rows, columns=["item", "value"]).astype(str)


def load_splits(profile: Profile, datasets: Iterable[str] | None = None) -> dict[str, Any]:
    """Each dataset's full train and validation splits from the profile's source.

    Args:
        profile: gives the source (``aclsum`` or ``scrolls``) and ``data_dir``.
        datasets: which datasets (None: the profile's).

    Returns:
        ``{dataset: DatasetDict}``, or ``{dataset: "error message"}`` where the data is not
        available (e.g. SCROLLS offline without ``data_dir``).
    """
    from .data import DataUnavailableError, load_dataset_splits

    out: dict[str, Any] = {}
    for dataset in datasets or profile.datasets:
        try:
            out[dataset] = load_dataset_splits(dataset, profile.source, profile.data_dir)
        except (DataUnavailableError, OSError, ValueError) as err:
            out[dataset] = f"{err.__class__.__name__}: {err}"
    return out


def data_sources_table(splits: dict[str, Any], profile: Profile) -> pd.DataFrame:
    """Per dataset: task, source, description, split sizes and the rows a run uses.

    Args:
        splits: :func:`load_splits` output.
        profile: caps on rows per run come from here.

    Returns:
        One row per dataset.
    """
    from .data import describe_source

    rows = []
    for dataset, split in splits.items():
        source = describe_source(dataset, profile.source)
        available = not isinstance(split, str)
        rows.append({
            "dataset": dataset, "task": source["task"],
            "source": "stand-in (not SCROLLS)" if source["stand_in"] else "SCROLLS",
            "description": source["description"] if available else split,
            "train rows": len(split["train"]) if available else math.nan,
            "validation rows": len(split["validation"]) if available else math.nan,
            "validation ids": len(set(split["validation"]["id"])) if available else math.nan,
            "ids per run (train / validation)":
                f"{profile.max_train_samples or 'all'} / {profile.max_eval_samples or 'all'}",
        })
    return pd.DataFrame(rows)


def length_tokenizer(splits: dict[str, Any], vocab_size: int, cache_dir: str | Path | None = None,
                     sample: int = 200):
    """A byte-level BPE tokenizer trained on (a sample of) the training inputs, for counting.

    The random-init runs train the same kind of tokenizer on their training rows; pretrained
    checkpoints bring their own (LED: 50k BPE), which gives somewhat fewer tokens.

    Args:
        splits: :func:`load_splits` output.
        vocab_size: vocabulary size (the profile's).
        cache_dir: where the trained tokenizer is cached (None: the system temp folder).
        sample: at most this many distinct training documents per dataset.

    Returns:
        A ``PreTrainedTokenizerFast``, or None when no data is available.
    """
    from .data import split_query, train_tokenizer

    texts: list[str] = []
    for split in splits.values():
        if isinstance(split, str):
            continue
        # Query datasets repeat one document under many queries: count each document once.
        documents = dict.fromkeys(split_query(text)[1] for text in split["train"]["input"])
        texts += list(documents)[:sample]
    texts = list(dict.fromkeys(texts))
    if not texts:
        return None
    folder = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "tradeoff-tokenizers"
    return train_tokenizer(texts, vocab_size, folder)


def input_lengths(splits: dict[str, Any], tokenizer=None, sample: int | None = 50,
                  seed: int = 0) -> pd.DataFrame:
    """Input length of (a seeded sample of) each dataset's train and validation rows.

    Counts as :func:`tradeoff.data.length_stats` does: tokens of ``tokenizer`` with special
    tokens, or whitespace-separated tokens without one.

    Args:
        splits: :func:`load_splits` output.
        tokenizer: a Hugging Face tokenizer, or None for whitespace tokens.
        sample: rows per split (None: all).
        seed: seed of the sample.

    Returns:
        Long table: ``dataset``, ``split``, ``tokens``, ``unit``.
    """
    from .data import _token_lengths  # the exact counting rule of length_stats

    unit = "tokens" if tokenizer is not None else "whitespace tokens"
    rows = []
    for dataset, split in splits.items():
        if isinstance(split, str):
            continue
        for name in ("train", "validation"):
            texts = split[name]["input"]
            if sample is not None and len(texts) > sample:
                picks = np.random.default_rng(seed).choice(len(texts), sample, replace=False)
                texts = [texts[int(i)] for i in sorted(picks)]
            for n in _token_lengths(list(texts), tokenizer):
                rows.append({"dataset": dataset, "split": name, "tokens": n, "unit": unit})
    return pd.DataFrame(rows, columns=["dataset", "split", "tokens", "unit"])


def length_table(lengths_frame: pd.DataFrame, lengths: Sequence[int] = LENGTHS) -> pd.DataFrame:
    """Per dataset: n, mean, median, p90, max input length and the share longer than each L.

    The keys follow :func:`tradeoff.data.length_stats` (``frac_gt_L`` as "% > L").
    """
    rows = []
    for dataset, group in lengths_frame.groupby("dataset", sort=False):
        tokens = group["tokens"].astype(float)
        row = {"dataset": dataset, "n": len(tokens), "unit": group["unit"].iloc[0],
               "mean": tokens.mean(), "median": tokens.median(), "p90": tokens.quantile(0.9),
               "max": tokens.max()}
        row |= {f"% > {n}": 100 * float((tokens > n).mean()) for n in lengths}
        rows.append(row)
    return pd.DataFrame(rows)


def length_distribution(lengths_frame: pd.DataFrame, lengths: Sequence[int] = LENGTHS) -> Figure:
    """Box plots of input length per dataset against the studied input lengths.

    Args:
        lengths_frame: :func:`input_lengths` output.
        lengths: the input lengths, drawn as vertical lines.

    Returns:
        A Figure (log x-axis).
    """
    fig, axes = _figure(width=7.0, height=0.6 + 0.7 * max(lengths_frame["dataset"].nunique(), 1))
    ax = axes[0, 0]
    ax.set_title("Input lengths against the studied truncation lengths")
    if lengths_frame.empty:
        _no_data(ax, "no data available")
        return fig
    names = list(dict.fromkeys(lengths_frame["dataset"]))
    data = [lengths_frame.loc[lengths_frame["dataset"] == d, "tokens"].to_numpy(float)
            for d in names]
    ax.boxplot(data, orientation="horizontal", tick_labels=[_label(d) for d in names],
               whis=(5, 95), showfliers=True, flierprops={"markersize": 2})
    for n in lengths:
        ax.axvline(n, color="0.4", linestyle=":", linewidth=1)
        ax.annotate(str(n), (n, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                    ha="center", va="bottom", color="0.3")
    ax.set_xscale("log")
    ax.set_xlabel(f"input length ({lengths_frame['unit'].iloc[0]}, log scale; whiskers 5-95%)")
    ax.grid(False, axis="y")
    return fig


def qasper_positions(splits: dict[str, Any], tokenizer=None, sample: int | None = 300,
                     seed: int = 0) -> pd.DataFrame:
    """:func:`tradeoff.data.answer_positions` of (a seeded sample of) Qasper's validation ids.

    Args:
        splits: :func:`load_splits` output.
        tokenizer: as for :func:`input_lengths`.
        sample: at most this many validation ids (None: all), all rows of each kept.
        seed: seed of the sample.

    Returns:
        The positions table; empty (with its columns) when Qasper is not available.
    """
    from .data import answer_positions, subsample_by_id

    split = splits.get("qasper")
    if split is None or isinstance(split, str):
        empty = answer_positions([], tokenizer)
        return empty
    return answer_positions(subsample_by_id(split["validation"], sample, seed), tokenizer)


def answer_positions_figure(positions: pd.DataFrame, lengths: Sequence[int] = LENGTHS) -> Figure:
    """Where QA answers end in the input, against the studied input lengths.

    Args:
        positions: :func:`tradeoff.data.answer_positions` output.
        lengths: input lengths, drawn as vertical lines labelled with the share of answers
            kept (:func:`tradeoff.data.answer_coverage`).

    Returns:
        A Figure: histogram of the answers' last token position.
    """
    from .data import answer_coverage

    fig, axes = _figure(width=7.0, height=3.4)
    ax = axes[0, 0]
    ax.set_title("Qasper: where answers end in the input")
    found = positions[positions["found"].astype(bool)] if len(positions) else positions
    if found.empty:
        _no_data(ax, "no answer located in its document")
        return fig
    ends = found["token_end"].astype(float).dropna()
    ax.hist(ends, bins=40, color="0.6")
    coverage = answer_coverage(positions, lengths)
    for n in lengths:
        ax.axvline(n, color=_PALETTE[3], linestyle="--", linewidth=1)
        ax.annotate(f"{n}: {coverage[n]:.0%} kept", (n, 0.98), xycoords=("data", "axes fraction"),
                    rotation=90, ha="right", va="top", fontsize=7,
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1})
    unit = positions["unit"].iloc[0]
    missing = 1 - float(positions["found"].astype(bool).mean())
    ax.set_xlabel(f"input position of the answer's last token ({unit}); "
                  f"{missing:.0%} of answers not found in the document")
    ax.set_ylabel("answers")
    return fig
