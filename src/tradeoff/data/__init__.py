"""SCROLLS data: the official zips, offline ACLSum stand-ins, the tokenizers trained on them and
their statistics.

Two sources give the same schema (:mod:`.rows`: columns ``id``, ``pid``, ``input``, ``output``;
splits ``train`` and ``validation``):

* ``"scrolls"`` (:mod:`.scrolls`): the official SCROLLS zips (``{name}/{train,validation}.jsonl``),
  from a local folder or the Hub.
* ``"aclsum"`` (:mod:`.stand_ins`): deterministic stand-ins built from the 250 ACL papers shipped
  with the ``aclsum`` package, one per SCROLLS dataset, for offline runs. They are *not* the
  SCROLLS data; every row's ``id`` starts with ``aclsum/`` and :func:`describe_source` says what
  was built.

:mod:`.tokenizer` trains the byte-level BPE of random-init models (and of the length counts);
:mod:`.stats` measures the data (lengths, answer positions and coverage). This module is the
API the rest of the package uses.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import datasets

from ..errors import DataUnavailableError
from ..tasks import DATASETS, SCROLLS_NAMES, TASKS
from . import scrolls, stand_ins
from .rows import (
    CLOZE_BLANK,
    QUERY_SEPARATOR,
    SOURCES,
    SPLITS,
    check_dataset,
    check_source,
    group_references,
    split_query,
    subsample_by_id,
)
from .scrolls import SCROLLS_URL
from .stand_ins import N_STRATA, build_stand_in, stand_in_split_of
from .stats import (
    answer_coverage,
    answer_positions,
    input_lengths,
    length_stats,
    length_summary,
    qasper_positions,
    split_sizes,
    token_lengths,
)
from .tokenizer import (
    SPECIAL_TOKENS,
    length_tokenizer,
    run_tokenizer,
    tokenizer_digest,
    tokenizer_label,
    train_tokenizer,
)

__all__ = [
    "CLOZE_BLANK", "DATASETS", "DataUnavailableError", "N_STRATA", "QUERY_SEPARATOR",
    "SCROLLS_URL", "SOURCES", "SPECIAL_TOKENS", "SPLITS", "answer_coverage", "answer_positions",
    "build_stand_in", "check_dataset", "check_source", "describe_source", "group_references",
    "input_lengths", "length_stats", "length_summary", "length_tokenizer", "load_dataset_splits",
    "load_splits", "qasper_positions", "run_tokenizer", "set_offline_env", "split_query",
    "split_sizes", "stand_in_split_of", "subsample_by_id", "token_lengths", "tokenizer_digest",
    "tokenizer_label", "train_tokenizer",
]


def describe_source(dataset: str, source: str) -> dict[str, Any]:
    """Say where a dataset's rows come from, for records and the book.

    Args:
        dataset: One of :data:`DATASETS`.
        source: One of :data:`SOURCES`.

    Returns:
        A dict with ``dataset``, ``scrolls_name``, ``task``, ``source``, ``stand_in`` (bool),
        ``description`` (one sentence) and ``origin`` (URL or package).
    """
    check_dataset(dataset)
    check_source(source)
    description, origin = (scrolls if source == "scrolls" else stand_ins).describe(dataset)
    return {
        "dataset": dataset,
        "scrolls_name": SCROLLS_NAMES[dataset],
        "task": TASKS[dataset],
        "source": source,
        "stand_in": source == "aclsum",
        "description": description,
        "origin": origin,
    }


def set_offline_env(cache_home: Path) -> dict[str, str]:
    """Put the Hugging Face libraries in offline mode with a project-local cache.

    Values already set by the user win. ``huggingface_hub`` and ``datasets`` read these variables
    when first imported, so entry points should call this before importing them; the loaders in
    this package read the environment at call time and do not depend on that order.

    Args:
        cache_home: Folder to use as ``HF_HOME`` when none is set.

    Returns:
        The values now in effect for the three variables.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HOME", str(Path(cache_home)))
    return {key: os.environ[key] for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME")}


def load_dataset_splits(
    dataset: str,
    source: str = "aclsum",
    data_dir: str | os.PathLike | None = None,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    seed: int = 0,
    *,
    cache_dir: str | os.PathLike | None = None,
) -> datasets.DatasetDict:
    """Load the train and validation splits of one dataset.

    Args:
        dataset: One of :data:`DATASETS`.
        source: ``"aclsum"`` (offline stand-ins) or ``"scrolls"`` (official zips).
        data_dir: For ``"scrolls"``: a ``{name}.zip``, a folder holding it, a folder holding the
            extracted ``{name}/`` folder, or that folder itself. Without it the zip is fetched from
            the Hub (or its local cache). Ignored for ``"aclsum"``.
        max_train_samples: Keep at most this many unique ids of the train split.
        max_eval_samples: Keep at most this many unique ids of the validation split.
        seed: Seed of the subsample (the same seed gives the same rows).
        cache_dir: Where to keep the downloaded zip, its extraction and the Arrow cache; the
            Hugging Face defaults when ``None``.

    Returns:
        A ``DatasetDict`` with splits ``train`` and ``validation`` and columns ``id``, ``pid``,
        ``input``, ``output``. Each split's ``info.description`` carries the provenance.

    Raises:
        ValueError: Unknown dataset or source.
        DataUnavailableError: SCROLLS data neither local nor downloadable.
    """
    check_dataset(dataset)
    check_source(source)
    if source == "scrolls":
        splits = scrolls.load_scrolls(dataset, data_dir, cache_dir)
    else:
        splits = build_stand_in(dataset)
    limits = {"train": max_train_samples, "validation": max_eval_samples}
    description = describe_source(dataset, source)["description"]
    out = {}
    for split in SPLITS:
        ds = subsample_by_id(splits[split], limits[split], seed)
        ds.info.description = description
        out[split] = ds
    return datasets.DatasetDict(out)


class _DataSettings(Protocol):
    """What :func:`load_splits` reads of a profile (:class:`tradeoff.config.Profile`)."""

    datasets: list[str]
    source: str
    data_dir: str | None


def load_splits(profile: _DataSettings, datasets: Iterable[str] | None = None) -> dict[str, Any]:
    """Each dataset's full train and validation splits from the profile's source.

    Args:
        profile: gives the source (``aclsum`` or ``scrolls``) and ``data_dir``.
        datasets: which datasets (None: the profile's).

    Returns:
        ``{dataset: DatasetDict}``, or ``{dataset: "error message"}`` where the data is not
        available (e.g. SCROLLS offline without ``data_dir``).
    """
    out: dict[str, Any] = {}
    for dataset in datasets or profile.datasets:
        try:
            out[dataset] = load_dataset_splits(dataset, profile.source, profile.data_dir)
        except (DataUnavailableError, OSError, ValueError) as err:
            out[dataset] = f"{err.__class__.__name__}: {err}"
    return out
