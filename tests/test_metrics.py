"""Unit tests for the SCROLLS metric, with values computed by hand.

The scoring helpers are imported from `scrolls.py` by file path, the way `evaluate` itself imports
a copy of that file, so they are tested without going through `evaluate`'s loader; the loader is
tested separately, offline and with sockets disabled.
"""

import importlib.util
import os
import socket
import subprocess
import sys

import pytest

from tradeoff.metrics import SCROLLS_METRIC_PATH, load_scrolls_metric


@pytest.fixture(scope="module")
def sm():
    """The `scrolls.py` module, imported by path."""
    path = os.path.join(SCROLLS_METRIC_PATH, "scrolls.py")
    spec = importlib.util.spec_from_file_location("scrolls_metric_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def offline(monkeypatch):
    """Hub offline flags set and every socket connection refused, so any network use fails loudly."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def metric(offline, tmp_path):
    # A private cache_dir keeps evaluate's arrow files and locks out of the user's cache.
    return load_scrolls_metric(cache_dir=str(tmp_path))


# --- QA: normalisation, F1, exact match -----------------------------------------------------


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("  The  Quick, brown fox. ", "quick brown fox"),
        ("An apple a day", "apple day"),
        ("another theory", "another theory"),  # articles only as whole words
        ("don't stop", "dont stop"),  # punctuation removed, not replaced by a space
        ("THE", ""),
    ],
)
def test_normalize_answer(sm, raw, normalised):
    assert sm.normalize_answer(raw) == normalised


def test_token_f1_partial_overlap(sm):
    # 'cat sat' vs 'cat sat down': P = 2/2, R = 2/3, F1 = 2 * (2/3) / (5/3) = 0.8
    assert sm.token_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)


def test_token_f1_counts_tokens_as_multisets(sm):
    # 'cat cat' vs 'cat': one shared token, P = 1/2, R = 1/1, F1 = 2/3
    assert sm.token_f1("cat cat", "cat") == pytest.approx(2 / 3)
    assert sm.token_f1("dog", "cat") == 0.0


def test_token_f1_empty_answers(sm):
    assert sm.token_f1("", "") == 1.0
    assert sm.token_f1("The.", "a") == 1.0  # both normalise to ''
    assert sm.token_f1("", "cat") == 0.0
    assert sm.token_f1("cat", "") == 0.0


def test_exact_match_after_normalisation(sm):
    assert sm.exact_match("The Cat!", "cat") == 1.0
    assert sm.exact_match("cats", "cat") == 0.0
    assert sm.exact_match("", "") == 1.0


def test_max_over_references(sm):
    assert sm.max_over_references(sm.token_f1, "cat sat", ["dog", "a cat sat down"]) == pytest.approx(0.8)
    with pytest.raises(ValueError):
        sm.max_over_references(sm.token_f1, "cat", [])


def test_qa_scores_mean_of_per_example_max(sm):
    scores = sm.qa_scores(["the cat sat", "Paris"], [["a cat sat down", "dog"], ["paris.", "London"]])
    # F1: (80 + 100) / 2; EM: (0 + 100) / 2
    assert scores == pytest.approx({"f1": 90.0, "exact_match": 50.0})


# --- Summarization: ROUGE ----------------------------------------------------------------------


def test_rouge_by_hand(sm):
    # pred: the cat sat on the mat / ref: the cat lay on the mat (6 tokens each)
    # R1: the x2, cat, on, mat = 5 -> 5/6. R2: the-cat, on-the, the-mat = 3 of 5 -> 3/5.
    # RL: LCS 'the cat on the mat' = 5 -> 5/6.
    scores = sm.rouge_per_example("the cat sat on the mat", ["the cat lay on the mat"])
    assert scores["rouge1"] == pytest.approx(5 / 6)
    assert scores["rouge2"] == pytest.approx(3 / 5)
    assert scores["rougeL"] == pytest.approx(5 / 6)
    assert scores["rougeLsum"] == pytest.approx(5 / 6)  # one sentence: same as rougeL


def test_rouge_l_uses_order(sm):
    # pred: cat sat mat / ref: mat cat sat. R1 = 3/3; R2: only cat-sat shared -> 1/2;
    # RL: LCS 'cat sat' = 2 -> 2/3.
    scores = sm.rouge_per_example("cat sat mat", ["mat cat sat"])
    assert scores["rouge1"] == pytest.approx(1.0)
    assert scores["rouge2"] == pytest.approx(1 / 2)
    assert scores["rougeL"] == pytest.approx(2 / 3)


def test_rouge_max_is_taken_per_type(sm):
    # vs 'mat sat cat': R1 = 1, R2 = 0, RL = 1/3 (LCS of length 1).
    # vs 'cat sat':     R1: P 2/3, R 1 -> 0.8; R2: P 1/2, R 1 -> 2/3; RL: LCS 2 -> 0.8.
    scores = sm.rouge_per_example("cat sat mat", ["mat sat cat", "cat sat"])
    assert scores["rouge1"] == pytest.approx(1.0)
    assert scores["rouge2"] == pytest.approx(2 / 3)
    assert scores["rougeL"] == pytest.approx(0.8)


def test_rouge_lsum_scores_sentences(sm):
    # Flat LCS of 'cat sat dog ran' and 'dog ran cat sat' is 2 -> RL = 0.5. Summary-level LCS
    # matches each reference sentence against the predicted sentences: 4 of 4 tokens -> 1.0.
    scores = sm.rouge_per_example("cat sat. dog ran.", ["dog ran. cat sat."], sentence_splitter="regex")
    assert scores["rougeL"] == pytest.approx(0.5)
    assert scores["rougeLsum"] == pytest.approx(1.0)


def test_rouge_empty_prediction_is_zero(sm):
    assert sm.rouge_per_example("", ["the cat sat"]) == {
        "rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "rougeLsum": 0.0
    }
    scores = sm.summarization_scores([""], [["the cat sat"]])
    assert scores["rouge_geomean"] == 0.0


def test_split_sentences_regex(sm):
    assert sm.split_sentences("One. Two! Three?\nFour\n\n", "regex") == ["One.", "Two!", "Three?", "Four"]
    assert sm.split_sentences("e.g.no space", "regex") == ["e.g.no space"]
    with pytest.raises(ValueError):
        sm.split_sentences("One.", "spacy")


def test_geometric_mean(sm):
    assert sm.geometric_mean([1.0, 8.0, 27.0]) == pytest.approx(6.0)  # cube root of 216
    assert sm.geometric_mean([0.0, 5.0, 5.0]) == 0.0
    with pytest.raises(ValueError):
        sm.geometric_mean([])


def test_summarization_scores_mean_and_geomean(sm):
    # Example 1: R1 5/6, R2 3/5, RL 5/6 (test_rouge_by_hand); example 2: 1, 1/2, 2/3.
    scores = sm.summarization_scores(
        ["the cat sat on the mat", "cat sat mat"],
        [["the cat lay on the mat"], ["mat cat sat"]],
    )
    r1, r2, rl = 100 * (5 / 6 + 1) / 2, 100 * (3 / 5 + 1 / 2) / 2, 100 * (5 / 6 + 2 / 3) / 2
    assert (r1, r2, rl) == pytest.approx((91.666667, 55.0, 75.0))
    assert scores["rouge1"] == pytest.approx(r1)
    assert scores["rouge2"] == pytest.approx(r2)
    assert scores["rougeL"] == pytest.approx(rl)
    assert scores["rouge_geomean"] == pytest.approx((r1 * r2 * rl) ** (1 / 3))


def test_scores_reject_mismatched_lengths(sm):
    with pytest.raises(ValueError):
        sm.summarization_scores(["a", "b"], [["a"]])
    with pytest.raises(ValueError):
        sm.qa_scores([], [])


# --- Loading through evaluate ------------------------------------------------------------------


def test_metric_path_is_a_local_module_dir():
    assert os.path.isabs(SCROLLS_METRIC_PATH)
    assert os.path.isfile(os.path.join(SCROLLS_METRIC_PATH, "scrolls.py"))


def test_importing_tradeoff_metrics_does_not_import_evaluate():
    code = "import sys, tradeoff.metrics; assert 'evaluate' not in sys.modules, 'evaluate imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_loaded_metric_summarization(metric):
    result = metric.compute(
        predictions=["the cat sat on the mat"],
        references=[["dogs run fast", "the cat lay on the mat"]],
        task="summarization",
    )
    assert set(result) == {"rouge1", "rouge2", "rougeL", "rougeLsum", "rouge_geomean"}
    assert all(type(v) is float for v in result.values())
    assert result["rouge1"] == pytest.approx(100 * 5 / 6)
    assert result["rouge2"] == pytest.approx(60.0)
    assert result["rougeL"] == pytest.approx(100 * 5 / 6)
    assert result["rouge_geomean"] == pytest.approx((100 * 5 / 6) ** (2 / 3) * 60.0 ** (1 / 3))


def test_loaded_metric_qa(metric):
    result = metric.compute(
        predictions=["the cat sat", "Paris"],
        references=[["a cat sat down", "dog"], ["paris.", "London"]],
        task="qa",
    )
    assert result == pytest.approx({"f1": 90.0, "exact_match": 50.0})
    assert all(type(v) is float for v in result.values())


def test_loaded_metric_accepts_single_string_references(metric):
    result = metric.compute(predictions=["the cat sat"], references=["a cat sat down"], task="qa")
    assert result["f1"] == pytest.approx(80.0)


def test_loaded_metric_rejects_unknown_task_and_stays_usable(metric):
    with pytest.raises(ValueError, match="task"):
        metric.compute(predictions=["cat"], references=[["cat"]], task="nli")
    with pytest.raises(ValueError, match="sentence_splitter"):
        metric.compute(predictions=["cat"], references=[["cat"]], sentence_splitter="spacy")
    # The same object still scores, and only the new batch: a leftover 'cat'/'cat' row would
    # lift F1 to 50.
    assert metric.compute(predictions=["cat"], references=[["dog"]], task="qa")["f1"] == 0.0


def test_loaded_metric_without_dataset_or_task_raises(metric):
    # No config name and no task= used to mean ROUGE, silently; now the caller must say which.
    with pytest.raises(ValueError, match="no SCROLLS dataset"):
        metric.compute(predictions=["cat sat mat"], references=[["mat cat sat"]])


# --- Config names: the SCROLLS dataset selects the metric ---------------------------------------


@pytest.mark.parametrize(
    "config, task",
    [("gov_report", "summarization"), ("summ_screen_fd", "summarization"), ("qmsum", "summarization"),
     ("qasper", "qa"), ("narrative_qa", "qa"), ("quality", "qa"), ("contract_nli", "qa")],
)
def test_every_scrolls_config_names_its_task(sm, config, task):
    assert sm.resolve_task(config) == task
    assert sm.resolve_task(config, task) == task


def test_resolve_task_rejects_contradictions_and_unknown_names(sm):
    assert sm.resolve_task("default", "qa") == "qa"
    with pytest.raises(ValueError, match="scored as 'qa'"):
        sm.resolve_task("qasper", "summarization")
    with pytest.raises(ValueError, match="unknown SCROLLS config"):
        sm.resolve_task("govreport")  # the project's name, not SCROLLS'
    with pytest.raises(ValueError, match="task must be one of"):
        sm.resolve_task("default", "nli")


def test_evaluate_load_qasper_scores_f1_and_exact_match(offline, tmp_path):
    import evaluate

    metric = evaluate.load(SCROLLS_METRIC_PATH, "qasper", cache_dir=str(tmp_path))
    result = metric.compute(
        predictions=["the cat sat", "Paris"], references=[["a cat sat down", "dog"], ["paris.", "London"]]
    )
    assert result == pytest.approx({"f1": 90.0, "exact_match": 50.0})


def test_loaded_gov_report_scores_rouge(offline, tmp_path):
    metric = load_scrolls_metric("gov_report", cache_dir=str(tmp_path))
    result = metric.compute(predictions=["cat sat mat"], references=[["mat cat sat"]])
    assert set(result) == {"rouge1", "rouge2", "rougeL", "rougeLsum", "rouge_geomean"}
    assert result["rougeL"] == pytest.approx(100 * 2 / 3)
    assert metric.compute(predictions=["cat"], references=[["cat"]], task="summarization")["rouge1"] == 100.0


def test_unknown_config_name_raises_at_load(offline, tmp_path):
    with pytest.raises(ValueError, match="unknown SCROLLS config name 'squad'"):
        load_scrolls_metric("squad", cache_dir=str(tmp_path))


def test_config_and_contradicting_task_raise_instead_of_scoring(offline, tmp_path):
    metric = load_scrolls_metric("qasper", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="'qasper' is scored as 'qa'"):
        metric.compute(predictions=["cat"], references=[["cat"]], task="summarization")
    assert metric.compute(predictions=["cat"], references=[["cat"]], task="qa")["f1"] == 100.0
