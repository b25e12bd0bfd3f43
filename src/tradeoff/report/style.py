"""How the book looks: one colour and marker per model, dataset names, figure defaults, numbers.

Every figure of the report draws through these helpers, so a model has the same colour on every
page and a panel without data says so in words instead of raising. Figures stay outside pyplot
(a notebook never shows one twice); :func:`_register_png_formatter` lets ``glue`` render them.
Every number that becomes text on a page (a table cell, a glued value) goes through :func:`fmt`
or :func:`fmt_column`: significant figures that follow the quantity, scaled units, and never
scientific notation.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..analysis.table import ACCURACY_SIGNALS
from ..tasks import DATASET_LABELS, MODELS, SUMMARIZATION

# One color and marker per model across the whole book (seaborn's colour-blind palette).
_PALETTE = sns.color_palette("colorblind").as_hex()


# A family shares its colour (its sizes differ by marker); BART-base, a 1024-position baseline
# with published SCROLLS scores, has its own.
MODEL_COLORS = {"led-base": _PALETTE[0], "led-large": _PALETTE[1], "bigbird-large": _PALETTE[2],
                "longt5-base": _PALETTE[3], "longt5-large": _PALETTE[3],
                "longt5-xl": _PALETTE[3], "pegasus-x-base": _PALETTE[5],
                "pegasus-x-large": _PALETTE[5], "bart-base": _PALETTE[8]}


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
    ("summarization", "lead"): ("lead", _PALETTE[7], "v"),
    ("summarization", "lexrank"): ("LexRank", _PALETTE[4], "D"),
    ("qa", "oracle"): ("best span (ceiling)", "black", "*"),
    ("qa", "bm25"): ("BM25 sentence", _PALETTE[4], "D"),
    "recoverable_share": ("answer text in the input", "black", "*"),
    "answer_coverage": ("answer position in the input", _PALETTE[5], "P"),
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


# ------------------------------------------------------------------------------ numbers on a page

NA = "n/a"
MINUS = "\u2212"  # a minus sign, not a hyphen: it neither wraps nor reads as a dash
TIMES = "\u00d7"


@dataclass(frozen=True)
class Kind:
    """How one kind of quantity reads on a page.

    Attributes:
        digits: significant figures (an integer part is never rounded away: 16384 stays 16,384).
        units: the units a value is shown in, smallest first, as (name, size in the base unit);
            empty for a unitless kind.
        inputs: further units a value may be given in, not shown (kWh is read, J shown).
    """

    digits: int = 3
    units: tuple[tuple[str, float], ...] = ()
    inputs: tuple[tuple[str, float], ...] = ()

    def size(self, unit: str | None) -> float:
        """The size of ``unit`` in the base unit (1 for None)."""
        if unit is None:
            return 1.0
        sizes = dict(self.units + self.inputs)
        if unit not in sizes:
            raise ValueError(f"unknown unit {unit!r}; use one of {list(sizes)}")
        return sizes[unit]


# The kinds of quantity the book prints. Energy reads in SI units up to kilojoules and in the
# paper's kWh from 1 kWh up (a full training run), so a figure and a table of the same runs agree.
KINDS = {
    "energy": Kind(3, (("mJ", 1e-3), ("J", 1.0), ("kJ", 1e3), ("kWh", 3.6e6), ("MWh", 3.6e9)),
                   (("Wh", 3.6e3), ("MJ", 1e6))),
    "time": Kind(3, (("\u00b5s", 1e-6), ("ms", 1e-3), ("s", 1.0), ("min", 60.0), ("h", 3600.0)),
                 (("us", 1e-6),)),
    "flops": Kind(3, (("FLOP", 1.0), ("MFLOP", 1e6), ("GFLOP", 1e9), ("TFLOP", 1e12),
                      ("PFLOP", 1e15), ("EFLOP", 1e18))),
    "bytes": Kind(3, (("B", 1.0), ("KiB", 2.0**10), ("MiB", 2.0**20), ("GiB", 2.0**30),
                      ("TiB", 2.0**40))),
    "power": Kind(3, (("mW", 1e-3), ("W", 1.0), ("kW", 1e3))),
    "ratio": Kind(3),    # x / y, as ×0.223
    "change": Kind(2),   # a relative change given as a fraction, as +12% or −3.4%
    "percent": Kind(3),  # a share given as a fraction, as 43.2%
    "score": Kind(),     # ROUGE or F1 points (0-100), one decimal
    "count": Kind(),     # a whole number, with thousands separators
    "rate": Kind(3),     # samples/s, samples/s/W, FLOP/s
    "number": Kind(3),   # anything else
    "exact": Kind(),     # a setting as written: every digit, no exponent (0.00005)
}


def _finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _signed(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures in positional notation, never an exponent.

    The integer part is kept whole (``12345.6`` to 3 figures is ``12,346``); thousands are
    separated by commas; a negative value gets a minus sign.
    """
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = digits - 1 - magnitude
    if decimals > 0 and abs(round(value, decimals)) >= 10 ** (magnitude + 1):
        decimals -= 1  # 9.996 rounds up to 10.0, one figure wider
    return _signed(f"{value:,.{max(decimals, 0)}f}")


def fmt(value, kind: str = "number", *, unit: str | None = None, digits: int | None = None,
        signed: bool = False, shown: str | None = None) -> str:
    """One number as text for a page, in the unit that suits its size.

    Args:
        value: the number; None, NaN or infinity read ``n/a``.
        kind: a key of :data:`KINDS` (energy, time, flops, bytes, power, ratio, change,
            percent, score, count, rate, number, exact).
        unit: the unit ``value`` is given in (default the kind's base: J, s, FLOP, B, W), e.g.
            ``"kWh"``; ratio, change and percent take a fraction.
        digits: significant figures instead of the kind's.
        signed: a plus sign on a positive value (a difference: ``+3.4`` points).
        shown: the unit to show it in (default the one that suits its size), so that numbers
            compared in one sentence or table share it.

    Returns:
        e.g. ``fmt(5.817e-05, "energy", unit="kWh") == "209 J"``, ``fmt(0.223, "ratio") ==
        "×0.223"``, ``fmt(-0.034, "change") == "−3.4%"``.

    Raises:
        ValueError: an unknown kind or unit.
    """
    spec = _kind(kind)
    number = _finite(value)
    if number is None:
        return NA
    if spec.units:
        name, size = (shown, spec.size(shown)) if shown else column_unit([number], kind, unit)
        return f"{_number(number * spec.size(unit) / size, kind, digits, signed)} {name}"
    return _number(number, kind, digits, signed)


def _kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of number {kind!r}; use one of {list(KINDS)}")
    return KINDS[kind]


def _number(number: float, kind: str, digits: int | None = None, signed: bool = False) -> str:
    """The text of a number already in its display unit (no unit attached)."""
    digits = digits or KINDS[kind].digits
    sign = "+" if number > 0 and (signed or kind == "change") else ""
    if kind == "ratio":
        return TIMES + significant(number, digits)
    if kind in ("change", "percent"):
        return sign + significant(100 * number, digits) + "%"
    if kind == "score":
        return sign + _signed(f"{number:,.1f}")
    if kind == "count":
        return sign + _signed(f"{round(number):,}")
    if kind == "exact":
        return sign + _signed(np.format_float_positional(number, trim="-"))
    return sign + significant(number, digits)


def column_unit(values: Iterable, kind: str, unit: str | None = None) -> tuple[str, float]:
    """The one unit a column (or a figure's axis) of ``kind`` reads in.

    The largest unit of the kind that the median magnitude reaches, so most values read between
    1 and 1000 of it; the smallest unit when all are below it.

    Args:
        values: the numbers, in ``unit``; None and NaN are ignored.
        kind: a kind with units (energy, time, flops, bytes, power).
        unit: the unit the values are given in (default the kind's base).

    Returns:
        The unit's name and its size in the base unit.
    """
    spec = _kind(kind)
    if not spec.units:
        raise ValueError(f"{kind!r} has no units to choose among")
    scale = spec.size(unit)
    sizes = [abs(v) * scale for v in map(_finite, values) if v]
    if not sizes:
        return next(((n, s) for n, s in spec.units if s == scale), spec.units[0])
    middle = float(np.median(sizes))
    fits = [(n, s) for n, s in spec.units if s <= middle * (1 + 1e-9)]
    return fits[-1] if fits else spec.units[0]


def fmt_column(values: Iterable, kind: str = "number", unit: str | None = None,
               digits: int | None = None, signed: bool = False, shown: str | None = None
               ) -> tuple[str | None, list[str]]:
    """A column's numbers as text, all in one unit (:func:`column_unit`, or ``shown``), for its
    header. Arguments as for :func:`fmt`.

    Returns:
        The unit (None for a unitless kind) and one text per value, without the unit; ``n/a``
        for a missing value.
    """
    values = list(values)
    spec = _kind(kind)
    if not spec.units:
        return None, [NA if (v := _finite(x)) is None else _number(v, kind, digits, signed)
                      for x in values]
    name, size = (shown, spec.size(shown)) if shown else column_unit(values, kind, unit)
    scale = spec.size(unit) / size
    return name, [NA if (v := _finite(x)) is None else _number(v * scale, kind, digits, signed)
                  for x in values]


# Data names of the tidy tables, by ending: the kind and unit their values are in.
NAME_KINDS = (("_kwh", ("energy", "kWh")), ("_j", ("energy", None)), ("_per_s", ("rate", None)),
              ("_per_w", ("rate", None)), ("_flops", ("flops", None)), ("_bytes", ("bytes", None)),
              ("_gib", ("bytes", "GiB")), ("_mib", ("bytes", "MiB")), ("_w", ("power", None)),
              ("_s", ("time", None)), ("ratio", ("ratio", None)), ("_pct", ("number", None)),
              ("score", ("score", None)))

# Units a worded header names in parentheses, e.g. "CPU time per sample (ms)", "(TFLOP / sample)".
_HEADER_UNIT = re.compile(r"\(([^()\s,/]+)")
_HEADER_KINDS = {"%": ("number", None), "points": ("score", None), "0-100": ("score", None)}


def column_kind(name: str) -> tuple[str | None, str | None]:
    """The kind and unit a column's name says its values are in; (None, None) when it does not.

    A data name says it by its ending (``train_energy_kwh``: energy in kWh); a worded header by
    the first word in parentheses (``training step (TFLOP / sample)``: FLOPs in TFLOP).
    """
    lowered = str(name).lower()
    if re.fullmatch(r"[a-z0-9_]+", lowered):
        for ending, found in NAME_KINDS:
            if lowered.endswith(ending):
                return found
    match = _HEADER_UNIT.search(str(name))
    if match:
        word = match.group(1)
        if word in _HEADER_KINDS:
            return _HEADER_KINDS[word]
        if (kind := unit_kind(word)) is not None:
            return kind, word
    return None, None


def unit_kind(unit: str) -> str | None:
    """The kind whose values ``unit`` measures (``"TFLOP"``: flops), None for no known unit."""
    return next((kind for kind, spec in KINDS.items() if unit in dict(spec.units + spec.inputs)),
                None)


def with_unit(header: str, given: str | None, shown: str) -> str:
    """``header`` naming the unit ``shown``: its named unit replaced, or the unit appended."""
    if given is not None and (match := _HEADER_UNIT.search(header)) and match.group(1) == given:
        return header[:match.start(1)] + shown + header[match.end(1):]
    return f"{header} ({shown})"
