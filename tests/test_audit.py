"""The released energy computation, against values computed by hand.

wandb 0.12.9: a reading every 2 s from the start, 15 readings a row, one more row at shutdown;
``history()`` returns at most 500 rows; the released number is ``sum(row power) / 1000``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tradeoff.analysis import audit
from tradeoff.config import load_profile
from tradeoff.energy import Measurement
from tradeoff.records import RunRecord


def test_one_hour_at_300_w_gives_the_hand_computed_number():
    # Readings at 0, 2, ..., 3600 s: 1801. 120 full rows of 15 and a shutdown row with the
    # last reading: 121 rows of 300 W, so 121 * 300 / 1000 = 36.3; the energy is 0.3 kWh.
    result = audit.energy_as_released(audit.constant_trace(300.0, 3600.0))
    assert result.rows_logged == 121 and result.rows_returned == 121
    assert result.released_value == pytest.approx(36.3)
    assert result.true_energy_kwh == pytest.approx(0.3)
    assert result.ratio == pytest.approx(121.0)
    assert result.released_mean_power_w == pytest.approx(300.0)


def test_half_an_hour_at_200_w():
    # 901 readings: 60 full rows and a shutdown row: 61 * 200 / 1000 = 12.2.
    result = audit.energy_as_released(audit.constant_trace(200.0, 1800.0))
    assert result.rows_logged == 61
    assert result.released_value == pytest.approx(12.2)


def test_the_number_stops_growing_past_the_row_limit():
    # Past 500 rows history() returns 500 of them: 500 * 300 / 1000 = 150, whatever the length.
    ten, twenty = (audit.energy_as_released(audit.constant_trace(300.0, h * 3600.0, 5.0))
                   for h in (10, 20))
    assert ten.rows_logged == 1201 and twenty.rows_logged == 2401
    assert ten.rows_returned == twenty.rows_returned == 500
    assert ten.released_value == pytest.approx(150.0) == twenty.released_value
    assert twenty.true_energy_kwh == pytest.approx(2 * ten.true_energy_kwh)
    # Below the limit it still grows with the run.
    below = [audit.energy_as_released(audit.constant_trace(300.0, h * 3600.0, 5.0)).released_value
             for h in (3.0, 4.0, 4.15)]
    assert below[0] < below[1] < below[2] < 150.0


def test_saturation_point_and_ratio_curve():
    # 499 full rows + the shutdown row = 500: 499 * 15 = 7485 readings, the last at 14968 s.
    assert audit.saturation_hours() == pytest.approx(14968 / 3600)
    curve = audit.ratio_curve([1, 4, 8, 24]).set_index("hours")["ratio"]
    assert curve[1] == pytest.approx(121.0)
    assert curve[4] == pytest.approx(481 * 3600 / 14400)
    assert curve[8] == pytest.approx(500 * 3600 / 28800)
    assert curve[24] == pytest.approx(500 * 3600 / 86400)


def test_rows_average_their_readings():
    # 100 W for the first 30 s, 400 W from then on, 60 s in all: readings 0..28 s make a row of
    # 100 W, 30..58 s a row of 400 W, and the reading at 60 s the shutdown row: 0.9.
    trace = pd.DataFrame({"t_s": range(61),
                          audit.POWER_COLUMN: [100.0] * 30 + [400.0] * 31})
    result = audit.energy_as_released(trace)
    assert result.rows_logged == 3
    assert result.released_value == pytest.approx(0.9)


def test_history_keeps_every_row_up_to_the_limit_and_evenly_spaced_ones_beyond():
    rows = pd.Series(range(1000), dtype=float).to_numpy()
    assert len(audit.history_sample(rows[:500])) == 500
    kept = audit.history_sample(rows)
    assert len(kept) == 500 and kept[0] == 0 and kept[-1] == 999


def test_own_records_use_the_measured_gpu0_energy_as_reference():
    profile = load_profile("paper-code")
    params = profile.cells()[0].resolve(profile)
    trace = [{"t_s": float(t), "gpu0_power_w": 250.0, "gpu1_power_w": 100.0} for t in range(0, 7201, 60)]
    record = RunRecord(profile="paper-code", label="x", params_hash=params.digest, params=params,
                       status="ok", traces={"train": trace},
                       measurements={"train": Measurement(
                           key="train", time_s=7200.0, gpu_energy_j={0: 250.0 * 7200, 1: 1.0},
                           cpu_energy_j=0.0, gpu_method="nvml-counter", cpu_method="none"
                       ).to_dict()})
    table = audit.record_audit([record])
    assert len(table) == 1
    row = table.iloc[0]
    assert row["true_energy_kwh"] == pytest.approx(0.5)
    # 3601 readings: 240 rows and a shutdown row of 250 W.
    assert row["released_value"] == pytest.approx(241 * 0.25)
    assert row["reference"] == "nvml-counter (GPU 0)"
    # A record without a GPU power trace (a CPU run) is left out.
    cpu = record.model_copy(update={"traces": {"train": [{"t_s": 0.0, "cpu_util_pct": 90.0}]}})
    assert audit.record_audit([cpu]).empty
