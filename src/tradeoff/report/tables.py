"""The book's tables: the protocol, effects of the input length, verdicts, recommendations.

Each returns a plain DataFrame with headers in words and units; :func:`styled` formats any of
them for a page (no index, every number through :func:`tradeoff.numbers.fmt_column`,
escaped text) and :func:`csv_download` offers a chapter's data as a CSV link
(:func:`download_link`, which figures' links use too).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from IPython.display import Markdown

from ..analysis.claims import evaluate_claims
from ..analysis.recommend import recommend
from ..analysis.table import KEYS, configurations, ok_rows
from ..config import load_profile, Profile
from ..tasks import DATASETS
from ..records.run import hardware_label
from ..records import ENERGY_KWH, INFER_SPEED, POWER_EFFICIENCY, TRAIN_SPEED
from .params import check_number
from .provenance import can_bear_verdicts, energy_method_text, unique_values
from ..numbers import column_kind, fmt, fmt_column, KINDS, NA, NAME_KINDS, with_unit
from .style import MODEL_LABELS, models_in

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler


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


# Headers in words for the columns tables carry under their data names; a column with a unit
# gets it from :func:`styled` (the unit its numbers are shown in).
COLUMN_WORDS = {
    "length": "length (tokens)", "grad_accum": "gradient accumulation", "variant": "knob",
    "seed": "seed", "score": "score (higher is better)",
    ENERGY_KWH: "training energy (kWh)", INFER_SPEED: "inference (samples/s)",
    TRAIN_SPEED: "training (samples/s)", POWER_EFFICIENCY: "power efficiency (samples/s/W)",
    "accum_small": "smaller accumulation", "accum_large": "larger accumulation",
    "value_small": "signal at the smaller", "value_large": "signal at the larger",
    "change": "change (larger - smaller)", "energy_method": "energy method",
}


def styled(table: pd.DataFrame, kinds: dict[str, str] | None = None,
           units: dict[str, str] | None = None) -> Styler:
    """A table for the book: headers in words with units, no index, every number through
    :func:`tradeoff.numbers.fmt_column`.

    A numeric column's kind (energy, time, ratio, ...; see :data:`tradeoff.numbers.KINDS`)
    and the unit its values are in come from ``kinds``, then from the table's
    ``attrs["kinds"]`` (set by the function that built it), then from its name
    (:func:`tradeoff.numbers.column_kind`: ``train_energy_kwh``, ``CPU time (ms)``). A
    column with units reads in one unit, chosen for its values (or pinned by ``units``, then
    ``attrs["units"]``, where columns are compared) and named in its header; any other float
    column reads to three significant figures. No number is printed with an exponent.

    Args:
        table: the table; columns named as data (e.g. ``train_energy_kwh``) get their words from
            :data:`COLUMN_WORDS`.
        kinds: column (as named in ``table``) -> kind, where its name does not say it.
        units: column -> the unit to show it in.

    Returns:
        A pandas Styler (rendered as HTML by the book).
    """
    declared = {**table.attrs.get("kinds", {}), **(kinds or {})}
    pinned = {**table.attrs.get("units", {}), **(units or {})}
    columns, headers = {}, []
    for i, column in enumerate(table.columns):
        values = table.iloc[:, i]
        header = COLUMN_WORDS.get(column, column)
        texts, header = _column_text(values, column, header, declared.get(column),
                                     pinned.get(column))
        columns[i] = values if texts is None else texts
        headers.append(header)
    shown = pd.DataFrame(columns, index=table.index)
    shown.columns = headers
    # Escaped: evidence text holds "<" and ">=" that HTML would otherwise swallow as tags.
    style = shown.style.hide(axis="index").format(na_rep=NA, escape="html")
    return style.set_properties(**{"text-align": "left", "white-space": "normal"})


def _column_text(values: pd.Series, column, header: str, declared: str | None,
                 shown: str | None) -> tuple[list[str] | None, str]:
    """A column's cells as text and its header with the unit shown; None: left as it is."""
    named, given = column_kind(column)
    if named is None and header != column:
        named, given = column_kind(header)
    kind = declared or named
    numeric = (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))
    if kind is None and pd.api.types.is_float_dtype(values):
        kind = "number"
    if kind is None or not (numeric or all(isinstance(v, (int, float, type(None)))
                                           for v in values)):
        return None, header
    spec = KINDS[kind]
    if given is not None and given not in dict(spec.units + spec.inputs):
        given = None  # a declared kind other than the name's: the name's unit is not its
    unit, texts = fmt_column(values, kind, given, shown=shown)
    if unit is None:
        return texts, header
    if header == column and isinstance(column, str) and re.fullmatch(r"[a-z0-9_]+", column):
        ending = next((e for e, _ in NAME_KINDS if column.endswith(e)), "")
        stem = column.removesuffix(ending) if ending.startswith("_") else column
        return texts, f"{stem} ({unit})"
    return texts, with_unit(header, given, unit)


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
    rows = ok_rows(frame) if frame is not None else pd.DataFrame()
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
        memory = f"{fmt(p.gpu_memory_gb, 'exact')} GB" if p.gpu_memory_gb else "the device's memory"
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
    epochs = (f"{fmt(p.num_train_epochs, 'exact')}" if p.num_train_epochs is not None
              else "10 (summarization) / 20 (Qasper), SCROLLS' values")

    decoding = ("greedy" if p.num_beams == 1 else f"beam search, {p.num_beams} beams")
    budget = ", ".join(f"{k} {v}" for k, v in p.max_new_tokens.items())
    decoding += f"; at most {budget} new tokens"
    if p.fixed_generation_length:
        decoding += " (always generated in full, so costs compare)"

    methods = unique_values(rows, "energy_method") if len(rows) else []
    energy = ("; ".join(energy_method_text(m, p.cpu_watts_per_core) for m in methods) if methods
              else f"NVML energy counter if available, else RAPL, else CPU time x "
                   f"{fmt(p.cpu_watts_per_core, 'exact')} W per busy core (an estimate)")
    if p.idle_baseline_s:
        energy += (f"; idle power measured for {fmt(p.idle_baseline_s, 'exact')} s per run "
                   f"(not subtracted)")
    hardware = "; ".join(unique_values(rows, "hardware")) or "not recorded yet (no runs)"

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
         fmt(p.learning_rate, "exact") if p.learning_rate is not None
         else "SCROLLS' LED-base rate per dataset and length"),
        ("efficiency knobs", "none (fp32, no gradient checkpointing)", ", ".join(p.variants)),
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
    for model in models_in(configs):
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
    """One model's :func:`length_effect` ratio in words: ``"×0.312 (4096 vs 1024 tokens)"``."""
    if model not in table.index or not np.isfinite(table.loc[model, "ratio"]):
        return "n/a (fewer than two finished lengths)"
    row = table.loc[model]
    return f"{fmt(row['ratio'], 'ratio')} ({int(row['long'])} vs {int(row['short'])} tokens)"


def effect_sentence(table: pd.DataFrame, models: Iterable[str]) -> str:
    """:func:`effect_text` for each model shown, in one phrase:
    ``"LED-base ×0.312 (4096 vs 1024 tokens) and LED-large ×0.298 (4096 vs 1024 tokens)"``."""
    parts = [f"{MODEL_LABELS.get(m, m)} {effect_text(table, m)}" for m in models]
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def effect_table(effect: pd.DataFrame, measure: str) -> pd.DataFrame:
    """:func:`length_effect` for display: headers in words, with the measure and its unit.

    Args:
        effect: a :func:`length_effect` table.
        measure: the measure with its unit, e.g. ``"power efficiency (samples/s/W)"``.
    """
    table = effect.reset_index().rename(columns={
        "model": "model", "short": "shortest length (tokens)",
        "long": "longest length (tokens)", "at_short": f"{measure} at the shortest",
        "at_long": f"{measure} at the longest", "ratio": "longest / shortest"})
    table.attrs["kinds"] = {"longest / shortest": "ratio"}
    return table


def csv_download(frame: pd.DataFrame, filename: str, unit: str = "runs"):
    """A link that downloads the table as CSV, embedded in the page (no file to serve).

    Args:
        frame: the table (e.g. a chapter's tidy table of runs).
        filename: the name the browser saves it under.
        unit: what a row of the table is, for the link's text.

    Returns:
        An ``IPython.display.HTML`` link with the CSV as a data URI.
    """
    return download_link(frame, filename,
                         f"Download the data of this chapter ({len(frame)} {unit}, CSV)")


def download_link(frame: pd.DataFrame, filename: str, text: str):
    """A paragraph whose link downloads the table as CSV, carried in the link (a data URI).

    Args:
        frame: the table.
        filename: the name the browser saves it under.
        text: the link's text.

    Returns:
        An ``IPython.display.HTML`` paragraph.
    """
    import base64
    import html

    from IPython.display import HTML

    payload = base64.b64encode(frame.to_csv(index=False).encode()).decode()
    return HTML(f'<p><a download="{html.escape(filename)}" href="data:text/csv;base64,{payload}">'
                f'{html.escape(text)}</a></p>')


def claims_table(frame: pd.DataFrame, signal: str = "headline",
                 claims: Iterable[int] | None = None) -> pd.DataFrame:
    """:func:`tradeoff.analysis.claims.evaluate_claims`, optionally only some findings (by number)."""
    table = evaluate_claims(frame, signal)
    if claims is not None:
        table = table[table["claim"].isin(list(claims))].reset_index(drop=True)
    return table


PIPELINE_CHECK_COLUMNS = ["finding", "what the test computed on these runs", "the test ran"]


def pipeline_check_table(frame: pd.DataFrame, signal: str = "headline",
                         claims: Iterable[int] | None = None) -> pd.DataFrame:
    """The findings' tests run on runs that cannot bear a verdict: what each computed, no verdict.

    Random-init or stand-in runs show that every test reads the records and computes its
    comparisons; their outcome says nothing about the paper, so the table leaves out the verdict
    and the evidence's verdict words and keeps the comparisons' numbers.

    Returns:
        Columns :data:`PIPELINE_CHECK_COLUMNS`, one row per finding.
    """
    table = claims_table(frame, signal, claims)
    computed = table["evidence"].str.replace(r"\s*Parts - .*$", "", regex=True)
    ran = np.where(table["evidence"].str.contains("Missing data"), "no: missing data", "yes")
    return pd.DataFrame({PIPELINE_CHECK_COLUMNS[0]: table["claim"],
                         PIPELINE_CHECK_COLUMNS[1]: computed,
                         PIPELINE_CHECK_COLUMNS[2]: ran})


def findings_on_runs(frame: pd.DataFrame, signal: str = "headline",
                     claims: Iterable[int] | None = None) -> pd.DataFrame:
    """The findings' verdicts when the runs can bear them, else the pipeline check."""
    if can_bear_verdicts(frame):
        return claims_table(frame, signal, claims)
    return pipeline_check_table(frame, signal, claims)


def best_text(frame: pd.DataFrame, dataset: str, signal: str = "headline") -> str:
    """The best-scoring configuration of a dataset in words, with its training energy."""
    configs = configurations(frame, signal, dataset=dataset).dropna(subset=["value"])
    if configs.empty:
        return "n/a (no finished runs)"
    best = configs.loc[configs["value"].idxmin() if signal == "val_loss"
                       else configs["value"].idxmax()]
    energy = (f", {fmt(best[ENERGY_KWH], 'energy', unit='kWh')} of training energy"
              if np.isfinite(best[ENERGY_KWH]) else "")
    name, kind = ("validation loss", "number") if signal == "val_loss" else ("score", "score")
    return (f"{MODEL_LABELS.get(best['model'], best['model'])} at {int(best['length'])} tokens "
            f"({name} {fmt(best['value'], kind)}{energy})")


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
    configs = configurations(frame, signal, dataset=dataset, main=False)
    rows = []
    for (who, length), group in configs.groupby(["model", "length"]):
        group = group.dropna(subset=["value"]).sort_values("grad_accum")
        if (model is not None and who != model) or group["grad_accum"].nunique() < 2:
            continue
        s, e = group.iloc[0], group.iloc[-1]
        rows.append([who, int(length), int(s["grad_accum"]), int(e["grad_accum"]), s["value"],
                     e["value"], e["value"] - s["value"]])
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class Budget:
    """The recommender's budget: a training-energy cap and an inference-speed floor (None: none)."""

    max_energy_kwh: float | None = None
    min_infer_samples_per_s: float | None = None

    @property
    def text(self) -> str:
        limits = []
        if self.max_energy_kwh is not None:
            limits.append(f"training energy <= {fmt(self.max_energy_kwh, 'energy', unit='kWh')}")
        if self.min_infer_samples_per_s is not None:
            limits.append(f"inference >= {fmt(self.min_infer_samples_per_s, 'rate')} samples/s")
        return " and ".join(limits) or "no limit"


def budget(max_energy_kwh: float | None, min_infer_samples_per_s: float | None) -> Budget:
    """The conclusions chapter's budget parameters, checked (one clear line when wrong)."""

    return Budget(check_number("energy_budget_kwh", max_energy_kwh, optional=True),
                  check_number("min_infer_samples_per_s", min_infer_samples_per_s, optional=True))


def recommendations(frame: pd.DataFrame, signal: str = "headline",
                    datasets: Iterable[str] | None = None, budget: Budget = Budget()
                    ) -> pd.DataFrame:
    """:func:`tradeoff.analysis.recommend.recommend` for each dataset, one row each, with its reason.

    Args:
        frame: the tidy table.
        signal: accuracy signal.
        datasets: datasets (None: those with runs, in the paper's order).
        budget: the training-energy and inference-speed limits.

    Returns:
        Columns dataset, model, length, grad_accum, score, training energy, inference speed
        and ``reason``; a dataset where nothing fits has only its reason.
    """
    present = set(frame["dataset"]) if len(frame) and "dataset" in frame else set()
    chosen = list(datasets) if datasets is not None else [d for d in DATASETS if d in present]
    rows = []
    for dataset in chosen:
        best = recommend(frame, dataset=dataset, signal=signal,
                         max_energy_kwh=budget.max_energy_kwh,
                         min_infer_samples_per_s=budget.min_infer_samples_per_s)
        row = best.iloc[0].to_dict() if len(best) else {"dataset": dataset}
        row["reason"] = best.attrs.get("reason", "")
        rows.append(row)
    columns = KEYS + ["score", ENERGY_KWH, INFER_SPEED, "reason"]
    out = pd.DataFrame(rows, columns=columns)
    if signal == "val_loss":  # recommend's score is the negated loss: show the loss itself
        out["score"] = -pd.to_numeric(out["score"])
        out = out.rename(columns={"score": "validation loss"})
    return out

def profile_table(profile: Profile) -> pd.DataFrame:
    """Every setting of a profile with its value and its help text."""
    rows = [(name, _setting_text(getattr(profile, name)), field.description or "")
            for name, field in type(profile).model_fields.items()]
    return pd.DataFrame(rows, columns=["setting", "value", "meaning"])


def _setting_text(value) -> str:
    """A setting as written: a float with every digit and no exponent (5e-05 reads 0.00005)."""
    return fmt(value, "exact") if isinstance(value, float) else repr(value)


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
