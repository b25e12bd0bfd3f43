"""How the book looks: one colour and marker per model, dataset names, figure defaults.

Every figure of the report draws through these helpers, so a model has the same colour on every
page and a panel without data says so in words instead of raising. Figures stay outside pyplot
(a notebook never shows one twice); :func:`_register_png_formatter` lets ``glue`` render them.
Numbers are written by :mod:`tradeoff.numbers`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.table import ACCURACY_SIGNALS
from ..numbers import KINDS, column_unit
from ..tasks import DATASET_LABELS, MODELS, SUMMARIZATION

# One color and marker per model across the whole book. The colours are seaborn's colour-blind
# palette, `seaborn.color_palette("colorblind").as_hex()`, written out: importing seaborn (and the
# scipy.stats it loads) took a second of every notebook kernel for these ten colours.
# tests/test_style.py checks them against seaborn.
PALETTE = ("#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc",
           "#ca9161", "#fbafe4", "#949494", "#ece133", "#56b4e9")


# A family shares its colour (its sizes differ by marker); BART-base, a 1024-position baseline
# with published SCROLLS scores, has its own.
MODEL_COLORS = {"led-base": PALETTE[0], "led-large": PALETTE[1], "bigbird-large": PALETTE[2],
                "longt5-base": PALETTE[3], "longt5-large": PALETTE[3],
                "longt5-xl": PALETTE[3], "pegasus-x-base": PALETTE[5],
                "pegasus-x-large": PALETTE[5], "bart-base": PALETTE[8]}


MODEL_MARKERS = {"led-base": "o", "led-large": "s", "bigbird-large": "^", "longt5-base": "P",
                 "longt5-large": "p", "longt5-xl": "H", "pegasus-x-base": "X",
                 "pegasus-x-large": "D", "bart-base": "v"}


# The architectures the paper did not study carry their mark in every label (figures, tables).
NOT_IN_PAPER = " (not in paper)"
MODEL_LABELS = {"led-base": "LED-base", "led-large": "LED-large", "bigbird-large": "BigBird-large",
                "longt5-base": "LongT5-base" + NOT_IN_PAPER,
                "longt5-large": "LongT5-large" + NOT_IN_PAPER,
                "longt5-xl": "LongT5-XL" + NOT_IN_PAPER,
                "pegasus-x-base": "Pegasus-X-base" + NOT_IN_PAPER,
                "pegasus-x-large": "Pegasus-X-large" + NOT_IN_PAPER,
                "bart-base": "BART-base" + NOT_IN_PAPER}


# The ceilings and baselines (tradeoff.ceilings): colours apart from the models', the
# ceilings in black, so no method can be mistaken for a model. Keys: (task, method) or a score.
METHOD_STYLES = {
    ("summarization", "oracle"): ("extractive oracle (ceiling)", "black", "*"),
    ("summarization", "lead"): ("lead", PALETTE[7], "v"),
    ("summarization", "lexrank"): ("LexRank", PALETTE[4], "D"),
    ("qa", "oracle"): ("best span (ceiling)", "black", "*"),
    ("qa", "bm25"): ("BM25 sentence", PALETTE[4], "D"),
    "recoverable_share": ("answer text in the input", "black", "*"),
    "answer_coverage": ("answer position in the input", PALETTE[5], "P"),
}



_RC = {"axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
       "axes.spines.right": False, "font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8}


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


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.2, height: float = 3.8):
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


def no_data(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=9,
            color="0.4", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def dataset_label(dataset: str | None) -> str:
    return DATASET_LABELS.get(dataset, str(dataset)) if dataset else "all datasets"


def energy_scale(kwh: Iterable[float]) -> tuple[float, str]:
    """Factor and unit that keep energies in kWh readable in a figure (:func:`column_unit`).

    Returns:
        The factor that turns kWh into the unit, and the unit (mJ, J, kJ, or kWh from 1 kWh up).
    """
    unit, size = column_unit(kwh, "energy", "kWh")
    return KINDS["energy"].size("kWh") / size, unit


def plot_models(ax, configs: pd.DataFrame, x: str, y: str, *, annotate: bool = True,
                 x_factor: float = 1.0, y_factor: float = 1.0) -> int:
    """One line per model through its lengths; returns the number of lines drawn."""
    drawn = 0
    for model in models_in(configs):
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


def length_axis(ax, configs: pd.DataFrame) -> None:
    lengths = sorted({int(v) for v in configs["length"].dropna()}) if len(configs) else []
    if lengths:
        ax.set_xticks(lengths)
    ax.set_xlabel("input length (tokens)")


def models_in(configs: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(configs["model"])) if len(configs) else []
    return [m for m in MODELS if m in present] + sorted(m for m in present if m not in MODELS)


def signal_label(signal: str, dataset: str | None = None) -> str:
    """Axis label of an accuracy signal, e.g. ``"validation loss (lower is better)"``."""
    if signal == "val_loss":
        return "validation loss (lower is better)"
    if signal not in ("headline", "teacher_forced"):
        raise ValueError(f"unknown accuracy signal {signal!r}; use one of {list(ACCURACY_SIGNALS)}")
    prefix = "teacher-forced " if signal == "teacher_forced" else ""
    if dataset == "qasper":
        return f"{prefix}token F1 (higher is better)"
    if dataset in SUMMARIZATION:
        return f"{prefix}ROUGE geometric mean (higher is better)"
    return f"{prefix}ROUGE geometric mean / token F1 (higher is better)"
