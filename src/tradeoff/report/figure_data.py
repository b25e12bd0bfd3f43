"""Every figure's data, as plotted, in a table and behind a CSV link under the figure.

:func:`plotted_data` reads a matplotlib Figure back into one tidy table: a row per point of
each line, per marker of each scatter, per bar, per error bar and per reference line, in data
units, named by panel (the axes' title) and series (the artist's legend label). It reads what
was drawn, not what a figure function meant to draw, so the CSV matches the picture whatever
the function. :func:`glue_figure` glues a chapter's figure and, under ``<name>_csv``, the link
to its data; the chapter pastes the link right under the figure::

    ```{glue:figure} fig_power
    ...caption...
    ```

    ```{glue} fig_power_csv
    ```
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedFormatter, FuncFormatter

from .tables import download_link

# ``x``/``y`` are data coordinates; ``*_low``/``*_high`` the ends of an error bar or segment;
# ``category`` the tick label at a point of a categorical axis (a knob, a dataset).
COLUMNS = ["panel", "series", "kind", "x", "y", "x_low", "x_high", "y_low", "y_high",
           "category", "x_label", "y_label"]
_LINESTYLES = {"-": "solid", "--": "dashed", ":": "dotted", "-.": "dash-dot"}


def plotted_data(fig: Figure) -> pd.DataFrame:
    """The data of a figure exactly as plotted, one row per drawn value.

    Reads, in each visible axes: lines (``plot``, ``step``: one row per point), reference lines
    (``axhline``/``axvline``: their constant coordinate), scatter markers, bars (``bar``,
    ``barh``, ``hist``: centre and height, with their error bars) and error bars and segments
    (``errorbar``, ``vlines``: their low and high ends). Text (annotations, "no data" notes) is
    not data and is left out, as are artists without points (legend proxies).

    Args:
        fig: the figure.

    Returns:
        Columns :data:`COLUMNS`. ``series`` is the legend label; an artist without one is named
        by its ``gid`` when set, else by what it looks like (``"line 3: dotted, #0173b2"``).
        Empty, with the columns, for a figure that drew no data.
    """
    rows = []
    for number, ax in enumerate(fig.axes, start=1):
        if not ax.get_visible():
            continue
        panel = _words(ax.get_title() or ax.get_title("left")) or f"panel {number}"
        labels = {"x_label": _words(ax.get_xlabel()), "y_label": _words(ax.get_ylabel())}
        start = len(rows)
        rows += _axes_rows(ax)
        for row in rows[start:]:
            row.setdefault("category", _category(ax, row))
            row.update(panel=panel, **labels)
    return pd.DataFrame(rows, columns=COLUMNS)


def csv_link(fig: Figure, filename: str):
    """A link that downloads :func:`plotted_data` of the figure as CSV (an HTML data URI)."""
    data = plotted_data(fig)
    text = (f"Download the data of this figure ({len(data)} plotted values, CSV)" if len(data)
            else "Download the data of this figure (nothing plotted: the columns only, CSV)")
    return download_link(data, filename, text)


def glue_figure(name: str, fig: Figure, filename: str | None = None) -> None:
    """Glue a figure as ``name`` and the link to its data as ``name + "_csv"`` (not displayed).

    Args:
        name: the figure's glue key, pasted with ``{glue:figure}``.
        fig: the figure.
        filename: the CSV's name in the reader's downloads (default: the name, dashed, e.g.
            ``qasper-fig-power.csv``); pages executed from one template (the summarization
            chapters) name their dataset in it.
    """
    from myst_nb import glue

    glue(name, fig, display=False)
    filename = filename or name.replace("_", "-") + ".csv"
    glue(f"{name}_csv", csv_link(fig, filename), display=False)


def _axes_rows(ax) -> list[dict]:
    """The rows of one axes, in drawing order; containers own their lines and collections."""
    owner = {}
    for container in ax.containers:
        for artist in _flatten(container):
            owner[id(artist)] = container
    rows, seen, count = [], set(), {"line": 0, "points": 0, "segments": 0, "bars": 0}
    for artist in ax.get_children():
        container = owner.get(id(artist))
        if container is not None:
            if id(container) in seen:
                continue
            seen.add(id(container))
            if isinstance(container, BarContainer):
                count["bars"] += 1
                rows += _bar_rows(container, count["bars"])
            elif isinstance(container, ErrorbarContainer) and not _inside_bars(ax, container):
                count["line"] += 1
                rows += _errorbar_rows(ax, container, count["line"])
        elif isinstance(artist, Line2D):
            count["line"] += 1
            rows += _line_rows(ax, artist, count["line"])
        elif isinstance(artist, PathCollection):
            count["points"] += 1
            rows += _scatter_rows(ax, artist, count["points"])
        elif isinstance(artist, LineCollection):
            count["segments"] += 1
            name = _series(artist, f"segments {count['segments']}")
            rows += [r | {"series": name, "kind": "segment"} for r in _segments(artist)]
    return rows


def _flatten(container) -> list:
    out = []
    for item in container:
        if isinstance(item, (tuple, list)):
            out += _flatten(item)
        elif item is not None:
            out.append(item)
    return out


def _inside_bars(ax, container: ErrorbarContainer) -> bool:
    """Error bars drawn by ``bar(yerr=...)``: their ends go into the bars' rows."""
    return any(getattr(bars, "errorbar", None) is container for bars in ax.containers
               if isinstance(bars, BarContainer))


def _series(artist, fallback: str) -> str:
    label = str(artist.get_label() or "")
    if label and not label.startswith("_"):
        return _words(label)
    gid = artist.get_gid() if hasattr(artist, "get_gid") else None  # containers have none
    return gid or fallback


def _looks(line: Line2D) -> str:
    parts = [_LINESTYLES.get(line.get_linestyle(), "no line")]
    if line.get_marker() not in (None, "None", "", " "):
        parts.append(f"marker {line.get_marker()}")
    return ", ".join(parts + [to_hex(line.get_color())])


def _points(xy) -> np.ndarray:
    array = np.ma.asarray(xy, dtype=float).reshape(-1, 2)
    return np.ma.filled(array, np.nan)


def _line_rows(ax, line: Line2D, number: int) -> list[dict]:
    transform = line.get_transform()
    if transform is ax.get_xaxis_transform():  # axvline: x in data, y spans the axes
        name = _series(line, f"reference line: {_looks(line)}")
        return [{"series": name, "kind": "vertical reference line", "x": float(x)}
                for x in sorted(set(_points(line.get_xydata())[:, 0]))]
    if transform is ax.get_yaxis_transform():  # axhline
        name = _series(line, f"reference line: {_looks(line)}")
        return [{"series": name, "kind": "horizontal reference line", "y": float(y)}
                for y in sorted(set(_points(line.get_xydata())[:, 1]))]
    name = _series(line, f"line {number}: {_looks(line)}")
    if transform is not ax.transData:
        return []  # drawn in axes or figure coordinates: decoration, not data
    return [{"series": name, "kind": "line", "x": x, "y": y}
            for x, y in _points(line.get_xydata()) if np.isfinite(x) and np.isfinite(y)]


def _scatter_rows(ax, points: PathCollection, number: int) -> list[dict]:
    if points.get_offset_transform() is not ax.transData:
        return []
    name = _series(points, f"points {number}")
    return [{"series": name, "kind": "scatter", "x": x, "y": y}
            for x, y in _points(points.get_offsets()) if np.isfinite(x) and np.isfinite(y)]


def _segments(collection: LineCollection) -> list[dict]:
    """One row per segment: a vertical one gives x and its y range, a horizontal one y and its
    x range, any other both ranges."""
    rows = []
    for segment in collection.get_segments():
        xs, ys = _points(segment)[:, 0], _points(segment)[:, 1]
        if not (np.isfinite(xs).all() and np.isfinite(ys).all()) or len(xs) < 2:
            continue
        row = {}
        if np.ptp(xs) == 0:
            row["x"] = float(xs[0])
        else:
            row |= {"x_low": float(xs.min()), "x_high": float(xs.max())}
        if np.ptp(ys) == 0:
            row["y"] = float(ys[0])
        else:
            row |= {"y_low": float(ys.min()), "y_high": float(ys.max())}
        rows.append(row)
    return rows


def _error_ends(container: ErrorbarContainer | None) -> dict[tuple[str, float], dict]:
    """Error-bar ends keyed by the coordinate they stand on: ("x", x) for vertical bars."""
    ends = {}
    if container is None:
        return ends
    for collection in container.lines[2]:
        for segment in _segments(collection):
            if "x" in segment and "y_low" in segment:
                ends[("x", segment["x"])] = {"y_low": segment["y_low"], "y_high": segment["y_high"]}
            elif "y" in segment and "x_low" in segment:
                ends[("y", segment["y"])] = {"x_low": segment["x_low"], "x_high": segment["x_high"]}
    return ends


def _errorbar_rows(ax, container: ErrorbarContainer, number: int) -> list[dict]:
    data_line, _, collections = container.lines
    name = _series(container, f"line {number}")
    if data_line is None:  # fmt="none": the bars only
        return [r | {"series": name, "kind": "error bar"}
                for c in collections for r in _segments(c)]
    ends = _error_ends(container)
    rows = []
    for x, y in _points(data_line.get_xydata()):
        if np.isfinite(x) and np.isfinite(y):
            rows.append({"series": name, "kind": "line with error bars", "x": x, "y": y,
                         **ends.get(("x", x), {}), **ends.get(("y", y), {})})
    return rows


def _bar_rows(bars: BarContainer, number: int) -> list[dict]:
    name = _series(bars, f"bars {number}")
    ends = _error_ends(getattr(bars, "errorbar", None))
    rows = []
    for patch in bars.patches:
        x0, y0, width, height = patch.get_x(), patch.get_y(), patch.get_width(), patch.get_height()
        if getattr(bars, "orientation", "vertical") == "horizontal":
            row = {"x": width, "y": y0 + height / 2} | ({"x_low": x0} if x0 else {})
            row |= ends.get(("y", row["y"]), {})
        else:
            row = {"x": x0 + width / 2, "y": height} | ({"y_low": y0} if y0 else {})
            row |= ends.get(("x", row["x"]), {})
        if np.isfinite(row["x"]) and np.isfinite(row["y"]):
            rows.append({"series": name, "kind": "bar", **row})
    return rows


def _text_ticks(axis) -> bool:
    """Whether the axis's ticks carry labels given as text (``set_xticks(positions, labels)``,
    ``boxplot(tick_labels=...)``): a categorical axis, whose positions mean their labels."""
    formatter = axis.get_major_formatter()
    if isinstance(formatter, FixedFormatter):
        return True
    # Matplotlib >= 3.8 formats text labels through a FuncFormatter over a dict of them.
    func = getattr(getattr(formatter, "func", None), "func", None)
    return isinstance(formatter, FuncFormatter) and getattr(func, "__name__", "") == \
        "_format_with_dict"


def _category(ax, row: dict) -> str:
    """The tick label nearest the row on a categorical axis (ticks labelled with text)."""
    for axis, key in ((ax.xaxis, "x"), (ax.yaxis, "y")):
        value = row.get(key)
        if value is None or not np.isfinite(value) or not _text_ticks(axis):
            continue
        formatter = axis.get_major_formatter()
        ticks = np.asarray(axis.get_majorticklocs(), float)
        if not len(ticks):
            continue
        labels = formatter.format_ticks(ticks)
        spacing = np.diff(np.sort(ticks)).min() if len(ticks) > 1 else 1.0
        nearest = int(np.abs(ticks - value).argmin())
        if abs(ticks[nearest] - value) <= spacing / 2 and _words(labels[nearest]):
            return _words(labels[nearest])
    return ""


def _words(text: str) -> str:
    return " ".join(str(text).split())
