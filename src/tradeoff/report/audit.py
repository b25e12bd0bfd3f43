"""The energy chapter's audit of the released energy number: figure, table and glued numbers.

The computation lives in :mod:`tradeoff.analysis.audit`; this module draws it. The figure shows,
for constant-power runs of known energy, what the released script reports against the true
energy, and the ratio of the two against run length, with the project's own measured GPU traces
as points where the records have them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis import audit
from ..analysis.table import ok_rows
from .provenance import can_bear_verdicts, energy_methods_table
from .style import MODEL_COLORS, MODEL_LABELS, new_figure

# Run lengths the prose quotes, h.
QUOTED_HOURS = (1.0, 4.0, 8.0, 24.0)
# The synthetic runs' lengths: fine enough to show the bend at ~4.2 h, up to two days.
CURVE_HOURS = tuple(np.round(np.concatenate([np.arange(0.25, 6.0, 0.25), np.arange(6.0, 48.5, 1.0)]),
                             2))


def quoted_ratios(hours: Sequence[float] = QUOTED_HOURS, power_w: float = 250.0) -> pd.DataFrame:
    """The released number, the true kWh and their ratio at the run lengths the prose quotes.

    Returns:
        :func:`tradeoff.analysis.audit.ratio_curve` at ``hours``, with worded column names.
    """
    curve = audit.ratio_curve(hours, power_w=power_w)
    table = pd.DataFrame({
        "run length (h)": curve["hours"],
        "true energy (kWh)": curve["true_energy_kwh"],
        "W&B rows logged": curve["rows_logged"],
        "rows history() returns": curve["rows_returned"],
        "released 'Total GPU Energy(kW)'": curve["released_value"],
        "released / true kWh": curve["ratio"],
    })
    # The released number and the true kWh stay in the units the released code writes.
    table.attrs["kinds"] = {"run length (h)": "exact", "true energy (kWh)": "number",
                            "released 'Total GPU Energy(kW)'": "number",
                            "released / true kWh": "ratio"}
    return table


def released_energy_figure(own: pd.DataFrame | None = None, power_w: float = 250.0) -> Figure:
    """The released number against the true energy, and their ratio against run length.

    Args:
        own: :func:`tradeoff.analysis.audit.record_audit` of the project's records (points on the
            ratio panel); None or empty draws the synthetic runs only.
        power_w: the constant power of the synthetic runs (the ratio does not depend on it).

    Returns:
        A Figure with two panels.
    """
    curve = audit.ratio_curve(CURVE_HOURS, power_w=power_w)
    knee = audit.saturation_hours()
    fig, axes = new_figure(ncols=2, width=5.0, height=3.8)
    left, right = axes[0]

    left.plot(curve["hours"], curve["true_energy_kwh"] * (3600 / audit.ROW_INTERVAL_S),
              color="0.6", linestyle="--",
              label=f"{3600 / audit.ROW_INTERVAL_S:.0f} x true kWh (every row returned)")
    left.plot(curve["hours"], curve["released_value"], color="black",
              label="released 'Total GPU Energy(kW)'")
    left.axvline(knee, color="tab:red", linewidth=0.8)
    left.set_xlabel("run length (h)")
    left.set_ylabel("released number (sum of power rows / 1000)")
    left.set_title(f"constant {power_w:.0f} W: the number stops growing")
    left.legend(frameon=False, fontsize=8, loc="upper left")

    right.plot(curve["hours"], curve["ratio"], color="black", label="synthetic, constant power")
    right.axvline(knee, color="tab:red", linewidth=0.8,
                  label=f"{audit.HISTORY_ROWS} rows: {knee:.2f} h")
    for h in QUOTED_HOURS:
        value = float(audit.ratio_curve([h], power_w=power_w)["ratio"].iloc[0])
        right.plot([h], [value], "o", color="black", markersize=4)
        right.annotate(f"{value:.0f}", (h, value), textcoords="offset points", xytext=(4, 4),
                       fontsize=8)
    if own is not None and len(own):
        for model, rows in own.groupby("model"):
            right.plot(rows["duration_s"] / 3600, rows["ratio"], "s", markersize=5,
                       color=MODEL_COLORS.get(model), label=f"{MODEL_LABELS.get(model, model)} "
                       "(this project's GPU traces)")
    right.set_xscale("log")
    right.set_xlabel("run length (h, log scale)")
    right.set_ylabel("released number / true kWh")
    right.set_title("ratio to the true energy")
    right.set_ylim(0, None)
    right.legend(frameon=False, fontsize=8, loc="lower left")
    return fig


def takeaway_text(frame: pd.DataFrame) -> str:
    """What the energy chapter found: how these runs' energy was obtained, what that can bear,
    and what the released code's energy number is.

    Args:
        frame: the chapter's tidy table of runs.
    """
    methods = energy_methods_table(ok_rows(frame))
    if methods.empty:
        first = "This profile has no finished runs, so nothing was measured."
    else:
        first = "Energy of this book's runs: " + "; ".join(
            f"{why} ({m.split(': ', 1)[-1].replace(' (assumed)', ', assumed')})"
            for m, why in zip(methods["energy method"], methods["why"])) + "."
    if not can_bear_verdicts(frame):
        first += (" The paper's findings on energy, power and GPU utilization need measured "
                  "energy from the paper profile's runs on a GPU; these runs check the pipeline.")
    ratios = quoted_ratios(hours=(1.0, 24.0))["released / true kWh"].to_numpy(float)
    return (f"{first} The energy number of the released code is proportional to energy only "
            f"for runs shorter than {audit.saturation_hours():.1f} h ({ratios[0]:.0f} times the "
            f"kWh at 1 h); past W&B's 500-row limit it is half the mean power in watts, "
            f"{ratios[1]:.0f} times the kWh at 24 h.")
