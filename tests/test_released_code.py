"""The released code's protocol: the paper-code profile, and teacher-forced task scores.

A model that copies the reference under teacher forcing must score 100 through the real
``Seq2SeqTrainer.evaluate`` path the pipeline uses, and tokens predicted where no label is
(padding) must not count. A model that repeats its decoder input scores 100 in the text scores
too (a property of the released ``compute_metrics``), but not in token accuracy.
"""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments
from transformers.modeling_outputs import Seq2SeqLMOutput

from tradeoff import data
from tradeoff.config import load_profile
from tradeoff.metrics import load_scrolls_metric
from tradeoff.train import (
    argmax_logits,
    teacher_forced_metrics,
    teacher_forced_scores,
    tokenize,
    training_arguments,
)

REFERENCES = ["The study used zebrafish as a model organism.",
              "Reference summaries are short and precise.",
              "Yes, it does."]
MAX_TARGET = 12  # cuts the first two references, pads the third


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts = REFERENCES * 5 + ["Paragraph one describes the weather in town number one."] * 5
    return data.train_tokenizer(texts, vocab_size=300, cache_dir=tmp_path_factory.mktemp("tok"))


class Stub(torch.nn.Module):
    """A stand-in seq2seq model whose logits are one-hot on a chosen token per position.

    ``mode``: ``"copy"`` predicts each position's label (where no label is, ``filler``, an
    ordinary word token); ``"echo"`` predicts its decoder input, the labels shifted right behind
    a start token (as BART-style models build it); ``"constant"`` predicts ``filler`` everywhere.
    """

    def __init__(self, vocab_size: int, filler: int, start: int, mode: str = "copy"):
        super().__init__()
        self.vocab_size, self.filler, self.start, self.mode = vocab_size, filler, start, mode
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        target = torch.where(labels < 0, torch.full_like(labels, self.filler), labels)
        if self.mode == "echo":
            start = torch.full_like(labels[:, :1], self.start)
            target = torch.cat([start, target[:, :-1]], dim=1)
        elif self.mode == "constant":
            target = torch.full_like(labels, self.filler)
        logits = torch.nn.functional.one_hot(target, self.vocab_size).float()
        return Seq2SeqLMOutput(loss=self.weight.sum(), logits=logits)


def stub(tokenizer, mode: str = "copy") -> Stub:
    return Stub(len(tokenizer), filler_token(tokenizer), tokenizer.eos_token_id, mode)


def evaluate(model, tokenizer, dataset: str, pad_targets: bool, tmp_path) -> dict:
    rows = datasets.Dataset.from_dict({"input": ["Paragraph one describes the weather."] * 3,
                                       "output": REFERENCES})
    encoded = tokenize(rows, tokenizer, 32, MAX_TARGET, False, pad_targets)
    args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=2,
                                    report_to="none", use_cpu=True, disable_tqdm=True)
    metric = load_scrolls_metric(dataset, keep_in_memory=True)
    trainer = Seq2SeqTrainer(model=model, args=args, eval_dataset=encoded,
                             data_collator=DataCollatorForSeq2Seq(tokenizer),
                             processing_class=tokenizer,
                             compute_metrics=teacher_forced_metrics(tokenizer, metric),
                             preprocess_logits_for_metrics=argmax_logits)
    return trainer.evaluate()


def filler_token(tokenizer) -> int:
    token = tokenizer("weather", add_special_tokens=False)["input_ids"][0]
    assert token not in tokenizer.all_special_ids
    return token


@pytest.mark.parametrize("pad_targets", [False, True])
@pytest.mark.parametrize("dataset, headline", [("qasper", "tf_f1"),
                                               ("gov_report", "tf_rouge_geomean")])
def test_a_model_copying_the_reference_under_teacher_forcing_scores_100(
        tokenizer, dataset, headline, pad_targets, tmp_path):
    scores = evaluate(stub(tokenizer), tokenizer, dataset, pad_targets, tmp_path)
    assert scores[f"eval_{headline}"] == pytest.approx(100.0)
    assert scores["eval_tf_token_accuracy"] == pytest.approx(100.0)


def test_a_model_predicting_one_word_everywhere_scores_near_zero(tokenizer, tmp_path):
    scores = evaluate(stub(tokenizer, "constant"), tokenizer, "gov_report", True, tmp_path)
    assert scores["eval_tf_rouge_geomean"] < 5.0
    assert scores["eval_tf_token_accuracy"] < 20.0


def test_repeating_the_decoder_input_scores_100_in_text_but_not_in_token_accuracy(
        tokenizer, tmp_path):
    # The blind spot of the released compute_metrics: decoding drops the start token, so the
    # shifted sequence decodes to the reference itself.
    scores = evaluate(stub(tokenizer, "echo"), tokenizer, "gov_report", True, tmp_path)
    assert scores["eval_tf_rouge_geomean"] == pytest.approx(100.0)
    assert scores["eval_tf_token_accuracy"] < 20.0


def test_predictions_where_no_label_is_do_not_count(tokenizer):
    labels = np.array([tokenizer(text_target="yes")["input_ids"] + [-100] * 3])
    filler = filler_token(tokenizer)
    preds = np.where(labels < 0, filler, labels)
    metric = load_scrolls_metric("qasper", keep_in_memory=True)
    assert teacher_forced_scores(preds, labels, tokenizer, metric)["tf_f1"] == pytest.approx(100)
    # The same tokens decoded without the mask are no longer the reference.
    unmasked = tokenizer.batch_decode(preds, skip_special_tokens=True)[0]
    assert metric.compute(predictions=[unmasked], references=[["yes"]])["f1"] < 100


def test_paper_code_profile_resolves_to_the_released_settings(tmp_path):
    profile = load_profile("paper-code")
    cells = profile.cells()
    assert len(cells) == 4 * 3 * 4  # no batch-size study: one GPU, accumulation 1
    for cell in cells:
        params = cell.resolve(profile)
        assert params.learning_rate == 2e-5 and params.num_train_epochs == 50
        assert params.eval_steps == 500 and params.patience == 3
        assert params.max_target_length == 128 and params.pad_targets
        assert params.max_new_tokens == 127 and params.num_beams == 1
        assert (params.generation_min_length, params.no_repeat_ngram_size) == (3, 2)
        assert params.seed == 42 and params.gradient_accumulation_steps == 1
        assert params.init == "pretrained" and params.scale == "full"
        args = training_arguments(params, tmp_path, use_cuda=True, show_progress=False)
        headline = "f1" if cell.dataset == "qasper" else "rouge_geomean"
        assert args.metric_for_best_model == f"eval_tf_{headline}"
        assert args.greater_is_better and args.load_best_model_at_end
        assert not args.predict_with_generate
        assert args.train_sampling_strategy == "group_by_length"
    # The paper profile keeps the paper's text: generated-text selection, SCROLLS' rates.
    paper = load_profile("paper")
    params = cells[0].resolve(paper)
    args = training_arguments(params, tmp_path, use_cuda=True, show_progress=False)
    assert args.metric_for_best_model == "eval_rouge_geomean" and args.predict_with_generate
    assert args.train_sampling_strategy == "random" and not params.tf32


def test_tidy_table_exposes_teacher_forced_scores_and_paper_code_shows_them():
    from tradeoff.analysis.table import accuracy_signal, score, tidy
    from tradeoff.records import RunRecord

    def record(profile_name: str, cell_index: int, tf: float, generated: float) -> RunRecord:
        profile = load_profile(profile_name)
        params = profile.cells()[cell_index].resolve(profile)
        return RunRecord(profile=profile_name, label="x", params_hash=params.digest,
                         params=params, status="ok", accuracy_metric="rouge_geomean",
                         accuracy={"rouge_geomean": generated, "tf_rouge_geomean": tf,
                                   "val_loss": 2.0})

    frame = tidy([record("paper-code", 0, 61.0, 20.0), record("paper-code", 1, 63.0, 21.0)])
    assert list(frame["tf_accuracy"]) == [61.0, 63.0]
    assert list(frame["acc_tf_rouge_geomean"]) == [61.0, 63.0]
    assert accuracy_signal(frame) == "teacher_forced"
    assert list(score(frame, "teacher_forced")) == [61.0, 63.0]
    # The paper profile's runs are shown by the generated text's score.
    paper = tidy([record("paper", 0, 61.0, 20.0)])
    assert accuracy_signal(paper) == "headline" and list(score(paper, "headline")) == [20.0]
