"""Fine-tuning with the paper's protocol on top of ``Seq2SeqTrainer``.

The paper fine-tunes each model at each input length with the largest batch that fits a 48 GB
card, validates every 500 steps (summarization) or 10 steps (QA), and stops once the task metric
has not improved for three validations. Everything here is the stock HF machinery configured
that way: ``auto_find_batch_size`` for the batch, ``EarlyStoppingCallback`` for the convergence
rule, and a ``TrainerCallback`` that opens the energy meter's windows, so the same code runs
unchanged under ``accelerate launch`` or ``torchrun``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
from transformers import (
    DataCollatorForSeq2Seq,
    EarlyStoppingCallback,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
)

from . import knobs
from .config import CellParams
from .errors import ConfigError
from .tasks import HEADLINE
from .models import global_attention_mask
from .records import TrainSummary

log = logging.getLogger(__name__)

# Prefix of the task scores of the argmax under teacher forcing (``tf_rouge_geomean``, ``tf_f1``).
TEACHER_FORCED_PREFIX = "tf_"


def tokenize(dataset, tokenizer, length: int, max_target_length: int, global_first_token: bool,
             pad_targets: bool = False):
    """Tokenize a split to exactly ``length`` input tokens (truncated or padded).

    Padding every input to the cell's length makes each step's compute a function of the length
    alone, which is what the study varies; it also keeps BigBird's block-sparse attention on for
    every batch (see :func:`tradeoff.models.guard_block_sparse`).

    Args:
        dataset: a ``datasets.Dataset`` with ``input`` and ``output`` columns.
        tokenizer: the model's tokenizer.
        length: input tokens per example.
        max_target_length: target tokens kept for the loss.
        global_first_token: add LED's ``global_attention_mask`` on the first token.
        pad_targets: pad every target to ``max_target_length`` with ignored (-100) positions,
            as the released code does (``padding="max_length"`` for the labels too).

    Returns:
        The tokenized dataset (input_ids, attention_mask, labels[, global_attention_mask]).
    """
    def encode(batch):
        features = tokenizer(batch["input"], max_length=length, truncation=True,
                             padding="max_length")
        labels = tokenizer(text_target=batch["output"], max_length=max_target_length,
                           truncation=True, padding="max_length" if pad_targets else False)
        features["labels"] = [
            [t if m else -100 for t, m in zip(ids, mask)]
            for ids, mask in zip(labels["input_ids"], labels["attention_mask"])]
        if global_first_token:
            features["global_attention_mask"] = global_attention_mask(features["input_ids"])
        return features

    return dataset.map(encode, batched=True, remove_columns=dataset.column_names,
                       desc=f"tokenizing to {length}")


class EnergyCallback(TrainerCallback):
    """Measure the training run in the meter's windows.

    ``train`` covers the whole run, validations included, as the paper's W&B system metrics
    did; ``steady`` starts after ``measure_after_steps`` optimizer steps, so warm-up (allocator,
    kernel selection) stays out of the throughput a fixed-step profile reports.
    """

    def __init__(self, meter, measure_after_steps: int = 0):
        self.meter = meter
        self.measure_after_steps = measure_after_steps
        self.steady_from_step = None
        self.measurements = {}
        # Wall time of each optimizer step (accumulation included; validations excluded):
        # the spread behind the throughput, and the warm-up step beside the steady ones.
        self.step_times_s: list[float] = []
        self._step_started = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self._step_started is None:  # the first micro-batch of an optimizer step
            self._step_started = time.perf_counter()

    def on_train_begin(self, args, state, control, **kwargs):
        # Called again when auto_find_batch_size retries after an OOM: restart the windows so
        # the failed attempt is not counted, and the allocator's peak, which a failed (larger)
        # attempt would leave at the memory cap.
        _reset_peak_memory()
        self.meter.cancel("train")
        self.meter.cancel("steady")
        self.meter.begin("train")
        self.steady_from_step = None
        self.step_times_s, self._step_started = [], None
        if self.measure_after_steps == 0:
            self.meter.begin("steady")
            self.steady_from_step = 0

    def on_step_end(self, args, state, control, **kwargs):
        if self._step_started is not None:
            self.step_times_s.append(time.perf_counter() - self._step_started)
            self._step_started = None
        if self.steady_from_step is None and state.global_step >= self.measure_after_steps:
            self.meter.begin("steady")
            self.steady_from_step = state.global_step

    def on_train_end(self, args, state, control, **kwargs):
        self.measurements["train"] = self.meter.end("train")
        if self.steady_from_step is not None:
            self.measurements["steady"] = self.meter.end("steady")
            self.measurements["steady_steps"] = state.global_step - self.steady_from_step


def _reset_peak_memory() -> None:
    """Restart ``torch.cuda.max_memory_allocated`` where a GPU is in use."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()


def training_arguments(params: CellParams, output_dir: Path, use_cuda: bool,
                       show_progress: bool) -> Seq2SeqTrainingArguments:
    """Map resolved cell parameters onto ``Seq2SeqTrainingArguments``.

    Raises:
        ConfigError: ``batch_size: auto`` without a GPU (the finder searches GPU memory).
    """
    auto = params.batch_size == "auto"
    if auto and not use_cuda:
        raise ConfigError("batch_size 'auto' searches GPU memory and needs a GPU; "
                          "set an integer batch_size in the profile")
    converge = params.patience is not None
    by_task = params.convergence_metric != "loss"
    teacher_forced = params.convergence_metric == "teacher-forced"
    prefix = TEACHER_FORCED_PREFIX if teacher_forced else ""
    return Seq2SeqTrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=params.max_auto_batch_size if auto else params.batch_size,
        auto_find_batch_size=auto,
        per_device_eval_batch_size=params.infer_batch_size,
        gradient_accumulation_steps=params.gradient_accumulation_steps,
        learning_rate=params.learning_rate,
        num_train_epochs=params.num_train_epochs,
        max_steps=params.max_steps or -1,
        lr_scheduler_type="linear",
        warmup_steps=params.warmup_ratio,  # transformers 5 reads a float below 1 as a ratio
        weight_decay=params.weight_decay,
        adam_beta1=0.9, adam_beta2=params.adam_beta2, adam_epsilon=params.adam_epsilon,
        eval_strategy="steps" if converge else "no",
        eval_steps=params.eval_steps,
        save_strategy="steps" if converge else "no",
        save_steps=params.eval_steps,
        save_total_limit=1 if converge else None,
        load_best_model_at_end=converge,
        metric_for_best_model=(f"eval_{prefix}{HEADLINE[params.task]}" if by_task
                               else "eval_loss") if converge else None,
        greater_is_better=by_task if converge else None,
        # Teacher-forced scores need the logits of a forward pass, not generated tokens.
        predict_with_generate=converge and by_task and not teacher_forced,
        train_sampling_strategy="group_by_length" if params.group_by_length else "random",
        generation_max_length=None,
        generation_num_beams=params.num_beams,
        logging_steps=1,
        report_to="none",
        disable_tqdm=not show_progress,
        seed=params.seed,
        use_cpu=not use_cuda,
        dataloader_num_workers=0,
        remove_unused_columns=True,
        # Mixed precision and recomputation, when the cell's knob asks for them.
        **knobs.training_arguments(params.variant),
    )


def generated_metrics(tokenizer, metric):
    """``compute_metrics`` for validations with generation: the task scores of the generated text.

    Args:
        tokenizer: the model's tokenizer.
        metric: the SCROLLS metric of the dataset (:func:`tradeoff.metrics.load_scrolls_metric`).

    Returns:
        A function of an ``EvalPrediction`` of generated token ids.
    """
    def compute_metrics(prediction):
        preds, labels = prediction.predictions, prediction.label_ids
        pad = tokenizer.pad_token_id
        decoded = tokenizer.batch_decode(np.where(preds < 0, pad, preds), skip_special_tokens=True)
        refs = tokenizer.batch_decode(np.where(labels < 0, pad, labels), skip_special_tokens=True)
        return metric.compute(predictions=decoded, references=[[r] for r in refs])

    return compute_metrics


def argmax_logits(logits, labels):
    """``preprocess_logits_for_metrics``: keep each position's argmax token, not its logits.

    The logits of a validation set (rows x target tokens x vocabulary) would take gigabytes;
    the argmax is all the teacher-forced scores need. Models that return more than the logits
    (LED's encoder states, for instance) give a tuple whose first item is the logits.
    """
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    return logits.argmax(dim=-1)


def teacher_forced_scores(pred_ids, label_ids, tokenizer, metric) -> dict[str, float]:
    """Task scores of the argmax predictions under teacher forcing, by the SCROLLS metric.

    Position ``i`` of ``pred_ids`` is the model's most likely token given the reference's first
    ``i`` tokens, which is what the released code scores (``np.argmax`` over the logits in its
    ``compute_metrics``, with ``predict_with_generate`` never set): the argmax sequence is decoded
    as one text and scored against the decoded reference. Only positions that carry a label
    count: ignored positions (-100) become padding, which decoding drops, so a model that copies
    the reference scores 100. Each row is scored against its own reference as the labels hold it
    (cut at ``max_target_length``); rows of Qasper that share an id are not grouped.

    Decoding drops special tokens, so a model that returns its decoder input (the reference
    shifted right by one, behind a start token) decodes to the reference too and also scores
    100: the text scores cannot tell predicting the next token from repeating the given one.
    ``tf_token_accuracy`` (labelled positions whose argmax is the label, in %) can, and is
    returned beside them.

    Args:
        pred_ids: argmax token ids, rows x positions (:func:`argmax_logits`).
        label_ids: the labels of the same rows, -100 where ignored.
        tokenizer: the model's tokenizer.
        metric: the SCROLLS metric of the dataset.

    Returns:
        The metric's scores (0-100), each name prefixed with ``tf_`` (``tf_rouge_geomean``,
        ``tf_f1``, ...), and ``tf_token_accuracy``.
    """
    labels = np.asarray(label_ids)
    keep = labels != -100
    pad = tokenizer.pad_token_id
    preds = np.where(keep, np.asarray(pred_ids), pad)
    labels = np.where(keep, labels, pad)
    decoded = [t.strip() for t in tokenizer.batch_decode(preds, skip_special_tokens=True)]
    refs = [t.strip() for t in tokenizer.batch_decode(labels, skip_special_tokens=True)]
    scores = metric.compute(predictions=decoded, references=[[r] for r in refs])
    scores["token_accuracy"] = 100.0 * float((preds == labels)[keep].mean()) if keep.any() \
        else float("nan")
    return {f"{TEACHER_FORCED_PREFIX}{name}": float(value) for name, value in scores.items()}


def teacher_forced_metrics(tokenizer, metric):
    """``compute_metrics`` of :func:`teacher_forced_scores`, for a Trainer that runs
    :func:`argmax_logits` as its ``preprocess_logits_for_metrics``."""
    def compute_metrics(prediction):
        return teacher_forced_scores(prediction.predictions, prediction.label_ids, tokenizer,
                                     metric)

    return compute_metrics


def build_trainer(model, tokenizer, train_set, eval_set, params: CellParams, meter, output_dir: Path,
                  use_cuda: bool, compute_metrics=None, show_progress: bool = True):
    """Assemble the ``Seq2SeqTrainer`` for one cell.

    Args:
        model: the model to fine-tune.
        tokenizer: its tokenizer.
        train_set: tokenized training split.
        eval_set: tokenized validation split (validation loss, convergence checks).
        params: the cell's resolved parameters.
        meter: the :class:`tradeoff.energy.EnergyMeter` measuring the run.
        output_dir: checkpoints of the convergence rule go here.
        use_cuda: train on the GPU.
        compute_metrics: task metric of the validations (:func:`generated_metrics`, or
            :func:`teacher_forced_metrics` when the convergence rule is teacher-forced).
        show_progress: show the Trainer's progress bar.

    Returns:
        ``(trainer, energy_callback)``.
    """
    args = training_arguments(params, output_dir, use_cuda, show_progress)
    energy = EnergyCallback(meter, params.measure_after_steps)
    callbacks = [energy]
    if params.patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=params.patience))
    trainer = Seq2SeqTrainer(
        model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        processing_class=tokenizer, compute_metrics=compute_metrics, callbacks=callbacks,
        preprocess_logits_for_metrics=(argmax_logits
                                       if params.convergence_metric == "teacher-forced" else None),
    )
    trainer.model.generation_config.max_new_tokens = params.max_new_tokens
    return trainer, energy


def summarize_training(trainer, train_metrics: dict, energy: EnergyCallback) -> TrainSummary:
    """What the run did: batch, steps, samples, convergence and the loss curve."""
    state, args = trainer.state, trainer.args
    batch = state.train_batch_size or args.per_device_train_batch_size
    effective = batch * args.gradient_accumulation_steps * args.world_size
    history = [
        {k: float(v) for k, v in entry.items() if isinstance(v, (int, float))}
        for entry in state.log_history if "loss" in entry or "eval_loss" in entry
    ]
    return TrainSummary(
        batch_size=batch,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        world_size=args.world_size,
        effective_batch_size=effective,
        steps=state.global_step,
        epochs=float(state.epoch or 0.0),
        samples_trained=state.global_step * effective,
        trainer_samples_per_s=float(train_metrics.get("train_samples_per_second", math.nan)),
        trainer_runtime_s=float(train_metrics.get("train_runtime", math.nan)),
        best_step=_best_step(state),
        best_metric=state.best_metric,
        stopped_early=state.global_step < state.max_steps,
        steady_steps=energy.measurements.get("steady_steps"),
        step_times_s=energy.step_times_s,
        log_history=history,
    )


def _best_step(state) -> int | None:
    if state.best_model_checkpoint:
        return int(Path(state.best_model_checkpoint).name.rsplit("-", 1)[-1])
    return None
