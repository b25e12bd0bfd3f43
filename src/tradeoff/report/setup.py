"""The setup chapter's data views: split sizes, input lengths against the studied lengths,
and where Qasper's answers sit in the input (what truncation cuts away).

The numbers come from :mod:`tradeoff.data` (:mod:`tradeoff.data.stats` measures the data, and
:func:`tradeoff.data.length_tokenizer` counts its tokens); this module only tables and draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ..config import Profile
from ..data import answer_coverage, describe_source, length_summary, split_sizes
from ..tasks import LENGTHS
from .style import PALETTE, dataset_label, new_figure, no_data


def data_sources_table(splits: dict[str, Any], profile: Profile) -> pd.DataFrame:
    """Per dataset: task, source, description, split sizes and the rows a run uses.

    Args:
        splits: :func:`tradeoff.data.load_splits` output.
        profile: caps on rows per run come from here.

    Returns:
        One row per dataset.
    """
    rows = []
    for size in split_sizes(splits).itertuples(index=False):
        source = describe_source(size.dataset, profile.source)
        rows.append({
            "dataset": size.dataset, "task": source["task"],
            "source": "stand-in (not SCROLLS)" if source["stand_in"] else "SCROLLS",
            "description": source["description"] if size.available else size.error,
            "train rows": size.train_rows,
            "validation rows": size.validation_rows,
            "validation ids": size.validation_ids,
            "ids per run (train / validation)":
                f"{profile.max_train_samples or 'all'} / {profile.max_eval_samples or 'all'}",
        })
    return pd.DataFrame(rows)


def length_table(lengths_frame: pd.DataFrame, lengths: Sequence[int] = LENGTHS) -> pd.DataFrame:
    """Per dataset: n, mean, median, p90, max input length and the share longer than each L.

    The values are :func:`tradeoff.data.length_summary` (``frac_gt_L`` shown as "% > L").
    """
    summary = length_summary(lengths_frame, lengths)
    rows = []
    for stats in summary.to_dict("records"):
        row = {key: stats[key] for key in ("dataset", "n", "unit", "mean", "median", "p90", "max")}
        row |= {f"% > {n}": 100 * stats[f"frac_gt_{n}"] for n in lengths}
        rows.append(row)
    return pd.DataFrame(rows)


def length_distribution(lengths_frame: pd.DataFrame, lengths: Sequence[int] = LENGTHS) -> Figure:
    """Box plots of input length per dataset against the studied input lengths.

    Args:
        lengths_frame: :func:`tradeoff.data.input_lengths` output.
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


def answer_positions_figure(positions: pd.DataFrame, lengths: Sequence[int] = LENGTHS) -> Figure:
    """Where QA answers end in the input, against the studied input lengths.

    Args:
        positions: :func:`tradeoff.data.answer_positions` output.
        lengths: input lengths, drawn as vertical lines labelled with the share of answers
            kept (:func:`tradeoff.data.answer_coverage`).

    Returns:
        A Figure: histogram of the answers' last token position.
    """
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
        ax.axvline(n, color=PALETTE[3], linestyle="--", linewidth=1, gid="studied input length")
        ax.annotate(f"{n}: {coverage[n]:.0%} kept", (n, 0.98), xycoords=("data", "axes fraction"),
                    rotation=90, ha="right", va="top", fontsize=7,
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1})
    unit = positions["unit"].iloc[0]
    missing = 1 - float(positions["found"].astype(bool).mean())
    ax.set_xlabel(f"input position of the answer's last token ({unit}); "
                  f"{missing:.0%} of answers not found in the document")
    ax.set_ylabel("answers")
    return fig
