"""Tests for tradeoff.ceilings: truncation, oracles and baselines on hand-made documents with
known answers, and the same code on the SCROLLS fixture zip, as ceiling records."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest
from rouge_score import rouge_scorer

# The SCROLLS fixture zip of the data tests (Qasper rows in the official layout).
from test_data import _write_scrolls

from tradeoff import ceilings, data
from tradeoff.ceilings import methods, run
from tradeoff.config import Profile
from tradeoff.metrics import load_scrolls_metric

FILLER = [f"Paragraph {w} describes the weather in town number {w} during winter."
          for w in ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen")]
ANSWER_SENTENCE = "The study used zebrafish as a model organism."
CLOZE = "The study used ____ as a model organism."


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts = FILLER + [ANSWER_SENTENCE, "Reference summaries are short and precise."] * 5
    return data.train_tokenizer(texts, vocab_size=400, cache_dir=tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def metric():
    return load_scrolls_metric(keep_in_memory=True)


def content_tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


# ---------------------------------------------------------------------------------------------
# Truncation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("has_query", [False, True])
def test_visible_text_is_exactly_what_truncation_keeps(tokenizer, has_query):
    document = "\n".join(FILLER)
    prefix = "What happens in winter?\n\n" if has_query else ""
    text = prefix + document
    start = 2 + content_tokens(tokenizer, prefix.rstrip())  # <s>, query, </s>: no document yet
    lengths = [start] * has_query + [start + 3, start + 30, start + 61, 10_000]
    views = ceilings.visible_inputs([text], lengths, tokenizer, has_query=has_query)
    for length in lengths:
        view = views[length][0]
        expected = tokenizer(text, truncation=True, max_length=length)["input_ids"]
        # Byte-level BPE decodes to the exact characters: the model sees query + visible document.
        seen = tokenizer.decode(expected, skip_special_tokens=True)
        assert view.kept_tokens == len(expected)
        assert view.truncated == (length < 10_000)
        if length == start:
            assert view.visible_document == "" and seen == prefix.rstrip()
        else:
            assert seen == prefix + view.visible_document
            assert len(view.visible_document) > 0
    assert views[10_000][0].visible_document == document


def test_long_inputs_are_tokenized_from_a_prefix_without_changing_the_cut(tokenizer):
    # 8 x the budget in characters is far less than this text: the prefix path is taken.
    text = " ".join(FILLER * 40)
    view = ceilings.visible_inputs([text], [50], tokenizer)[50][0]
    expected = tokenizer(text, truncation=True, max_length=50)["input_ids"]
    assert tokenizer.decode(expected, skip_special_tokens=True) == view.visible_document
    assert view.truncated and view.kept_tokens == 50


# ---------------------------------------------------------------------------------------------
# QA ceiling and BM25
# ---------------------------------------------------------------------------------------------


def _qa_rows():
    document = " ".join(FILLER) + " " + ANSWER_SENTENCE + " " + " ".join(FILLER[:4])
    row = {"id": "q", "pid": "p", "input": f"{CLOZE}\n\n{document}", "output": "zebrafish"}
    return document, [row]


def test_answer_beyond_the_cut_does_not_count_and_one_inside_does(tokenizer):
    document, rows = _qa_rows()
    text = rows[0]["input"]
    end = text.index("zebrafish") + len("zebrafish")
    # Input tokens (with <s> and </s>) for the answer's last token to be seen, and for the
    # input to stop just before the answer's sentence.
    inside = 2 + content_tokens(tokenizer, text[:end])
    before = 2 + content_tokens(tokenizer, text[:text.index(ANSWER_SENTENCE)].rstrip())
    results = ceilings.compute_ceilings("qasper", rows, [before, inside - 1, inside], tokenizer)
    oracle = {r.length: r for r in results if r.method == "oracle"}
    bm25 = {r.length: r for r in results if r.method == "bm25"}
    assert oracle[inside].scores["recoverable_share"] == 100.0
    assert oracle[inside].score == 100.0 and oracle[inside].predictions == ["zebrafish"]
    # One token short, the answer's last piece is cut: not recoverable.
    assert oracle[inside - 1].scores["recoverable_share"] == 0.0
    assert oracle[before].scores["recoverable_share"] == 0.0 and oracle[before].score == 0.0
    # BM25 finds the answer's sentence once it is visible and cuts the blank's words out of it.
    assert bm25[inside].predictions == ["zebrafish"] and bm25[inside].score == 100.0
    assert bm25[before].score == 0.0
    assert all(r.kind == ("ceiling" if r.method == "oracle" else "baseline") for r in results)


def test_best_span_values():
    # A partial overlap: "red dog" against "red dog ran" is 2 * 2 / (2 + 3).
    span, f1, found = ceilings.best_span("The big red dog barked.", ["red dog ran"])
    assert (span, f1, found) == ("red dog", pytest.approx(0.8), False)
    # A longer span that includes a stray word beats either half: 2 * 4 / (5 + 4) = 8/9.
    span, f1, found = ceilings.best_span("alpha beta x gamma delta", ["alpha beta gamma delta"])
    assert (span, f1, found) == ("alpha beta x gamma delta", pytest.approx(8 / 9), False)
    # The best reference wins; normalisation drops case, punctuation and articles.
    span, f1, found = ceilings.best_span("It has 12 layers, (The) Encoder.",
                                         ["twelve", "the encoder"])
    assert (span, f1, found) == ("Encoder.", 1.0, True)
    assert ceilings.best_span("nothing here", ["zebrafish"]) == ("", 0.0, False)
    # An empty reference is matched by the empty prediction, as the SCROLLS metric scores it.
    assert ceilings.best_span("nothing here", ["zebrafish", "The"]) == ("", 1.0, True)


# ---------------------------------------------------------------------------------------------
# Summarization oracle
# ---------------------------------------------------------------------------------------------


def test_oracle_picks_the_reference_sentence_inside_the_cut_only(tokenizer):
    target = "Reference summaries are short and precise."
    document = "\n".join(FILLER[:8] + [target])
    rows = [{"id": "d", "pid": "d", "input": document, "output": target}]
    inside = 2 + content_tokens(tokenizer, document)
    cut = 2 + content_tokens(tokenizer, "\n".join(FILLER[:8]))
    results = ceilings.compute_ceilings("govreport", rows, [cut, inside], tokenizer,
                                        methods=["oracle"])
    by_length = {r.length: r for r in results}
    assert by_length[inside].predictions == [target]
    assert by_length[inside].score == pytest.approx(100.0)
    assert by_length[inside].scores["rouge1"] == pytest.approx(100.0)
    assert target not in by_length[cut].predictions[0]
    assert by_length[cut].score < 50.0


def test_greedy_oracle_stops_when_nothing_improves():
    sentences = ["alpha beta gamma delta.", "alpha beta unrelated words here.", "epsilon zeta."]
    assert ceilings.greedy_oracle(sentences, ["alpha beta gamma delta epsilon zeta"]) == [0, 2]
    assert ceilings.greedy_oracle(sentences, ["nothing in common"]) == []


def test_bit_parallel_lcs_matches_rouge_score():
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(0)
    words = ["a", "b", "c", "d", "e", "f"]
    for _ in range(200):
        ref = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
        pred = [[rng.choice(words) for _ in range(rng.randint(0, 12))] for _ in range(3)]
        prepared = methods._Reference(ref)
        n_pred = sum(map(len, pred))
        expected = scorer.score(ref, " ".join(" ".join(p) for p in pred))["rougeL"].fmeasure
        assert methods._f(prepared.lcs(pred), n_pred, prepared.n) == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------------------------


def test_baseline_scores_are_the_scrolls_metric_of_their_predictions(tokenizer, metric):
    rows = [{"id": f"d{i}", "pid": f"d{i}", "input": "\n".join(FILLER[i:] + FILLER[:i]),
             "output": f"Weather in town {FILLER[i].split()[1]} during winter."} for i in range(3)]
    results = ceilings.compute_ceilings("summscreenfd", rows, [60, 400], tokenizer,
                                        methods=["lead", "lexrank"], budget_words=10,
                                        cpu_watts_per_core=7.0)
    assert len(results) == 4
    for result in results:
        recomputed = metric.compute(predictions=list(result.predictions),
                                    references=[list(r) for r in result.references],
                                    task="summarization")
        assert result.scores == pytest.approx(recomputed)
        assert result.score == pytest.approx(recomputed["rouge_geomean"])
        assert result.cpu_s_per_sample > 0
        assert result.energy_j_per_sample == pytest.approx(7.0 * result.cpu_s_per_sample)
        assert result.energy_method == "cpu-time-estimate"
    lead = [r for r in results if r.method == "lead" and r.length == 400][0]
    # The first sentence of d0 (11 words) reaches the 10-word budget on its own.
    assert lead.predictions[0] == FILLER[0]
    lexrank = [r for r in results if r.method == "lexrank" and r.length == 400][0]
    assert all(sentence in FILLER for p in lexrank.predictions for sentence in _split(p))


def test_lead_stops_at_the_sentence_that_reaches_the_budget():
    assert ceilings.lead(FILLER, 10) == FILLER[:1]  # 11 words
    assert ceilings.lead(FILLER, 12) == FILLER[:2]
    assert ceilings.lead([], 12) == []


def _split(text: str) -> list[str]:
    return [s if s.endswith(".") else s + "." for s in text.split(". ")]


def test_sentences_are_split_per_line_and_clipped_at_the_cut():
    document = "First sentence here. Second one there.\nThird line, e.g. with an abbreviation."
    assert ceilings.sentences(document)[0] == [
        "First sentence here.", "Second one there.", "Third line, e.g. with an abbreviation."]
    cut = document.index("there")
    assert ceilings.sentences(document, cut)[0] == ["First sentence here.", "Second one"]
    # A reader of the beginning splits only the lines it needs.
    assert ceilings.sentences(document, max_words=2)[0] == [
        "First sentence here.", "Second one there."]


# ---------------------------------------------------------------------------------------------
# The SCROLLS fixture zip, as records of their own kind
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def fixture_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    root = _write_scrolls(tmp_path / "scrolls")
    return Profile(name="fixture", source="scrolls", data_dir=str(root / "zips"),
                   datasets=["qasper"], lengths=[8, 64], cpu_watts_per_core=5.0,
                   results_dir=str(tmp_path / "results"))


def _records(profile, tokenizer, tmp_path, **kwargs):
    """The profile's ceiling records; the former JSON cache is a folder of the test's own."""
    return ceilings.ceiling_records(profile, tokenizer=tokenizer, legacy_cache=tmp_path / "legacy",
                                    show_progress=False, **kwargs)


def _refuse(*args, **kwargs):
    raise AssertionError("computed again although its record is finished")


def test_scrolls_fixture_zip_scores_and_records(fixture_profile, tokenizer, metric, tmp_path,
                                                monkeypatch):
    from tradeoff.analysis.table import tidy_ceilings

    update = _records(fixture_profile, tokenizer, tmp_path)
    table = tidy_ceilings(update.records)
    assert list(table["method"]) == ["oracle", "oracle", "bm25", "bm25"]
    full = table[table["length"] == 64].set_index("method")
    # v1 ("12" or "twelve") and v2 ("F1") both occur in their documents.
    assert full.loc["oracle", "recoverable_share"] == 100.0 and full.loc["oracle", "f1"] == 100.0
    # Not cloze: BM25 answers with the sentence. v1: "It has 12 layers." vs "12" is 2/(4+1);
    # v2: "We report F1." vs "F1" is 2/(3+1).
    assert full.loc["bm25", "f1"] == pytest.approx(100 * (0.4 + 0.5) / 2)
    assert (full["n_samples"] == 2).all() and (full["energy_method"] == "cpu-time-estimate").all()
    assert (full["energy_j_per_sample"] - 5.0 * full["cpu_s_per_sample"]).abs().max() < 1e-12
    # At 8 tokens the question fills the input: nothing of the documents is visible.
    short = table[table["length"] == 8].set_index("method")
    assert short.loc["oracle", "f1"] == 0.0 and short.loc["oracle", "truncated_share"] == 1.0

    # A second call reads every result from its record: the records are the cache.
    monkeypatch.setattr(run, "compute_ceilings", _refuse)
    again = _records(fixture_profile, tokenizer, tmp_path)
    pd.testing.assert_frame_equal(tidy_ceilings(again.records), table)
    assert len(list((fixture_profile.results_path / "ceilings").glob("qasper-L*.json"))) == 4
    assert not (tmp_path / "legacy").exists()  # the former cache is never written


def test_cache_key_changes_with_every_input(monkeypatch):
    base = dict(dataset="qasper", source="aclsum", length=1024, method="oracle", rows_digest="r",
                tokenizer_hash="t", span_margin=10)
    key = ceilings.cache_key(**base)
    for change in [{"length": 2048}, {"method": "bm25"}, {"rows_digest": "r2"},
                   {"tokenizer_hash": "t2"}, {"span_margin": 5}, {"source": "scrolls"}]:
        assert ceilings.cache_key(**(base | change)) != key
    monkeypatch.setattr(run, "CODE_VERSION", "other")
    assert ceilings.cache_key(**base) != key


def test_compute_ceilings_keys_its_records_as_ceiling_records_looks_them_up(tokenizer):
    document, rows = _qa_rows()
    [record] = ceilings.compute_ceilings("qasper", rows, [64], tokenizer, methods=["oracle"],
                                         profile="p", seed=3)
    digest = ceilings.rows_digest(rows, None)
    assert record.key == ceilings.cache_key("qasper", "aclsum", 64, "oracle", digest,
                                            ceilings.tokenizer_digest(tokenizer),
                                            ceilings.DEFAULT_SPAN_MARGIN)
    assert (record.profile, record.seed, record.tokenizer_hash) == (
        "p", 3, ceilings.tokenizer_digest(tokenizer))
    assert record.description == ceilings.METHOD_DESCRIPTIONS[("qa", "oracle")]


# ---------------------------------------------------------------------------------------------
# Records: saved, read back, resumed
# ---------------------------------------------------------------------------------------------


def test_ceiling_records_round_trip_and_match_the_table(fixture_profile, tokenizer, tmp_path):
    from tradeoff.analysis.table import load_ceilings, tidy_ceilings
    from tradeoff.records import CEILINGS_FOLDER, load_ceiling_records

    update = _records(fixture_profile, tokenizer, tmp_path)
    assert update.computed == 4 and update.written == 4
    folder = fixture_profile.results_path / CEILINGS_FOLDER
    assert sorted(update.paths) == sorted(folder.glob("*.json")) and len(update.paths) == 4
    assert [(r.length, r.method, r.kind) for r in update.records] == [
        (8, "oracle", "ceiling"), (64, "oracle", "ceiling"),
        (8, "bm25", "baseline"), (64, "bm25", "baseline")]
    by_name = {p.name: r for p, r in zip(update.paths, update.records)}
    assert load_ceiling_records(fixture_profile.results_path) == [by_name[n] for n in sorted(by_name)]
    oracle = next(r for r in update.records if r.method == "oracle" and r.length == 64)
    assert oracle.profile == "fixture" and oracle.task == "qa" and oracle.source == "scrolls"
    assert oracle.scores["recoverable_share"] == 100.0 and oracle.score == 100.0
    assert oracle.tokenizer_hash == ceilings.tokenizer_digest(tokenizer)
    assert oracle.energy_method == "cpu-time-estimate" and oracle.env["gpu_count"] == 0
    # The tidy table read back from the files is the table of the records returned.
    table = tidy_ceilings(update.records)
    read = load_ceilings(fixture_profile.results_path)
    columns = ["dataset", "length", "method", "score", "f1", "recoverable_share",
               "answer_coverage", "cpu_s_per_sample", "energy_j_per_sample", "key"]
    pd.testing.assert_frame_equal(read[columns], table[columns])
    assert list(load_ceilings(fixture_profile.results_path, lengths=[64])["length"]) == [64, 64]
    assert load_ceilings(tmp_path / "nowhere").empty


def test_finished_ceiling_records_are_never_computed_again(fixture_profile, tokenizer, tmp_path,
                                                           monkeypatch):
    first = _records(fixture_profile, tokenizer, tmp_path)
    contents = {p: p.read_bytes() for p in first.paths}
    # The computation is not needed once the records are there.
    monkeypatch.setattr(run, "compute_ceilings", _refuse)
    again = _records(fixture_profile, tokenizer, tmp_path)
    assert (again.computed, again.written) == (0, 0)
    assert {p: p.read_bytes() for p in again.paths} == contents

    # Another assumed wattage rescales the estimate without computing anything.
    hotter = fixture_profile.model_copy(update={"cpu_watts_per_core": 20.0})
    rescaled = _records(hotter, tokenizer, tmp_path)
    assert (rescaled.computed, rescaled.written) == (0, 4)
    for before, after in zip(first.records, rescaled.records):
        assert after.cpu_s_per_sample == before.cpu_s_per_sample
        assert after.energy_j_per_sample == pytest.approx(4 * before.energy_j_per_sample)

    # A missing record and a corrupt one are made again, and only they.
    monkeypatch.undo()
    missing = next(p for p in first.paths if "-L64-bm25-" in p.name)
    corrupt = next(p for p in first.paths if "-L8-oracle-" in p.name)
    missing.unlink()
    corrupt.write_text("{not json")
    calls = []
    compute = run.compute_ceilings
    monkeypatch.setattr(run, "compute_ceilings",
                        lambda *a, **k: calls.append((a[2], k["methods"])) or compute(*a, **k))
    redone = _records(hotter, tokenizer, tmp_path)
    assert (redone.computed, redone.written) == (2, 2)
    assert sorted(calls) == [([8], ("oracle",)), ([64], ("bm25",))]
    assert missing.exists() and _reads_as_oracle(corrupt)


def _reads_as_oracle(path) -> bool:
    from tradeoff.records import load_ceiling_record

    return load_ceiling_record(path).method == "oracle"


def test_a_changed_input_replaces_the_record(fixture_profile, tokenizer, tmp_path, monkeypatch):
    first = _records(fixture_profile, tokenizer, tmp_path)
    monkeypatch.setattr(run, "CODE_VERSION", "a later version")
    again = _records(fixture_profile, tokenizer, tmp_path)
    assert (again.computed, again.written) == (4, 4)
    assert again.paths == first.paths  # same files, new keys
    assert all(a.key != b.key for a, b in zip(first.records, again.records))


# Fields of a ceiling record that the former JSON cache did not hold (it kept results without
# the profile, key and seed they were made for).
_NOT_IN_FORMER_CACHE = {"schema_version", "profile", "key", "description", "tokenizer_hash",
                        "seed", "created_at"}


def test_a_result_of_the_former_json_cache_becomes_its_record(fixture_profile, tokenizer,
                                                              tmp_path, monkeypatch):
    first = _records(fixture_profile, tokenizer, tmp_path)
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for path, record in zip(first.paths, first.records):
        # As the former cache wrote it: the result's own fields, watts as measured then.
        result = record.model_dump(exclude=_NOT_IN_FORMER_CACHE) | {"cpu_watts_per_core": 3.0}
        name = f"{record.dataset}-L{record.length}-{record.method}-{record.key}.json"
        (legacy / name).write_text(json.dumps(result))
        path.unlink()
    (legacy / "unrelated-L8-oracle-0.json").write_text("{not json")
    monkeypatch.setattr(run, "compute_ceilings", _refuse)
    again = _records(fixture_profile, tokenizer, tmp_path)
    assert (again.computed, again.written) == (0, 4)
    for before, after in zip(first.records, again.records):
        # The profile's wattage applies; everything measured is the cached result's.
        assert after.model_dump(exclude={"created_at"}) == before.model_dump(exclude={"created_at"})
    assert all(p.exists() for p in again.paths)
    # A key that no longer matches is not taken from the former cache.
    monkeypatch.undo()
    monkeypatch.setattr(run, "CODE_VERSION", "a later version")
    for path in again.paths:
        path.unlink()
    assert _records(fixture_profile, tokenizer, tmp_path).computed == 4


def test_load_records_reads_run_records_only(fixture_profile, tokenizer, tmp_path, make_record):
    from tradeoff.analysis import table
    from tradeoff.errors import RecordError
    from tradeoff.records import load_ceiling_record, load_record, load_records, save_record

    run_record = make_record("qasper", "led-base", 1024)
    save_record(run_record, fixture_profile.results_path / "qasper" / "run.json")
    update = _records(fixture_profile, tokenizer, tmp_path)
    assert len(update.paths) == 4
    assert load_records(fixture_profile.results_path) == [run_record]
    records, frame = table.load(fixture_profile.results_path)
    assert records == [run_record] and list(frame["model"]) == ["led-base"]
    # The two kinds do not read as each other.
    with pytest.raises(RecordError, match="not a valid run record"):
        load_record(update.paths[0])
    with pytest.raises(RecordError, match="not a valid ceiling record"):
        load_ceiling_record(fixture_profile.results_path / "qasper" / "run.json")
