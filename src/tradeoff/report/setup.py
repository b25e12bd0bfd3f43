"""The setup chapter's data views: split sizes, input lengths against the studied lengths,
and where Qasper's answers sit in the input (what truncation cuts away).

These read the datasets (and train a small tokenizer to count lengths), not run records; they
import :mod:`tradeoff.data` only when called, so importing the report stays light.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..config import Profile
from ..tasks import LENGTHS
from .style import _PALETTE, dataset_label, new_figure, no_data


def load_splits(profile: Profile, datasets: Iterable[str] | None = None) -> dict[str, Any]:
    """Each dataset's full train and validation splits from the profile's source.

    Args:
        profile: gives the source (``aclsum`` or ``scrolls``) and ``data_dir``.
        datasets: which datasets (None: the profile's).

    Returns:
        ``{dataset: DatasetDict}``, or ``{dataset: "error message"}`` where the data is not
        available (e.g. SCROLLS offline without ``data_dir``).
    """
    from ..data import load_dataset_splits
    from ..errors import DataUnavailableError

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
    from ..data import describe_source

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
    from ..data import split_query, train_tokenizer

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
    from ..data import _token_lengths  # the exact counting rule of length_stats

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
    fig, axes = new_figure(width=7.0, height=0.6 + 0.7 * max(lengths_frame["dataset"].nunique(), 1))
    ax = axes[0, 0]
    ax.set_title("Input lengths against the studied truncation lengths")
    if lengths_frame.empty:
        no_data(ax, "no data available")
        return fig
    names = list(dict.fromkeys(lengths_frame["dataset"]))
    data = [lengths_frame.loc[lengths_frame["dataset"] == d, "tokens"].to_numpy(float)
            for d in names]
    parts = ax.boxplot(data, orientation="horizontal",
                       tick_labels=[dataset_label(d) for d in names], whis=(5, 95),
                       showfliers=True, flierprops={"markersize": 2})
    # Named for the figure's CSV (report.figure_data): whiskers and caps come two per box.
    for part, artists in parts.items():
        for i, artist in enumerate(artists):
            owner = names[i * len(names) // len(artists)]
            artist.set_gid(f"{dataset_label(owner)}: {part}")
    for n in lengths:
        ax.axvline(n, color="0.4", linestyle=":", linewidth=1, gid="studied input length")
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
    from ..data import answer_positions, subsample_by_id

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
    from ..data import answer_coverage

    fig, axes = new_figure(width=7.0, height=3.4)
    ax = axes[0, 0]
    ax.set_title("Qasper: where answers end in the input")
    found = positions[positions["found"].astype(bool)] if len(positions) else positions
    if found.empty:
        no_data(ax, "no answer located in its document")
        return fig
    ends = found["token_end"].astype(float).dropna()
    ax.hist(ends, bins=40, color="0.6")
    coverage = answer_coverage(positions, lengths)
    for n in lengths:
        ax.axvline(n, color=_PALETTE[3], linestyle="--", linewidth=1, gid="studied input length")
        ax.annotate(f"{n}: {coverage[n]:.0%} kept", (n, 0.98), xycoords=("data", "axes fraction"),
                    rotation=90, ha="right", va="top", fontsize=7,
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1})
    unit = positions["unit"].iloc[0]
    missing = 1 - float(positions["found"].astype(bool).mean())
    ax.set_xlabel(f"input position of the answer's last token ({unit}); "
                  f"{missing:.0%} of answers not found in the document")
    ax.set_ylabel("answers")
    return fig
