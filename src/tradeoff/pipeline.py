"""One cell, top to bottom: data -> tokenizer -> model -> fine-tuning -> inference -> record.

:func:`run_cell` resolves the cell's parameters once, runs the pipeline and writes the record
(named by the parameters' hash). Any failure is recorded with its reason, so the grid goes on;
out-of-memory is told apart, since the paper's protocol expects it at the edge of the batch
search.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import shutil
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from .config import CACHE_DIR, Cell, CellParams, Profile
from .errors import ConfigError
from .tasks import HEADLINE
from .records import (
    DataInfo,
    Efficiency,
    EnergyWindow,
    EnvInfo,
    Example,
    InferenceSummary,
    KnobEffect,
    KnobInfo,
    ModelInfo,
    RunRecord,
    TeacherForcedPass,
    TrainSummary,
    load_record,
    record_path,
    save_record,
)

log = logging.getLogger(__name__)


def prepare_environment(profile: Profile) -> None:
    """Offline runs must never wait on the network: point HF at a project cache, offline."""
    from .data import set_offline_env

    if profile.source == "aclsum" and profile.init == "random":
        set_offline_env(CACHE_DIR / "hf")


def preflight_data(profile: Profile, datasets: list[str]) -> dict:
    """Load every dataset the cells need before training anything.

    Missing data therefore fails once, up front, instead of after hours of finished cells.

    Returns:
        ``{dataset: DatasetDict}``.
    """
    from .data import load_dataset_splits

    return {name: load_dataset_splits(name, source=profile.source, data_dir=profile.data_dir,
                                      max_train_samples=profile.max_train_samples,
                                      max_eval_samples=profile.max_eval_samples)
            for name in dict.fromkeys(datasets)}


def run_cell(profile: Profile, cell: Cell, *, data=None, force: bool = False,
             show_progress: bool = True,
             interruptions: tuple[type[Exception], ...] = ()) -> RunRecord:
    """Run one cell end to end and write its record (or return the existing one).

    Args:
        profile: the validated profile.
        cell: the grid point.
        data: the dataset's splits when already loaded (see :func:`preflight_data`).
        force: re-run even if a record exists.
        show_progress: show progress bars.
        interruptions: exceptions that end the run from outside the cell (a scheduler's time
            limit): raised again and never recorded, since they say nothing about the cell.

    Returns:
        The cell's record; ``status`` says whether it finished, ran out of memory or failed.

    Raises:
        ConfigError: the cell cannot run (checked before any compute).
    """
    params = cell.resolve(profile)
    path = record_path(profile.results_path, params)
    if path.exists() and not force:
        return load_record(path)
    check_machine(params)
    prepare_environment(profile)
    if data is None:
        data = preflight_data(profile, [cell.dataset])[cell.dataset]

    started, clock = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.perf_counter()
    base = dict(profile=profile.name, label=cell.label, params_hash=params.digest, params=params,
                started_at=started)
    try:
        record = RunRecord(status="ok", **base, **_execute(params, data, show_progress))
    except (ConfigError, *interruptions):
        raise
    except Exception as err:  # noqa: BLE001 - any failure is recorded, and the grid goes on
        status = "oom" if _is_oom(err) else "failed"
        log.error("%s %s: %s", cell.label, status, err)
        record = RunRecord(status=status, reason=f"{type(err).__name__}: {err}".splitlines()[0],
                           **base, train=TrainSummary(traceback=traceback.format_exc(limit=8)))
    record.wall_time_s = time.perf_counter() - clock
    if int(os.environ.get("RANK", "0")) == 0:
        save_record(record, path)
    return record


def check_machine(params: CellParams) -> None:
    """Reject a cell this machine cannot run (a knob's hardware), before any compute."""
    from .knobs import check_machine as check_knob

    check_knob(params.variant, _cuda_available)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _is_oom(err: BaseException) -> bool:
    """A GPU out-of-memory error, or the CPU allocator's refusal (under a memory limit, ``ulimit -v``)."""
    import torch

    message = str(err).lower()
    return (isinstance(err, torch.OutOfMemoryError | MemoryError)
            or any(words in message for words in ("out of memory", "can't allocate memory",
                                                  "not enough memory")))


@functools.cache
def _freeze_imported_objects() -> None:
    """Keep what the imports allocated out of the garbage collector's scans, once per process.

    The Trainer runs a full collection at the start of every training run (accelerate's
    ``free_memory``; several under the GPU batch finder). Over torch's, transformers' and pandas'
    objects one takes about 0.3 s on a 2-core CPU, which a grid pays in every cell. Frozen
    (``gc.freeze``) after one last collection, what is alive at the first cell (the libraries,
    the profile, the grid's loaded data, which it keeps to its end) is no longer scanned;
    everything made afterwards, every cell's model and trainer included, is collected as before.
    """
    gc.collect()
    gc.freeze()


def _execute(params: CellParams, data, show_progress: bool) -> dict:
    """The pipeline of one cell; returns the record's measured fields."""
    import torch
    from transformers import set_seed

    from . import knobs
    from .data import describe_source, group_references, run_tokenizer
    from .tasks import SCROLLS_NAMES
    from .energy import EnergyMeter, decimate, summarize_trace
    from .env import describe_environment
    from .infer import timed_generate
    from .metrics import load_scrolls_metric
    from .models import build_model, describe_model, uses_global_attention
    from .train import (
        TEACHER_FORCED_PREFIX,
        argmax_logits,
        build_trainer,
        generated_metrics,
        summarize_training,
        teacher_forced_metrics,
        tokenize,
    )

    _freeze_imported_objects()
    use_cuda = torch.cuda.is_available()
    if use_cuda and params.gpu_memory_gb:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, params.gpu_memory_gb * 2**30 / total))
    if use_cuda:
        # Set for every cell, so that one cell's choice never leaks into the next in-process.
        torch.set_float32_matmul_precision("high" if params.tf32 else "highest")

    set_seed(params.seed)
    tokenizer = None
    if params.init == "random":
        tokenizer = run_tokenizer(data["train"], params.vocab_size, CACHE_DIR / "tokenizers")
    model, tokenizer = build_model(params.model, params.init, params.scale,
                                   tokenizer=tokenizer, dropout=params.dropout,
                                   checkpoint=params.checkpoint)
    model = knobs.before_training(model, params.variant)
    knob_training = knobs.describe_variant(model, params.variant)
    logits_dtypes = knobs.watch_logits_dtype(model)
    global_first_token = uses_global_attention(model.config)
    train_set = tokenize(data["train"], tokenizer, params.length, params.max_target_length,
                         global_first_token, params.pad_targets)
    eval_set = tokenize(data["validation"], tokenizer, params.length, params.max_target_length,
                        global_first_token, params.pad_targets)

    # The SCROLLS metric selects ROUGE or F1 by the dataset's config name, as the official one.
    metric = load_scrolls_metric(SCROLLS_NAMES[params.dataset])
    headline = HEADLINE[params.task]
    compute_metrics = (teacher_forced_metrics if params.convergence_metric == "teacher-forced"
                       else generated_metrics)(tokenizer, metric)

    meter = EnergyMeter(sample_interval_s=params.sample_interval_s,
                        cpu_watts_per_core=params.cpu_watts_per_core)
    workdir = Path(tempfile.mkdtemp(prefix="tradeoff-"))
    try:
        if params.idle_baseline_s > 0:
            meter.idle_baseline(params.idle_baseline_s)
        trainer, energy = build_trainer(model, tokenizer, train_set, eval_set, params, meter,
                                        workdir, use_cuda, compute_metrics, show_progress)
        train_metrics = trainer.train().metrics
        training = summarize_training(trainer, train_metrics, energy)
        # The allocator's peak over training (the batch finder's last attempt: EnergyCallback
        # restarts it with each), beside the cost model's counted bytes.
        training.max_memory_allocated_gib = (torch.cuda.max_memory_allocated() / 2**30
                                             if use_cuda else None)
        knob_training["logits_dtype"] = sorted(logits_dtypes)
        trained = describe_model(trainer.model, params.model, params.init, params.scale,
                                 params.checkpoint)
        # The inference side of the knob (int8 weights; LoRA merged; pruning made permanent)
        # applies to both the teacher-forced validation and the generation.
        trainer.model = trainer.model_wrapped = knobs.before_inference(trainer.model,
                                                                       params.variant)
        knob_inference = knobs.describe_variant(trainer.model, params.variant)
        logits_dtypes = knobs.watch_logits_dtype(trainer.model)
        # Teacher-forced validation of the kept model, in a window of its own: the loss (at
        # demo scale the only accuracy signal with meaning, since a few minutes of training
        # decode nothing useful) and the task scores of the argmax predictions, which is what
        # the released code reported as accuracy.
        trainer.compute_metrics = teacher_forced_metrics(tokenizer, metric)
        trainer.preprocess_logits_for_metrics = argmax_logits
        trainer.args.predict_with_generate = False
        meter.begin("teacher_forced")
        tf_eval = trainer.evaluate()
        tf_m = meter.end("teacher_forced")
        val_loss = tf_eval["eval_loss"]
        tf_scores = {name.removeprefix("eval_"): float(value) for name, value in tf_eval.items()
                     if name.startswith(f"eval_{TEACHER_FORCED_PREFIX}")}

        grouped = group_references(data["validation"])
        with knobs.inference_context(params.variant, "cuda" if use_cuda else "cpu"):
            predictions, infer_m, generated = timed_generate(
                trainer.model, tokenizer, list(grouped["input"]), length=params.length,
                batch_size=params.infer_batch_size, max_new_tokens=params.max_new_tokens,
                num_beams=params.num_beams, meter=meter, global_first_token=global_first_token,
                fixed_length=params.fixed_generation_length,
                min_length=params.generation_min_length,
                no_repeat_ngram_size=params.no_repeat_ngram_size, show_progress=show_progress)
        knob_inference["logits_dtype"] = sorted(logits_dtypes)
        scores = metric.compute(predictions=predictions, references=list(grouped["references"]))
        train_trace = meter.trace("train")
        infer_trace = meter.trace("inference")
    finally:
        meter.close()
        shutil.rmtree(workdir, ignore_errors=True)

    windows = {"train": energy.measurements["train"], "steady": energy.measurements.get("steady"),
               "inference": infer_m, "teacher_forced": tf_m}
    train_m = windows["train"]
    return dict(
        accuracy_metric=headline,
        accuracy={**scores, **tf_scores, "val_loss": float(val_loss)},
        efficiency=Efficiency.from_windows(train_m, windows["steady"], training, infer_m,
                                           len(predictions), generated,
                                           summarize_trace(train_trace)),
        measurements={key: EnergyWindow(**m.to_dict()) for key, m in windows.items()
                      if m is not None},
        energy_method=train_m.method,
        energy_reason=train_m.reason,
        train=training,
        inference=InferenceSummary(
            samples=len(predictions), batch_size=params.infer_batch_size,
            max_new_tokens=params.max_new_tokens, generated_tokens=generated,
            # The teacher-forced validation (window "teacher_forced"): one forward pass per
            # validation row, as the released code's evaluation.
            teacher_forced=TeacherForcedPass(rows=len(eval_set),
                                             batch_size=params.infer_batch_size,
                                             time_s=tf_m.time_s),
            examples=[Example(input=grouped["input"][i][:400],
                              references=grouped["references"][i][:3],
                              prediction=predictions[i])
                      for i in range(min(3, len(predictions)))]),
        # describe_model and describe_variant return dicts (config, which the records import,
        # imports models.py and knobs.py); the closed schemas check their keys here.
        model=ModelInfo(**trained, knob=KnobInfo(training=KnobEffect(**knob_training),
                                                 inference=KnobEffect(**knob_inference))),
        data=DataInfo(**describe_source(params.dataset, params.source),
                      train_rows=len(data["train"]), validation_rows=len(data["validation"]),
                      validation_ids=len(grouped)),
        traces={"train": decimate(train_trace).to_dict("records"),
                "inference": decimate(infer_trace).to_dict("records")},
        # The machine's load when the cell ended (1, 5 and 15 min): on a shared machine, whether
        # other work ran beside the measured windows.
        env=EnvInfo(**describe_environment(), load_average=list(os.getloadavg())),
    )
