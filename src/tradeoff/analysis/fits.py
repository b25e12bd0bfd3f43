"""Fits of a cost over input length, per model: a power law and an affine line.

They read cost rows (:class:`tradeoff.records.reference.CostRow`, or their frame) or any frame
with ``model``, ``length`` and the fitted column (the measured times of
:func:`tradeoff.analysis.cost_claims.measured_speed`, say), and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..records.reference import cost_frame


def _frame(rows) -> pd.DataFrame:
    return rows if isinstance(rows, pd.DataFrame) else cost_frame(list(rows))


@dataclass(frozen=True)
class LengthFit:
    """Least-squares fit of ``log(value) = log(prefactor) + exponent * log(length)``."""

    model: str
    column: str
    exponent: float
    exponent_stderr: float  # standard error of the slope (NaN with fewer than 3 lengths)
    prefactor: float
    max_relative_residual: float  # largest |value / fitted - 1| over the lengths
    n_lengths: int



def fit_length_exponent(rows, column: str) -> dict[str, LengthFit]:
    """Exponent ``a`` of ``column ~ length^a`` per model, by log-log least squares.

    Args:
        rows: ``CostRow``s or a DataFrame with ``model``, ``length`` and ``column``.
        column: the cost to fit (e.g. "train_step_flops").

    Returns:
        ``{model: LengthFit}`` for models with at least two lengths and positive values.
    """
    frame = _frame(rows)
    fits = {}
    for model, group in frame.groupby("model", sort=False):
        group = group[group[column] > 0]
        if group["length"].nunique() < 2:
            continue
        x = np.log(group["length"].to_numpy(float))
        y = np.log(group[column].to_numpy(float))
        design = np.column_stack([np.ones_like(x), x])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        residuals = y - design @ coef
        n = len(x)
        if n > 2:
            sigma2 = residuals @ residuals / (n - 2)
            stderr = float(np.sqrt(sigma2 / ((x - x.mean()) @ (x - x.mean()))))
        else:
            stderr = math.nan
        fits[model] = LengthFit(model=model, column=column, exponent=float(coef[1]),
                                exponent_stderr=stderr, prefactor=float(np.exp(coef[0])),
                                max_relative_residual=float(np.max(np.abs(np.expm1(residuals)))),
                                n_lengths=n)
    return fits


@dataclass(frozen=True)
class AffineFit:
    """Least-squares fit of ``value = intercept + slope * length`` (the power law's alternative).

    A cost made of a part that does not grow with the input (the decoder and the output layer at
    a fixed target length, and the weights) plus a part proportional to it (windowed or
    block-sparse attention, the feed-forward layers over the input) is affine in the length: a
    power law then fits it poorly, with an exponent below 1 that falls as the fixed part grows.
    """

    model: str
    column: str
    intercept: float  # the value extrapolated to a 0-token input
    slope: float  # per input token
    max_relative_residual: float  # largest |value / fitted - 1| over the lengths
    n_lengths: int

    def at(self, length: float) -> float:
        """The fitted value at ``length`` tokens."""
        return self.intercept + self.slope * length

    def fixed_share(self, length: float) -> float:
        """Share of the fitted value at ``length`` that does not grow with the input."""
        return self.intercept / self.at(length)

    def local_exponent(self, length: float) -> float:
        """``d log(value) / d log(length)`` at ``length``: 1 is proportional, 0 is flat."""
        return self.slope * length / self.at(length)


def fit_length_affine(rows, column: str) -> dict[str, AffineFit]:
    """``column = intercept + slope * length`` per model, by least squares.

    Args:
        rows: ``CostRow``s or a DataFrame with ``model``, ``length`` and ``column``.
        column: the cost to fit (e.g. "train_step_flops").

    Returns:
        ``{model: AffineFit}`` for models with at least two lengths.
    """
    frame = _frame(rows)
    fits = {}
    for model, group in frame.groupby("model", sort=False):
        group = group.dropna(subset=[column])
        if group["length"].nunique() < 2:
            continue
        x = group["length"].to_numpy(float)
        y = group[column].to_numpy(float)
        slope, intercept = np.polyfit(x, y, 1)
        fitted = intercept + slope * x
        residual = np.abs(y / fitted - 1) if np.all(fitted != 0) else np.full_like(y, np.inf)
        fits[model] = AffineFit(model=model, column=column, intercept=float(intercept),
                                slope=float(slope), max_relative_residual=float(residual.max()),
                                n_lengths=len(x))
    return fits

