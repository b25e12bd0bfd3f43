"""The paper's seven findings as tests over the run-record table.

Each ``claim_N_*`` function takes the tidy table of :func:`tradeoff.analysis.table.tidy` and
returns a :class:`~tradeoff.analysis.verdict.Verdict`; the findings' statements, the thresholds
and the rules every verdict follows (parts, majority, missing data) are in
:mod:`tradeoff.analysis.verdict`.
The exact test is in each function's docstring; what the tests on run records share:

* Only ``status == "ok"`` rows count. Claims use the main grid: per dataset, the rows with the
  smallest ``grad_accum`` (the Qasper batch-size study rows are used only where claim 6 says so).
* Seeds are averaged per configuration (dataset x model x length) before anything is compared.

Accuracy is read through a *signal* (:data:`ACCURACY_SIGNALS`): the headline SCROLLS metric, or
the teacher-forced validation loss, which is the only meaningful signal at demo scale where a few
minutes of training decode nothing useful. :func:`tradeoff.analysis.table.score` turns either
into "higher is better".
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from ..tasks import MODELS, SUMMARIZATION
from ..records import (
    AVG_POWER,
    CPU_UTIL,
    ENERGY_KWH,
    GPU_UTIL,
    INFER_SPEED,
    POWER_EFFICIENCY,
    TRAIN_ENERGY_J,
    TRAIN_SPEED,
    TRAIN_TIME,
)
from .table import BATCH, configurations, main_grid, ok_rows, score
from .verdict import (
    FAR_LONGER_RATIO,
    LARGE_COST_RATIO,
    MATCH_POINTS,
    MATCH_RELATIVE,
    missing,
    NOT_TRACKS_RHO,
    pct,
    share_verdict,
    SIMILAR_POWER_EFFICIENCY,
    SMALL_GAIN_RELATIVE,
    TRACKS_RHO,
    Verdict,
    verdict_of,
)

# The findings each dataset chapter tests on its own runs (the others need other datasets).
CHAPTER_CLAIMS = {"govreport": (1, 2, 3, 4, 5, 7), "summscreenfd": (1, 2, 4, 5),
                  "qmsum": (1, 2, 3, 4, 5), "qasper": (1, 5, 6)}
QA = "qasper"
LED_BASE, LED_LARGE, BIGBIRD = MODELS  # the paper's three models, as the findings name them


# --------------------------------------------------------------------------------------------
# Table preparation


def _cells(frame: pd.DataFrame, signal: str) -> pd.DataFrame:
    """The main grid, seeds averaged: what every claim compares."""
    return configurations(frame, signal)


def _at(cells: pd.DataFrame, dataset: str, model: str) -> pd.DataFrame:
    """A model's series on a dataset, indexed by length (ascending)."""
    return cells[(cells["dataset"] == dataset) & (cells["model"] == model)].set_index(
        "length").sort_index()


# --------------------------------------------------------------------------------------------
# Small statistics


def _spearman(x, y) -> float:
    """Spearman's rho (Pearson on average ranks); NaN with < 2 points or a constant side."""
    data = pd.DataFrame({"x": list(x), "y": list(y)}).dropna()
    if len(data) < 2 or data["x"].nunique() < 2 or data["y"].nunique() < 2:
        return math.nan
    return float(np.corrcoef(data["x"].rank(), data["y"].rank())[0, 1])


def _trend_part(cells: pd.DataFrame, column: str, numbers: dict, label: str) -> tuple[str, str]:
    """Share of dataset x model series (>= 2 lengths) whose ``column`` falls with length."""
    falling = total = 0
    for (dataset, model), series in cells.groupby(["dataset", "model"]):
        series = series.dropna(subset=[column])
        if series["length"].nunique() < 2:
            continue
        rho = _spearman(series["length"], series[column])
        numbers[f"{dataset}/{model}/{label}_rho"] = rho
        total += 1
        falling += int(rho < 0)  # NaN (a flat series) is not a fall
    numbers[f"{label}_series"], numbers[f"{label}_falling"] = total, falling
    return (share_verdict(falling, total),
            f"{label.replace('_', ' ').capitalize()} fell with length (Spearman rho < 0) in "
            f"{pct(falling, total)} of the dataset x model series with >= 2 lengths.")


# --------------------------------------------------------------------------------------------
# The findings


def claim_1_power_efficiency_falls_with_length(frame: pd.DataFrame,
                                               signal: str = "headline") -> Verdict:
    """Claim 1: power efficiency falls as input length grows.

    Test: for every dataset x model series with at least two lengths (main grid, seeds averaged),
    Spearman's rho of power efficiency (samples/s/W) against length; the series falls when
    rho < 0. Holds when >= 75% of the series fall, does not hold at <= 25%, else inconclusive.

    Args:
        frame: the run-record table.
        signal: accuracy signal (unused here; kept so every claim has the same signature).

    Returns:
        The verdict; numbers hold each series' rho and the counts.
    """
    cells = _cells(frame, signal)
    numbers: dict = {}
    part, sentence = _trend_part(cells, POWER_EFFICIENCY, numbers, "power_efficiency")
    if numbers["power_efficiency_series"] == 0:
        return missing(1, "no dataset x model series with power efficiency at >= 2 lengths",
                       signal)
    return verdict_of(1, {"falls with length": part}, [sentence], numbers, signal)


def claim_2_bigbird_similar_power_efficiency_lower_accuracy(
        frame: pd.DataFrame, signal: str = "headline") -> Verdict:
    """Claim 2: BigBird-large's power efficiency is similar to LED-large's, its accuracy lower.

    Test, on the summarization datasets, over every (dataset, length) where both BigBird-large
    and LED-large finished: (a) power efficiency is similar when
    ``|BigBird / LED-large - 1| <= 0.25``; (b) BigBird's score is lower than LED-large's. Each
    part holds when >= 75% of the pairs agree, does not hold at <= 25%.

    Args:
        frame: the run-record table.
        signal: accuracy signal, see :data:`ACCURACY_SIGNALS`.

    Returns:
        The verdict; numbers hold each pair's power-efficiency ratio and score gap.
    """
    cells = _cells(frame, signal)
    numbers: dict = {}
    similar = lower = pairs_pe = pairs_score = 0
    ratios, gaps = [], []
    for dataset in SUMMARIZATION:
        bigbird, large = _at(cells, dataset, BIGBIRD), _at(cells, dataset, LED_LARGE)
        for length in bigbird.index.intersection(large.index):
            b, l = bigbird.loc[length], large.loc[length]
            ratio = b[POWER_EFFICIENCY] / l[POWER_EFFICIENCY]
            if np.isfinite(ratio):
                numbers[f"{dataset}/{length}/power_efficiency_ratio"] = ratio
                pairs_pe += 1
                similar += int(abs(ratio - 1) <= SIMILAR_POWER_EFFICIENCY)
                ratios.append(ratio)
            gap = b["score"] - l["score"]
            if np.isfinite(gap):
                numbers[f"{dataset}/{length}/score_gap"] = gap
                pairs_score += 1
                lower += int(gap < 0)
                gaps.append(gap)
    if pairs_pe + pairs_score == 0:
        return missing(2, "no summarization (dataset, length) where both bigbird-large and "
                          "led-large finished", signal)
    numbers |= {"pairs_power_efficiency": pairs_pe, "similar": similar,
                "pairs_score": pairs_score, "bigbird_lower": lower}
    sentences = [
        f"BigBird-large / LED-large power efficiency within {SIMILAR_POWER_EFFICIENCY:.0%} in "
        f"{pct(similar, pairs_pe)} of the summarization (dataset, length) pairs"
        + (f" (median ratio {np.median(ratios):.2f})." if ratios else "."),
        f"BigBird-large scored lower in {pct(lower, pairs_score)}"
        + (f" (mean gap {np.mean(gaps):+.3g})." if gaps else "."),
    ]
    parts = {"similar power efficiency": share_verdict(similar, pairs_pe),
             "lower accuracy": share_verdict(lower, pairs_score)}
    return verdict_of(2, parts, sentences, numbers, signal)


def claim_3_grow_model_not_input(frame: pd.DataFrame, signal: str = "headline") -> Verdict:
    """Claim 3: on GovReport and QMSum, a bigger model beats a longer input.

    Test, per dataset in (govreport, qmsum): let ``L0`` be LED-large's shortest length (1024 in
    the paper's grid). (a) LED-large at ``L0`` has a higher score *and* lower training energy
    (kWh) than LED-base at every length > ``L0``; each such comparison counts. (b) Score gain per
    kWh from the shortest to the longest length both LED models ran,
    ``(score_long - score_short) / (kWh_long - kWh_short)``, is larger for LED-large than for
    LED-base (datasets where either energy did not grow are left out). Each part holds when
    >= 75% of its comparisons agree, does not hold at <= 25%.

    Args:
        frame: the run-record table.
        signal: accuracy signal, see :data:`ACCURACY_SIGNALS`.

    Returns:
        The verdict; numbers hold each comparison and each gain per kWh.
    """
    cells = _cells(frame, signal)
    numbers: dict = {}
    wins = comparisons = steeper = slopes = 0
    used = []
    for dataset in ("govreport", "qmsum"):
        base, large = _at(cells, dataset, LED_BASE), _at(cells, dataset, LED_LARGE)
        if base.empty or large.empty:
            continue
        used.append(dataset)
        l0 = large.index.min()
        ref = large.loc[l0]
        for length in base.index[base.index > l0]:
            b = base.loc[length]
            win = ref["score"] > b["score"] and ref[ENERGY_KWH] < b[ENERGY_KWH]
            numbers[f"{dataset}/large_{l0}_vs_base_{length}/score_gap"] = ref["score"] - b["score"]
            numbers[f"{dataset}/large_{l0}_vs_base_{length}/energy_ratio"] = (
                ref[ENERGY_KWH] / b[ENERGY_KWH])
            comparisons += 1
            wins += int(win)
        common = base.index.intersection(large.index)
        if len(common) >= 2:
            short, long_ = common.min(), common.max()
            gain = {}
            for name, series in (("led-base", base), ("led-large", large)):
                d_energy = series.loc[long_, ENERGY_KWH] - series.loc[short, ENERGY_KWH]
                d_score = series.loc[long_, "score"] - series.loc[short, "score"]
                gain[name] = d_score / d_energy if d_energy > 0 else math.nan
                numbers[f"{dataset}/{name}/gain_per_kwh_{short}_to_{long_}"] = gain[name]
            if np.isfinite(gain["led-base"]) and np.isfinite(gain["led-large"]):
                slopes += 1
                steeper += int(gain["led-large"] > gain["led-base"])
    if not used:
        return missing(3, "led-base and led-large results on govreport or qmsum", signal)
    numbers |= {"comparisons": comparisons, "large_short_wins": wins,
                "slope_comparisons": slopes, "large_steeper": steeper}
    sentences = [
        f"Datasets: {', '.join(used)}. LED-large at its shortest length had a higher score and "
        f"lower training energy than LED-base at a longer length in {pct(wins, comparisons)} "
        f"comparisons.",
        f"Score gain per kWh when growing the length was larger for LED-large in "
        f"{pct(steeper, slopes)} datasets.",
    ]
    parts = {"large-short beats base-long": share_verdict(wins, comparisons),
             "large gains more per kWh": share_verdict(steeper, slopes)}
    return verdict_of(3, parts, sentences, numbers, signal)


def claim_4_bigbird_more_energy_lower_accuracy(frame: pd.DataFrame,
                                               signal: str = "headline") -> Verdict:
    """Claim 4: BigBird uses more energy for a lower score.

    Test, on the summarization datasets, over every (dataset, length) where both BigBird-large
    and LED-large finished: BigBird's training energy (kWh) is higher *and* its score lower.
    Holds when >= 75% of the pairs agree, does not hold at <= 25%.

    Args:
        frame: the run-record table.
        signal: accuracy signal, see :data:`ACCURACY_SIGNALS`.

    Returns:
        The verdict; numbers hold each pair's energy ratio and score gap.
    """
    cells = _cells(frame, signal)
    numbers: dict = {}
    agree = pairs = 0
    ratios = []
    for dataset in SUMMARIZATION:
        bigbird, large = _at(cells, dataset, BIGBIRD), _at(cells, dataset, LED_LARGE)
        for length in bigbird.index.intersection(large.index):
            b, l = bigbird.loc[length], large.loc[length]
            ratio, gap = b[ENERGY_KWH] / l[ENERGY_KWH], b["score"] - l["score"]
            if not (np.isfinite(ratio) and np.isfinite(gap)):
                continue
            numbers[f"{dataset}/{length}/energy_ratio"] = ratio
            numbers[f"{dataset}/{length}/score_gap"] = gap
            pairs += 1
            agree += int(ratio > 1 and gap < 0)
            ratios.append(ratio)
    if pairs == 0:
        return missing(4, "no summarization (dataset, length) where both bigbird-large and "
                          "led-large finished with energy and score", signal)
    numbers |= {"pairs": pairs, "more_energy_lower_score": agree}
    sentences = [f"BigBird-large used more training energy for a lower score than LED-large at "
                 f"the same length in {pct(agree, pairs)} summarization (dataset, length) pairs "
                 f"(median energy ratio {np.median(ratios):.2f})."]
    return verdict_of(4, {"more energy, lower score": share_verdict(agree, pairs)}, sentences,
                      numbers, signal)


def claim_5_speed_falls_with_length(frame: pd.DataFrame, signal: str = "headline") -> Verdict:
    """Claim 5: speeds fall with length; smaller models infer faster; base may match large.

    Test: (a) training speed and (b) inference speed (samples/s) fall with length: Spearman
    rho < 0 per dataset x model series with >= 2 lengths; (c) LED-base infers faster than
    LED-large at the same (dataset, length). Each part holds when >= 75% of its comparisons
    agree, does not hold at <= 25%. (d) Reported only, not part of the verdict (the paper says
    "sometimes"): per dataset, whether LED-base at the next length above LED-large's shortest
    (2048 vs 1024 in the paper's grid) scores at least LED-large's score minus a tolerance of 2%
    of it (headline signal: or 0.5 points, whichever is larger).

    Args:
        frame: the run-record table.
        signal: accuracy signal, see :data:`ACCURACY_SIGNALS`.

    Returns:
        The verdict; numbers hold the per-series rhos, the speed ratios and the matches.
    """
    cells = _cells(frame, signal)
    numbers: dict = {}
    train_part, train_sentence = _trend_part(cells, TRAIN_SPEED, numbers, "train_speed")
    infer_part, infer_sentence = _trend_part(cells, INFER_SPEED, numbers, "infer_speed")
    faster = pairs = 0
    matches, matched = 0, []
    for dataset in cells["dataset"].unique():
        base, large = _at(cells, dataset, LED_BASE), _at(cells, dataset, LED_LARGE)
        for length in base.index.intersection(large.index):
            ratio = base.loc[length, INFER_SPEED] / large.loc[length, INFER_SPEED]
            if np.isfinite(ratio):
                numbers[f"{dataset}/{length}/infer_speed_base_over_large"] = ratio
                pairs += 1
                faster += int(ratio > 1)
        if large.empty or not (base.index > large.index.min()).any():
            continue
        l0 = large.index.min()
        l1 = base.index[base.index > l0].min()
        ref, cand = large.loc[l0, "score"], base.loc[l1, "score"]
        if not (np.isfinite(ref) and np.isfinite(cand)):
            continue
        tol = MATCH_RELATIVE * abs(ref)
        if signal in ("headline", "teacher_forced"):
            tol = max(tol, MATCH_POINTS)
        numbers[f"{dataset}/base_{l1}_minus_large_{l0}"] = cand - ref
        matches += 1
        if cand >= ref - tol:
            matched.append(f"{dataset} (base {l1} vs large {l0})")
    numbers |= {"infer_pairs": pairs, "base_infers_faster": faster,
                "match_comparisons": matches, "base_matches_large": len(matched)}
    if numbers["train_speed_series"] + numbers["infer_speed_series"] + pairs == 0:
        return missing(5, "no series with speeds at >= 2 lengths and no led-base/led-large pair",
                       signal)
    sentences = [train_sentence, infer_sentence,
                 f"LED-base inferred faster than LED-large at the same length in "
                 f"{pct(faster, pairs)} (dataset, length) pairs.",
                 f"Reported, not tested: LED-base one length up matched LED-large at its "
                 f"shortest length in {len(matched)}/{matches} datasets"
                 + (f": {', '.join(matched)}." if matched else ".")]
    parts = {"training speed falls": train_part, "inference speed falls": infer_part,
             "smaller model infers faster": share_verdict(faster, pairs)}
    return verdict_of(5, parts, sentences, numbers, signal)


def claim_6_qasper_small_model_long_input(frame: pd.DataFrame,
                                          signal: str = "headline") -> Verdict:
    """Claim 6 (Qasper): LED beats BigBird; LED-base beats LED-large; length buys little.

    Test on Qasper's main grid: (a) each LED model scores higher than BigBird-large at the same
    length, over all (LED model, length) pairs; (b) LED-base scores higher than LED-large at the
    same length; (c) per model with >= 2 lengths, from its shortest to its longest length the
    relative score gain ``(s_long - s_short) / |s_short|`` is below 10% while the cost is large:
    training energy x1.5 or more, or training speed /1.5 or less. Each part holds when >= 75% of
    its comparisons agree, does not hold at <= 25%. Reported only: LED-base's effective batch
    over LED-large's at the same length (the paper's explanation), and, where the batch-size
    study rows exist (``grad_accum`` above the main grid's), the score gain they bring.

    Args:
        frame: the run-record table.
        signal: accuracy signal, see :data:`ACCURACY_SIGNALS`.

    Returns:
        The verdict; numbers hold each comparison, gain and cost ratio.
    """
    rows = ok_rows(frame, signal)
    rows = rows[rows["dataset"] == QA]
    cells = configurations(rows, signal)
    if cells.empty:
        return missing(6, "no finished qasper runs", signal)
    numbers: dict = {}
    bigbird, base, large = (_at(cells, QA, m) for m in (BIGBIRD, LED_BASE, LED_LARGE))

    led_wins = led_pairs = 0
    for name, led in ((LED_BASE, base), (LED_LARGE, large)):
        for length in led.index.intersection(bigbird.index):
            gap = led.loc[length, "score"] - bigbird.loc[length, "score"]
            if np.isfinite(gap):
                numbers[f"{name}/{length}/score_minus_bigbird"] = gap
                led_pairs += 1
                led_wins += int(gap > 0)

    base_wins = base_pairs = 0
    batch_ratios = []
    for length in base.index.intersection(large.index):
        gap = base.loc[length, "score"] - large.loc[length, "score"]
        if np.isfinite(gap):
            numbers[f"{length}/base_minus_large"] = gap
            base_pairs += 1
            base_wins += int(gap > 0)
        ratio = base.loc[length, BATCH] / large.loc[length, BATCH]
        if np.isfinite(ratio):
            numbers[f"{length}/batch_base_over_large"] = ratio
            batch_ratios.append(ratio)

    cheap = series_n = 0
    for model, series in cells.groupby("model"):
        series = series.dropna(subset=["score"]).set_index("length").sort_index()
        if len(series) < 2 or series["score"].iloc[0] == 0:
            continue
        s, e = series.iloc[0], series.iloc[-1]
        gain = (e["score"] - s["score"]) / abs(s["score"])
        energy, speed = e[ENERGY_KWH] / s[ENERGY_KWH], e[TRAIN_SPEED] / s[TRAIN_SPEED]
        key = f"{model}/{series.index[0]}_to_{series.index[-1]}"
        numbers |= {f"{key}/relative_gain": gain, f"{key}/energy_ratio": energy,
                    f"{key}/train_speed_ratio": speed}
        series_n += 1
        cheap += int(gain < SMALL_GAIN_RELATIVE
                     and (energy >= LARGE_COST_RATIO or speed <= 1 / LARGE_COST_RATIO))

    study = rows[rows["grad_accum"] > rows["grad_accum"].min()]
    study_gains = []
    for (model, length), group in configurations(rows, signal, main=False).groupby(["model", "length"]):
        if len(group) >= 2:
            group = group.sort_values("grad_accum")
            gain = group["score"].iloc[-1] - group["score"].iloc[0]
            numbers[f"{model}/{length}/bigger_batch_gain"] = gain
            study_gains.append(gain)

    numbers |= {"led_vs_bigbird_pairs": led_pairs, "led_wins": led_wins,
                "base_vs_large_pairs": base_pairs, "base_wins": base_wins,
                "length_series": series_n, "small_gain_large_cost": cheap}
    sentences = [
        f"LED beat BigBird-large at the same length in {pct(led_wins, led_pairs)} pairs.",
        f"LED-base beat LED-large in {pct(base_wins, base_pairs)} lengths"
        + (f" (median effective batch ratio base/large {np.median(batch_ratios):.2f})."
           if batch_ratios else "."),
        f"Longest vs shortest length: relative score gain < {SMALL_GAIN_RELATIVE:.0%} with energy "
        f"x{LARGE_COST_RATIO} or speed /{LARGE_COST_RATIO} in {pct(cheap, series_n)} models.",
        (f"Reported, not tested: batch-size study ({len(study)} rows) changed the score by "
         f"{np.mean(study_gains):+.3g} on average over {len(study_gains)} configurations."
         if study_gains else "No batch-size study rows."),
    ]
    parts = {"LED beats BigBird": share_verdict(led_wins, led_pairs),
             "LED-base beats LED-large": share_verdict(base_wins, base_pairs),
             "small gain at large cost": share_verdict(cheap, series_n)}
    return verdict_of(6, parts, sentences, numbers, signal)


def _utilization_column(cells: pd.DataFrame) -> tuple[str | None, str]:
    """GPU utilization if measured, else CPU utilization (a CPU run), else None."""
    for kind, column in (("GPU", GPU_UTIL), ("CPU", CPU_UTIL)):
        if cells[column].notna().any():
            return column, kind
    return None, ""


def claim_7_govreport_utilization_and_time(frame: pd.DataFrame,
                                           signal: str = "headline") -> Verdict:
    """Claim 7 (GovReport deep-dive): utilization, training time and energy.

    Test on GovReport's main grid, with mean GPU utilization (mean CPU utilization on a CPU
    run, said in the evidence): (a) each LED model's utilization exceeds BigBird-large's at the
    same length, >= 75% of the pairs to hold, <= 25% not to; at ``L``, the longest length both
    BigBird-large and LED-large finished, (b) BigBird-large has the lowest utilization of all
    GovReport configurations, and (c) BigBird-large's training time over LED-large's is >= 2
    (holds), <= 1 (does not hold) or in between (inconclusive; the paper reports about 4);
    (d) over individual runs, Spearman rho(training time, training energy) >= 0.8 holds, < 0.5
    does not hold, in between (or fewer than 3 runs) is inconclusive. Average power at ``L`` is
    reported.

    Args:
        frame: the run-record table.
        signal: accuracy signal (unused here; kept so every claim has the same signature).

    Returns:
        The verdict; numbers hold utilizations, the time ratio and the rho.
    """
    runs = main_grid(ok_rows(frame, signal))
    runs = runs[runs["dataset"] == "govreport"]
    cells = configurations(runs, signal)
    if cells.empty:
        return missing(7, "no finished govreport runs", signal)
    numbers: dict = {}
    parts: dict[str, str] = {}
    sentences: list[str] = []
    bigbird, large = _at(cells, "govreport", BIGBIRD), _at(cells, "govreport", LED_LARGE)

    util, kind = _utilization_column(cells)
    if util is None:
        sentences.append("No utilization measured (GPU or CPU).")
        parts["LED higher utilization"] = parts["BigBird lowest utilization"] = "inconclusive"
    else:
        if kind == "CPU":
            sentences.append("GPU utilization not measured (CPU run): CPU utilization used.")
        higher = pairs = 0
        for name in (LED_BASE, LED_LARGE):
            led = _at(cells, "govreport", name)
            for length in led.index.intersection(bigbird.index):
                gap = led.loc[length, util] - bigbird.loc[length, util]
                if np.isfinite(gap):
                    numbers[f"{name}/{length}/util_minus_bigbird"] = gap
                    pairs += 1
                    higher += int(gap > 0)
        numbers |= {"util_pairs": pairs, "led_higher_util": higher}
        parts["LED higher utilization"] = share_verdict(higher, pairs)
        sentences.append(f"LED had higher mean {kind} utilization than BigBird-large at the same "
                         f"length in {pct(higher, pairs)} pairs.")

    common = bigbird.index.intersection(large.index)
    if len(common) == 0:
        sentences.append("No length where both bigbird-large and led-large finished.")
        parts.setdefault("BigBird lowest utilization", "inconclusive")
        parts["BigBird trains far longer"] = "inconclusive"
    else:
        top = common.max()
        if util is not None:
            bb_util = bigbird.loc[top, util]
            others = cells[~((cells["model"] == BIGBIRD) & (cells["length"] == top))][util]
            numbers[f"bigbird-large/{top}/util"] = bb_util
            numbers["min_other_util"] = others.min()
            if np.isfinite(bb_util) and others.notna().any():
                parts["BigBird lowest utilization"] = ("holds" if bb_util < others.min()
                                                       else "does not hold")
            else:
                parts["BigBird lowest utilization"] = "inconclusive"
            sentences.append(f"BigBird-large at {top}: {kind} utilization {bb_util:.1f} vs the "
                             f"lowest of the others {others.min():.1f}.")
        ratio = bigbird.loc[top, TRAIN_TIME] / large.loc[top, TRAIN_TIME]
        numbers[f"time_ratio_bigbird_over_led_large_{top}"] = ratio
        # The same ratio under a fixed name, with its length, for the prose that quotes it.
        numbers["time_ratio_bigbird_over_led_large"] = ratio
        numbers["time_ratio_length"] = top
        numbers[f"power_ratio_bigbird_over_led_large_{top}"] = (
            bigbird.loc[top, AVG_POWER] / large.loc[top, AVG_POWER])
        if not np.isfinite(ratio):
            parts["BigBird trains far longer"] = "inconclusive"
        else:
            parts["BigBird trains far longer"] = ("holds" if ratio >= FAR_LONGER_RATIO else
                                                  "does not hold" if ratio <= 1 else
                                                  "inconclusive")
        sentences.append(f"BigBird-large at {top} trained {ratio:.2f}x as long as LED-large "
                         f"(>= {FAR_LONGER_RATIO} is 'far longer'; the paper reports ~4).")

    timed = runs.dropna(subset=[TRAIN_TIME, TRAIN_ENERGY_J])
    rho = _spearman(timed[TRAIN_TIME], timed[TRAIN_ENERGY_J]) if len(timed) >= 3 else math.nan
    numbers |= {"time_energy_rho": rho, "time_energy_runs": len(timed)}
    parts["time tracks energy"] = ("inconclusive" if not np.isfinite(rho) else
                                   "holds" if rho >= TRACKS_RHO else
                                   "does not hold" if rho < NOT_TRACKS_RHO else "inconclusive")
    sentences.append(f"Spearman rho(training time, energy) over {len(timed)} runs = {rho:.2f} "
                     f"(>= {TRACKS_RHO} tracks, < {NOT_TRACKS_RHO} does not).")
    # The utilization parts are inserted first; keep the report's order stable.
    order = ["LED higher utilization", "BigBird lowest utilization", "BigBird trains far longer",
             "time tracks energy"]
    return verdict_of(7, {k: parts[k] for k in order}, sentences, numbers, signal)


CLAIMS: tuple[Callable[..., Verdict], ...] = (
    claim_1_power_efficiency_falls_with_length,
    claim_2_bigbird_similar_power_efficiency_lower_accuracy,
    claim_3_grow_model_not_input,
    claim_4_bigbird_more_energy_lower_accuracy,
    claim_5_speed_falls_with_length,
    claim_6_qasper_small_model_long_input,
    claim_7_govreport_utilization_and_time,
)


def verdicts(frame: pd.DataFrame, signal: str = "headline") -> list[Verdict]:
    """Every finding's verdict, in the paper's order.

    Args:
        frame: the run-record table.
        signal: accuracy signal, see :data:`ACCURACY_SIGNALS`.

    Returns:
        Seven :class:`Verdict` objects.
    """
    score(frame.iloc[:0], signal)  # reject an unknown signal once, before any claim runs
    return [claim(frame, signal=signal) for claim in CLAIMS]


def evaluate_claims(frame: pd.DataFrame, signal: str = "headline") -> pd.DataFrame:
    """The conclusions table: one row per finding.

    Args:
        frame: the run-record table.
        signal: accuracy signal, see :data:`ACCURACY_SIGNALS`.

    Returns:
        A DataFrame with columns ``claim``, ``statement``, ``verdict``, ``evidence``.
    """
    return pd.DataFrame([{"claim": v.claim, "statement": v.statement, "verdict": v.verdict,
                          "evidence": v.evidence} for v in verdicts(frame, signal)],
                        columns=["claim", "statement", "verdict", "evidence"])
