"""Published SCROLLS scores beside the counted cost of the same configurations.

Other papers' test scores (:mod:`tradeoff.records.published`: the file's schema and reader) are
the study's first real accuracy numbers. What this project can do exactly is count the cost of
those same configurations (the cost reference rows, :mod:`tradeoff.records.reference`):
:func:`published_points` sets the two side by side, per dataset, at the dataset's counted target
length. The frontier, the marginal gains and the verdicts below read nothing else.

The headline score of a summarization set, the geometric mean of ROUGE-1/2/L that SCROLLS ranks
by, is computed here from the published three and says so (``computed``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from ..records.published import ROUGE_PARTS, PublishedScores, Score
from ..records.reference import CostRow
from ..tasks import COST_TARGET_TOKENS, HEADLINE, TASKS
from .recommend import non_dominated
from .verdict import LARGE_COST_RATIO, pct, share_verdict, SMALL_GAIN_RELATIVE, Verdict

# The cost a published point is set against: counted, per training example or per inference.
TRAIN_FLOPS, INFER_FLOPS = "train_step_flops", "inference_flops"
COST_LABEL = {TRAIN_FLOPS: "training FLOPs per example (counted)",
              INFER_FLOPS: "inference FLOPs per sample (counted)"}
# The recommender's tolerance: the cheapest configuration within this many points of the best.
WITHIN_POINTS = 1.0
# Published configurations whose count does not fit on the machine the reference was counted
# on (2 cores, 23 GiB): why, as the count's own error said. Their points stay, uncounted.
NOT_COUNTED_HERE = {
    ("longt5-xl", 16384): "its 1-layer count at 16384 tokens ran out of memory on the 23 GiB "
                          "machine the reference was counted on (the allocator refused 2.8 GiB "
                          "more at 17 GiB resident)",
}


# ------------------------------------------------------------------------------ headline points

POINT_COLUMNS = ("dataset", "model", "length", "metric", "score", "computed", "components",
                 "split", "source", "cite", "source_id", "read_in", "agrees_with", "disagreement", "note")


def headline_points(scores: PublishedScores) -> pd.DataFrame:
    """One row per (dataset, model, length): the headline score SCROLLS ranks by.

    For Qasper that is the published F1. For a summarization set it is the geometric mean of
    the published ROUGE-1, -2 and -L, computed here (``computed`` True) and only where all three
    were published.

    Returns:
        Columns :data:`POINT_COLUMNS`; ``components`` gives the published numbers behind a
        computed score ("R1/R2/RL 40.9/16.1/23.1").
    """
    grouped: dict[tuple, dict[str, Score]] = {}
    for row in scores.rows:
        key = (row.dataset, row.model, row.input_length, scores.split(row), row.source)
        grouped.setdefault(key, {})[row.metric] = row
    out = []
    for (dataset, model, length, split, source_id), metrics in grouped.items():
        source = scores.source(next(iter(metrics.values())))
        if TASKS[dataset] == "qa":
            if "f1" not in metrics:
                continue
            parts = [metrics["f1"]]
            score, computed, components = parts[0].value, False, f"F1 {parts[0].value:g}"
        else:
            if not all(m in metrics for m in ROUGE_PARTS):
                continue
            parts = [metrics[m] for m in ROUGE_PARTS]
            values = [p.value for p in parts]
            score = float(np.prod(values) ** (1 / 3))
            computed = True
            components = "R1/R2/RL " + "/".join(f"{v:g}" for v in values)
        notes = lambda name: "; ".join(dict.fromkeys(getattr(p, name) for p in parts  # noqa: E731
                                                     if getattr(p, name))) or None
        out.append({"dataset": dataset, "model": model, "length": length,
                    "metric": HEADLINE[TASKS[dataset]], "score": score, "computed": computed,
                    "components": components, "split": split, "source": source.label,
                    "cite": source.cite,
                    "source_id": source_id, "read_in": source.read_in,
                    "agrees_with": notes("agrees_with") or source.agrees_with,
                    "disagreement": notes("disagreement"), "note": notes("note")})
    return pd.DataFrame(out, columns=list(POINT_COLUMNS))


def published_points(scores: PublishedScores, cost_rows: Sequence[CostRow],
                     datasets: Sequence[str] | None = None) -> pd.DataFrame:
    """Headline scores joined to the counted cost of the same (model, length).

    Each dataset's points take the cost rows counted at that dataset's target length
    (:data:`tradeoff.tasks.COST_TARGET_TOKENS`: training target and generated tokens equal to
    its mean reference length). A point without a counted row keeps NaN costs.

    Args:
        scores: the published table.
        cost_rows: ``CostRow`` objects (the committed reference's rows).
        datasets: datasets to keep (default: all).

    Returns:
        :func:`headline_points`' columns plus ``target_length``, ``params``,
        ``train_step_flops``, ``inference_flops``, ``saved_activation_bytes`` and
        ``cost_method`` (how the cost was counted; empty when it was not).
    """
    points = headline_points(scores)
    if datasets is not None:
        points = points[points["dataset"].isin(list(datasets))]
    costs = {(r.model, r.length, r.target_length): r for r in cost_rows}
    extra = []
    for point in points.itertuples():
        target = COST_TARGET_TOKENS[point.dataset]
        row = costs.get((point.model, point.length, target))
        extra.append({"target_length": target,
                      "params": row.params if row else math.nan,
                      TRAIN_FLOPS: float(row.train_step_flops) if row else math.nan,
                      INFER_FLOPS: float(row.inference_flops) if row else math.nan,
                      "saved_activation_bytes": float(row.saved_activation_bytes) if row
                      else math.nan,
                      "cost_method": row.method if row else ""})
    extra = pd.DataFrame(extra, index=points.index,
                         columns=["target_length", "params", TRAIN_FLOPS, INFER_FLOPS,
                                  "saved_activation_bytes", "cost_method"])
    return pd.concat([points, extra], axis=1).reset_index(drop=True)


def frontier(points: pd.DataFrame, cost: str = TRAIN_FLOPS) -> pd.DataFrame:
    """The Pareto frontier of published score against a counted cost, per dataset.

    Returns:
        The frontier's points, sorted by dataset and cost.
    """
    keep = []
    for _, group in points.groupby("dataset"):
        mask = non_dominated(group[cost].to_numpy(), group["score"].to_numpy())
        keep.extend(group.index[mask])
    return points.loc[keep].sort_values(["dataset", cost], ignore_index=True)


GAIN_COLUMNS = ("dataset", "model", "from_length", "to_length", "from_score", "to_score",
                "gain_points", "flops_ratio", "points_per_doubling", "source")


def input_gains(points: pd.DataFrame, cost: str = TRAIN_FLOPS) -> pd.DataFrame:
    """What each longer input buys one model, against what it costs.

    For each (dataset, model) with published scores at several lengths, consecutive lengths are
    compared: the score gain in points, the ratio of counted cost, and the gain per doubling of
    that cost (``gain / log2(ratio)``).

    Returns:
        Columns :data:`GAIN_COLUMNS`, by dataset, model and length.
    """
    out = []
    for (dataset, model), series in points.groupby(["dataset", "model"], sort=False):
        series = series.sort_values("length")
        for a, b in zip(series.itertuples(), series.iloc[1:].itertuples()):
            out.append(_gain(dataset, model, a, b, cost, a.length, b.length))
    return pd.DataFrame(out, columns=list(GAIN_COLUMNS))


def model_gains(points: pd.DataFrame, families: dict[str, Sequence[str]],
                cost: str = TRAIN_FLOPS) -> pd.DataFrame:
    """What each bigger model of a family buys at one input length, against what it costs.

    Args:
        points: :func:`published_points`.
        families: family name -> its models from smallest to largest, e.g.
            ``{"LongT5": ["longt5-base", "longt5-large", "longt5-xl"]}``.
        cost: the cost column.

    Returns:
        :data:`GAIN_COLUMNS`, with ``model`` "smaller -> larger" and both lengths equal.
    """
    out = []
    for dataset, group in points.groupby("dataset", sort=False):
        for members in families.values():
            for small, large in zip(members, members[1:]):
                for length in sorted(set(group.loc[group["model"] == small, "length"])
                                     & set(group.loc[group["model"] == large, "length"])):
                    a = group[(group["model"] == small) & (group["length"] == length)].iloc[0]
                    b = group[(group["model"] == large) & (group["length"] == length)].iloc[0]
                    out.append(_gain(dataset, f"{small} -> {large}", a, b, cost, length, length))
    return pd.DataFrame(out, columns=list(GAIN_COLUMNS))


def _gain(dataset, model, a, b, cost, from_length, to_length) -> dict:
    ratio = getattr(b, cost) / getattr(a, cost)
    gain = b.score - a.score
    per_doubling = gain / math.log2(ratio) if ratio > 0 and ratio != 1 else math.nan
    sources = dict.fromkeys([a.source, b.source])
    return {"dataset": dataset, "model": model, "from_length": int(from_length),
            "to_length": int(to_length), "from_score": a.score, "to_score": b.score,
            "gain_points": gain, "flops_ratio": ratio, "points_per_doubling": per_doubling,
            "source": "; ".join(sources)}


def cheapest_within(points: pd.DataFrame, cost: str = TRAIN_FLOPS,
                    within: float = WITHIN_POINTS) -> pd.DataFrame:
    """Per dataset, the cheapest published configuration within ``within`` points of the best.

    Points without a counted cost cannot be chosen. ``.attrs["reason"]`` says what was compared.

    Returns:
        One row per dataset: the choice, the best score, and how much cheaper the choice is.
    """
    out = []
    for dataset, group in points.dropna(subset=[cost, "score"]).groupby("dataset"):
        best = group.loc[group["score"].idxmax()]
        near = group[group["score"] >= best["score"] - within]
        choice = near.loc[near[cost].idxmin()]
        out.append({"dataset": dataset, "model": choice["model"], "length": int(choice["length"]),
                    "score": choice["score"], "best_model": best["model"],
                    "best_length": int(best["length"]), "best_score": best["score"],
                    cost: choice[cost], "cost_vs_best": choice[cost] / best[cost]})
    frame = pd.DataFrame(out, columns=["dataset", "model", "length", "score", "best_model",
                                       "best_length", "best_score", cost, "cost_vs_best"])
    frame.attrs["reason"] = (f"the cheapest published configuration, by {COST_LABEL[cost]}, "
                             f"within {within:g} point(s) of the best published score")
    return frame


# ------------------------------------------------------------------------------------ verdicts

PUBLISHED = ("Published test scores (sources in the table) against costs counted here "
             "(FlopCounterMode, matmul FLOPs).")
QA_INPUT_STATEMENT = ("Qasper: longer inputs give small F1 gains at a large cost (finding 6, "
                      "its third part).")
GROW_MODEL_STATEMENT = ("Summarization: growing the model buys more accuracy per unit of "
                        "compute than growing the input (the paper's conclusion).")
QA_LONGER_INPUT_STATEMENT = ("QA: a smaller model with a longer input is the better use of "
                             "compute (the paper's conclusion for Qasper).")


def qa_input_verdict(points: pd.DataFrame, dataset: str = "qasper",
                     cost: str = TRAIN_FLOPS) -> Verdict:
    """Finding 6's third part on published scores: longer Qasper inputs buy little at a large cost.

    Test: every consecutive pair of published lengths of one model on ``dataset`` is a
    comparison; it agrees with the paper when the F1 gain is below
    ``SMALL_GAIN_RELATIVE`` (10%) of the shorter input's F1 and the counted training FLOPs grow
    by ``LARGE_COST_RATIO`` (1.5x) or more. The part holds when at least 75% agree, does not hold
    at 25% or less, and is inconclusive in between or without a comparison.

    Args:
        points: :func:`published_points`.
        dataset: the QA dataset.
        cost: the counted cost compared.

    Returns:
        The verdict, numbered 6.
    """
    gains = input_gains(points[points["dataset"] == dataset], cost).dropna(subset=["flops_ratio"])
    if gains.empty:
        return Verdict(6, QA_INPUT_STATEMENT, "inconclusive",
                       f"Missing data: no model with published {dataset} scores at two input "
                       f"lengths and counted costs at both.", {})
    agree, numbers, parts = 0, {}, []
    for g in gains.itertuples():
        relative = g.gain_points / g.from_score if g.from_score else math.inf
        small, large = relative < SMALL_GAIN_RELATIVE, g.flops_ratio >= LARGE_COST_RATIO
        agree += int(small and large)
        key = f"{g.model}/{g.from_length}-{g.to_length}"
        numbers |= {f"{key}/gain_points": g.gain_points, f"{key}/relative_gain": relative,
                    f"{key}/flops_ratio": g.flops_ratio}
        parts.append(f"{g.model} {g.from_length} -> {g.to_length}: {g.from_score:.1f} -> "
                     f"{g.to_score:.1f} F1 ({relative:+.0%}) for x{g.flops_ratio:.2f} "
                     f"training FLOPs")
    evidence = (f"{PUBLISHED} {'; '.join(parts)}. Small gain (< {SMALL_GAIN_RELATIVE:.0%}) at a "
                f"large cost (x{LARGE_COST_RATIO:g} or more) in {pct(agree, len(gains))} of the "
                f"comparisons.")
    return Verdict(6, QA_INPUT_STATEMENT, share_verdict(agree, len(gains)), evidence, numbers)


def growth_verdict(points: pd.DataFrame, families: dict[str, Sequence[str]], *,
                   datasets: Sequence[str], prefer: Literal["model", "input"],
                   cost: str = TRAIN_FLOPS) -> Verdict:
    """Grow the model or grow the input: which buys more points per doubling of compute.

    Per dataset, the median gain per doubling of counted training FLOPs over every published
    input growth of one model (:func:`input_gains`) is compared with the median over every
    published model growth at one length (:func:`model_gains`). A dataset agrees when the growth
    named by ``prefer`` gains more. Holds at 75% of the datasets that have both kinds,
    does not hold at 25% or less, inconclusive in between or without both kinds.

    The two kinds come from different families where the published grid has no model grown at
    the lengths another grew (SCROLLS grew LED-base's input; LongT5 and PEGASUS-X published
    several sizes at one length), so the evidence names both.

    Returns:
        The verdict, numbered 3 (the paper's conclusion that follows finding 3).
    """
    statement = GROW_MODEL_STATEMENT if prefer == "model" else QA_LONGER_INPUT_STATEMENT
    agree = total = 0
    numbers, parts = {}, []
    for dataset in datasets:
        subset = points[points["dataset"] == dataset]
        by_input = input_gains(subset, cost)["points_per_doubling"].dropna()
        by_model = model_gains(subset, families, cost)["points_per_doubling"].dropna()
        if by_input.empty or by_model.empty:
            continue
        total += 1
        i, m = float(by_input.median()), float(by_model.median())
        agree += int((m > i) if prefer == "model" else (i > m))
        numbers |= {f"{dataset}/input_points_per_doubling": i,
                    f"{dataset}/model_points_per_doubling": m}
        parts.append(f"{dataset}: {i:+.2f} by the input ({len(by_input)} step(s)) vs "
                     f"{m:+.2f} by the model ({len(by_model)} step(s))")
    if total == 0:
        return Verdict(3, statement, "inconclusive",
                       "Missing data: no dataset has published scores both for one model at "
                       "several lengths and for several sizes at one length, with counted "
                       "costs.", {})
    evidence = (f"{PUBLISHED} Median points gained per doubling of training FLOPs - "
                f"{'; '.join(parts)}. Growing the {prefer} gains more in "
                f"{pct(agree, total)} of the datasets. Input growth is each model's series of "
                f"published lengths; model growth is a family's sizes at one length "
                f"({', '.join(' < '.join(m) for m in families.values())}).")
    return Verdict(3, statement, share_verdict(agree, total), evidence, numbers)
