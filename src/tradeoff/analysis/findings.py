"""Each of the paper's findings tested on the evidence that can bear it, and saying which.

Three kinds of offline evidence exist, and each finding (or part of one) is tested on the kind
that can bear it:

* **published + counted**: other papers' SCROLLS test scores beside the compute counted here for
  the same configurations (:mod:`tradeoff.analysis.published`);
* **counted**: the cost model's counts of the full architectures, for what depends on the
  architecture alone (:mod:`tradeoff.analysis.cost_claims`);
* **measured (CPU)**: the full architectures timed on this project's CPU, random weights
  (the ``cpu-arch`` reference records).

What none of them can bear (energy, power, GPU utilisation, the accuracy of LED-large or
BigBird-Pegasus on SCROLLS) says that it needs the ``paper`` profile's runs, with the command.
Random-init demo runs are never evidence here: they check the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from ..tasks import SUMMARIZATION
from .cost_claims import architecture_verdicts, paper_architectures
from .published import growth_verdict, qa_input_verdict
from .verdict import STATEMENTS, Verdict

PUBLISHED_COUNTED = "published + counted"
COUNTED = "counted"
MEASURED_CPU = "measured (CPU)"
NEEDS_RUNS = "needs runs"
EVIDENCE_KINDS = (PUBLISHED_COUNTED, COUNTED, MEASURED_CPU, NEEDS_RUNS)
# The counted and measured verdicts compare the paper's own architectures at its lengths.
PAPER_COMMAND = "python -m tradeoff grid --profile paper"  # GPUs and a network
NEEDS_RUNS_VERDICT = f"needs the paper profile's runs ({PAPER_COMMAND})"
# Families with published scores at several sizes and one input length.
FAMILIES = {"LongT5": ("longt5-base", "longt5-large", "longt5-xl"),
            "PEGASUS-X": ("pegasus-x-base", "pegasus-x-large")}
EVIDENCE_COLUMNS = ("finding", "statement", "evidence", "verdict", "detail")


@dataclass(frozen=True)
class Finding:
    """One finding, or one part of it, with the evidence that tested it.

    Attributes:
        finding: the paper's number, with the part when only a part is tested ("6, part 3").
        statement: what was tested.
        evidence: :data:`PUBLISHED_COUNTED`, :data:`COUNTED`, :data:`MEASURED_CPU` or
            :data:`NEEDS_RUNS`.
        verdict: "holds", "does not hold", "inconclusive", or :data:`NEEDS_RUNS_VERDICT`.
        detail: the test's numbers in words, or why no offline evidence can bear it.
        numbers: the test's numbers (empty when it needs runs).
    """

    finding: str
    statement: str
    evidence: str
    verdict: str
    detail: str
    numbers: dict = field(default_factory=dict)


def _tested(finding: str, verdict: Verdict, evidence: str) -> Finding:
    return Finding(finding, verdict.statement, evidence, verdict.verdict, verdict.evidence,
                   verdict.numbers)


def _needs_runs(finding: str, statement: str, why: str) -> Finding:
    return Finding(finding, statement, NEEDS_RUNS, NEEDS_RUNS_VERDICT, why)


def findings(points: pd.DataFrame, cost_rows: Sequence | pd.DataFrame,
             measured: pd.DataFrame | None = None,
             speed: pd.DataFrame | None = None) -> list[Finding]:
    """Every finding, and the paper's two conclusions, on the evidence that can bear each.

    Args:
        points: published scores with counted costs (:func:`published.published_points`).
        cost_rows: counted rows of the paper's architectures at one target length.
        measured: tidy table of the measured runs of the full architectures (or None).
        speed: their measured time per step (:func:`cost_claims.measured_speed`, or None).

    Returns:
        One :class:`Finding` per finding or part, in the paper's order.
    """
    no_energy = ("Energy is measured only on a GPU (or with readable RAPL); no source publishes "
                 "it for these configurations.")
    no_scores = ("No SCROLLS score of LED-large or BigBird-Pegasus is published (the paper shows "
                 "its own as plots only).")
    out = [
        _needs_runs("1", STATEMENTS[1], no_energy),
        _needs_runs("2", STATEMENTS[2], f"{no_scores} {no_energy}"),
        _needs_runs("3", STATEMENTS[3], no_scores),
        _tested("3, the conclusion", growth_verdict(points, FAMILIES, datasets=SUMMARIZATION,
                                                    prefer="model"), PUBLISHED_COUNTED),
        _needs_runs("4", STATEMENTS[4], f"{no_scores} {no_energy}"),
    ]
    arch = {f.finding: f for f in architecture_findings(cost_rows, measured, speed)}
    out.append(arch["5, speed"])
    out.append(_needs_runs("5, accuracy", "LED-base at 2048 sometimes matches LED-large at 1024 "
                           "in accuracy.", no_scores))
    out.append(_needs_runs("6, parts 1-2", "Qasper: LED beats BigBird in F1; under the fixed "
                           "budget LED-base beats LED-large.", no_scores))
    out.append(arch["6, its explanation"])
    out.append(_tested("6, part 3", qa_input_verdict(points), PUBLISHED_COUNTED))
    out.append(_tested("6, the conclusion", growth_verdict(points, FAMILIES, datasets=["qasper"],
                                                           prefer="input"), PUBLISHED_COUNTED))
    out.append(arch["7, compute"])
    if "7, time" in arch:
        out.append(arch["7, time"])
    out.append(_needs_runs("7, utilization and energy", "GovReport: LED has higher GPU "
                           "utilization; BigBird at 4096 the lowest; training time tracks total "
                           "energy.", no_energy))
    return out


def architecture_findings(cost_rows: Sequence | pd.DataFrame,
                          measured: pd.DataFrame | None = None,
                          speed: pd.DataFrame | None = None) -> list[Finding]:
    """The findings that the architectures alone can bear: counted, or measured on this CPU.

    Finding 5's speed parts (measured when there are measured runs of the paper's
    architectures, else inconclusive on the counts), finding 6's explanation (the batch that
    fits 48 GB, counted), finding 7 read as training compute (counted) and, with measured runs,
    as time per training step (measured).

    Args:
        cost_rows: counted rows of the paper's architectures at one target length.
        measured: tidy table of the measured runs of the full architectures (or None).
        speed: their measured time per step (:func:`cost_claims.measured_speed`, or None).

    Returns:
        The findings, in the paper's order.
    """
    batch, compute, speed_parts, *time = architecture_verdicts(cost_rows, measured, speed)
    measured = paper_architectures(measured)
    has_measured = measured is not None and len(measured) > 0
    out = [_tested("5, speed", speed_parts, MEASURED_CPU if has_measured else COUNTED),
           _tested("6, its explanation", batch, COUNTED),
           _tested("7, compute", compute, COUNTED)]
    if time and len(paper_architectures(speed)):
        out.append(_tested("7, time", time[0], MEASURED_CPU))
    return out


def findings_table(items: Sequence[Finding]) -> pd.DataFrame:
    """The findings as a table: finding, statement, evidence, verdict, detail."""
    return pd.DataFrame([{c: getattr(f, c) for c in EVIDENCE_COLUMNS} for f in items],
                        columns=list(EVIDENCE_COLUMNS))
