"""Running the methods for a profile: one dataset's scores at each length, and the profile's
ceiling records, computing only what no record holds.

Each (dataset, length, method) is scored by the SCROLLS metric of its predictions on the same
validation ids at every length (:data:`DEFAULT_MAX_SAMPLES` unique ids per task, seeded). Its
CPU time per sample is ``time.process_time`` over the work that reads the input (sentence
splitting included, :func:`tradeoff.ceilings.methods.predict`); its energy is the project's
labelled estimate ``cpu-time-estimate``: CPU seconds x ``cpu_watts_per_core`` W (the profile's
setting, the same constant :class:`tradeoff.energy.EnergyMeter` uses when RAPL is unreadable).
It is an estimate, not a measurement. Ceilings get the same columns, for reference only. The
QA ceiling also stores ``answer_coverage``: :func:`tradeoff.data.answer_coverage` of the same
rows, the measure of the setup chapter, per answer row (not per question) and by the position
of the answer's first located occurrence; its ``recoverable_share`` (the answer *text* anywhere
in the visible input) is at least that share, and higher for common words.

The result is a :class:`tradeoff.records.CeilingRecord`, the one schema of a ceiling, kept
under ``<results_dir>/ceilings/``; the book reads them with
:func:`tradeoff.analysis.table.load_ceilings`. Its ``key`` hashes every input (the rows scored,
the reference budget, the length, the tokenizer, the method, the span margin and
:data:`CODE_VERSION`), and the records are the one cache: a record whose key still matches is
never computed again.

One exception, for results computed before the records were their only cache: those were also
cached as JSON under ``<project cache>/ceilings/`` (``TRADEOFF_CACHE``). That folder is no
longer written, but an entry whose key matches a missing record becomes the record instead of
being computed again (same key, same inputs), so nothing already computed is recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..config import CACHE_DIR, Profile
from ..data import (
    answer_coverage,
    answer_positions,
    group_references,
    length_tokenizer,
    load_dataset_splits,
    load_splits,
    subsample_by_id,
    tokenizer_digest,
    tokenizer_label,
)
from ..env import describe_cpu
from ..errors import RecordError
from ..metrics import load_scrolls_metric
from ..records import CeilingRecord, ceiling_record_path, load_ceiling_record, save_record
from ..tasks import HEADLINE, QUERY_DATASETS, TASKS
from .methods import (
    CEILING_METHODS,
    DEFAULT_SPAN_MARGIN,
    METHOD_DESCRIPTIONS,
    METHODS,
    SPLITTER,
    predict,
    reference_budget,
)
from .truncate import visible_inputs

#: Bump when a change alters any computed value, so records of the old code are computed again.
CODE_VERSION = "ceilings-v2"
#: The project's assumed power of one busy core (the profile default; see tradeoff.energy).
DEFAULT_CPU_WATTS_PER_CORE: float = Profile.model_fields["cpu_watts_per_core"].default
#: Validation ids per dataset by default, per task: the demo stand-ins' 4 datasets x 4 lengths
#: then take about 40 s of CPU on 2 cores (LexRank and the oracle grow quadratically with the
#: input; a QA example is cheaper, and a share needs more of them to be resolved).
DEFAULT_MAX_SAMPLES = {"summarization": 20, "qa": 50}
#: The folder of the project cache where results were cached before records were the only cache.
LEGACY_CACHE = "ceilings"


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def rows_digest(split: Any, budget_words: float | None) -> str:
    """A hash of the rows scored (ids, inputs, outputs) and the summary budget."""
    digest = hashlib.sha256(f"{budget_words!r}".encode())
    for row in split:
        digest.update(json.dumps([row["id"], row["input"], row["output"]]).encode())
    return digest.hexdigest()[:16]


def cache_key(dataset: str, source: str, length: int, method: str, rows_digest: str,
              tokenizer_hash: str, span_margin: int) -> str:
    """The hash naming one result: every input that can change it, and the code version."""
    payload = {"version": CODE_VERSION, "dataset": dataset, "source": source, "length": length,
               "method": method, "rows": rows_digest, "tokenizer": tokenizer_hash,
               "span_margin": span_margin if TASKS[dataset] == "qa" else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _record(values: Mapping[str, Any], *, profile: str, key: str, tokenizer_hash: str,
            seed: int) -> CeilingRecord:
    """A ceiling record from one result's values (non-finite numbers stored as None)."""
    return CeilingRecord(
        kind=values["kind"], profile=profile, key=key, dataset=values["dataset"],
        task=values["task"], source=values["source"], length=values["length"],
        method=values["method"], description=METHOD_DESCRIPTIONS[(values["task"], values["method"])],
        tokenizer=values["tokenizer"], tokenizer_hash=tokenizer_hash, seed=seed,
        metric=values["metric"], score=_finite(values["score"]),
        scores={k: _finite(v) for k, v in values["scores"].items()},
        n_samples=values["n_samples"], n_available=values["n_available"],
        truncated_share=_finite(values["truncated_share"]),
        kept_tokens_mean=_finite(values["kept_tokens_mean"]),
        cpu_s_per_sample=_finite(values["cpu_s_per_sample"]),
        cpu_watts_per_core=values["cpu_watts_per_core"], energy_method=values["energy_method"],
        splitter=values["splitter"], ids=list(values["ids"]),
        predictions=list(values["predictions"]),
        references=[list(r) for r in values["references"]], env=dict(values["env"]),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))


# --------------------------------------------------------------------------------------------
# One dataset at given lengths
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _metric():
    """The SCROLLS metric, loaded once per process."""
    return load_scrolls_metric(keep_in_memory=True)


def compute_ceilings(
    dataset: str,
    split: Any,
    lengths: int | Sequence[int],
    tokenizer: Any,
    *,
    methods: Sequence[str] | None = None,
    budget_words: float | None = None,
    source: str = "aclsum",
    cpu_watts_per_core: float = DEFAULT_CPU_WATTS_PER_CORE,
    span_margin: int = DEFAULT_SPAN_MARGIN,
    n_available: int | None = None,
    profile: str = "",
    seed: int = 0,
    on_length: Callable[[int], None] | None = None,
) -> list[CeilingRecord]:
    """Ceilings and baselines of one dataset's rows at each input length.

    Args:
        dataset: One of the SCROLLS dataset names (its task and query layout follow).
        split: Rows with ``id``, ``input`` and ``output`` (a ``datasets.Dataset`` or dicts);
            rows sharing an id are one example with several references.
        lengths: Input length(s) in tokens.
        tokenizer: The model's fast tokenizer.
        methods: Subset of :data:`~tradeoff.ceilings.methods.METHODS` for the task (None: all).
        budget_words: Summary budget of ``lead``/``lexrank`` in words (see
            :func:`~tradeoff.ceilings.methods.reference_budget`); required for those.
        source: Data source, recorded.
        cpu_watts_per_core: Assumed watts per busy core of the energy estimate.
        span_margin: See :func:`~tradeoff.ceilings.methods.best_span`.
        n_available: Unique ids before subsampling, recorded (None: those given).
        profile: Name of the profile the records belong to, recorded.
        seed: Seed of the subsample the rows are, recorded.
        on_length: Called with each length when its results are done (progress bars).

    Returns:
        One :class:`~tradeoff.records.CeilingRecord` per (length, method), lengths outer, each
        with its :func:`cache_key`.
    """
    task = TASKS[dataset]
    methods = tuple(methods or METHODS[task])
    unknown = set(methods) - set(METHODS[task])
    if unknown:
        raise ValueError(f"unknown {task} method(s) {sorted(unknown)}; valid: {METHODS[task]}")
    if task == "summarization" and budget_words is None and set(methods) - {"oracle"}:
        raise ValueError("lead and lexrank need budget_words (see reference_budget)")
    lengths = [lengths] if isinstance(lengths, int) else list(lengths)
    grouped = group_references(split)
    ids, texts = list(grouped["id"]), list(grouped["input"])
    references = [tuple(r) for r in grouped["references"]]
    if not ids:
        raise ValueError(f"no rows to score for {dataset}")
    views = visible_inputs(texts, lengths, tokenizer, has_query=dataset in QUERY_DATASETS)
    label, tokenizer_hash = tokenizer_label(tokenizer), tokenizer_digest(tokenizer)
    digest = rows_digest(split, budget_words)
    coverage = (answer_coverage(answer_positions(split, tokenizer), lengths)
                if task == "qa" and "oracle" in methods else {})
    env = dict(describe_cpu())
    records = []
    for length in lengths:
        for method in methods:
            predictions, cpu, recoverable = [], [], []
            for view, refs in zip(views[length], references):
                prediction, cpu_s, found = predict(
                    task, method, view, refs, budget_words or 0.0, span_margin)
                predictions.append(prediction)
                cpu.append(cpu_s)
                recoverable.append(found)
            scores = _metric().compute(predictions=predictions,
                                       references=[list(r) for r in references], task=task)
            scores = {k: float(v) for k, v in scores.items()}
            if task == "qa" and method == "oracle":
                scores["recoverable_share"] = 100.0 * statistics.fmean(recoverable)
                scores["answer_coverage"] = 100.0 * coverage[length]
            values = dict(
                dataset=dataset, task=task, source=source, length=length, method=method,
                kind="ceiling" if method in CEILING_METHODS else "baseline",
                metric=HEADLINE[task], score=scores[HEADLINE[task]], scores=scores,
                n_samples=len(ids), n_available=n_available or len(ids),
                truncated_share=statistics.fmean(v.truncated for v in views[length]),
                kept_tokens_mean=statistics.fmean(v.kept_tokens for v in views[length]),
                cpu_s_per_sample=statistics.fmean(cpu), cpu_watts_per_core=cpu_watts_per_core,
                energy_method="cpu-time-estimate", splitter=SPLITTER, tokenizer=label, ids=ids,
                predictions=predictions, references=references, env=env)
            key = cache_key(dataset, source, length, method, digest, tokenizer_hash, span_margin)
            records.append(_record(values, profile=profile, key=key,
                                   tokenizer_hash=tokenizer_hash, seed=seed))
        if on_length is not None:
            on_length(length)
    return records



# --------------------------------------------------------------------------------------------
# All lengths of a profile, as records
# --------------------------------------------------------------------------------------------


def default_tokenizer(profile: Profile, cache_dir: str | os.PathLike | None = None,
                      splits: Mapping[str, Any] | None = None):
    """The tokenizer the setup chapter counts lengths with (the profile's vocabulary size).

    Args:
        profile: Gives the datasets, source, data folder and vocabulary size.
        cache_dir: Where the trained tokenizer is cached (None: the project cache).
        splits: The profile's splits when already loaded (:func:`tradeoff.data.load_splits`).

    Returns:
        A ``PreTrainedTokenizerFast`` (see :func:`tradeoff.data.length_tokenizer`).
    """
    folder = Path(cache_dir) if cache_dir else Path(CACHE_DIR) / "tokenizers"
    splits = dict(splits) if splits is not None else load_splits(profile)
    return length_tokenizer(splits, profile.vocab_size, folder)


def _tokenizer_and_splits(profile: Profile, tokenizer: Any) -> tuple[Any, dict[str, Any]]:
    """The tokenizer (default: :func:`default_tokenizer`) and the splits loaded for it, if any.

    Building the stand-ins takes seconds; loading them once for both keeps a run that finds
    everything done short.
    """
    if tokenizer is not None:
        return tokenizer, {}
    splits = load_splits(profile)
    return default_tokenizer(profile, splits=splits), splits


def _scored_rows(profile: Profile, dataset: str, loaded: Any,
                 max_samples: int | Mapping[str, int | None] | None,
                 seed: int) -> tuple[Any, float | None, int]:
    """The validation rows scored, the summary budget and the unique ids before subsampling.

    ``loaded`` is the dataset's splits when already loaded, or an error text (then it is loaded
    again, so the error is raised here), or None.
    """
    if loaded is None or isinstance(loaded, str):
        loaded = load_dataset_splits(dataset, profile.source, profile.data_dir)
    task = TASKS[dataset]
    validation = loaded["validation"]
    n_available = len(set(validation["id"]))
    limit = DEFAULT_MAX_SAMPLES if max_samples is None else max_samples
    limit = limit.get(task) if isinstance(limit, Mapping) else limit
    budget = reference_budget(loaded["train"]["output"]) if task == "summarization" else None
    return subsample_by_id(validation, limit, seed), budget, n_available


def _finished(path: Path, key: str) -> CeilingRecord | None:
    """The record at ``path`` if it is readable and its key matches."""
    try:
        record = load_ceiling_record(path)
    except RecordError:
        return None  # absent, unreadable or of another schema: made again
    return record if record.key == key else None


def _legacy(folder: Path, dataset: str, length: int, method: str, key: str, *, profile: str,
            tokenizer_hash: str, seed: int) -> CeilingRecord | None:
    """A result of the former JSON cache whose key matches, as a record (None: none there)."""
    path = folder / f"{dataset}-L{length}-{method}-{key}.json"
    try:
        values = json.loads(path.read_text())
        return _record(values, profile=profile, key=key, tokenizer_hash=tokenizer_hash, seed=seed)
    except (OSError, ValueError, TypeError, KeyError):  # absent or unreadable: computed
        return None


@dataclass(frozen=True)
class CeilingUpdate:
    """What :func:`ceiling_records` found, computed and wrote.

    Attributes:
        records: One record per (dataset, length, method) of the selection, in table order.
        paths: Their files under ``<results_dir>/ceilings/``.
        computed: Results computed now (in no record, nor in the former JSON cache).
        written: Record files written now (new results, or a changed key or wattage).
    """

    records: list[CeilingRecord]
    paths: list[Path]
    computed: int
    written: int


def ceiling_records(
    profile: Profile,
    results_dir: str | os.PathLike | None = None,
    tokenizer: Any = None,
    *,
    datasets: Sequence[str] | None = None,
    lengths: Sequence[int] | None = None,
    methods: Sequence[str] | None = None,
    max_samples: int | Mapping[str, int | None] | None = None,
    seed: int = 0,
    span_margin: int = DEFAULT_SPAN_MARGIN,
    legacy_cache: str | os.PathLike | None = None,
    show_progress: bool = True,
) -> CeilingUpdate:
    """The profile's ceilings and baselines as records, computing only what is missing.

    For each (dataset, length, method) of the selection, a record under
    ``<results_dir>/ceilings/`` whose key matches is kept as it is (never computed again, and
    not rewritten unless the profile's ``cpu_watts_per_core`` changed, which only rescales the
    energy estimate); otherwise the result comes from the former JSON cache when it holds the
    key, or is computed, and its record is written atomically
    (:func:`tradeoff.records.save_record`). An unreadable record is replaced. Records of other
    lengths, methods or tokenizers are left alone. The validation split is subsampled to
    ``max_samples`` unique ids (seeded, the same ids at every length).

    Args:
        profile: Gives datasets, lengths, source, data folder and ``cpu_watts_per_core``;
            names the records' profile.
        results_dir: The results folder (None: the profile's).
        tokenizer: The tokenizer counting the tokens (None: :func:`default_tokenizer`).
        datasets: Override the profile's datasets.
        lengths: Override the profile's lengths.
        methods: Restrict the methods (names of :data:`~tradeoff.ceilings.methods.METHODS`;
            each task keeps its own).
        max_samples: Unique validation ids per dataset: a number, ``{task: number}``, or None
            for :data:`DEFAULT_MAX_SAMPLES`. A number larger than the split keeps all; use
            ``{"summarization": None, "qa": None}`` for every id.
        seed: Seed of the subsample.
        span_margin: See :func:`~tradeoff.ceilings.methods.best_span`.
        legacy_cache: The former JSON cache, read only (None: ``ceilings/`` of the project
            cache).
        show_progress: Show a tqdm bar over (dataset, length).

    Returns:
        A :class:`CeilingUpdate`; its records per dataset in method order, then length.
    """
    results_dir = Path(results_dir) if results_dir is not None else profile.results_path
    legacy = Path(legacy_cache) if legacy_cache is not None else Path(CACHE_DIR) / LEGACY_CACHE
    tokenizer, splits = _tokenizer_and_splits(profile, tokenizer)
    tokenizer_hash = tokenizer_digest(tokenizer)
    watts = profile.cpu_watts_per_core
    datasets = list(datasets or profile.datasets)
    lengths = sorted(lengths or profile.lengths)
    records: dict[Path, CeilingRecord] = {}
    order: list[Path] = []
    computed = written = 0

    def keep(path: Path, record: CeilingRecord) -> None:
        nonlocal written
        save_record(record, path)
        records[path] = record
        written += 1

    with tqdm(total=len(datasets) * len(lengths), desc="ceilings",
              disable=not show_progress) as bar:
        for dataset in datasets:
            wanted = [m for m in METHODS[TASKS[dataset]] if methods is None or m in methods]
            rows, budget, n_available = _scored_rows(profile, dataset, splits.get(dataset),
                                                     max_samples, seed)
            digest = rows_digest(rows, budget)
            missing: dict[int, list[str]] = {}
            for method in wanted:
                for length in lengths:
                    path = ceiling_record_path(results_dir, dataset, length, method, tokenizer_hash)
                    order.append(path)
                    key = cache_key(dataset, profile.source, length, method, digest,
                                    tokenizer_hash, span_margin)
                    record = _finished(path, key)
                    if record is not None and record.cpu_watts_per_core == watts:
                        records[path] = record
                    elif record is not None:  # the same measurement under another wattage
                        keep(path, record.model_copy(update={"cpu_watts_per_core": watts}))
                    elif (old := _legacy(legacy, dataset, length, method, key,
                                         profile=profile.name, tokenizer_hash=tokenizer_hash,
                                         seed=seed)) is not None:
                        # The watts are an assumption applied to the measured CPU time.
                        keep(path, old.model_copy(update={"cpu_watts_per_core": watts}))
                    else:
                        missing.setdefault(length, []).append(method)
            bar.update(len(lengths) - len(missing))
            # Lengths missing the same methods are computed together: one tokenization.
            groups: dict[tuple[str, ...], list[int]] = {}
            for length, todo in missing.items():
                groups.setdefault(tuple(todo), []).append(length)
            for todo, todo_lengths in groups.items():
                for record in compute_ceilings(
                        dataset, rows, todo_lengths, tokenizer, methods=todo, budget_words=budget,
                        source=profile.source, cpu_watts_per_core=watts, span_margin=span_margin,
                        n_available=n_available, profile=profile.name, seed=seed,
                        on_length=lambda _: bar.update(1)):
                    keep(ceiling_record_path(results_dir, dataset, record.length, record.method,
                                             tokenizer_hash), record)
                    computed += 1
    return CeilingUpdate([records[p] for p in order], order, computed, written)
