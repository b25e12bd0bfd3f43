"""The paper's seven findings as it states them, the thresholds that test them, and the rules
every verdict follows.

A finding is tested by a function that returns a :class:`Verdict`: ``"holds"``, ``"does not
hold"`` or ``"inconclusive"``, the evidence in words and the numbers behind it. The tests on run
records are in :mod:`tradeoff.analysis.claims`; those on published scores, counted costs and
measured runs (:mod:`~tradeoff.analysis.published`, :mod:`~tradeoff.analysis.cost_claims`)
follow the same rules:

* A finding is made of parts. A part tested over several comparisons holds when at least
  :data:`MAJORITY` (75%) of them agree with the paper, does not hold at :data:`MINORITY` (25%) or
  less, and is inconclusive in between (:func:`share_verdict`).
* A finding holds when every part holds, does not hold when any part does not hold, and is
  inconclusive otherwise (:func:`combine`).
* Missing data never raises: the part, or the finding, is inconclusive and the evidence says what
  was missing (:func:`missing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

STATEMENTS = {
    1: "Power efficiency falls as input length grows.",
    2: "BigBird-large has power efficiency similar to LED-large but much lower ROUGE; LED is the "
       "better choice for summarization.",
    3: "GovReport and QMSum: LED-large at 1024 is more energy-efficient and more accurate than "
       "LED-base at longer lengths; growing LED-large's length raises accuracy more efficiently "
       "than growing LED-base's.",
    4: "BigBird uses more energy for lower ROUGE.",
    5: "Training and inference speed fall with input length; inference is faster for smaller "
       "models; LED-base at 2048 sometimes matches LED-large at 1024 in accuracy.",
    6: "Qasper: LED beats BigBird in F1; under the fixed budget LED-base beats LED-large (bigger "
       "batch); longer inputs give small F1 gains at large energy and speed cost.",
    7: "GovReport: LED has higher GPU utilization; BigBird at 4096 has the lowest utilization but "
       "trains far longer (about 4x LED-large at 4096); training time tracks total energy.",
}

# Thresholds; every one of them is named in the docstring of the test that uses it.
MAJORITY = 0.75  # share of comparisons agreeing with the paper for a part to hold
MINORITY = 0.25  # share at or below which a part does not hold
SIMILAR_POWER_EFFICIENCY = 0.25  # claim 2: |BigBird / LED-large - 1| within this is "similar"
MATCH_RELATIVE = 0.02  # claim 5: LED-base "matches" LED-large within 2% of the latter's score ...
MATCH_POINTS = 0.5  # ... or within 0.5 points (headline signal only: points of ROUGE / F1)
SMALL_GAIN_RELATIVE = 0.10  # claim 6: a relative score gain below 10% is "small"
LARGE_COST_RATIO = 1.5  # claim 6: energy x1.5 or more, or speed /1.5 or less, is a "large cost"
FAR_LONGER_RATIO = 2.0  # claim 7: BigBird trains "far longer" than LED-large at >= 2x the time
TRACKS_RHO = 0.8  # claim 7: Spearman rho(time, energy) >= 0.8 means time tracks energy ...
NOT_TRACKS_RHO = 0.5  # ... and below 0.5 means it does not


@dataclass(frozen=True)
class Verdict:
    """The outcome of testing one finding.

    Attributes:
        claim: the finding's number in the paper (1-7).
        statement: the finding, as the paper states it.
        verdict: ``"holds"``, ``"does not hold"`` or ``"inconclusive"``.
        evidence: the test and its outcome in words, naming the accuracy signal.
        numbers: the values behind the verdict, flat, as floats (JSON-able).
    """

    claim: int
    statement: str
    verdict: str
    evidence: str
    numbers: dict = field(default_factory=dict)


def share_verdict(agree: int, total: int) -> str:
    """Majority rule: >= MAJORITY holds, <= MINORITY does not, else (or no data) inconclusive."""
    if total == 0:
        return "inconclusive"
    share = agree / total
    if share >= MAJORITY:
        return "holds"
    if share <= MINORITY:
        return "does not hold"
    return "inconclusive"


def combine(parts: dict[str, str]) -> str:
    """All parts hold: holds; any part does not hold: does not hold; else inconclusive."""
    values = list(parts.values())
    if any(v == "does not hold" for v in values):
        return "does not hold"
    if values and all(v == "holds" for v in values):
        return "holds"
    return "inconclusive"


def pct(agree: int, total: int) -> str:
    """``agree/total (share%)``, as the evidence writes a count of comparisons."""
    return f"{agree}/{total}" + (f" ({agree / total:.0%})" if total else "")


def signal_note(signal: str) -> str:
    """The evidence's first sentence: which accuracy signal the test read."""
    if signal == "val_loss":
        return "Accuracy signal: val_loss (teacher-forced validation loss; lower is better)."
    if signal == "teacher_forced":
        return ("Accuracy signal: teacher_forced (ROUGE geometric mean / F1 of the argmax "
                "predictions under teacher forcing, as the released code scored them).")
    return "Accuracy signal: headline (ROUGE geometric mean for summarization, F1 for Qasper)."


def verdict_of(claim: int, parts: dict[str, str], sentences: list[str], numbers: dict,
               signal: str) -> Verdict:
    """A finding's verdict from its parts' verdicts, with the evidence in words."""
    summary = "; ".join(f"{name}: {v}" for name, v in parts.items())
    evidence = " ".join([signal_note(signal), *sentences, f"Parts - {summary}."])
    return Verdict(claim, STATEMENTS[claim], combine(parts), evidence,
                   {k: float(v) for k, v in numbers.items()})


def missing(claim: int, what: str, signal: str) -> Verdict:
    """An inconclusive verdict that says which data was missing."""
    return Verdict(claim, STATEMENTS[claim], "inconclusive",
                   f"{signal_note(signal)} Missing data: {what}.", {})
