"""Tests for tradeoff.data: SCROLLS zip loading, ACLSum stand-ins, statistics and the tokenizer."""

from __future__ import annotations

import json
import math
import socket
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from tradeoff import data
from tradeoff.data import stand_ins as stand_in_builder

# Rows in the official SCROLLS layout. Two train rows and two validation rows share an id, as
# Qasper does when several annotators answered the same question.
QASPER_ROWS = {
    "train": [
        {"id": "q1", "pid": "p1", "input": "What model?\n\nWe use LED here.", "output": "LED"},
        {"id": "q1", "pid": "p1", "input": "What model?\n\nWe use LED here.", "output": "LED model"},
        {"id": "q2", "pid": "p1", "input": "Which data?\n\nWe use LED here.", "output": "Unanswerable"},
        {"id": "q3", "pid": "p2", "input": "Is it long?\n\nThe paper is long.", "output": "Yes"},
    ],
    "validation": [
        {"id": "v1", "pid": "p3", "input": "How many layers?\n\nIt has 12 layers.", "output": "12"},
        {"id": "v1", "pid": "p3", "input": "How many layers?\n\nIt has 12 layers.", "output": "twelve"},
        {"id": "v2", "pid": "p4", "input": "Which metric?\n\nWe report F1.", "output": "F1"},
    ],
    "test": [
        {"id": "t1", "pid": "p5", "input": "Why?\n\nBecause.", "output": ""},
    ],
}


def _write_scrolls(root: Path, name: str = "qasper") -> Path:
    """Write ``root/{name}/{split}.jsonl`` and ``root/zips/{name}.zip`` like the official zip."""
    folder = root / "extracted" / name
    folder.mkdir(parents=True)
    for split, rows in QASPER_ROWS.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    zip_path = root / "zips" / f"{name}.zip"
    zip_path.parent.mkdir()
    with zipfile.ZipFile(zip_path, "w") as archive:
        for split in QASPER_ROWS:
            archive.write(folder / f"{split}.jsonl", f"{name}/{split}.jsonl")
    return root


@pytest.fixture
def scrolls_root(tmp_path: Path) -> Path:
    return _write_scrolls(tmp_path / "scrolls")


# ---------------------------------------------------------------------------------------------
# Source "scrolls"
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["zip file", "folder with zip", "folder with extracted", "split folder"])
def test_scrolls_layouts_load_train_and_validation(scrolls_root: Path, tmp_path: Path, layout: str):
    data_dir = {
        "zip file": scrolls_root / "zips" / "qasper.zip",
        "folder with zip": scrolls_root / "zips",
        "folder with extracted": scrolls_root / "extracted",
        "split folder": scrolls_root / "extracted" / "qasper",
    }[layout]
    splits = data.load_dataset_splits("qasper", source="scrolls", data_dir=str(data_dir),
                                      cache_dir=tmp_path / "cache")
    assert set(splits) == {"train", "validation"}
    for split in ("train", "validation"):
        assert splits[split].column_names == ["id", "pid", "input", "output"]
        assert splits[split].to_list() == QASPER_ROWS[split]
    assert "SCROLLS qasper" in splits["train"].info.description


def test_zip_is_extracted_once(scrolls_root: Path, tmp_path: Path):
    kwargs = {"source": "scrolls", "data_dir": scrolls_root / "zips", "cache_dir": tmp_path / "cache"}
    data.load_dataset_splits("qasper", **kwargs)
    data.load_dataset_splits("qasper", **kwargs)
    assert len(list((tmp_path / "cache" / "datasets" / "scrolls_extracted").iterdir())) == 1


def test_wrong_zip_layout_is_reported(tmp_path: Path):
    bad = tmp_path / "qasper.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("train.jsonl", "{}\n")  # not under qasper/
    with pytest.raises(data.DataUnavailableError, match="missing qasper/train.jsonl"):
        data.load_dataset_splits("qasper", source="scrolls", data_dir=bad, cache_dir=tmp_path / "c")


def test_data_dir_without_the_dataset_names_what_was_looked_for(scrolls_root: Path, tmp_path: Path):
    with pytest.raises(data.DataUnavailableError, match="gov_report.zip"):
        data.load_dataset_splits("govreport", source="scrolls", data_dir=scrolls_root / "zips",
                                 cache_dir=tmp_path / "cache")


def test_offline_without_data_dir_fails_fast_and_names_the_dataset(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    connections = []

    def refuse(*args, **kwargs):
        connections.append(args)
        raise OSError("network used in an offline test")

    # Offline must mean no connection attempt at all (not a timeout later).
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(data.DataUnavailableError) as info:
        data.load_dataset_splits("summscreenfd", source="scrolls")
    message = str(info.value)
    assert "summscreenfd" in message and "summ_screen_fd.zip" in message
    assert "--data-dir" in message and "data_dir" in message
    assert "\n" not in message
    assert isinstance(info.value, RuntimeError)
    assert connections == []


def test_group_references_collects_shared_ids(scrolls_root: Path, tmp_path: Path):
    splits = data.load_dataset_splits("qasper", source="scrolls", data_dir=scrolls_root / "zips",
                                      cache_dir=tmp_path / "cache")
    grouped = data.group_references(splits["train"])
    assert grouped["id"] == ["q1", "q2", "q3"]
    assert grouped["references"] == [["LED", "LED model"], ["Unanswerable"], ["Yes"]]
    assert grouped[0]["input"] == "What model?\n\nWe use LED here."
    # Plain dict rows work too.
    assert data.group_references(QASPER_ROWS["validation"])["references"] == [["12", "twelve"], ["F1"]]


def test_subsample_keeps_whole_ids_and_is_seeded(scrolls_root: Path, tmp_path: Path):
    kwargs = {"source": "scrolls", "data_dir": scrolls_root / "zips", "cache_dir": tmp_path / "cache"}
    seen = set()
    for seed in range(6):
        splits = data.load_dataset_splits("qasper", max_train_samples=2, max_eval_samples=1,
                                          seed=seed, **kwargs)
        train_ids = splits["train"]["id"]
        assert len(set(train_ids)) == 2 and len(set(splits["validation"]["id"])) == 1
        if "q1" in train_ids:
            assert train_ids.count("q1") == 2
        again = data.load_dataset_splits("qasper", max_train_samples=2, max_eval_samples=1,
                                         seed=seed, **kwargs)
        assert again["train"]["id"] == train_ids
        seen.add(tuple(sorted(set(train_ids))))
    assert len(seen) > 1  # the seed matters


@pytest.mark.parametrize("bad", [{"dataset": "arxiv"}, {"dataset": "qasper", "source": "hub"}])
def test_unknown_dataset_or_source_is_a_value_error(bad):
    with pytest.raises(ValueError) as info:
        data.load_dataset_splits(**bad)
    message = str(info.value)
    valid = data.DATASETS if bad["dataset"] == "arxiv" else data.SOURCES
    assert all(name in message for name in valid) and "\n" not in message


# ---------------------------------------------------------------------------------------------
# Source "aclsum": stand-ins
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stand_ins():
    return {name: data.load_dataset_splits(name) for name in data.DATASETS}


def test_stand_ins_are_deterministic(stand_ins):
    # Rebuild from the package files, not the in-process or on-disk caches.
    stand_in_builder._aclsum_papers.cache_clear()
    again = stand_in_builder._build_stand_in("qasper")
    for split in ("train", "validation"):
        assert again[split].to_list() == stand_ins["qasper"][split].to_list()


@pytest.fixture
def hf_home(monkeypatch, tmp_path):
    """An empty Hugging Face cache, and no stand-in held by this process before or after."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    stand_in_builder.build_stand_in.cache_clear()
    yield tmp_path / "hf"
    stand_in_builder.build_stand_in.cache_clear()


def test_a_stand_in_is_built_once_and_later_processes_read_what_was_built(hf_home, monkeypatch):
    built = data.build_stand_in("govreport")
    folders = list((hf_home / "datasets" / "tradeoff-stand-ins").iterdir())
    assert [f.name for f in folders] == [f"govreport-{stand_in_builder.stand_in_version()}"]
    stand_in_builder.build_stand_in.cache_clear()  # as a new process would start
    monkeypatch.setattr(stand_in_builder, "_build_stand_in",
                        lambda dataset: pytest.fail(f"{dataset} was built again"))
    read = data.build_stand_in("govreport")
    for split in ("train", "validation"):
        assert read[split].to_list() == built[split].to_list()
        assert read[split].features == built[split].features
        assert read[split].cache_files == []  # in memory: later maps write no cache files


def test_a_new_aclsum_release_builds_the_stand_ins_again(monkeypatch):
    version = stand_in_builder.stand_in_version()
    real = stand_in_builder.importlib.metadata.version
    monkeypatch.setattr(stand_in_builder.importlib.metadata, "version",
                        lambda package: "999" if package == "aclsum" else real(package))
    stand_in_builder.stand_in_version.cache_clear()
    try:
        assert stand_in_builder.stand_in_version() != version
    finally:
        monkeypatch.undo()
        stand_in_builder.stand_in_version.cache_clear()
    assert stand_in_builder.stand_in_version() == version


def test_an_unwritable_cache_only_means_building_each_time(hf_home, monkeypatch):
    hf_home.parent.mkdir(parents=True, exist_ok=True)
    blocker = hf_home.parent / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(blocker / "datasets"))  # under a file: no folder
    splits = data.build_stand_in("summscreenfd")
    assert (len(splits["train"]), len(splits["validation"])) == (200, 50)
    assert not (hf_home / "datasets").exists()


def test_stand_in_splits_are_document_disjoint_and_80_20(stand_ins):
    for name, splits in stand_ins.items():
        train, validation = set(splits["train"]["pid"]), set(splits["validation"]["pid"])
        assert not train & validation, name
        assert (len(train), len(validation)) == (200, 50), name
        assert splits["train"].column_names == ["id", "pid", "input", "output"]
        assert all(i.startswith("aclsum/") for i in splits["train"]["id"])  # provenance on every row
        assert "Not the SCROLLS data" in splits["validation"].info.description


def test_summarization_targets_are_not_in_the_input(stand_ins):
    rows = stand_ins["govreport"]["train"].to_list()
    assert sum(r["output"] in r["input"] for r in rows) == 0
    assert min(len(r["output"].split()) for r in rows) > 20  # abstracts, not empty strings
    recaps = stand_ins["summscreenfd"]["train"]
    assert recaps["input"] == stand_ins["govreport"]["train"]["input"]


def test_qmsum_inputs_put_the_query_first(stand_ins):
    rows = stand_ins["qmsum"]["validation"].to_list()
    assert len(rows) == 3 * 50
    queries = {data.split_query(r["input"])[0] for r in rows}
    assert len(queries) == 3 and all(q.endswith("?") for q in queries)
    for r in rows:
        query, body = data.split_query(r["input"])
        assert r["input"] == f"{query}\n\n{body}" and len(body.split()) > 1000


def test_qasper_stand_in_answers_are_in_the_body_and_spread(stand_ins):
    rows = stand_ins["qasper"]["validation"]
    assert len(set(rows["id"])) == len(rows) and len(rows) >= 8 * 50
    for r in rows.select(range(60)):
        question, body = data.split_query(r["input"])
        assert question.count(data.CLOZE_BLANK) == 1
        assert question.replace(data.CLOZE_BLANK, r["output"]) in body
    positions = data.answer_positions(rows)
    assert positions["found"].all()
    coverage = data.answer_coverage(positions)
    # Truncation to 1024 whitespace tokens must lose most answers, 4096 far fewer.
    assert coverage[1024] < 0.4 and coverage[4096] > 0.7
    assert coverage[1024] < coverage[2048] < coverage[3072] < coverage[4096]
    quarters = pd.cut(positions["relative_position"], [0, 0.25, 0.5, 0.75, 1.0]).value_counts(normalize=True)
    assert quarters.min() > 0.15


def test_describe_source_flags_stand_ins():
    stand_in = data.describe_source("govreport", "aclsum")
    assert stand_in["stand_in"] is True and stand_in["scrolls_name"] == "gov_report"
    assert "Not the SCROLLS data" in stand_in["description"]
    official = data.describe_source("qasper", "scrolls")
    assert official["stand_in"] is False and official["task"] == "qa"
    assert official["origin"].endswith("/qasper.zip")


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def test_length_stats_whitespace_values():
    stats = data.length_stats(["a b c", "a", "a b c d e f"], lengths=(2, 5))
    assert stats["n"] == 3 and stats["mean"] == pytest.approx(10 / 3)
    assert stats["median"] == 3 and stats["max"] == 6
    assert stats["frac_gt_2"] == pytest.approx(2 / 3) and stats["frac_gt_5"] == pytest.approx(1 / 3)


def test_split_sizes_and_length_summary_of_the_setup_chapter():
    from datasets import Dataset

    split = {"train": Dataset.from_dict({"input": ["a b c", "a"]}),
             "validation": Dataset.from_dict({"input": ["a b c d e f", "x", "y"],
                                              "id": ["q1", "q1", "q2"]})}
    sizes = data.split_sizes({"qasper": split, "govreport": "DataUnavailableError: offline"})
    assert sizes.set_index("dataset").loc["qasper", ["train_rows", "validation_rows",
                                                     "validation_ids"]].tolist() == [2, 3, 2]
    assert sizes.set_index("dataset").loc["govreport", "error"] == "DataUnavailableError: offline"
    assert math.isnan(sizes.set_index("dataset").loc["govreport", "train_rows"])
    frame = data.input_lengths({"qasper": split, "govreport": "unavailable"}, sample=None)
    assert sorted(frame["tokens"]) == [1, 1, 1, 3, 6] and set(frame["dataset"]) == {"qasper"}
    summary = data.length_summary(frame, lengths=(2, 5)).iloc[0]
    assert summary["n"] == 5 and summary["max"] == 6 and summary["unit"] == "whitespace tokens"
    assert summary["frac_gt_2"] == pytest.approx(2 / 5) and summary["frac_gt_5"] == pytest.approx(1 / 5)


def test_answer_positions_for_extractive_and_missing_answers():
    rows = [
        {"id": "a", "input": "Which?\n\none two Three four", "output": "three"},
        {"id": "b", "input": "Is it?\n\none two", "output": "Yes"},
        {"id": "c", "input": "Fill: one ____ three.\n\nzero. one two three.", "output": "two"},
    ]
    positions = data.answer_positions(rows)
    assert positions["found"].tolist() == [True, False, True]
    assert positions["char_offset"].iloc[0] == 8 and positions["char_offset"].iloc[2] == 10
    # Whitespace tokens: "Which?" + "one two Three" = 4; "Fill: one ____ three." + "zero. one two" = 7.
    assert positions["token_end"].iloc[0] == 4 and positions["token_end"].iloc[2] == 7
    assert math.isnan(positions["token_end"].iloc[1])
    assert data.answer_coverage(positions, lengths=(4, 7)) == pytest.approx({4: 1 / 3, 7: 2 / 3})


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------

TEXTS = [f"Long documents need long inputs; sample {i} talks about encoders and decoders." for i in range(50)]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tokenizers")


def test_tokenizer_uses_bart_special_ids_and_round_trips(tokenizer_dir: Path):
    tok = data.train_tokenizer(TEXTS, vocab_size=2000, cache_dir=tokenizer_dir)
    assert [tok.convert_tokens_to_ids(t) for t in data.SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    text = "Long documents need encoders, even unseen wörds."
    ids = tok(text)["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    assert tok.decode(ids, skip_special_tokens=True) == text  # byte-level: lossless
    truncated = tok(TEXTS[0] * 3, max_length=8, truncation=True)["input_ids"]
    assert len(truncated) == 8 and truncated[-1] == 2


def test_tokenizer_works_with_the_seq2seq_collator(tokenizer_dir: Path):
    from transformers import DataCollatorForSeq2Seq

    tok = data.train_tokenizer(TEXTS, vocab_size=2000, cache_dir=tokenizer_dir)
    features = [tok(t, text_target=s, max_length=32, truncation=True)
                for t, s in [("long inputs", "decoders"), ("sample 3 talks about encoders", "long")]]
    batch = DataCollatorForSeq2Seq(tok, label_pad_token_id=-100)(features)
    assert batch["input_ids"].shape[0] == 2
    assert (batch["input_ids"][0] == 1).any()  # the shorter input is padded with <pad>
    labels = batch["labels"].masked_fill(batch["labels"] == -100, 1)
    assert tok.batch_decode(labels, skip_special_tokens=True) == ["decoders", "long"]


def test_tokenizer_is_cached_and_saved_copy_loads(tokenizer_dir: Path, tmp_path: Path):
    from transformers import AutoTokenizer

    first = data.train_tokenizer(TEXTS, vocab_size=2000, cache_dir=tokenizer_dir)
    entries = sorted(p.name for p in tokenizer_dir.iterdir())
    stamp = (tokenizer_dir / entries[0] / "tokenizer.json").stat().st_mtime_ns
    second = data.train_tokenizer(iter(TEXTS), vocab_size=2000, cache_dir=tokenizer_dir)
    assert sorted(p.name for p in tokenizer_dir.iterdir()) == entries  # loaded, not retrained
    assert (tokenizer_dir / entries[0] / "tokenizer.json").stat().st_mtime_ns == stamp
    assert second.get_vocab() == first.get_vocab()
    data.train_tokenizer(TEXTS, vocab_size=1000, cache_dir=tokenizer_dir)
    assert len(list(tokenizer_dir.iterdir())) == len(entries) + 1  # the key includes vocab_size

    first.save_pretrained(tmp_path / "saved")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "saved")
    sample = "Sample 7 talks about long encoders."
    assert loaded(sample)["input_ids"] == first(sample)["input_ids"]
    assert loaded.pad_token_id == 1 and loaded.eos_token_id == 2


def test_run_and_length_tokenizers_train_on_their_recipes(tokenizer_dir: Path):
    inputs = [f"Question {i}?\n\n{TEXTS[i % 5]}" for i in range(10)]  # 5 documents, 10 queries
    outputs = TEXTS[10:20]
    train = {"input": inputs, "output": outputs}
    # A run trains on its inputs then its outputs.
    run = data.run_tokenizer(train, 2000, tokenizer_dir)
    assert run.get_vocab() == data.train_tokenizer(inputs + outputs, 2000, tokenizer_dir).get_vocab()
    # The length counts train on each dataset's distinct documents, unavailable data skipped.
    counting = data.length_tokenizer({"qmsum": {"train": train}, "qasper": "unavailable"}, 2000,
                                     tokenizer_dir)
    assert counting.get_vocab() == data.train_tokenizer(TEXTS[:5], 2000, tokenizer_dir).get_vocab()
    assert data.length_tokenizer({"qasper": "unavailable"}, 2000, tokenizer_dir) is None


def test_tokenizer_merges_a_pair_seen_twice(tmp_path: Path):
    # The recipe's minimum pair frequency of 2 decides the merges, and with them every token
    # count of the random-init models and of the data chapter's length statistics
    # (train_tokenizer mutmut_1, a default of 3, left "zq" in two tokens).
    tok = data.train_tokenizer(["zq", "zq", "vx"], vocab_size=300, cache_dir=tmp_path)
    assert len(tok("zq", add_special_tokens=False)["input_ids"]) == 1  # seen twice: merged
    assert len(tok("vx", add_special_tokens=False)["input_ids"]) == 2  # seen once: bytes


def test_tokenizer_has_exactly_the_vocabulary_size_asked_for(tmp_path: Path):
    # A random-init model's embeddings have the profile's vocab_size rows, and the merges that
    # size allows set every token count (train_tokenizer mutmut_35, the trainer's own default
    # size, gave 315 here; mutmut_94..99, a misspelt <mask>, <s> or </s>, added a 301st token).
    tok = data.train_tokenizer(TEXTS, vocab_size=300, cache_dir=tmp_path)
    assert len(tok) == 300 and max(tok.get_vocab().values()) == 299


def test_answer_positions_with_a_tokenizer_count_bos(tokenizer_dir: Path):
    tok = data.train_tokenizer(TEXTS, vocab_size=2000, cache_dir=tokenizer_dir)
    rows = [{"id": "a", "input": "Which?\n\nLong documents need long inputs", "output": "inputs"}]
    end = data.answer_positions(rows, tokenizer=tok)["token_end"].iloc[0]
    # The answer is the last word, so the whole input minus </s> is needed.
    assert end == len(tok(rows[0]["input"])["input_ids"]) - 1


def test_set_offline_env_keeps_user_values(monkeypatch, tmp_path: Path):
    for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    values = data.set_offline_env(tmp_path / "hf")
    assert values == {"HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}


def test_download_failure_is_one_clear_error(monkeypatch, tmp_path: Path):
    for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)

    def refuse(*args, **kwargs):
        raise OSError("no network in tests")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(data.DataUnavailableError) as info:
        data.load_dataset_splits("qmsum", source="scrolls", cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "'qmsum'" in message and "qmsum.zip" in message and "--data-dir" in message
    assert "\n" not in message


def test_zip_in_the_hub_cache_is_used_offline(monkeypatch, scrolls_root: Path, tmp_path: Path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "cache" / "hub" / "datasets--tau--scrolls"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "qasper.zip").write_bytes((scrolls_root / "zips" / "qasper.zip").read_bytes())
    splits = data.load_dataset_splits("qasper", source="scrolls", cache_dir=tmp_path / "cache")
    assert splits["validation"]["output"] == ["12", "twelve", "F1"]


def test_a_folder_is_written_whole_or_not_at_all(tmp_path: Path):
    from tradeoff.data.rows import folder_written_atomically

    target = tmp_path / "cache" / "thing"
    with folder_written_atomically(target) as tmp:
        (tmp / "a.txt").write_text("mine")
    assert (target / "a.txt").read_text() == "mine"
    with folder_written_atomically(target) as tmp:  # another process was first: its folder stays
        (tmp / "a.txt").write_text("second")
    assert (target / "a.txt").read_text() == "mine"
    with pytest.raises(RuntimeError), folder_written_atomically(tmp_path / "cache" / "other") as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["thing"]  # no half folder
