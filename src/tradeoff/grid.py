"""Run grid cells: validate up front, skip finished cells, record failures, resume after a crash.

Each cell (dataset x model x length x seed) runs the whole pipeline: data, tokenizer, model,
fine-tuning, validation loss, timed inference, SCROLLS metrics, energy. Its record is named by
the hash of its resolved parameters, so re-running a grid redoes nothing that finished and a
changed setting never reuses a stale record.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from .config import Cell, ConfigError, Profile, cell_params, check_cell, params_hash
from .models import check_length
from .records import RecordError, RunRecord, load_record, record_path, save_record

log = logging.getLogger(__name__)

CACHE_DIR = Path(os.environ.get("TRADEOFF_CACHE", Path(__file__).resolve().parents[2] / ".cache"))


def validate_cells(profile: Profile, cells: list[Cell]) -> None:
    """Reject unknown datasets/models and impossible lengths before any compute.

    Raises:
        ConfigError: with one line naming the bad value.
    """
    for cell in cells:
        check_cell(cell)
        check_length(cell.model, profile.scale, cell.length)


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


def cell_record_path(profile: Profile, cell: Cell) -> Path:
    params = cell_params(profile, cell)
    return record_path(profile.results_path, params, params_hash(params))


def run_grid(profile: Profile, cells: list[Cell] | None = None, *, force: bool = False,
             retry_failed: bool = False, show_progress: bool = True) -> list[RunRecord]:
    """Run cells of a profile (all by default), skipping those with a record.

    A cell that runs out of memory or fails is recorded with its reason and the grid goes on;
    an interrupted grid resumes at the first cell without a record.

    Args:
        profile: the validated profile.
        cells: a subset of ``profile.cells()``; all when None.
        force: re-run cells that already have a record.
        retry_failed: re-run cells whose record says ``oom`` or ``failed``.
        show_progress: progress bars for the grid and for each cell's training.

    Returns:
        The record of every requested cell, in order.
    """
    cells = profile.cells() if cells is None else cells
    validate_cells(profile, cells)
    todo = {c for c in cells if _needs_run(profile, c, force, retry_failed)}
    if todo:
        prepare_environment(profile)
        data = preflight_data(profile, [c.dataset for c in todo])
    bar = tqdm(cells, desc=f"grid {profile.name}", unit="cell", disable=not show_progress)
    records = []
    for cell in bar:
        bar.set_postfix_str(cell.label)
        if cell in todo:
            records.append(run_cell(profile, cell, data=data[cell.dataset], force=True,
                                    show_progress=show_progress))
        else:
            records.append(load_record(cell_record_path(profile, cell)))
    return records


def _needs_run(profile: Profile, cell: Cell, force: bool, retry_failed: bool) -> bool:
    path = cell_record_path(profile, cell)
    if force or not path.exists():
        return True
    try:
        record = load_record(path)
    except RecordError as err:  # a truncated or outdated file: run the cell again
        log.warning("%s; running the cell again", err)
        return True
    return retry_failed and record.status != "ok"


def run_cell(profile: Profile, cell: Cell, *, data=None, force: bool = False,
             show_progress: bool = True) -> RunRecord:
    """Run one cell end to end and write its record (or return the existing one).

    Args:
        profile: the validated profile.
        cell: the grid point.
        data: the dataset's splits when already loaded (see :func:`preflight_data`).
        force: re-run even if a record exists.
        show_progress: show progress bars.

    Returns:
        The cell's record; ``status`` says whether it finished, ran out of memory or failed.
    """
    validate_cells(profile, [cell])
    params = cell_params(profile, cell)
    digest = params_hash(params)
    path = record_path(profile.results_path, params, digest)
    if path.exists() and not force:
        return load_record(path)
    prepare_environment(profile)
    if data is None:
        data = preflight_data(profile, [cell.dataset])[cell.dataset]

    started, clock = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.perf_counter()
    base = dict(profile=profile.name, label=cell.label, params_hash=digest, params=params,
                started_at=started)
    try:
        fields = _execute(params, data, show_progress)
        record = RunRecord(status="ok", **base, **fields)
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure is recorded, and the grid goes on
        status = "oom" if _is_oom(err) else "failed"
        log.error("%s %s: %s", cell.label, status, err)
        record = RunRecord(status=status, reason=f"{type(err).__name__}: {err}".splitlines()[0],
                           **base, train={"traceback": traceback.format_exc(limit=8)})
    record.wall_time_s = time.perf_counter() - clock
    if int(os.environ.get("RANK", "0")) == 0:
        save_record(record, path)
    return record


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def _execute(params: dict, data, show_progress: bool) -> dict:
    """The pipeline of one cell; returns the record's measured fields."""
    import torch
    from transformers import set_seed

    from .data import describe_source, group_references, train_tokenizer
    from .energy import EnergyMeter, decimate, summarize_trace
    from .env import describe_environment
    from .infer import timed_generate
    from .metrics import load_scrolls_metric
    from .models import build_model, describe_model, get_preset
    from .train import HEADLINE_METRIC, build_trainer, summarize_training, tokenize

    use_cuda = torch.cuda.is_available()
    if use_cuda and params["gpu_memory_gb"]:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, params["gpu_memory_gb"] * 2**30 / total))

    set_seed(params["seed"])
    tokenizer = None
    if params["init"] == "random":
        texts = list(data["train"]["input"]) + list(data["train"]["output"])
        tokenizer = train_tokenizer(texts, params["vocab_size"], CACHE_DIR / "tokenizers")
    model, tokenizer = build_model(params["model"], params["init"], params["scale"],
                                   tokenizer=tokenizer, dropout=params["dropout"])
    is_led = get_preset(params["model"]).family == "led"
    train_set = tokenize(data["train"], tokenizer, params["length"], params["max_target_length"], is_led)
    eval_set = tokenize(data["validation"], tokenizer, params["length"], params["max_target_length"], is_led)

    task, metric = params["task"], load_scrolls_metric()
    headline = HEADLINE_METRIC[task]

    def compute_metrics(prediction):
        preds, labels = prediction
        labels = labels.copy()
        labels[labels < 0] = tokenizer.pad_token_id
        preds[preds < 0] = tokenizer.pad_token_id
        decoded = tokenizer.batch_decode(preds, skip_special_tokens=True)
        refs = tokenizer.batch_decode(labels, skip_special_tokens=True)
        return metric.compute(predictions=decoded, references=[[r] for r in refs], task=task)

    meter = EnergyMeter(sample_interval_s=params["sample_interval_s"],
                        cpu_watts_per_core=params["cpu_watts_per_core"])
    workdir = Path(tempfile.mkdtemp(prefix="tradeoff-"))
    try:
        if params["idle_baseline_s"] > 0:
            meter.idle_baseline(params["idle_baseline_s"])
        trainer, energy = build_trainer(model, tokenizer, train_set, eval_set, params, meter,
                                        workdir, use_cuda, compute_metrics, show_progress)
        train_metrics = trainer.train().metrics
        training = summarize_training(trainer, train_metrics, energy)
        # Teacher-forced validation loss of the kept model: at demo scale the only accuracy
        # signal with meaning, since a few minutes of training decode nothing useful.
        trainer.compute_metrics = None
        val_loss = trainer.evaluate()["eval_loss"]

        grouped = group_references(data["validation"])
        predictions, infer_m, generated = timed_generate(
            trainer.model, tokenizer, list(grouped["input"]), length=params["length"],
            batch_size=params["infer_batch_size"], max_new_tokens=params["max_new_tokens"],
            num_beams=params["num_beams"], meter=meter, global_first_token=is_led,
            fixed_length=params["fixed_generation_length"], show_progress=show_progress)
        scores = metric.compute(predictions=predictions, references=list(grouped["references"]),
                                task=task)
        train_trace = meter.trace("train")
        infer_trace = meter.trace("inference")
    finally:
        meter.close()
        shutil.rmtree(workdir, ignore_errors=True)

    train_m, steady_m = energy.measurements["train"], energy.measurements.get("steady")
    efficiency = _efficiency(train_m, steady_m, training, infer_m, len(predictions), generated)
    trace_stats = summarize_trace(train_trace)
    trace_stats["trace_points"] = trace_stats.pop("n_samples")
    efficiency |= {f"train_{k}": v for k, v in trace_stats.items()}
    return dict(
        accuracy_metric=headline,
        accuracy={**scores, "val_loss": float(val_loss)},
        efficiency=efficiency,
        energy_method=train_m.method,
        energy_reason=train_m.reason,
        train=training,
        inference={"samples": len(predictions), "batch_size": params["infer_batch_size"],
                   "max_new_tokens": params["max_new_tokens"], "generated_tokens": generated,
                   "examples": [{"input": grouped["input"][i][:400],
                                 "references": grouped["references"][i][:3],
                                 "prediction": predictions[i]}
                                for i in range(min(3, len(predictions)))]},
        model=describe_model(trainer.model, params["model"], params["init"], params["scale"]),
        data=describe_source(params["dataset"], params["source"])
        | {"train_rows": len(data["train"]), "validation_rows": len(data["validation"]),
           "validation_ids": len(grouped)},
        traces={"train": decimate(train_trace).to_dict("records"),
                "inference": decimate(infer_trace).to_dict("records")},
        env=describe_environment(),
    )


def _per(amount: float, per: float) -> float:
    """``amount / per``, NaN when ``per`` is zero or unmeasured (never a division error)."""
    return amount / per if per > 0 else math.nan


def _efficiency(train_m, steady_m, training: dict, infer_m, n_inferred: int,
                generated_tokens: int) -> dict:
    """The paper's efficiency measures, from the meter's windows.

    Training speed is samples trained per second over the whole run (HF Trainer's figure, which
    includes validations, as the paper's did); power efficiency is that speed per average watt;
    total training energy is the window's energy. The steady-state speed excludes warm-up steps.
    """
    train_speed = _per(training["samples_trained"], train_m.time_s)
    steady_samples = (training["steady_steps"] or 0) * training["effective_batch_size"]
    eff = {
        "train_time_s": train_m.time_s,
        "train_samples_per_s": train_speed,
        "train_energy_j": train_m.total_energy_j,
        "train_energy_kwh": train_m.total_energy_j / 3.6e6,
        "train_energy_idle_subtracted_j": train_m.idle_subtracted_energy_j,
        "train_avg_power_w": train_m.avg_power_w,
        "train_gpu_energy_j": train_m.total_gpu_energy_j,
        "train_cpu_energy_j": train_m.cpu_energy_j,
        "power_efficiency_samples_per_s_per_w": _per(train_speed, train_m.avg_power_w),
        # GPU alone: free of the CPU part, which may be an estimate.
        "gpu_power_efficiency_samples_per_s_per_w": _per(train_speed, train_m.avg_gpu_power_w),
        "steady_samples_per_s": _per(steady_samples, steady_m.time_s) if steady_m else math.nan,
        "infer_time_s": infer_m.time_s,
        "infer_samples_per_s": _per(n_inferred, infer_m.time_s),
        "infer_tokens_per_s": _per(generated_tokens, infer_m.time_s),
        "infer_energy_j": infer_m.total_energy_j,
        "infer_energy_per_sample_j": _per(infer_m.total_energy_j, n_inferred),
        "infer_avg_power_w": infer_m.avg_power_w,
    }
    return {k: float(v) if v is not None else math.nan for k, v in eff.items()}
