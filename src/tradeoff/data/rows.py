"""The row layout both sources share, and the operations on rows that do not care where they
came from: checks of names, the query separator, grouping references by id, subsampling, and the
folder where both keep what they derive (the ``datasets`` cache).

Every source gives splits ``train`` and ``validation`` with the string columns ``id``, ``pid``,
``input`` and ``output``. Query datasets (QMSum, Qasper) put the query first, a blank line, then
the document, as SCROLLS does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets

from ..tasks import DATASETS

SOURCES = ("aclsum", "scrolls")
SPLITS = ("train", "validation")
COLUMNS = ("id", "pid", "input", "output")

# What separates the query from the document in the inputs of tasks.QUERY_DATASETS.
QUERY_SEPARATOR = "\n\n"
# The blank of the Qasper stand-in's cloze questions.
CLOZE_BLANK = "____"


def row_features() -> datasets.Features:
    """The ``datasets`` features of a split: the four string columns of :data:`COLUMNS`."""
    return datasets.Features({key: datasets.Value("string") for key in COLUMNS})


def hf_cache_folder(cache_dir: str | os.PathLike | None, sub: str, variable: str,
                    default: Callable[[], str | os.PathLike]) -> Path:
    """A Hugging Face cache folder: ``cache_dir/sub``, else the environment's ``variable``, else
    ``$HF_HOME/sub``, else the library's ``default()``.

    Resolved at call time: the HF libraries freeze their own defaults when imported, before an
    entry point may have set the environment (:func:`tradeoff.data.set_offline_env`).
    """
    if cache_dir is not None:
        return Path(cache_dir) / sub
    if os.environ.get(variable):
        return Path(os.environ[variable])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / sub
    return Path(default())


def datasets_cache(cache_dir: str | os.PathLike | None = None) -> Path:
    """The ``datasets`` cache folder (see :func:`hf_cache_folder`)."""
    return hf_cache_folder(cache_dir, "datasets", "HF_DATASETS_CACHE",
                           lambda: datasets.config.HF_DATASETS_CACHE)


@contextlib.contextmanager
def folder_written_atomically(target: Path) -> Iterator[Path]:
    """Fill the yielded temporary sibling of ``target``; it then becomes ``target`` in one rename,
    so an interrupted write leaves no half folder. Where another process put ``target`` there
    first, its folder is kept and this one removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_choice(value: str, valid: Sequence[str], what: str) -> str:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    return value


def check_dataset(dataset: str) -> str:
    """Return ``dataset`` if it is one of :data:`tradeoff.tasks.DATASETS`, else raise ``ValueError``."""
    return _check_choice(dataset, DATASETS, "dataset")


def check_source(source: str) -> str:
    """Return ``source`` if it is one of :data:`SOURCES`, else raise ``ValueError``."""
    return _check_choice(source, SOURCES, "data source")


def stable_int(text: str) -> int:
    """A hash of ``text`` that is the same in every process (Python's ``hash`` is salted)."""
    # Splits and samples must not change between runs.
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def split_query(text: str) -> tuple[str, str]:
    """Split a SCROLLS query-dataset input into ``(query, document)``.

    Args:
        text: ``"query\\n\\ndocument"``; a text without the separator is all document.

    Returns:
        The query (possibly empty) and the document.
    """
    query, sep, document = text.partition(QUERY_SEPARATOR)
    return (query, document) if sep else ("", text)


def subsample_by_id(split: datasets.Dataset, max_ids: int | None, seed: int = 0) -> datasets.Dataset:
    """Keep a seeded random subset of unique ids, with all rows of each kept id.

    Whole ids are kept so that Qasper's several references per question stay together; row order
    is preserved.

    Args:
        split: Rows with an ``id`` column.
        max_ids: Number of unique ids to keep; ``None`` (or more than there are) keeps all.
        seed: Seed of the choice.

    Returns:
        The selected rows.
    """
    if max_ids is None:
        return split
    if max_ids < 0:
        raise ValueError(f"max samples must be >= 0, got {max_ids}")
    ids = split["id"]
    unique = list(dict.fromkeys(ids))
    if max_ids >= len(unique):
        return split
    chosen = set(random.Random(seed).sample(unique, max_ids))
    return split.select([i for i, id_ in enumerate(ids) if id_ in chosen])


def group_references(split: datasets.Dataset | Iterable[Mapping[str, Any]]) -> datasets.Dataset:
    """Collapse rows that share an ``id`` into one row with all its references.

    SCROLLS scores each id once, taking the best score over its references (Qasper has several
    rows per id when there are several annotators).

    Args:
        split: Rows with ``id``, ``pid``, ``input`` and ``output``.

    Returns:
        A ``Dataset`` with one row per unique id, in first-seen order, and columns ``id``, ``pid``,
        ``input``, ``references`` (list of str).
    """
    rows = split if isinstance(split, datasets.Dataset) else list(split)
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = grouped.get(row["id"])
        if entry is None:
            grouped[row["id"]] = {"id": row["id"], "pid": row.get("pid", row["id"]),
                                  "input": row["input"], "references": [row["output"]]}
        else:
            entry["references"].append(row["output"])
    features = datasets.Features({
        "id": datasets.Value("string"), "pid": datasets.Value("string"),
        "input": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string")),
    })
    return datasets.Dataset.from_list(list(grouped.values()), features=features)
