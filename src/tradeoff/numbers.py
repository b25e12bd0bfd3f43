"""How the study writes a number: one formatter for the pages, the CLI and the analysis' sentences.

Every number that becomes text (a table cell, a glued value, a sentence of the recommender, a
line the CLI prints) goes through :func:`fmt` or :func:`fmt_column`: significant figures that
follow the quantity (:data:`KINDS`), scaled units, signs as true minus signs, ratios as ×, and
never scientific notation. Pure Python and numpy: every layer may import it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

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
