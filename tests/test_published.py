"""Published scores: the schema and its checks, the committed table, and the verdicts drawn
from published scores and counted costs (on small hand-made tables)."""

from __future__ import annotations

import copy
import math
import re

import pandas as pd
import pytest
import yaml

from tradeoff.analysis import published as pub
from tradeoff.errors import ReferenceFileError
from tradeoff.records import published as scores_file
from tradeoff.records.reference import CostRow, load_cost_reference
from tradeoff.analysis.findings import (
    FAMILIES,
    NEEDS_RUNS,
    NEEDS_RUNS_VERDICT,
    PAPER_COMMAND,
    findings,
    findings_table,
)
from tradeoff.tasks import COST_TARGET_TOKENS, DATASETS

SOURCE = {"id": "hand", "paper": "Hand et al. 2024, A hand-made table", "arxiv": "2401.00001",
          "table": "Table 1", "read_in": "this test", "agrees_with": None,
          "protocol": {"split": "test"}}


def _table(rows: list[dict], sources: list[dict] | None = None) -> dict:
    return copy.deepcopy({"schema": scores_file.SCHEMA, "sources": sources or [SOURCE], "rows": rows})


def _write(tmp_path, data: dict):
    path = tmp_path / "scores.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _row(model, length, dataset, metric, value, source="hand"):
    return {"model": model, "input_length": length, "dataset": dataset, "metric": metric,
            "value": value, "source": source}


def _summary(model, length, dataset, r1, r2, rl):
    return [_row(model, length, dataset, m, v) for m, v in zip(scores_file.ROUGE_PARTS, (r1, r2, rl))]


def _cost(model: str, length: int, dataset: str, train: float, infer: float | None = None):
    """A counted row with only the fields the published analysis reads set meaningfully."""
    fields = {name: 0 for name in CostRow.model_fields
              if name not in ("flops_note", "memory_error_sources")}
    fields |= {"model": model, "length": length, "target_length": COST_TARGET_TOKENS[dataset],
               "generated_tokens": COST_TARGET_TOKENS[dataset], "dropout": 0.1,
               "train_step_flops": int(train), "inference_flops": int(infer or train / 10),
               "attention_flops_share": 0.0, "attention_core_flops_share": 0.0,
               "inference_attention_flops_share": 0.0, "paper_batch": None,
               "attention": "", "method": "hand-made"}
    return CostRow(**fields)


# ------------------------------------------------------------------------------ the schema


def test_loads_a_valid_table_and_computes_the_rouge_geometric_mean(tmp_path):
    path = _write(tmp_path, _table(_summary("led-base", 1024, "govreport", 40.0, 10.0, 25.0)
                                   + [_row("led-base", 1024, "qasper", "f1", 24.4)]))
    scores = scores_file.load_published(path)
    points = pub.headline_points(scores).set_index("dataset")
    assert points.loc["govreport", "score"] == pytest.approx((40.0 * 10.0 * 25.0) ** (1 / 3))
    assert bool(points.loc["govreport", "computed"]) is True
    assert points.loc["govreport", "components"] == "R1/R2/RL 40/10/25"
    assert points.loc["qasper", "score"] == 24.4
    assert bool(points.loc["qasper", "computed"]) is False
    assert points.loc["qasper", "source"] == "Hand et al. 2024, arXiv 2401.00001, Table 1"
    assert points.loc["qasper", "split"] == "test"


def test_a_summarization_point_needs_all_three_rouge_scores(tmp_path):
    rows = _summary("led-base", 1024, "govreport", 40.0, 10.0, 25.0)[:2]
    scores = scores_file.load_published(_write(tmp_path, _table(rows)))
    assert pub.headline_points(scores).empty


@pytest.mark.parametrize("change, message", [
    (lambda d: d["rows"][0].update(source="nowhere"), "names source 'nowhere'"),
    (lambda d: d["rows"][0].update(value=101.0), r"outside \[0, 100\]"),
    (lambda d: d["rows"][0].update(value=-0.5), r"outside \[0, 100\]"),
    (lambda d: d["rows"].append(dict(d["rows"][0])), "two rows for"),
    (lambda d: d["rows"][0].update(metric="f1"), "scored by ROUGE"),
    (lambda d: d["rows"][0].update(dataset="arxiv"), "rows.0.dataset"),
    (lambda d: d["sources"][0].pop("read_in"), "read_in"),
    (lambda d: d["sources"][0].update(arxiv="two thousand"), "arxiv"),
    (lambda d: d.update(schema="other/1"), "schema"),
    (lambda d: d["rows"][0].update(extra=1), "extra"),
])
def test_a_malformed_table_is_one_clear_error(tmp_path, change, message):
    data = _table(_summary("led-base", 1024, "govreport", 40.0, 10.0, 25.0))
    change(data)
    with pytest.raises(ReferenceFileError, match=message) as err:
        scores_file.load_published(_write(tmp_path, data))
    assert "\n" not in str(err.value)


def test_a_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(ReferenceFileError, match="no published scores at"):
        scores_file.load_published(tmp_path / "absent.yaml")


# ------------------------------------------------------------------------ the committed table


@pytest.fixture(scope="module")
def committed():
    return scores_file.load_published()


def test_the_committed_table_has_scrolls_led_and_bart_rows_for_every_dataset(committed):
    have = {(r.model, r.input_length, r.dataset, r.metric) for r in committed.rows
            if committed.source(r).arxiv.startswith("2201.03533")}
    wanted = {(model, length, dataset, metric)
              for model, lengths in (("led-base", (1024, 4096, 16384)), ("bart-base", (256, 512, 1024)))
              for length in lengths for dataset in DATASETS
              for metric in (("f1",) if dataset == "qasper" else scores_file.ROUGE_PARTS)}
    assert sorted(wanted - have) == []


def test_every_committed_row_names_where_it_was_read(committed):
    for row in committed.rows:
        source = committed.source(row)
        assert source.read_in.strip() and source.table.strip() and source.arxiv
        assert scores_file.METRIC_RANGE[0] <= row.value <= scores_file.METRIC_RANGE[1]


def test_the_committed_scores_match_the_values_quoted_in_paper_md(committed):
    # SCROLLS' LED-base at 1024 and 4096 as PAPER.md quotes them (R1/R2/RL; F1).
    quoted = {(1024, "govreport"): (40.9, 16.1, 23.1), (1024, "qasper"): (24.4,),
              (4096, "govreport"): (52.5, 23.3, 26.8), (4096, "qasper"): (25.0,),
              (4096, "qmsum"): (26.6, 6.9, 19.9)}
    values = {(r.input_length, r.dataset, r.metric): r.value for r in committed.rows
              if r.model == "led-base"}
    for (length, dataset), numbers in quoted.items():
        metrics = ("f1",) if dataset == "qasper" else scores_file.ROUGE_PARTS
        assert tuple(values[(length, dataset, m)] for m in metrics) == numbers


def test_every_committed_configuration_has_a_counted_cost_at_every_dataset_target(committed):
    # Training target and generated tokens both at the dataset's mean reference length.
    counted = {(r.model, r.length, r.target_length, r.generated_tokens)
               for r in load_cost_reference().rows}
    missing = sorted({(r.model, r.input_length, *[COST_TARGET_TOKENS[r.dataset]] * 2)
                      for r in committed.rows
                      if (r.model, r.input_length) not in pub.NOT_COUNTED_HERE} - counted)
    assert missing == []
    # What does not fit is named, not silently left out: LongT5-XL's one-layer count at 16k.
    assert set(pub.NOT_COUNTED_HERE) == {("longt5-xl", 16384)}


# ------------------------------------------------------------------------------- the analysis


def _points(scores: dict[tuple[str, int, str], float], flops: dict[tuple[str, int], float]):
    """Points from {(model, length, dataset): F1 or ROUGE-equal score} and {(model, length): FLOPs}."""
    rows, costs = [], []
    for (model, length, dataset), value in scores.items():
        if dataset == "qasper":
            rows.append(_row(model, length, dataset, "f1", value))
        else:
            rows.extend(_summary(model, length, dataset, value, value, value))
        costs.append(_cost(model, length, dataset, flops[(model, length)]))
    scores_table = scores_file.PublishedScores.model_validate(_table(rows))
    return pub.published_points(scores_table, costs)


def test_points_carry_the_cost_counted_at_their_datasets_target():
    points = _points({("led-base", 1024, "qasper"): 20.0, ("led-base", 4096, "govreport"): 30.0},
                     {("led-base", 1024): 1e12, ("led-base", 4096): 4e12})
    by = points.set_index("dataset")
    assert by.loc["qasper", "target_length"] == COST_TARGET_TOKENS["qasper"]
    assert by.loc["qasper", pub.TRAIN_FLOPS] == 1e12
    assert by.loc["govreport", pub.TRAIN_FLOPS] == 4e12
    assert by.loc["govreport", "score"] == pytest.approx(30.0)


def test_a_point_without_a_counted_cost_keeps_nan_and_is_never_chosen():
    scores = scores_file.PublishedScores.model_validate(
        _table([_row("led-base", 1024, "qasper", "f1", 20.0),
                _row("led-base", 4096, "qasper", "f1", 30.0)]))
    points = pub.published_points(scores, [_cost("led-base", 1024, "qasper", 1e12)])
    assert math.isnan(points.set_index("length").loc[4096, pub.TRAIN_FLOPS])
    pick = pub.cheapest_within(points)
    assert list(pick["length"]) == [1024]
    assert list(pub.frontier(points)["length"]) == [1024]


def test_frontier_and_cheapest_within_a_point_of_the_best():
    points = _points({("bart-base", 1024, "qasper"): 24.0, ("led-base", 1024, "qasper"): 24.4,
                      ("led-base", 4096, "qasper"): 25.0, ("led-base", 16384, "qasper"): 24.9},
                     {("bart-base", 1024): 0.8e12, ("led-base", 1024): 1e12,
                      ("led-base", 4096): 4e12, ("led-base", 16384): 16e12})
    front = pub.frontier(points)
    assert list(zip(front["model"], front["length"])) == [("bart-base", 1024), ("led-base", 1024),
                                                          ("led-base", 4096)]
    pick = pub.cheapest_within(points).iloc[0]
    assert (pick["model"], pick["length"], pick["best_length"]) == ("bart-base", 1024, 4096)
    assert pick["cost_vs_best"] == pytest.approx(0.2)


def test_input_gains_are_points_per_doubling_of_counted_compute():
    points = _points({("led-base", 1024, "govreport"): 24.0, ("led-base", 4096, "govreport"): 32.0},
                     {("led-base", 1024): 1e12, ("led-base", 4096): 4e12})
    gain = pub.input_gains(points).iloc[0]
    assert (gain["gain_points"], gain["flops_ratio"]) == (pytest.approx(8.0), pytest.approx(4.0))
    assert gain["points_per_doubling"] == pytest.approx(4.0)


def test_qa_input_verdict_holds_fails_and_is_inconclusive():
    flops = {("led-base", 1024): 1e12, ("led-base", 4096): 4e12, ("led-base", 16384): 16e12}
    holds = pub.qa_input_verdict(_points({("led-base", 1024, "qasper"): 24.4,
                                          ("led-base", 4096, "qasper"): 25.0}, flops))
    assert holds.verdict == "holds" and holds.claim == 6
    assert holds.numbers["led-base/1024-4096/flops_ratio"] == pytest.approx(4.0)
    fails = pub.qa_input_verdict(_points({("led-base", 1024, "qasper"): 20.0,
                                          ("led-base", 4096, "qasper"): 30.0}, flops))
    assert fails.verdict == "does not hold"
    mixed = pub.qa_input_verdict(_points({("led-base", 1024, "qasper"): 20.0,
                                          ("led-base", 4096, "qasper"): 30.0,
                                          ("led-base", 16384, "qasper"): 30.5}, flops))
    assert mixed.verdict == "inconclusive" and "1/2 (50%)" in mixed.evidence
    missing = pub.qa_input_verdict(_points({("led-base", 1024, "qasper"): 20.0}, flops))
    assert missing.verdict == "inconclusive" and missing.evidence.startswith("Missing data")


def test_growth_verdict_compares_points_per_doubling_of_model_and_input():
    flops = {("led-base", 1024): 1e12, ("led-base", 4096): 4e12,
             ("longt5-base", 16384): 10e12, ("longt5-large", 16384): 40e12}
    def points(input_gain, model_gain):
        return _points({("led-base", 1024, "govreport"): 20.0,
                        ("led-base", 4096, "govreport"): 20.0 + input_gain,
                        ("longt5-base", 16384, "govreport"): 30.0,
                        ("longt5-large", 16384, "govreport"): 30.0 + model_gain}, flops)
    kwargs = {"families": FAMILIES, "datasets": ["govreport"], "prefer": "model"}
    holds = pub.growth_verdict(points(2.0, 6.0), **kwargs)
    assert holds.verdict == "holds"
    assert holds.numbers["govreport/input_points_per_doubling"] == pytest.approx(1.0)
    assert holds.numbers["govreport/model_points_per_doubling"] == pytest.approx(3.0)
    assert pub.growth_verdict(points(6.0, 2.0), **kwargs).verdict == "does not hold"
    assert pub.growth_verdict(points(6.0, 2.0), **(kwargs | {"prefer": "input"})).verdict == "holds"
    only_input = _points({("led-base", 1024, "govreport"): 20.0,
                          ("led-base", 4096, "govreport"): 22.0}, flops)
    assert pub.growth_verdict(only_input, **kwargs).verdict == "inconclusive"


def test_findings_name_their_evidence_and_never_use_demo_runs():
    points = _points({("led-base", 1024, "qasper"): 24.4, ("led-base", 4096, "qasper"): 25.0},
                     {("led-base", 1024): 1e12, ("led-base", 4096): 4e12})
    table = findings_table(findings(points, pd.DataFrame()))
    assert set(table["evidence"]) <= {"published + counted", "counted", "measured (CPU)", NEEDS_RUNS}
    needs = table[table["evidence"] == NEEDS_RUNS]
    assert set(needs["verdict"]) == {NEEDS_RUNS_VERDICT} and PAPER_COMMAND in NEEDS_RUNS_VERDICT
    part3 = table.set_index("finding").loc["6, part 3"]
    assert (part3["evidence"], part3["verdict"]) == ("published + counted", "holds")
    assert {"1", "2", "3", "4"} <= set(needs["finding"])


def test_an_uncounted_point_is_named_with_the_command_that_counts_it(capsys):
    from tradeoff.cli import main
    from tradeoff.report.published import PublishedView, uncounted_text

    scores = scores_file.PublishedScores.model_validate(
        _table([_row("led-base", 1024, "qasper", "f1", 20.0),
                _row("longt5-large", 16384, "qasper", "f1", 50.0)]))
    points = pub.published_points(scores, [_cost("led-base", 1024, "qasper", 1e12)])
    text = uncounted_text(PublishedView(scores, None, points, "qasper"))
    assert text.startswith("Published but not yet counted, so not on the figure: LongT5-large")
    command = re.search(r"`python -m tradeoff (cost [^`]+)`", text).group(1)
    assert command == "cost --dataset qasper --models longt5-large --lengths 16384 --write-reference"
    assert main([*command.split(), "--dry-run"]) == 0
    assert "longt5-large (full) at 16384 tokens with 12-token targets" in capsys.readouterr().out
    counted = pub.published_points(scores, [_cost("led-base", 1024, "qasper", 1e12),
                                            _cost("longt5-large", 16384, "qasper", 9e12)])
    assert uncounted_text(PublishedView(scores, None, counted, "qasper")) == ""


def test_a_configuration_that_does_not_count_here_says_why():
    from tradeoff.report.published import PublishedView, uncounted_text

    scores = scores_file.PublishedScores.model_validate(_table([_row("longt5-xl", 16384, "qasper", "f1", 53.1)]))
    text = uncounted_text(PublishedView(scores, None, pub.published_points(scores, []), "qasper"))
    assert text.startswith("LongT5-XL (not in paper) at 16384 is not counted: its 1-layer count")
    assert "python -m tradeoff cost" not in text
