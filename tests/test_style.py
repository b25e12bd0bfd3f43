"""The book's number formatter (tradeoff.numbers.fmt) and the tables it formats.

Values are hand-computed: 1e-5 kWh is 36 J, 2**30 bytes is 1 GiB. Every kind is also swept over
magnitudes 1e-12 to 1e15, both signs, to show that no text ever carries an exponent.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from tradeoff import numbers as S
from tradeoff.report import style
from tradeoff.report import tables as Tb

# A number in scientific notation, as Python, pandas or numpy print one: 5.817e-05, 1E+15.
EXPONENT = re.compile(r"\b\d(?:\.\d+)?e[-+]?\d+\b", re.IGNORECASE)


def number_of(text: str) -> float:
    """The number a formatted text shows (minus sign, separators, ×, % and unit dropped)."""
    body = text.replace(S.MINUS, "-").replace(S.TIMES, "").replace(",", "").rstrip("%")
    return float(body.split(" ")[0])


@pytest.mark.parametrize("kwh, text", [
    (5.817e-05, "209 J"),          # the raw floats, in kWh
    (0.0003233, "1.16 kJ"),
    (1.369e-05, "49.3 J"),
    (1e-5, "36.0 J"),
    (1e-9, "3.60 mJ"),
    (2.0, "2.00 kWh"),             # a full run reads in the paper's unit
    (4200.0, "4.20 MWh"),
])
def test_energy_in_kwh_reads_in_a_scaled_unit(kwh, text):
    assert S.fmt(kwh, "energy", unit="kWh") == text


@pytest.mark.parametrize("value, kind, text", [
    (0.0123, "time", "12.3 ms"), (4.5e-6, "time", "4.50 µs"), (42.0, "time", "42.0 s"),
    (90.0, "time", "1.50 min"), (7200.0, "time", "2.00 h"),
    (4.12e12, "flops", "4.12 TFLOP"), (3.3e15, "flops", "3.30 PFLOP"),
    (5e8, "flops", "500 MFLOP"),
    (3 * 2**30, "bytes", "3.00 GiB"), (1536 * 2**20, "bytes", "1.50 GiB"),
    (2**20, "bytes", "1.00 MiB"),
    (250.0, "power", "250 W"), (0.5, "power", "500 mW"),
    (0.02367, "rate", "0.0237"), (123.456, "rate", "123"), (12345.6, "rate", "12,346"),
    (0.2234, "ratio", "×0.223"), (4.1, "ratio", "×4.10"), (13.94, "ratio", "×13.9"),
    (0.12, "change", "+12%"), (-0.034, "change", "−3.4%"), (0.0, "change", "0%"),
    (0.432, "percent", "43.2%"), (0.5, "percent", "50.0%"),
    (36.14, "score", "36.1"), (36.16, "score", "36.2"),
    (1234567.0, "count", "1,234,567"), (2.6, "count", "3"),
    (5e-05, "exact", "0.00005"), (48.0, "exact", "48"),
    (9.996, "number", "10.0"), (0.0009996, "number", "0.00100"), (16384.0, "number", "16,384"),
])
def test_each_kind_scales_and_keeps_its_significant_figures(value, kind, text):
    assert S.fmt(value, kind) == text


def test_signs_zero_and_missing_values():
    assert S.fmt(-0.0123, "time") == "−12.3 ms"  # a minus sign, not a hyphen
    assert S.fmt(3.44, "score", signed=True) == "+3.4"
    assert S.fmt(-3.44, "score", signed=True) == "−3.4"
    assert S.fmt(0.0, "score", signed=True) == "0.0"
    assert S.fmt(0.0, "energy") == "0 J" and S.fmt(0.0) == "0" and S.fmt(0, "ratio") == "×0"
    assert S.fmt(-2.5, "ratio") == "×−2.50"
    for missing in (None, math.nan, math.inf, -math.inf, "not a number"):
        assert S.fmt(missing) == S.NA == "n/a"
        assert S.fmt(missing, "energy", unit="kWh") == "n/a"
    assert S.fmt(0.5, "ratio", digits=2) == "×0.50"


def test_unknown_kinds_and_units_are_errors():
    with pytest.raises(ValueError, match="unknown kind"):
        S.fmt(1.0, "joules")
    with pytest.raises(ValueError, match="unknown unit"):
        S.fmt(1.0, "energy", unit="cal")
    with pytest.raises(ValueError, match="no units"):
        S.column_unit([1.0], "ratio")


@pytest.mark.parametrize("kind", sorted(S.KINDS))
def test_no_magnitude_is_ever_written_with_an_exponent(kind):
    for exponent in range(-12, 16):
        for mantissa in (1.0, 2.345, 9.9999):
            for value in (mantissa * 10.0**exponent, -mantissa * 10.0**exponent):
                text = S.fmt(value, kind)
                assert not EXPONENT.search(text), (kind, value, text)
                assert "e-" not in text and "e+" not in text, (kind, value, text)
                if kind in ("number", "rate", "exact"):  # the text still says the value
                    assert number_of(text) == pytest.approx(value, rel=5e-3), (value, text)


def test_a_column_reads_in_one_unit_chosen_by_its_median():
    # 0.5 J, 800 J, 1200 J: the median is 800 J, so the column reads in J, not 0.0005 kJ.
    unit, texts = S.fmt_column([0.5, 800.0, 1200.0, math.nan], "energy")
    assert unit == "J" and texts == ["0.500", "800", "1,200", "n/a"]
    unit, texts = S.fmt_column([1e-5, 2e-5, 4e-5], "energy", "kWh")
    assert unit == "J" and texts == ["36.0", "72.0", "144"]
    unit, texts = S.fmt_column([70.0, 140.0, 3000.0], "time", "ms")
    assert unit == "ms" and texts == ["70.0", "140", "3,000"]
    assert S.fmt_column([], "flops", "TFLOP")[0] == "TFLOP"  # no values: the given unit
    assert S.fmt_column([0.25, 1.5], "ratio") == (None, ["×0.250", "×1.50"])


def test_compared_numbers_can_share_a_pinned_unit():
    assert S.fmt(44.6, "time", shown="min") == "0.743 min"
    assert S.fmt_column([44.6, 96.0], "time", shown="s") == ("s", ["44.6", "96.0"])
    table = pd.DataFrame({"fp32 median (s)": [50.0, 96.0], "knob median (s)": [40.0, 45.0]})
    html = Tb.styled(table).to_html()  # each column's own median: one in min, one in s
    assert "fp32 median (min)" in html and "knob median (s)" in html
    html = Tb.styled(table, units=dict.fromkeys(table.columns, "s")).to_html()
    assert "fp32 median (s)" in html and "knob median (s)" in html and ">96.0<" in html


def test_column_kind_reads_data_names_and_worded_headers():
    assert S.column_kind("train_energy_kwh") == ("energy", "kWh")
    assert S.column_kind("train_time_s") == ("time", None)
    assert S.column_kind("infer_samples_per_s") == ("rate", None)
    assert S.column_kind("power_efficiency_samples_per_s_per_w") == ("rate", None)
    assert S.column_kind("train_energy_kwh_ratio") == ("ratio", None)
    assert S.column_kind("CPU time per sample (ms)") == ("time", "ms")
    assert S.column_kind("training step (TFLOP / sample)") == ("flops", "TFLOP")
    assert S.column_kind("memory at the paper's batch (GiB, of 48)") == ("bytes", "GiB")
    assert S.column_kind("1024 → 2048 (points)") == ("score", None)
    assert S.column_kind("model") == (None, None)
    assert S.with_unit("training energy (kWh) at the shortest", "kWh", "J") == (
        "training energy (J) at the shortest")
    assert S.with_unit("training compute", None, "TFLOP") == "training compute (TFLOP)"


def test_energy_scale_of_figures_agrees_with_the_tables():
    assert style.energy_scale([1e-5, 2e-5]) == (pytest.approx(3.6e6), "J")
    assert style.energy_scale([2.0, 8.0]) == (pytest.approx(1.0), "kWh")
    assert style.energy_scale([]) == (pytest.approx(1.0), "kWh")


def test_styled_puts_units_in_headers_and_never_prints_an_exponent():
    tiny = pd.DataFrame({
        "model": ["led-base", "led-large"],
        "train_energy_kwh": [5.817e-05, 1.369e-05],
        "train_time_s": [0.0123, 0.0456],
        "power_efficiency_samples_per_s_per_w": [0.02367, 1.2e-7],
        "CPU time per sample (ms)": [0.002, 0.004],
        "longest / shortest": [0.2234, 4.1],
        "anything": [1.5e-11, 3.2e-9],
        "length": [1024, 4096],
    })
    html = Tb.styled(tiny, kinds={"longest / shortest": "ratio"}).to_html()
    assert not EXPONENT.search(html), EXPONENT.search(html)
    headers = re.findall(r"<th [^>]*>(.*?)</th>", html)
    assert headers == ["model", "training energy (J)", "train_time (ms)",
                       "power efficiency (samples/s/W)", "CPU time per sample (µs)",
                       "longest / shortest", "anything", "length (tokens)"]
    cells = re.findall(r"<td [^>]*>(.*?)</td>", html)
    assert cells[:8] == ["led-base", "209", "12.3", "0.0237", "2.00", "×0.223",
                         "0.0000000000150", "1024"]
    assert cells[8:] == ["led-large", "49.3", "45.6", "0.000000120", "4.00", "×4.10",
                         "0.00000000320", "4096"]


def test_styled_reads_the_kinds_a_table_declares():
    table = pd.DataFrame({"gain": [0.25, np.nan], "note": ["a < b", None]})
    table.attrs["kinds"] = {"gain": "ratio"}
    html = Tb.styled(table).to_html()
    assert "×0.250" in html and "n/a" in html and "a &lt; b" in html
    assert "+25%" in Tb.styled(table, kinds={"gain": "change"}).to_html()  # the argument wins


def test_every_table_of_a_real_chapter_reads_without_an_exponent():
    from tradeoff.report import cost as cost_report
    from tradeoff.report import cost_tables
    from tradeoff.report import published

    real = published.open_published(dataset="govreport")
    view = cost_report.open_reference(reference_file=None, models=["led-base", "led-large"],
                                      lengths=[1024, 2048, 4096], target_length=1024,
                                      released_target_length=128,
                                      measured_dir=str(cost_report.MEASURED_DIR))
    for table in (published.points_table(real), published.gains_table(real),
                  published.recommendation_table(real), cost_tables.cost_table(view.frame),
                  cost_tables.fits_table(view.frame), cost_tables.measured_table(view.speed),
                  cost_tables.batch_comparison_table(view)):
        html = Tb.styled(table).to_html()
        assert not EXPONENT.search(html), EXPONENT.search(html)
    points = Tb.styled(published.points_table(real)).to_html()
    assert re.search(r"training compute per example, counted \((GFLOP|TFLOP|PFLOP)\)", points)


def test_the_palette_is_seaborns_colour_blind_palette():
    import seaborn as sns

    assert list(style.PALETTE) == sns.color_palette("colorblind").as_hex()

