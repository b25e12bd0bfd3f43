"""The paper's protocol rehearsed end to end, offline: `tradeoff grid --profile paper` (and
`paper-code`) on SCROLLS zips, with the three checkpoints loaded by `from_pretrained` from a
Hugging Face cache.

The checkpoints are tiny LED and BigBird-Pegasus models with a small trained tokenizer, written
with `save_pretrained` under the hub ids the presets name, in the hub cache's layout. The
profiles run as shipped, from the command line, with only sizes and step counts changed (and a
learning rate of 0, which arranges a plateau for the convergence rule to stop). The models are
made to answer "yes" whatever they read (a large output bias), so the scores of their generated
text are known in advance: 4 x "yes" against the answers "yes" and "no" is an F1 of
(40 + 0) / 2 = 20 by the SCROLLS metric.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from tradeoff import cli
from tradeoff.config import REPO_ROOT
from tradeoff.data import train_tokenizer
from tradeoff.records import load_record

pytestmark = pytest.mark.e2e

ANSWER = "yes"
TRAIN = [{"id": f"t{i}", "pid": f"p{i}", "input": f"Is item {i} ready?\n\nItem {i} is ready, "
          f"yes. The answer is yes, or no.", "output": answer}
         for i, answer in enumerate(["yes", "no", "yes", "no"])]
VALIDATION = [
    {"id": "v1", "pid": "p8", "input": "Is it long?\n\nYes, it is long.", "output": "yes"},
    {"id": "v2", "pid": "p9", "input": "Is it short?\n\nNo, it is not.", "output": "no"},
]
NEW_TOKENS = 4
EXPECTED_F1 = 100 * (2 * (1 / NEW_TOKENS) * 1 / (1 / NEW_TOKENS + 1) + 0) / 2  # 20.0
LENGTH = 128
PATIENCE = 3  # the paper's, as params/paper.yaml and params/paper-code.yaml set it
REVISION = "0" * 40


def _scrolls_zip(folder: Path) -> Path:
    """qasper.zip in the official layout: qasper/{train,validation,test}.jsonl."""
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "qasper.zip", "w") as archive:
        for split, rows in {"train": TRAIN, "validation": VALIDATION, "test": VALIDATION}.items():
            archive.writestr(f"qasper/{split}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _tiny(family: str, tokenizer, answer_id: int):
    """A two-layer model of the family that always answers with ``answer_id``."""
    from transformers import AutoModelForSeq2SeqLM, BigBirdPegasusConfig, LEDConfig

    special = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                   bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    size = dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32)
    if family == "led":
        config = LEDConfig(**size, **special, attention_window=[32],
                           max_encoder_position_embeddings=4096,
                           max_decoder_position_embeddings=1024,
                           decoder_start_token_id=tokenizer.eos_token_id)
    else:
        config = BigBirdPegasusConfig(**size, **special, attention_type="block_sparse",
                                      block_size=8, num_random_blocks=1,
                                      max_position_embeddings=4096,
                                      decoder_start_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = AutoModelForSeq2SeqLM.from_config(config)
    with torch.no_grad():
        model.final_logits_bias[..., answer_id] = 100.0
    return model


def _hub_cache(hub: Path, tokenizer, answer_id: int) -> dict[str, int]:
    """Write each preset's hub id as a tiny checkpoint in the cache layout; return sizes."""
    sizes = {}
    for repo, family in {"allenai/led-base-16384": "led", "allenai/led-large-16384": "led",
                         "google/bigbird-pegasus-large-pubmed": "bigbird_pegasus"}.items():
        folder = hub / f"models--{repo.replace('/', '--')}"
        snapshot = folder / "snapshots" / REVISION
        model = _tiny(family, tokenizer, answer_id)
        model.save_pretrained(snapshot)
        tokenizer.save_pretrained(snapshot)
        (folder / "refs").mkdir()
        (folder / "refs" / "main").write_text(REVISION)
        sizes[repo] = model.num_parameters()
    return sizes


def _profile(tmp_path: Path, name: str, data_dir: Path, **changes) -> Path:
    """params/<name>.yaml with sizes and step counts changed, as a user would copy it."""
    raw = yaml.safe_load((REPO_ROOT / "params" / f"{name}.yaml").read_text())
    raw |= {"name": name, "data_dir": str(data_dir), "datasets": ["qasper"], "lengths": [LENGTH],
            "max_train_samples": 4, "max_eval_samples": 2, "batch_size": 2, "max_steps": 12,
            "eval_steps": 1, "max_target_length": 8, "infer_batch_size": 2,
            "max_new_tokens": {"qasper": NEW_TOKENS}, "qasper_grad_accum_study": [],
            "learning_rate": 0.0, "results_dir": str(tmp_path / "results" / name)} | changes
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def offline_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("rehearsal")
    texts = [r["input"] for r in TRAIN + VALIDATION] + [" yes no"] * 20
    tokenizer = train_tokenizer(texts, vocab_size=320, cache_dir=root / "tokenizers")
    answer_id = tokenizer.convert_tokens_to_ids("Ġ" + ANSWER)
    assert answer_id != tokenizer.unk_token_id and tokenizer.decode([answer_id]) == " yes"
    sizes = _hub_cache(root / "hf" / "hub", tokenizer, answer_id)
    return root / "hf", sizes, _scrolls_zip(root / "scrolls")


def _grid(profile: Path, hf_home: Path, monkeypatch) -> list:
    """``tradeoff grid --profile <profile>`` on a machine whose HF_HOME is ``hf_home``, offline."""
    from huggingface_hub import constants

    for name in ("HF_HUB_CACHE", "HF_DATASETS_CACHE", "TRANSFORMERS_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # huggingface_hub reads these two variables once, when imported (before this test): set
    # what it would have read from them.
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert cli.main(["grid", "--profile", str(profile)]) == 0
    results = yaml.safe_load(profile.read_text())["results_dir"]
    return [load_record(p) for p in sorted(Path(results).glob("*.json"))]


def test_paper_profile_runs_offline_from_the_hub_cache(offline_cache, tmp_path, monkeypatch):
    hf_home, sizes, scrolls = offline_cache
    profile = _profile(tmp_path, "paper", scrolls, models=["led-base", "bigbird-large"])
    records = _grid(profile, hf_home, monkeypatch)
    assert [(r.params.model, r.status) for r in records] == [
        ("bigbird-large", "ok"), ("led-base", "ok")], [r.reason for r in records]
    for record in records:
        # The pretrained branch: the checkpoint the preset names, read from the cache.
        model = record.model
        assert (model.init, model.d_model) == ("pretrained", 16)
        assert model.parameters == sizes[model.checkpoint]
        assert record.params.convergence_metric == "task" and record.params.patience == PATIENCE
        # Validations scored the generated text with the SCROLLS metric: F1 20 each time, so
        # the first is the best and the rule stops after PATIENCE more, long before max_steps.
        history = [h for h in record.train.log_history if "eval_f1" in h]
        assert [h["eval_f1"] for h in history] == [pytest.approx(EXPECTED_F1)] * (PATIENCE + 1)
        assert record.train.steps == PATIENCE + 1 < record.params.max_steps
        assert record.train.stopped_early and record.train.best_step == 1
        # The final inference, grouped by question id, scored the same way.
        assert record.accuracy["f1"] == pytest.approx(EXPECTED_F1)
        assert [e.prediction.split() for e in record.inference.examples] == \
            [[ANSWER] * NEW_TOKENS] * 2
        assert record.inference.generated_tokens == 2 * NEW_TOKENS
        assert record.data.source == "scrolls" and record.data.validation_ids == 2
    bigbird = records[0].model
    assert bigbird.attention_types_ran == ["block_sparse"]  # 128 > (5 + 2 x 1) x 8 tokens


def test_paper_code_profile_runs_offline_with_teacher_forced_selection(offline_cache, tmp_path,
                                                                      monkeypatch):
    hf_home, sizes, scrolls = offline_cache
    profile = _profile(tmp_path, "paper-code", scrolls, models=["led-base"])
    record, = _grid(profile, hf_home, monkeypatch)
    assert record.status == "ok", record.reason
    assert record.model.parameters == sizes["allenai/led-base-16384"]
    # The released code selects on the task metric of the teacher-forced argmax; it too
    # plateaus at learning rate 0, and the rule stops the run.
    history = [h for h in record.train.log_history if "eval_tf_f1" in h]
    assert len(history) == PATIENCE + 1 and len({h["eval_tf_f1"] for h in history}) == 1
    assert record.train.steps == PATIENCE + 1 and record.train.stopped_early
    # Its generation setting no_repeat_ngram_size 2 forbids the bigram "yes yes" a second time.
    words = record.inference.examples[0].prediction.split()
    assert words[0] == ANSWER and words != [ANSWER] * NEW_TOKENS
