"""Claims as verdicts over hand-made run tables whose verdicts are known.

`paper_grid` builds a table in which every finding holds by construction (the numbers follow the
paper's shapes: efficiency falls with length, LED-large at 1024 beats LED-base at longer lengths,
BigBird costs more for less, ...). Each "does not hold" test bends one shape; each "inconclusive"
test drops the rows the claim needs.
"""

import json

import numpy as np
import pandas as pd
import pytest

from tradeoff.analysis import claims as C
from tradeoff.analysis import recommend as R
from tradeoff.analysis import table as T

LENGTHS = (1024, 2048, 3072, 4096)
DATASETS = ("govreport", "summscreenfd", "qmsum", "qasper")
MODELS = ("led-base", "led-large", "bigbird-large")

# Per model, the value at 1024 tokens; how each scales with length is in `paper_grid`.
POWER_EFF = {"led-base": 0.02, "led-large": 0.008, "bigbird-large": 0.0075}
SPEED = {"led-base": 8.0, "led-large": 3.0, "bigbird-large": 2.5}
INFER = {"led-base": 4.0, "led-large": 2.0, "bigbird-large": 1.5}
ENERGY = {"led-base": 1.0, "led-large": 1.5, "bigbird-large": 3.0}
POWER = {"led-base": 300.0, "led-large": 300.0, "bigbird-large": 200.0}
UTIL = {"led-base": 90.0, "led-large": 85.0, "bigbird-large": 70.0}
BATCH = {"led-base": 24, "led-large": 8, "bigbird-large": 6}


def row(dataset, model, length, **values):
    """One run row with only the columns the claims read; `values` override."""
    out = {"dataset": dataset, "model": model, "length": length, "seed": 0, "grad_accum": 1,
           "status": "ok", "task": "qa" if dataset == "qasper" else "summarization",
           "accuracy": 20.0, "acc_val_loss": 3.0}
    out.update(values)
    return out


def accuracy(dataset, model, step):
    """Paper-shaped scores; `step` is 0..3 for 1024..4096."""
    if dataset == "qasper":  # LED-base > LED-large > BigBird; length buys little
        return {"led-base": 30 + 0.5 * step, "led-large": 25 + 0.5 * step,
                "bigbird-large": 20.0}[model]
    return {"led-base": 20 + step, "led-large": 25 + 3 * step, "bigbird-large": 15 + step}[model]


def paper_grid(override=None, *, datasets=DATASETS, models=MODELS, lengths=LENGTHS):
    """A table in which all seven findings hold, unless `override` bends a shape.

    `override` maps ``(column, model)`` -> a function of the length ratio k = length / 1024 that
    replaces that column's value for that model.
    """
    rows = []
    for dataset in datasets:
        for model in models:
            for length in lengths:
                k, step = length / 1024, lengths.index(length)
                acc = accuracy(dataset, model, step)
                energy = ENERGY[model] * k
                values = dict(
                    accuracy=acc, acc_val_loss=5 - acc / 10,
                    power_efficiency_samples_per_s_per_w=POWER_EFF[model] / k,
                    train_samples_per_s=SPEED[model] / k, infer_samples_per_s=INFER[model] / k,
                    train_energy_kwh=energy, train_energy_j=energy * 3.6e6,
                    train_avg_power_w=POWER[model],
                    train_time_s=energy * 3.6e6 / POWER[model],
                    train_gpu_util_mean_pct=UTIL[model] - (3 * step if model == "bigbird-large"
                                                           else 0),
                    train_cpu_util_mean_pct=100.0, effective_batch_size=BATCH[model])
                for (column, who), fn in (override or {}).items():
                    if who == model:
                        values[column] = fn(k)
                rows.append(row(dataset, model, length, **values))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def grid():
    return paper_grid()


# ------------------------------------------------------------------------------------------
# Shared machinery


def test_score_orients_signals():
    frame = pd.DataFrame([row("qasper", "led-base", 1024, accuracy=21.0, acc_val_loss=2.5)])
    assert T.score(frame, "headline").tolist() == [21.0]
    assert T.score(frame, "val_loss").tolist() == [-2.5]
    with pytest.raises(ValueError, match="unknown accuracy signal"):
        T.score(frame, "bleu")


@pytest.mark.parametrize("signal", ["headline", "val_loss"])
def test_every_claim_holds_on_the_paper_shaped_grid(grid, signal):
    found = C.verdicts(grid, signal)
    assert [v.claim for v in found] == list(range(1, 8))
    assert [v.verdict for v in found] == ["holds"] * 7, [v.evidence for v in found]
    assert all(f"Accuracy signal: {signal}" in v.evidence for v in found)
    for v in found:  # numbers are flat floats, so they serialize
        json.dumps(v.numbers)
        assert all(isinstance(x, float) for x in v.numbers.values())


def test_evaluate_claims_table(grid):
    table = C.evaluate_claims(grid)
    assert list(table.columns) == ["claim", "statement", "verdict", "evidence"]
    assert table["claim"].tolist() == list(range(1, 8))
    assert (table["verdict"] == "holds").all()


def test_empty_and_partial_grids_never_raise():
    empty = pd.DataFrame(columns=["profile", "dataset", "model", "length", "seed", "grad_accum",
                                  "status", "reason"])
    assert (C.evaluate_claims(empty)["verdict"] == "inconclusive").all()
    # Only LED-base on one dataset: claim 1 can still be tested, BigBird claims cannot.
    partial = paper_grid(datasets=("govreport",), models=("led-base",))
    table = C.evaluate_claims(partial).set_index("claim")["verdict"]
    assert table[1] == "holds"
    assert table[2] == table[4] == table[6] == "inconclusive"
    assert "Missing data" in C.claim_2_bigbird_similar_power_efficiency_lower_accuracy(
        partial).evidence


def test_failed_runs_and_study_rows_are_left_out(grid):
    # A failed run and a batch-size study row that contradict claim 1 must not count.
    noise = pd.DataFrame([
        row("govreport", "led-base", 4096, status="oom", power_efficiency_samples_per_s_per_w=9.0),
        row("govreport", "led-base", 4096, grad_accum=4, power_efficiency_samples_per_s_per_w=9.0),
    ])
    frame = pd.concat([grid, noise], ignore_index=True)
    v = C.claim_1_power_efficiency_falls_with_length(frame)
    assert v.verdict == "holds"
    assert v.numbers["govreport/led-base/power_efficiency_rho"] == -1.0


def test_seeds_are_averaged():
    rows = [row("govreport", "led-base", 1024, seed=s, power_efficiency_samples_per_s_per_w=p)
            for s, p in ((0, 1.0), (1, 3.0))]  # mean 2.0 at 1024
    rows.append(row("govreport", "led-base", 2048, power_efficiency_samples_per_s_per_w=2.5))
    v = C.claim_1_power_efficiency_falls_with_length(pd.DataFrame(rows))
    assert v.verdict == "does not hold"  # 2.0 -> 2.5 rises; seed 0 alone (1.0) would rise too
    rows[-1]["power_efficiency_samples_per_s_per_w"] = 1.5  # below the mean, above seed 0
    assert C.claim_1_power_efficiency_falls_with_length(pd.DataFrame(rows)).verdict == "holds"


# ------------------------------------------------------------------------------------------
# One block per claim: holds (above), does not hold, inconclusive


def test_claim_1():
    rising = paper_grid({("power_efficiency_samples_per_s_per_w", m): (lambda k: k)
                           for m in MODELS})
    v = C.claim_1_power_efficiency_falls_with_length(rising)
    assert v.verdict == "does not hold"
    assert v.numbers["power_efficiency_series"] == 12.0
    assert v.numbers["power_efficiency_falling"] == 0
    # Half the series rise: between the 25% and 75% thresholds.
    half = paper_grid({("power_efficiency_samples_per_s_per_w", m): (lambda k: k)
                         for m in ("led-base",)}, models=("led-base", "led-large"))
    assert C.claim_1_power_efficiency_falls_with_length(half).verdict == "inconclusive"
    one_length = paper_grid(lengths=(1024,))
    assert C.claim_1_power_efficiency_falls_with_length(one_length).verdict == "inconclusive"


def test_claim_2():
    v = C.claim_2_bigbird_similar_power_efficiency_lower_accuracy(paper_grid())
    assert v.numbers["govreport/1024/power_efficiency_ratio"] == pytest.approx(0.9375)
    assert v.numbers["govreport/1024/score_gap"] == pytest.approx(-10.0)
    halved = paper_grid({("power_efficiency_samples_per_s_per_w", "bigbird-large"):
                           lambda k: 0.004 / k})  # ratio 0.5: not similar
    v = C.claim_2_bigbird_similar_power_efficiency_lower_accuracy(halved)
    assert v.verdict == "does not hold" and v.numbers["similar"] == 0
    better = paper_grid({("accuracy", "bigbird-large"): lambda k: 50.0})
    assert C.claim_2_bigbird_similar_power_efficiency_lower_accuracy(better).verdict == \
        "does not hold"
    no_bigbird = paper_grid(models=("led-base", "led-large"))
    assert C.claim_2_bigbird_similar_power_efficiency_lower_accuracy(no_bigbird).verdict == \
        "inconclusive"


def test_claim_3():
    v = C.claim_3_grow_model_not_input(paper_grid())
    # LED-large at 1024 (25, 1.5 kWh) vs LED-base at 2048 (21, 2 kWh); gains per kWh 2 vs 1.
    assert v.numbers["govreport/large_1024_vs_base_2048/energy_ratio"] == pytest.approx(0.75)
    assert v.numbers["govreport/led-large/gain_per_kwh_1024_to_4096"] == pytest.approx(2.0)
    assert v.numbers["govreport/led-base/gain_per_kwh_1024_to_4096"] == pytest.approx(1.0)
    assert v.numbers["comparisons"] == 6.0 and v.numbers["large_short_wins"] == 6.0
    costly = paper_grid({("train_energy_kwh", "led-large"): lambda k: 5.0 * k})
    v = C.claim_3_grow_model_not_input(costly)
    assert v.verdict == "does not hold" and v.numbers["large_short_wins"] == 0
    assert C.claim_3_grow_model_not_input(
        paper_grid(datasets=("summscreenfd", "qasper"))).verdict == "inconclusive"


def test_claim_4():
    cheap_bigbird = paper_grid({("train_energy_kwh", "bigbird-large"): lambda k: 0.5 * k})
    v = C.claim_4_bigbird_more_energy_lower_accuracy(cheap_bigbird)
    assert v.verdict == "does not hold" and v.numbers["pairs"] == 12.0
    v = C.claim_4_bigbird_more_energy_lower_accuracy(paper_grid())
    assert v.numbers["qmsum/2048/energy_ratio"] == pytest.approx(2.0)
    assert C.claim_4_bigbird_more_energy_lower_accuracy(
        paper_grid(datasets=("qasper",))).verdict == "inconclusive"


def test_claim_5():
    faster = paper_grid({(col, m): (lambda k: k) for m in MODELS
                           for col in ("train_samples_per_s", "infer_samples_per_s")})
    v = C.claim_5_speed_falls_with_length(faster)
    assert v.verdict == "does not hold"
    assert v.numbers["train_speed_falling"] == 0 and v.numbers["infer_speed_falling"] == 0
    slow_base = paper_grid({("infer_samples_per_s", "led-base"): lambda k: 0.1 / k})
    assert C.claim_5_speed_falls_with_length(slow_base).verdict == "does not hold"
    assert C.claim_5_speed_falls_with_length(paper_grid(lengths=(1024,), models=("led-base",))) \
        .verdict == "inconclusive"


def test_claim_5_reports_base_matching_large():
    # LED-base at 2048 within 0.5 points of LED-large at 1024 (headline) on govreport too.
    frame = paper_grid()
    pick = (frame["dataset"] == "govreport") & (frame["model"] == "led-base") & (
        frame["length"] == 2048)
    frame.loc[pick, "accuracy"] = 24.6  # LED-large at 1024 scores 25
    before = C.claim_5_speed_falls_with_length(paper_grid())
    assert before.numbers["base_matches_large"] == 1.0  # qasper, where LED-base beats LED-large
    v = C.claim_5_speed_falls_with_length(frame)
    assert v.verdict == "holds"  # reported, not tested
    assert v.numbers["base_matches_large"] == 2.0
    assert v.numbers["govreport/base_2048_minus_large_1024"] == pytest.approx(-0.4)
    assert "govreport (base 2048 vs large 1024)" in v.evidence


def test_claim_6():
    v = C.claim_6_qasper_small_model_long_input(paper_grid())
    assert v.numbers["led-base/1024_to_4096/relative_gain"] == pytest.approx(0.05)
    assert v.numbers["led-base/1024_to_4096/energy_ratio"] == pytest.approx(4.0)
    assert v.numbers["1024/batch_base_over_large"] == pytest.approx(3.0)
    swapped = paper_grid({("accuracy", "led-large"): lambda k: 40.0,
                            ("accuracy", "bigbird-large"): lambda k: 45.0})
    v = C.claim_6_qasper_small_model_long_input(swapped)
    assert v.verdict == "does not hold"
    assert v.numbers["led_wins"] == 0 and v.numbers["base_wins"] == 0
    # Length pays off: scores double from 1024 to 4096 on every model.
    rewarding = paper_grid({("accuracy", m): (lambda k, b=b: b * k)
                              for m, b in (("led-base", 30), ("led-large", 25),
                                           ("bigbird-large", 20))})
    assert C.claim_6_qasper_small_model_long_input(rewarding).numbers[
        "small_gain_large_cost"] == 0
    assert C.claim_6_qasper_small_model_long_input(rewarding).verdict == "does not hold"
    assert C.claim_6_qasper_small_model_long_input(
        paper_grid(datasets=("govreport",))).verdict == "inconclusive"


def test_claim_6_uses_study_rows_only_for_the_batch_report():
    study = paper_grid(datasets=("qasper",), models=("led-base",), lengths=(1024,))
    study["grad_accum"], study["accuracy"] = 4, 33.0  # bigger batch: +3 F1
    frame = pd.concat([paper_grid(), study], ignore_index=True)
    v = C.claim_6_qasper_small_model_long_input(frame)
    assert v.verdict == "holds"
    assert v.numbers["led-base/1024/bigger_batch_gain"] == pytest.approx(3.0)
    assert v.numbers["led-base/1024/score_minus_bigbird"] == pytest.approx(10.0)  # main grid


def test_claim_7():
    v = C.claim_7_govreport_utilization_and_time(paper_grid())
    # BigBird: 3 kWh/1024 at 200 W vs LED-large 1.5 kWh/1024 at 300 W -> 3x the time at 4096.
    assert v.numbers["time_ratio_bigbird_over_led_large_4096"] == pytest.approx(3.0)
    assert v.numbers["bigbird-large/4096/util"] == pytest.approx(61.0)
    assert v.numbers["time_energy_rho"] >= 0.8
    busy_bigbird = paper_grid({("train_gpu_util_mean_pct", "bigbird-large"): lambda k: 99.0})
    v = C.claim_7_govreport_utilization_and_time(busy_bigbird)
    assert v.verdict == "does not hold" and v.numbers["led_higher_util"] == 0
    quick_bigbird = paper_grid({("train_time_s", "bigbird-large"): lambda k: 1.0})
    v = C.claim_7_govreport_utilization_and_time(quick_bigbird)
    assert v.verdict == "does not hold"
    assert C.claim_7_govreport_utilization_and_time(
        paper_grid(datasets=("qmsum",))).verdict == "inconclusive"


def test_claim_7_time_not_tracking_energy():
    # Times in the reverse order of energies: rho = -1.
    frame = paper_grid(datasets=("govreport",))
    frame["train_time_s"] = 1e6 / frame["train_energy_j"]
    v = C.claim_7_govreport_utilization_and_time(frame)
    assert v.numbers["time_energy_rho"] == pytest.approx(-1.0)
    assert v.verdict == "does not hold"


def test_claim_7_falls_back_to_cpu_utilization():
    frame = paper_grid(datasets=("govreport",))
    frame["train_gpu_util_mean_pct"] = np.nan
    frame["train_cpu_util_mean_pct"] = frame["model"].map(
        {"led-base": 95.0, "led-large": 90.0, "bigbird-large": 50.0}) - frame["length"] / 1024
    v = C.claim_7_govreport_utilization_and_time(frame)
    assert "CPU utilization used" in v.evidence
    assert v.verdict == "holds"
    frame["train_cpu_util_mean_pct"] = np.nan
    v = C.claim_7_govreport_utilization_and_time(frame)
    assert v.verdict == "inconclusive" and "No utilization measured" in v.evidence


# ------------------------------------------------------------------------------------------
# Recommender


@pytest.fixture
def options():
    """Five configurations on one dataset; (kWh, score): the frontier is a, b, d."""
    points = {("led-base", 1024): (1.0, 20.0), ("led-base", 2048): (2.0, 25.0),
              ("led-large", 1024): (2.5, 24.0),  # dominated by led-base 2048
              ("led-large", 2048): (4.0, 30.0), ("bigbird-large", 1024): (5.0, 15.0)}
    return pd.DataFrame([row("govreport", m, length, train_energy_kwh=e, accuracy=s,
                             infer_samples_per_s=10.0 / e)
                         for (m, length), (e, s) in points.items()])


def test_pareto_frontier(options):
    front = R.pareto_frontier(options, "train_energy_kwh")
    assert list(zip(front["model"], front["length"])) == [
        ("led-base", 1024), ("led-base", 2048), ("led-large", 2048)]
    assert front["score"].tolist() == [20.0, 25.0, 30.0]
    # A speed is a benefit: the fastest inference comes first.
    fast = R.pareto_frontier(options, "infer_samples_per_s")
    assert fast["infer_samples_per_s"].tolist() == [10.0, 5.0, 2.5]
    assert R.pareto_frontier(options, "no_such_column").empty


def test_recommend_within_and_without_budget(options):
    best = R.recommend(options, dataset="govreport", max_energy_kwh=3.0)
    assert len(best) == 1
    assert (best.loc[0, "model"], best.loc[0, "length"]) == ("led-base", 2048)
    assert "within training energy <= 3 kWh" in best.attrs["reason"]
    unlimited = R.recommend(options, dataset="govreport")
    assert unlimited.loc[0, "score"] == 30.0
    fast = R.recommend(options, dataset="govreport", min_infer_samples_per_s=6.0)
    assert fast.loc[0, "length"] == 1024 and fast.loc[0, "model"] == "led-base"
    none = R.recommend(options, dataset="govreport", max_energy_kwh=0.5)
    assert none.empty and "none of the 5 configurations" in none.attrs["reason"]
    other = R.recommend(options, dataset="qasper")
    assert other.empty and "no finished runs" in other.attrs["reason"]
