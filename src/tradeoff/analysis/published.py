"""Published SCROLLS scores beside the counted cost of the same configurations.

The study's first real accuracy numbers are other papers' test scores (SCROLLS' Table 2 for
BART-base and LED-base at several input lengths; LongT5 and PEGASUS-X at one length each). They
live in ``reference/published/scores.yaml``, one row per (model, input length, dataset, split,
metric), each with the paper, arXiv id and table it was read in; :class:`PublishedScores` is
that file's schema. What this project can do exactly is count the cost of those same
configurations (:mod:`tradeoff.analysis.cost`): :func:`published_points` sets the two side by
side, per dataset, at the dataset's counted target length. The frontier, the marginal gains and
the verdicts below read nothing else.

Only numbers read in a source are stored. The headline score of a summarization set, the
geometric mean of ROUGE-1/2/L that SCROLLS ranks by, is computed here from the published three
and says so (``computed``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..config import Dataset, REPO_ROOT
from ..tasks import COST_TARGET_TOKENS, HEADLINE, TASKS
from .recommend import non_dominated
from .verdict import LARGE_COST_RATIO, pct, share_verdict, SMALL_GAIN_RELATIVE, Verdict

PUBLISHED_FILE = REPO_ROOT / "reference" / "published" / "scores.yaml"
SCHEMA = "tradeoff.published-scores/1"

Metric = Literal["rouge1", "rouge2", "rougeL", "f1", "exact_match"]
ROUGE_PARTS = ("rouge1", "rouge2", "rougeL")
# Every published metric is a percentage.
METRIC_RANGE = (0.0, 100.0)
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


class PublishedError(ValueError):
    """The published-scores file is missing or malformed (one line, what to fix)."""


class Protocol(BaseModel):
    """How a source trained and scored, in the facts that differ from this study's protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    split: str
    epochs: str | None = None
    precision: str | None = None
    batch: str | None = None
    decoding: str | None = None
    hardware: str | None = None
    notes: str | None = None


class Source(BaseModel):
    """One table of one paper that published scores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    paper: str = Field(min_length=1)
    arxiv: str = Field(pattern=r"^\d{4}\.\d{4,5}(v\d+)?$")
    table: str = Field(min_length=1)
    read_in: str = Field(min_length=1, description="what was read, and its address")
    agrees_with: str | None = Field(None, description="a second source giving the same numbers")
    protocol: Protocol

    @property
    def cite(self) -> str:
        """``"<first author> et al. <year>, arXiv <id>"``: the paper's authors up to the first
        colon or comma."""
        return f"{self.paper.split(':')[0].split(',')[0]}, arXiv {self.arxiv}"

    @property
    def label(self) -> str:
        """:attr:`cite` and the table: where a number stands in print."""
        return f"{self.cite}, {self.table}"

    @property
    def protocol_text(self) -> str:
        """The source's protocol facts that it states, in one line."""
        facts = self.protocol.model_dump(exclude_none=True)
        return "; ".join(f"{name}: {value}" for name, value in facts.items())


class Score(BaseModel):
    """One published number: a model at an input length, on a dataset, split and metric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    input_length: int = Field(gt=0)
    dataset: Dataset
    metric: Metric
    value: float
    source: str
    split: str | None = Field(None, description="when it differs from the source's protocol")
    agrees_with: str | None = None
    disagreement: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _in_range(self) -> Score:
        low, high = METRIC_RANGE
        if not (low <= self.value <= high) or math.isnan(self.value):
            raise ValueError(f"{self.metric} {self.value} lies outside [{low:g}, {high:g}]")
        if TASKS[self.dataset] == "qa" and self.metric in ROUGE_PARTS:
            raise ValueError(f"{self.dataset} is scored by F1, not {self.metric}")
        if TASKS[self.dataset] == "summarization" and self.metric not in ROUGE_PARTS:
            raise ValueError(f"{self.dataset} is scored by ROUGE, not {self.metric}")
        return self


class PublishedScores(BaseModel):
    """The file ``reference/published/scores.yaml``: its sources and their rows."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["tradeoff.published-scores/1"] = Field(alias="schema")
    sources: tuple[Source, ...]
    rows: tuple[Score, ...]

    @model_validator(mode="after")
    def _consistent(self) -> PublishedScores:
        ids = [s.id for s in self.sources]
        if len(set(ids)) != len(ids):
            raise ValueError(f"source ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        seen = set()
        for row in self.rows:
            if row.source not in ids:
                raise ValueError(f"row {self.key(row)} names source '{row.source}', which is not "
                                 f"among the sources ({', '.join(ids)})")
            if self.key(row) in seen:
                raise ValueError(f"two rows for {self.key(row)}")
            seen.add(self.key(row))
        return self

    def source(self, row: Score) -> Source:
        """The source a row was read in."""
        return next(s for s in self.sources if s.id == row.source)

    def split(self, row: Score) -> str:
        """The row's split: its own when given, else its source's."""
        return row.split or self.source(row).protocol.split

    def key(self, row: Score) -> tuple:
        """(model, input length, dataset, split, metric): what makes a row unique."""
        return row.model, row.input_length, row.dataset, row.split or "", row.metric

    @property
    def configurations(self) -> list[tuple[str, int]]:
        """Every (model, input length) with a published score, in file order."""
        return list(dict.fromkeys((r.model, r.input_length) for r in self.rows))


def load_published(path: Path | str | None = None) -> PublishedScores:
    """Read and validate the published scores.

    Args:
        path: the YAML file (default :data:`PUBLISHED_FILE`).

    Returns:
        The sources and rows.

    Raises:
        PublishedError: the file is missing or not YAML, or a row or source breaks the schema
            (a missing source, a value outside its metric's range, a duplicate row).
    """
    path = Path(PUBLISHED_FILE if path is None else path)
    if not path.is_file():
        raise PublishedError(f"no published scores at {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise PublishedError(f"{path} is not YAML: {err}") from None
    try:
        return PublishedScores.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PublishedError(f"{path}: {where}: {first['msg']} ({len(err.errors())} "
                             f"error(s) in all)") from None


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


def published_points(scores: PublishedScores, cost_rows: Sequence,
                     datasets: Sequence[str] | None = None) -> pd.DataFrame:
    """Headline scores joined to the counted cost of the same (model, length).

    Each dataset's points take the cost rows counted at that dataset's target length
    (:data:`tradeoff.config.COST_TARGET_TOKENS`: training target and generated tokens equal to
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
