"""A figure's data read back as plotted: known points in, the same numbers out, and its CSV link."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest

from tradeoff.report.figure_data import COLUMNS, csv_link, glue_figure, plotted_data
from tradeoff.report.style import new_figure, no_data


def two_panels():
    """Left: a line, a scatter and a reference line; right: bars with error bars, by category."""
    fig, axes = new_figure(ncols=2)
    left, right = axes.flat
    left.set_title("energy\nagainst length")
    left.plot([1024, 2048, 4096], [0.5, 1.0, 2.5], marker="o", label="LED-base")
    left.scatter([1024, 2048], [0.7, 1.6], label="BigBird-large")
    left.axhline(1.0, color="0.5", linestyle=":", gid="budget")
    left.plot([], [], "s", label="legend proxy")  # no points: no rows
    left.text(0.5, 0.5, "an annotation", transform=left.transAxes)  # text is not data
    left.set_xlabel("input length (tokens)")
    left.set_ylabel("energy (Wh)")
    right.set_title("speed")
    right.bar([0, 1], [3.0, 4.5], yerr=[0.25, 0.5], label="training")
    right.set_xticks([0, 1], ["fp32", "bf16"])
    right.set_ylabel("samples/s")
    return fig


def test_the_rows_are_the_numbers_plotted():
    data = plotted_data(two_panels())
    assert list(data.columns) == COLUMNS
    left = data[data["panel"] == "energy against length"]
    line = left[left["series"] == "LED-base"]
    assert (line["kind"] == "line").all()
    assert line[["x", "y"]].to_numpy().tolist() == [[1024, 0.5], [2048, 1.0], [4096, 2.5]]
    scatter = left[left["series"] == "BigBird-large"]
    assert (scatter["kind"] == "scatter").all()
    assert scatter[["x", "y"]].to_numpy().tolist() == [[1024, 0.7], [2048, 1.6]]
    [reference] = left[left["series"] == "budget"].itertuples()
    assert (reference.kind, reference.y) == ("horizontal reference line", 1.0)
    assert np.isnan(reference.x)
    assert set(left["series"]) == {"LED-base", "BigBird-large", "budget"}
    assert (left["x_label"] == "input length (tokens)").all()
    assert (left["y_label"] == "energy (Wh)").all()

    bars = data[data["panel"] == "speed"]
    assert bars["series"].tolist() == ["training", "training"]
    assert (bars["kind"] == "bar").all()
    assert bars[["x", "y"]].to_numpy().tolist() == [[0, 3.0], [1, 4.5]]
    assert bars[["y_low", "y_high"]].to_numpy().tolist() == [[2.75, 3.25], [4.0, 5.0]]
    assert bars["category"].tolist() == ["fp32", "bf16"]
    assert len(data) == 3 + 2 + 1 + 2


def test_error_bars_and_segments_give_their_ends():
    fig, axes = new_figure()
    ax = axes[0, 0]
    ax.errorbar([1, 2], [10.0, 20.0], yerr=[[1.0, 2.0], [3.0, 4.0]], label="median")
    ax.vlines([5], [1.0], [2.0])
    data = plotted_data(fig)
    errors = data[data["series"] == "median"]
    assert (errors["kind"] == "line with error bars").all()
    assert errors[["x", "y", "y_low", "y_high"]].to_numpy().tolist() == [
        [1, 10.0, 9.0, 13.0], [2, 20.0, 18.0, 24.0]]
    [segment] = data[data["kind"] == "segment"].itertuples()
    assert (segment.x, segment.y_low, segment.y_high) == (5, 1.0, 2.0)


def test_a_figure_without_data_gives_the_columns_only():
    fig, axes = new_figure(ncols=2)
    for ax in axes.flat:
        ax.set_title("a panel")
        no_data(ax, "no finished runs")
    data = plotted_data(fig)
    assert data.empty and list(data.columns) == COLUMNS
    assert "nothing plotted" in csv_link(fig, "empty.csv").data


def _decoded(link_html: str) -> tuple[str, pd.DataFrame]:
    filename = re.search(r'download="([^"]+)"', link_html).group(1)
    payload = re.search(r'href="data:text/csv;base64,([^"]+)"', link_html).group(1)
    return filename, pd.read_csv(io.StringIO(base64.b64decode(payload).decode()))


def test_the_link_carries_the_plotted_data_as_csv():
    fig = two_panels()
    link = csv_link(fig, "energy-fig.csv").data
    filename, table = _decoded(link)
    assert filename == "energy-fig.csv"
    expected = plotted_data(fig)
    assert list(table.columns) == COLUMNS and len(table) == len(expected) == 8
    assert table["y"].tolist() == pytest.approx(expected["y"].tolist(), nan_ok=True)
    assert "(8 plotted values, CSV)" in link


def test_glue_figure_glues_the_figure_and_its_link(monkeypatch):
    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue",
                        lambda name, value, display=True: glued.setdefault(name, (value, display)))
    fig = two_panels()
    glue_figure("qasper_fig_power", fig)
    assert glued["qasper_fig_power"] == (fig, False)
    link, display = glued["qasper_fig_power_csv"]
    assert display is False
    assert _decoded(link.data)[0] == "qasper-fig-power.csv"
