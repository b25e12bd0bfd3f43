"""Which configuration to choose: the Pareto frontier of accuracy against a cost, and the best
measured configuration within an energy or latency budget."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..numbers import fmt
from ..records import ENERGY_KWH, INFER_SPEED
from .table import KEYS, configurations


def _configurations(frame: pd.DataFrame, signal: str, extra=()) -> pd.DataFrame:
    """Every measured configuration (study rows and efficiency knobs included), seeds averaged,
    with a score: "LED-large at 1024 in bf16" competes with "LED-base at 4096"."""
    return configurations(frame, signal, main=False, knobs=True,
                          extra=extra).dropna(subset=["score"])


def non_dominated(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Mask of the points that no other matches on both cost (lower) and score (higher).

    A point is dominated when another has a cost no higher and a score no lower, one of them
    strictly. NaN costs or scores are never on the frontier.
    """
    cost, score = np.asarray(cost, float), np.asarray(score, float)
    valid = ~(np.isnan(cost) | np.isnan(score))
    keep = np.zeros(len(cost), bool)
    for i in np.flatnonzero(valid):
        c, s = cost[valid], score[valid]
        keep[i] = not ((c <= cost[i]) & (s >= score[i]) & ((c < cost[i]) | (s > score[i]))).any()
    return keep


def pareto_frontier(frame: pd.DataFrame, cost: str, signal: str = "headline") -> pd.DataFrame:
    """Non-dominated configurations per dataset: nothing else is as cheap and scores as well.

    A configuration (dataset, model, length, grad_accum, knob; seeds averaged) is dominated when
    another on the same dataset has a cost no higher and a score no lower, one of them strictly.
    Columns whose name contains ``_per_s`` (speeds, power efficiency) are benefits, not costs:
    for them "cheaper" means faster.

    Args:
        frame: the run-record table.
        cost: the efficiency column to trade against the score, e.g. ``"train_energy_kwh"``.
        signal: accuracy signal, see :data:`ACCURACY_SIGNALS`.

    Returns:
        The frontier's configurations with ``cost`` and ``score``, sorted by dataset and cost.
    """
    configs = _configurations(frame, signal, extra=[cost]).dropna(subset=[cost])
    sign = -1.0 if "_per_s" in cost else 1.0  # a speed: minimise its negative
    keep = []
    for _, group in configs.groupby("dataset"):
        mask = non_dominated(sign * group[cost].to_numpy(float), group["score"].to_numpy(float))
        keep.extend(group.index[mask])
    frontier = configs.loc[keep, KEYS + [cost, "score"]]
    return frontier.sort_values(["dataset", cost], ascending=[True, sign > 0], ignore_index=True)


def recommend(frame: pd.DataFrame, *, dataset: str, signal: str = "headline",
              max_energy_kwh: float | None = None,
              min_infer_samples_per_s: float | None = None) -> pd.DataFrame:
    """The best-scoring measured configuration of a dataset within a budget.

    Args:
        frame: the run-record table.
        dataset: the dataset to recommend for.
        signal: accuracy signal, see :data:`ACCURACY_SIGNALS`.
        max_energy_kwh: the training-energy budget; None for no limit.
        min_infer_samples_per_s: the slowest acceptable inference; None for no limit.

    Returns:
        One row (dataset, model, length, grad_accum, variant, score, training energy, inference
        speed);
        empty when nothing fits. Either way ``.attrs["reason"]`` says why. Configurations whose
        budgeted measure was not measured (NaN) never count as fitting.
    """
    configs = _configurations(frame, signal)
    configs = configs[configs["dataset"] == dataset]
    columns = KEYS + ["score", ENERGY_KWH, INFER_SPEED]
    if configs.empty:
        out = pd.DataFrame(columns=columns)
        out.attrs["reason"] = f"no finished runs with a {signal} score on {dataset}"
        return out
    fits = pd.Series(True, index=configs.index)
    limits = []
    if max_energy_kwh is not None:
        fits &= configs[ENERGY_KWH] <= max_energy_kwh  # NaN compares False: unmeasured never fits
        limits.append(f"training energy <= {max_energy_kwh:g} kWh")
    if min_infer_samples_per_s is not None:
        fits &= configs[INFER_SPEED] >= min_infer_samples_per_s
        limits.append(f"inference >= {min_infer_samples_per_s:g} samples/s")
    budget = " and ".join(limits) or "no budget"
    within = configs[fits]
    if within.empty:
        out = pd.DataFrame(columns=columns)
        cheapest = fmt(configs[ENERGY_KWH].min(), "energy", unit="kWh")
        fastest = fmt(configs[INFER_SPEED].max(), "rate")
        out.attrs["reason"] = (f"none of the {len(configs)} configurations on {dataset} fits "
                               f"{budget} (cheapest: {cheapest}; fastest inference: {fastest} "
                               "samples/s)")
        return out
    best = within.loc[[within["score"].idxmax()], columns].reset_index(drop=True)
    best.attrs["reason"] = (f"best {signal} score of {len(within)}/{len(configs)} configurations "
                            f"on {dataset} within {budget}")
    return best
