"""What longer inputs can buy: ceilings and baselines against input length, drawn and tabled.

Everything here reads the ceilings table (:func:`tradeoff.analysis.table.load_ceilings`): the
extractive oracle and the QA best span (ceilings), lead, LexRank and BM25 (baselines), each
scored by the SCROLLS metric on the truncated input, with its measured CPU time. They are
properties of the data and of simple methods, not of LED or BigBird; every figure says so in its
title and the chapters in their captions (:func:`tradeoff.report.provenance.ceiling_provenance`).

Like :mod:`tradeoff.report.figures`, every figure is a fresh Figure outside pyplot and never
raises on missing data: a panel without records says so.
"""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from ..analysis.table import CEILING_COLUMNS, configurations
from .provenance import DATA_SHORT, unique_values
from ..numbers import fmt, fmt_column
from ..tasks import HEADLINE_WORDS
from .style import dataset_label, METHOD_STYLES, new_figure, no_data, plot_models

# The score each task's ceiling and baselines are compared on, in words.
SHARE_WORDS = {"recoverable_share": "answer text in the input (% of questions)",
               "answer_coverage": "answer position in the input (% of answers)"}
_KIND_ORDER = {"ceiling": 0, "baseline": 1}


def _rows(ceilings: pd.DataFrame, dataset: str | None = None) -> pd.DataFrame:
    """The rows of one dataset (None: all), with every column of the ceilings table."""
    if ceilings.empty or not set(CEILING_COLUMNS) <= set(ceilings.columns):
        return pd.DataFrame(columns=CEILING_COLUMNS)
    return ceilings if dataset is None else ceilings[ceilings["dataset"] == dataset]


def _methods(rows: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(task, method, tokenizer) of the rows, ceilings first, in a stable order."""
    keys = rows[["kind", "task", "method", "tokenizer"]].drop_duplicates()
    keys = sorted(keys.itertuples(index=False),
                  key=lambda k: (_KIND_ORDER.get(k.kind, 2), k.method, k.tokenizer))
    return [(k.task, k.method, k.tokenizer) for k in keys]


def _style(key, tokenizer: str, several: bool) -> tuple[str, str, str]:
    label, color, marker = METHOD_STYLES.get(key, (str(key[-1] if isinstance(key, tuple)
                                                       else key), "0.3", "o"))
    return (f"{label} [{tokenizer}]" if several else label), color, marker


def _line(ax, series: pd.DataFrame, y: str, label: str, color: str, marker: str,
          factor: float = 1.0) -> bool:
    series = series.dropna(subset=[y]).sort_values("length")
    if series.empty:
        return False
    ax.plot(series["length"].to_numpy(float), series[y].to_numpy(float) * factor,
            marker=marker, color=color, label=label, linewidth=1.5, markersize=7)
    return True


def _lengths_axis(ax, rows: pd.DataFrame) -> None:
    ax.set_xticks(sorted({int(n) for n in rows["length"].dropna()}))
    ax.set_xlabel("input length (tokens)")
    ax.margins(x=0.08, y=0.1)


def ceilings_vs_length(ceilings: pd.DataFrame, dataset: str, runs: pd.DataFrame | None = None,
                       signal: str = "headline") -> Figure:
    """Ceiling and baselines against input length, with their CPU time per sample.

    Summarization: the oracle, lead and LexRank scores (ROUGE geometric mean), then CPU time
    per sample. QA: the share of answers inside the truncated input (by text and by position),
    then the best-span ceiling and BM25 (token F1), then CPU time per sample. One line per
    method (and per tokenizer when the table has several). When the chapter's accuracy signal is
    the headline metric, the model runs are drawn beside the methods on the score panel (model
    colours); the validation loss is not on the same scale, so it is not.

    Args:
        ceilings: the ceilings table (:func:`tradeoff.analysis.table.load_ceilings`).
        dataset: the dataset to draw.
        runs: the chapter's tidy table of run records (optional).
        signal: the chapter's accuracy signal.

    Returns:
        A Figure (one panel saying so when the dataset has no ceiling records).
    """
    rows = _rows(ceilings, dataset)
    title = f"{dataset_label(dataset)}: what longer inputs can buy"
    if rows.empty:
        fig, axes = new_figure()
        axes[0, 0].set_title(title)
        no_data(axes[0, 0], f"no ceiling records for {dataset_label(dataset)} "
                            f"(the book computes them before the chapters)")
        return fig
    task = rows["task"].iloc[0]
    metric = rows["metric"].iloc[0]
    methods = _methods(rows)
    several = len({t for *_, t in methods}) > 1
    panels = ["shares", "score", "cpu"] if task == "qa" else ["score", "cpu"]
    fig, axes = new_figure(ncols=len(panels), width=4.4, height=3.6)
    sources = unique_values(rows, "source")
    data = "; ".join("data: " + DATA_SHORT.get(s, s) for s in sources)
    fig.suptitle(f"{title}\nproperties of the data and of simple methods, not of LED or BigBird"
                 f"\n{data}", fontsize=9)
    for ax, panel in zip(axes.flat, panels):
        drawn = 0
        if panel == "shares":
            for task_, method, tokenizer in methods:
                if method != "oracle":
                    continue
                series = rows[(rows["method"] == method) & (rows["tokenizer"] == tokenizer)]
                for column in SHARE_WORDS:
                    label, color, marker = _style(column, tokenizer, several)
                    drawn += _line(ax, series, column, label, color, marker)
            ax.set_ylabel("answers inside the truncated input (%)")
            ax.set_title("answers within reach", fontsize=9)
        elif panel == "score":
            for task_, method, tokenizer in methods:
                series = rows[(rows["method"] == method) & (rows["tokenizer"] == tokenizer)]
                label, color, marker = _style((task_, method), tokenizer, several)
                drawn += _line(ax, series, "score", label, color, marker)
            if runs is not None and signal == "headline" and len(runs):
                configs = configurations(runs, "headline", dataset=dataset)
                drawn += plot_models(ax, configs, "length", "value", annotate=False)
            ax.set_ylabel(f"{HEADLINE_WORDS.get(metric, metric)} (higher is better)")
            ax.set_title("ceiling and baselines", fontsize=9)
        else:
            for task_, method, tokenizer in methods:
                series = rows[(rows["method"] == method) & (rows["tokenizer"] == tokenizer)]
                label, color, marker = _style((task_, method), tokenizer, several)
                drawn += _line(ax, series, "cpu_s_per_sample", label, color, marker, 1e3)
            values = rows["cpu_s_per_sample"].dropna()
            values = values[values > 0]
            if len(values) and values.max() / values.min() > 20:
                ax.set_yscale("log")
            ax.set_ylabel("CPU time per sample (ms, measured)")
            ax.set_title("cost of each method", fontsize=9)
        if not drawn:
            no_data(ax, "no values")
            continue
        _lengths_axis(ax, rows)
        ax.legend(frameon=False, fontsize=7)
    return fig


def _label(task: str, method: str) -> str:
    return METHOD_STYLES.get((task, method), (method,))[0]


def cost_table(ceilings: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Per method and length: score, CPU time and estimated energy per sample, truncation.

    Args:
        ceilings: the ceilings table.
        dataset: the dataset.

    Returns:
        One row per (method, tokenizer, length) with headers in words and units; for QA the
        two answer shares of the ceiling (n/a for the baseline). Empty when there are no rows.
    """
    rows = _rows(ceilings, dataset)
    if rows.empty:
        return pd.DataFrame(columns=["method", "kind", "length (tokens)"])
    task, metric = rows["task"].iloc[0], rows["metric"].iloc[0]
    several = rows["tokenizer"].nunique() > 1
    out = []
    for task_, method, tokenizer in _methods(rows):
        series = rows[(rows["method"] == method) & (rows["tokenizer"] == tokenizer)]
        for row in series.sort_values("length").itertuples(index=False):
            line = {"method": _label(task_, method) + (f" [{tokenizer}]" if several else ""),
                    "kind": row.kind, "length (tokens)": int(row.length),
                    f"{HEADLINE_WORDS.get(metric, metric)} (0-100)": row.score}
            if task == "qa":
                line |= {words: getattr(row, column) for column, words in SHARE_WORDS.items()}
            line |= {"CPU time per sample (ms)": row.cpu_s_per_sample * 1e3,
                     "estimated energy per sample (J)": row.energy_j_per_sample,
                     "inputs truncated (%)": 100 * row.truncated_share,
                     "examples": int(row.n_samples)}
            out.append(line)
    return pd.DataFrame(out)


def _series(ceilings: pd.DataFrame, dataset: str, method: str, column: str) -> pd.Series:
    """``column`` of one method by length (the first tokenizer when there are several)."""
    rows = _rows(ceilings, dataset)
    rows = rows[rows["method"] == method]
    if rows.empty:
        return pd.Series(dtype=float)
    rows = rows[rows["tokenizer"] == rows["tokenizer"].iloc[0]]
    return rows.set_index("length")[column].astype(float).dropna().sort_index()


def gain_text(ceilings: pd.DataFrame, dataset: str, method: str = "oracle",
              column: str = "score") -> str:
    """A method's value at the shortest and longest length in words, with the change.

    Returns:
        e.g. ``"36.1 at 1024 tokens, 39.5 at 4096 tokens (+3.4 points)"``; with one length,
        its value and that it is the only one.
    """
    series = _series(ceilings, dataset, method, column)
    if series.empty:
        return "n/a (no ceiling records)"
    if len(series) < 2:
        return f"{fmt(series.iloc[0], 'score')} at {int(series.index[0])} tokens (the only length)"
    (a, va), (b, vb) = (series.index[0], series.iloc[0]), (series.index[-1], series.iloc[-1])
    return (f"{fmt(va, 'score')} at {int(a)} tokens, {fmt(vb, 'score')} at {int(b)} tokens "
            f"({fmt(vb - va, 'score', signed=True)} points)")


def cost_text(ceilings: pd.DataFrame, dataset: str, method: str) -> str:
    """A method's CPU time per sample at the shortest and longest length, and their ratio.

    Returns:
        e.g. ``"20.5 ms at 1024 tokens, 284 ms at 4096 tokens (×13.9)"``, both in one unit.
    """
    series = _series(ceilings, dataset, method, "cpu_s_per_sample")
    if series.empty:
        return "n/a (no ceiling records)"
    if len(series) < 2 or not series.iloc[0] > 0:
        return f"{fmt(series.iloc[0], 'time')} at {int(series.index[0])} tokens (the only length)"
    (a, va), (b, vb) = (series.index[0], series.iloc[0]), (series.index[-1], series.iloc[-1])
    unit, (ta, tb) = fmt_column([va, vb], "time")
    return (f"{ta} {unit} at {int(a)} tokens, {tb} {unit} at {int(b)} tokens "
            f"({fmt(vb / va, 'ratio')})")


def doublings(lengths) -> list[tuple[int, int]]:
    """The pairs (n, 2n) among the given lengths, shortest first."""
    present = sorted({int(n) for n in lengths})
    return [(n, 2 * n) for n in present if 2 * n in present]


def doubling_table(ceilings: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, how much ceiling each doubling of the input buys.

    One row per dataset and ceiling measure (the headline score of its oracle; for QA also the
    two shares of answers inside the input, by text and by position): the lengths with records, the
    value at each, and the change of each doubling (n -> 2n) that the lengths allow, in points
    (NaN where a dataset lacks one of the two lengths).

    Args:
        ceilings: the ceilings table (every dataset).

    Returns:
        Headers in words; empty when there are no ceiling records.
    """
    rows = _rows(ceilings)
    rows = rows[rows["kind"] == "ceiling"]
    if rows.empty:
        return pd.DataFrame(columns=["dataset", "ceiling", "lengths with records"])
    pairs = doublings(rows["length"])
    lengths = sorted({int(n) for n in rows["length"]})
    out = []
    for dataset in dict.fromkeys(rows["dataset"]):
        task = rows.loc[rows["dataset"] == dataset, "task"].iloc[0]
        metric = rows.loc[rows["dataset"] == dataset, "metric"].iloc[0]
        measures = [("score", f"{_label(task, 'oracle')}: {HEADLINE_WORDS.get(metric, metric)}")]
        if task == "qa":
            measures += list(SHARE_WORDS.items())
        for column, words in measures:
            series = _series(ceilings, dataset, "oracle", column)
            line = {"dataset": dataset_label(dataset), "ceiling": words,
                    "lengths with records": ", ".join(str(int(n)) for n in series.index)}
            line |= {f"at {n}": series.get(n, math.nan) for n in lengths}
            line |= {f"{a} → {b} (points)": (series[b] - series[a]
                                             if a in series.index and b in series.index
                                             else math.nan)
                     for a, b in pairs}
            out.append(line)
    return pd.DataFrame(out)


def doubling_text(ceilings: pd.DataFrame) -> str:
    """Which lengths have ceiling records and which doublings they allow, in words."""
    rows = _rows(ceilings)
    if rows.empty:
        return "no ceiling records, so no doubling can be measured"
    lengths = sorted({int(n) for n in rows["length"]})
    pairs = doublings(lengths)
    text = f"ceilings were computed at {', '.join(map(str, lengths))} tokens"
    if not pairs:
        return text + "; no two of these lengths are a doubling apart"
    outside = [n for n in lengths if not any(n in p for p in pairs)]
    text += (f"; the doubling{'s' if len(pairs) > 1 else ''} "
             + ", ".join(f"{a} → {b}" for a, b in pairs)
             + (" are" if len(pairs) > 1 else " is") + " measured")
    if outside:
        text += f" ({', '.join(map(str, outside))} is in no doubling and shown for reference)"
    return text


def largest_doubling_text(ceilings: pd.DataFrame) -> str:
    """The doubling of the input that bought the most headline ceiling, in words."""
    table = doubling_table(ceilings)
    gains = [c for c in table.columns if c.endswith("(points)")]
    if table.empty or not gains:
        return "n/a (fewer than two lengths a doubling apart)"
    headline = table[~table["ceiling"].isin(SHARE_WORDS.values())]
    values = headline.set_index("dataset")[gains].stack().dropna()
    if values.empty:
        return "n/a (fewer than two lengths a doubling apart)"
    (dataset, column), value = values.idxmax(), values.max()
    gain = fmt(value, "score", signed=True)
    return f"{dataset}, {column.removesuffix(' (points)')}: {gain} points"
