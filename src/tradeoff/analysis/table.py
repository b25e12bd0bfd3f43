"""The tidy table of run records: the one table claims, the recommender, figures and notebooks read.

One row per record (:func:`tidy`), with the cell's coordinates, status, accuracy columns
(``accuracy`` is the headline metric, ``acc_<name>`` every metric) and every efficiency column of
:class:`tradeoff.records.Efficiency`, plus provenance columns for banners. :func:`configurations`
averages seeds per configuration; :func:`score` reads the accuracy *signal* in the "higher is
better" orientation that claims and the recommender compare.

The ceilings and baselines (:class:`tradeoff.records.CeilingRecord`, properties of the data
and of simple methods, not of the models) have a tidy table of their own: :func:`tidy_ceilings`
and :func:`load_ceilings`, one row per (dataset, length, method, tokenizer).

Nothing here imports torch or transformers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..knobs import NO_KNOB
from ..tasks import DATASETS
from ..records.run import hardware_label
from ..records import (
    EFFICIENCY_COLUMNS,
    CeilingRecord,
    RunRecord,
    load_ceiling_records,
    load_records,
)

# What identifies a configuration (seeds are averaged over).
KEYS = ["dataset", "model", "length", "grad_accum", "variant"]
# Accuracy signals: the column each reads. The validation loss is lower-is-better; see `score`.
ACCURACY_SIGNALS = {
    "headline": "accuracy",  # ROUGE geometric mean (summarization) or F1 (Qasper); higher is better
    "val_loss": "acc_val_loss",  # teacher-forced validation loss; lower is better
    # The headline metric of the argmax predictions under teacher forcing, as the released
    # code's compute_metrics scored them (tf_rouge_geomean / tf_f1); higher is better.
    "teacher_forced": "tf_accuracy",
}
BATCH = "effective_batch_size"
# Every numeric column a configuration averages over seeds.
NUMERIC = ["accuracy", "acc_val_loss", "tf_accuracy", BATCH, *EFFICIENCY_COLUMNS]
_TEXT = ["task", "source", "init", "scale", "energy_method", "accuracy_metric",
         "convergence_metric"]
_SORT = ["dataset", "model", "length", "seed", "grad_accum", "variant"]


def _number(value) -> float:
    return math.nan if value is None else float(value)


def _count(value: int | None) -> int | float:
    """A count as recorded (an int), NaN where the record has none (a failed cell)."""
    return math.nan if value is None else value


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
    models = None if models is None else set(models)
    lengths = None if lengths is None else {int(n) for n in lengths}
    datasets = None if datasets is None else set(datasets)
    return [r for r in records
            if (models is None or r.params.model in models)
            and (lengths is None or r.params.length in lengths)
            and (datasets is None or r.params.dataset in datasets)]


def _row(r: RunRecord) -> dict:
    p = r.params
    row = {
        "profile": r.profile, "dataset": p.dataset, "model": p.model, "length": p.length,
        "seed": p.seed, "grad_accum": p.gradient_accumulation_steps, "variant": p.variant,
        "status": r.status, "reason": r.reason, "task": p.task, "source": p.source,
        "init": p.init, "scale": p.scale, "accuracy_metric": r.accuracy_metric,
        "accuracy": _number(r.accuracy.get(r.accuracy_metric)),
        "tf_accuracy": _number(r.accuracy.get(f"tf_{r.accuracy_metric}")),
        "convergence_metric": p.convergence_metric,
        "energy_method": r.energy_method,
        "batch_size": _count(r.train.batch_size),
        BATCH: _count(r.train.effective_batch_size),
        "train_steps": _count(r.train.steps),
        "parameters": _count(r.model.parameters),
        "params_hash": r.params_hash,
        # Provenance, for banners and captions.
        "hardware": r.env.hardware if r.env.recorded else "unknown",
        "on_gpu": bool(r.env.gpu_count),
        "energy_reason": r.energy_reason,
        "stand_in": (p.source == "aclsum") if r.data.stand_in is None else r.data.stand_in,
        "data_description": r.data.description,
        "cpu_watts_per_core": p.cpu_watts_per_core,
        "record_profile": r.profile,
    }
    row |= {f"acc_{k}": _number(v) for k, v in r.accuracy.items()}
    row |= {k: _number(v) for k, v in r.efficiency.model_dump().items()}
    return row


def tidy(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per record: coordinates, status, accuracy, efficiency and provenance columns.

    Args:
        records: run records.

    Returns:
        A DataFrame sorted by dataset, model, length, seed and accumulation. Every column of
        :data:`NUMERIC` exists (NaN when nothing measured it), even for no records; provenance
        columns: ``hardware`` (:attr:`tradeoff.records.EnvInfo.hardware`), ``on_gpu``,
        ``energy_reason``, ``stand_in``, ``data_description``, ``cpu_watts_per_core``,
        ``record_profile``.
    """
    frame = pd.DataFrame([_row(r) for r in records])
    if frame.empty:
        frame = pd.DataFrame(columns=["profile", *_SORT, "status", "reason"])
    for column in _TEXT:
        if column not in frame:
            frame[column] = pd.Series(dtype=object)
    for column in NUMERIC:
        frame[column] = (pd.to_numeric(frame[column], errors="coerce") if column in frame
                         else pd.Series(np.nan, index=frame.index, dtype=float))
    return frame.sort_values(_SORT, ignore_index=True) if len(frame) else frame


def score(frame: pd.DataFrame, signal: str = "headline") -> pd.Series:
    """The accuracy signal of each row, oriented so that higher is better.

    Args:
        frame: rows of :func:`tidy` (or a hand-made table with the signal's column).
        signal: a key of :data:`ACCURACY_SIGNALS`.

    Returns:
        ``accuracy`` for ``"headline"``, ``tf_accuracy`` for ``"teacher_forced"``, minus
        ``acc_val_loss`` for ``"val_loss"``; NaN where the
        column is absent.

    Raises:
        ValueError: an unknown signal.
    """
    values = signal_values(frame, signal)
    return -values if signal == "val_loss" else values


def signal_values(frame: pd.DataFrame, signal: str) -> pd.Series:
    """The signal's raw value per row (the validation loss is *not* negated, unlike :func:`score`)."""
    column = ACCURACY_SIGNALS.get(signal)
    if column is None:
        raise ValueError(f"unknown accuracy signal {signal!r}; use one of {list(ACCURACY_SIGNALS)}")
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce")


def accuracy_signal(frame: pd.DataFrame) -> str:
    """The accuracy signal with meaning for these records.

    Random-init models trained for minutes decode nothing useful, so their ROUGE / F1 are
    noise; the teacher-forced validation loss still ranks them. Runs that chose their
    checkpoint by the teacher-forced task metric (the released code's practice, the
    ``paper-code`` profile) are shown by that metric, as the paper most likely reported them.

    Args:
        frame: the tidy table.

    Returns:
        ``"val_loss"`` when any finished run has random-init weights; else ``"teacher_forced"``
        when every finished run converged on the teacher-forced task metric; else
        ``"headline"``.
    """
    rows = ok_rows(frame)
    if "init" in rows and (rows["init"] == "random").any():
        return "val_loss"
    if len(rows) and "convergence_metric" in rows \
            and (rows["convergence_metric"] == "teacher-forced").all():
        return "teacher_forced"
    return "headline"


def ok_rows(frame: pd.DataFrame, signal: str | None = None) -> pd.DataFrame:
    """Finished runs, with every numeric column present (NaN if absent).

    Args:
        frame: the tidy table or a hand-made one.
        signal: when given, add ``score`` (:func:`score`) and ``value`` (its raw value).
    """
    rows = frame.copy()
    for column in ("dataset", "model", "length", "status"):
        if column not in rows:
            rows[column] = pd.Series(dtype=object)
    if "grad_accum" not in rows:
        rows["grad_accum"] = 1
    if "variant" not in rows:
        rows["variant"] = NO_KNOB
    rows = rows[rows["status"] == "ok"].copy()
    for column in NUMERIC:
        rows[column] = (pd.to_numeric(rows[column], errors="coerce") if column in rows
                        else np.nan)
    if signal is not None:
        rows["value"] = signal_values(rows, signal)
        rows["score"] = score(rows, signal)
    return rows


def main_grid(rows: pd.DataFrame) -> pd.DataFrame:
    """The paper's grid: no efficiency knob and, per dataset, the smallest accumulation.

    The larger accumulations of a dataset are the Qasper batch-size study, and the knobs
    (:mod:`tradeoff.knobs`) are the study beyond the paper; only the findings that speak of
    them use those rows.
    """
    if rows.empty:
        return rows
    rows = rows[rows["variant"] == NO_KNOB]
    smallest = rows.groupby("dataset")["grad_accum"].transform("min")
    return rows[rows["grad_accum"] == smallest]


def configurations(frame: pd.DataFrame, signal: str = "headline", *, dataset: str | None = None,
                   main: bool = True, knobs: bool = False, extra: Iterable[str] = ()
                   ) -> pd.DataFrame:
    """Finished runs averaged over seeds: one row per dataset x model x length x accumulation
    x knob.

    Args:
        frame: the tidy table.
        signal: accuracy signal; its raw value goes into ``value``, its oriented value
            (higher is better) into ``score``.
        dataset: keep one dataset (None: all).
        main: keep only the paper's grid (:func:`main_grid`: no knob, each dataset's
            smallest accumulation).
        knobs: with ``main=False``, keep the efficiency knobs' rows too (else only ``none``).
        extra: further numeric columns to average.

    Returns:
        ``value``, ``score`` and the numeric columns averaged, ``value_sd`` and ``n_seeds``.
    """
    rows = ok_rows(frame, signal)
    extra = [c for c in extra if c not in NUMERIC]
    for column in extra:
        rows[column] = pd.to_numeric(rows[column], errors="coerce") if column in rows else np.nan
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    if main:
        rows = main_grid(rows)
    elif not knobs:
        rows = rows[rows["variant"] == NO_KNOB]
    columns = ["value", "score", *NUMERIC, *extra]
    if rows.empty:
        return pd.DataFrame(columns=KEYS + columns + ["value_sd", "n_seeds"])
    grouped = rows.groupby(KEYS, as_index=False)
    out = grouped[columns].mean()
    out["value_sd"] = grouped["value"].std()["value"].to_numpy()
    out["n_seeds"] = grouped.size()["size"].to_numpy()
    return out.sort_values(KEYS, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Ceilings and baselines

#: Score columns of the ceilings table, percent; NaN where a method has no such score.
#: ``recoverable_share`` (questions whose answer text is inside the truncated input) and
#: ``answer_coverage`` (answers whose first occurrence ends inside it) belong to the QA ceiling.
CEILING_SCORES = ("rouge1", "rouge2", "rougeL", "rougeLsum", "rouge_geomean", "f1",
                  "exact_match", "recoverable_share", "answer_coverage")
CEILING_COLUMNS = [
    "dataset", "task", "source", "length", "method", "kind", "metric", "score", *CEILING_SCORES,
    "n_samples", "n_available", "truncated_share", "kept_tokens_mean", "cpu_s_per_sample",
    "energy_j_per_sample", "energy_method", "cpu_watts_per_core", "tokenizer",
    "tokenizer_hash", "splitter", "description", "seed", "profile", "hardware", "stand_in",
    "key"]
_CEILING_NUMERIC = ["length", "score", *CEILING_SCORES, "n_samples", "n_available",
                    "truncated_share", "kept_tokens_mean", "cpu_s_per_sample",
                    "energy_j_per_sample", "cpu_watts_per_core"]


def _ceiling_row(r: CeilingRecord) -> dict:
    row = {k: getattr(r, k) for k in (
        "dataset", "task", "source", "length", "method", "kind", "metric")}
    row["score"] = _number(r.score)
    row |= {c: _number(r.scores.get(c)) for c in CEILING_SCORES}
    row |= {k: _number(getattr(r, k)) for k in (
        "n_samples", "n_available", "truncated_share", "kept_tokens_mean", "cpu_s_per_sample")}
    row |= {"energy_j_per_sample": r.energy_j_per_sample, "energy_method": r.energy_method,
            "cpu_watts_per_core": r.cpu_watts_per_core, "tokenizer": r.tokenizer,
            "tokenizer_hash": r.tokenizer_hash, "splitter": r.splitter,
            "description": r.description, "seed": r.seed, "profile": r.profile,
            "hardware": hardware_label(r.env) if r.env else "unknown",
            "stand_in": r.source == "aclsum", "key": r.key}
    return row


def tidy_ceilings(records: Sequence[CeilingRecord]) -> pd.DataFrame:
    """One row per ceiling record: coordinates, every score, CPU cost and provenance.

    Args:
        records: ceiling records (:class:`tradeoff.records.CeilingRecord`).

    Returns:
        The columns of :data:`CEILING_COLUMNS` (scores NaN where not applicable), even for no
        records; sorted by dataset (the study's order), ceilings before baselines, method,
        tokenizer and length.
    """
    frame = pd.DataFrame([_ceiling_row(r) for r in records], columns=CEILING_COLUMNS)
    for column in _CEILING_NUMERIC:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if frame.empty:
        return frame
    order = {d: i for i, d in enumerate(DATASETS)}
    keys = frame.assign(_d=frame["dataset"].map(lambda d: order.get(d, len(order))),
                        _k=frame["kind"] != "ceiling")
    keys = keys.sort_values(["_d", "dataset", "_k", "method", "tokenizer", "length"])
    return frame.loc[keys.index].reset_index(drop=True)


def load_ceilings(results_dir: str | Path, *, datasets: Iterable[str] | None = None,
                  lengths: Iterable[int] | None = None) -> pd.DataFrame:
    """The tidy table of a results folder's ceiling records, filtered to a selection.

    Args:
        results_dir: a results folder; its ``ceilings/`` folder is read (none: an empty table).
        datasets: keep only these datasets (None: all).
        lengths: keep only these input lengths (None: all).

    Returns:
        :func:`tidy_ceilings` of the kept records; ``attrs["results_dir"]`` names the folder.
    """
    datasets = None if datasets is None else set(datasets)
    lengths = None if lengths is None else {int(n) for n in lengths}
    records = [r for r in load_ceiling_records(results_dir)
               if (datasets is None or r.dataset in datasets)
               and (lengths is None or r.length in lengths)]
    frame = tidy_ceilings(records)
    frame.attrs["results_dir"] = str(results_dir)
    return frame
