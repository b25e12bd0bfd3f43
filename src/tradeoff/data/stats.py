"""Statistics of the data: split sizes, input lengths against the studied lengths, and where QA
answers sit in the input (what truncation cuts away).

The setup chapter shows these (:mod:`tradeoff.report.setup` only formats and draws them) and the
QA ceiling stores :func:`answer_coverage` beside its own share. Lengths count tokens of a
tokenizer with its special tokens, so a text "exceeds L" exactly when ``max_length=L``
truncates it, or whitespace-separated tokens without one.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..tasks import LENGTHS
from .rows import CLOZE_BLANK, QUERY_SEPARATOR, split_query, subsample_by_id

POSITION_COLUMNS = ["id", "pid", "answer", "found", "char_offset", "document_chars",
                    "relative_position", "token_end"]


def _unit(tokenizer: Any | None) -> str:
    return "tokens" if tokenizer is not None else "whitespace tokens"


def token_lengths(texts: Sequence[str], tokenizer: Any | None, batch_size: int = 64) -> list[int]:
    """The length of each text: tokens of ``tokenizer`` with special tokens, or whitespace tokens."""
    if tokenizer is None:
        return [len(t.split()) for t in texts]
    lengths: list[int] = []
    for i in range(0, len(texts), batch_size):
        # Special tokens included: a text "exceeds L" exactly when max_length=L truncates it.
        encoded = tokenizer(list(texts[i:i + batch_size]), add_special_tokens=True)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return lengths


def _summary(counts: pd.Series, lengths: Sequence[int]) -> dict[str, Any]:
    """``n``, ``mean``, ``median``, ``p90``, ``min``, ``max`` and ``frac_gt_{L}`` of lengths."""
    counts = counts.astype("float64")
    stats: dict[str, Any] = {
        "n": int(counts.size), "mean": float(counts.mean()), "median": float(counts.median()),
        "p90": float(counts.quantile(0.9)), "min": float(counts.min()), "max": float(counts.max()),
    }
    for length in lengths:
        stats[f"frac_gt_{length}"] = float((counts > length).mean())
    return stats


def length_stats(texts: Iterable[str], tokenizer: Any | None = None,
                 lengths: Sequence[int] = LENGTHS) -> dict[str, float]:
    """Token-length summary of texts and the fraction that truncation at each length would cut.

    Args:
        texts: Inputs (or outputs) to measure.
        tokenizer: A Hugging Face tokenizer; ``None`` counts whitespace-separated tokens.
        lengths: Input lengths to report ``frac_gt_{L}`` for.

    Returns:
        ``n``, ``mean``, ``median``, ``p90``, ``min``, ``max``, ``frac_gt_{L}`` for each L, and
        ``unit`` (``"tokens"`` or ``"whitespace tokens"``).
    """
    counts = pd.Series(token_lengths(list(texts), tokenizer), dtype="float64")
    return _summary(counts, lengths) | {"unit": _unit(tokenizer)}


def split_sizes(splits: Mapping[str, Any]) -> pd.DataFrame:
    """Rows and unique validation ids of each dataset's splits.

    Args:
        splits: :func:`tradeoff.data.load_splits` output.

    Returns:
        One row per dataset: ``dataset``, ``available``, ``error`` (the error text where the
        data is not available, else None), ``train_rows``, ``validation_rows`` and
        ``validation_ids`` (NaN where not available).
    """
    rows = []
    for dataset, split in splits.items():
        available = not isinstance(split, str)
        rows.append({
            "dataset": dataset, "available": available, "error": None if available else split,
            "train_rows": len(split["train"]) if available else math.nan,
            "validation_rows": len(split["validation"]) if available else math.nan,
            "validation_ids": len(set(split["validation"]["id"])) if available else math.nan,
        })
    return pd.DataFrame(rows, columns=["dataset", "available", "error", "train_rows",
                                       "validation_rows", "validation_ids"])


def input_lengths(splits: Mapping[str, Any], tokenizer=None, sample: int | None = 50,
                  seed: int = 0) -> pd.DataFrame:
    """Input length of (a seeded sample of) each dataset's train and validation rows.

    Counts as :func:`length_stats` does (:func:`token_lengths`).

    Args:
        splits: :func:`tradeoff.data.load_splits` output.
        tokenizer: a Hugging Face tokenizer, or None for whitespace tokens.
        sample: rows per split (None: all).
        seed: seed of the sample.

    Returns:
        Long table: ``dataset``, ``split``, ``tokens``, ``unit``.
    """
    unit = _unit(tokenizer)
    rows = []
    for dataset, split in splits.items():
        if isinstance(split, str):
            continue
        for name in ("train", "validation"):
            texts = split[name]["input"]
            if sample is not None and len(texts) > sample:
                picks = np.random.default_rng(seed).choice(len(texts), sample, replace=False)
                texts = [texts[int(i)] for i in sorted(picks)]
            for n in token_lengths(list(texts), tokenizer):
                rows.append({"dataset": dataset, "split": name, "tokens": n, "unit": unit})
    return pd.DataFrame(rows, columns=["dataset", "split", "tokens", "unit"])


def length_summary(lengths_frame: pd.DataFrame, lengths: Sequence[int] = LENGTHS) -> pd.DataFrame:
    """Per dataset, the summary of :func:`length_stats` over an :func:`input_lengths` table.

    Returns:
        One row per dataset, in first-seen order: ``dataset``, ``unit`` and the keys of
        :func:`length_stats`.
    """
    rows = [{"dataset": dataset, "unit": group["unit"].iloc[0]}
            | _summary(group["tokens"], lengths)
            for dataset, group in lengths_frame.groupby("dataset", sort=False)]
    return pd.DataFrame(rows)


def answer_positions(dataset_rows: Iterable[Mapping[str, Any]],
                     tokenizer: Any | None = None) -> pd.DataFrame:
    """Locate each QA answer in its document, to show how far into the input answers lie.

    For a cloze row the filled question sentence is found in the document and the blank's place
    gives the answer; otherwise the first occurrence of the answer (case-insensitive) is used.
    Answers not in the document (e.g. Qasper's "Yes", "Unanswerable") get ``found=False``.

    Args:
        dataset_rows: Rows with ``id``, ``input`` (``"question\\n\\ndocument"``) and ``output``.
        tokenizer: A fast Hugging Face tokenizer; ``None`` counts whitespace tokens.

    Returns:
        One row per input row: ``id``, ``pid``, ``answer``, ``found``, ``char_offset`` (in the
        document), ``document_chars``, ``relative_position`` (offset / document length),
        ``token_end`` (input tokens up to and including the answer's last token, counting the
        leading ``<s>`` when the tokenizer adds one; NaN if not found) and ``unit``.
    """
    records = []
    document_ends: dict[str, list[int]] = {}  # per call: documents repeat across questions
    for row in dataset_rows:
        question, document = split_query(row["input"])
        answer = row["output"]
        offset = -1
        if CLOZE_BLANK in question:
            sentence_at = document.find(question.replace(CLOZE_BLANK, answer, 1))
            if sentence_at >= 0:
                offset = sentence_at + question.index(CLOZE_BLANK)
        if offset < 0 and answer.strip():
            offset = document.lower().find(answer.lower())
        found = offset >= 0
        records.append({
            "id": row["id"], "pid": row.get("pid", row["id"]), "answer": answer, "found": found,
            "char_offset": offset if found else None, "document_chars": len(document),
            "relative_position": offset / len(document) if found and document else None,
            "token_end": (_token_end(question, document, offset + len(answer), tokenizer, document_ends)
                          if found else float("nan")),
        })
    frame = pd.DataFrame(records, columns=POSITION_COLUMNS)
    frame["unit"] = _unit(tokenizer)
    return frame


def qasper_positions(splits: Mapping[str, Any], tokenizer=None, sample: int | None = 300,
                     seed: int = 0) -> pd.DataFrame:
    """:func:`answer_positions` of (a seeded sample of) Qasper's validation ids.

    Args:
        splits: :func:`tradeoff.data.load_splits` output.
        tokenizer: as for :func:`input_lengths`.
        sample: at most this many validation ids (None: all), all rows of each kept.
        seed: seed of the sample.

    Returns:
        The positions table; empty (with its columns) when Qasper is not available.
    """
    split = splits.get("qasper")
    if split is None or isinstance(split, str):
        return answer_positions([], tokenizer)
    return answer_positions(subsample_by_id(split["validation"], sample, seed), tokenizer)


def _token_end(question: str, document: str, answer_end: int, tokenizer: Any | None,
               document_ends: dict[str, list[int]]) -> float:
    """Input tokens needed to include the document up to character ``answer_end``."""
    prefix = question + QUERY_SEPARATOR if question else ""
    if tokenizer is None:
        return float(len(prefix.split()) + len(document[:answer_end].split()))
    # Query datasets repeat one document under many questions: tokenize each document once and
    # the question separately. Exact for byte-level BPE, whose pre-tokenizer always splits at
    # the newline before the document.
    ends = document_ends.get(document)
    if ends is None:
        offsets = tokenizer(document, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        ends = document_ends[document] = [end for _, end in offsets]
    index = bisect.bisect_left(ends, answer_end)
    return float(_leading_specials(tokenizer) + _prefix_tokens(prefix, document, tokenizer) + index + 1)


def _prefix_tokens(prefix: str, document: str, tokenizer: Any) -> int:
    if not prefix:
        return 0
    offsets = tokenizer(prefix + document[:64], add_special_tokens=False,
                        return_offsets_mapping=True)["offset_mapping"]
    return sum(1 for start, _ in offsets if start < len(prefix))


def _leading_specials(tokenizer: Any) -> int:
    mask = tokenizer("a", add_special_tokens=True, return_special_tokens_mask=True)["special_tokens_mask"]
    return next((i for i, m in enumerate(mask) if not m), len(mask))


def answer_coverage(positions: pd.DataFrame, lengths: Sequence[int] = LENGTHS) -> dict[int, float]:
    """Fraction of answers that survive truncation of the input to each length.

    With a tokenizer one slot is left for ``</s>``, which truncation keeps at the end.
    Answers not found in the document count as not covered.

    Args:
        positions: Output of :func:`answer_positions`.
        lengths: Input lengths.

    Returns:
        ``{length: fraction}``.
    """
    if positions.empty:
        return {length: float("nan") for length in lengths}
    reserve = 1 if (positions["unit"] == "tokens").all() else 0
    ends = positions["token_end"]
    return {length: float((ends <= length - reserve).mean()) for length in lengths}
