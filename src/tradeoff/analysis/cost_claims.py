"""The paper's findings that depend only on the architecture, tested on counted costs.

The verdicts of :mod:`tradeoff.analysis.claims` read run records; the ones here read the cost
model's reference rows (:mod:`tradeoff.records.reference`: FLOPs counted by ``FlopCounterMode``,
saved activations and the batch-fit memory model, written by :mod:`tradeoff.cost`) of the
paper's *full* architectures, and, for speed, measured run records of those architectures when
they exist. They use the same
:class:`~tradeoff.analysis.verdict.Verdict` and the same rules: a part tested over several
comparisons holds when at least 75% agree with the paper and does not hold at 25% or less;
missing rows make a verdict inconclusive, never an error. A chapter shows them beside the
verdicts of the runs, not mixed with them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..records.reference import (
    TRAIN_STATE_BYTES_PER_PARAM,
    CostReference,
    CostRow,
    cost_frame,
    max_batch,
)
from ..records.run import RunRecord
from ..tasks import GIB, MODELS
from .claims import BIGBIRD, LED_BASE, LED_LARGE, claim_5_speed_falls_with_length
from .hardware import matmul_precision, peak_rate
from .table import ok_rows
from .verdict import FAR_LONGER_RATIO, Verdict, pct, share_verdict

BATCH_STATEMENT = ("LED-base fits a larger batch than LED-large under the paper's 48 GB card "
                   "(finding 6's explanation of why LED-base wins on Qasper).")
COMPUTE_STATEMENT = ("BigBird-large trains far longer than LED-large at 4096 tokens (the paper: "
                     "about 4x): tested here as training compute per sample.")
SPEED_STATEMENT = ("Training and inference speed fall with input length; inference is faster "
                   "for the smaller model (finding 5, its speed parts).")
COUNTED = "Counted by the cost model (FlopCounterMode, saved-tensor hooks), not measured."


# Columns the verdicts read; an empty frame gets them so that no lookup raises.
_COLUMNS = ("model", "length", "target_length", "max_batch_48gb", "train_step_flops",
            "inference_flops")


def _frame(rows: Sequence[CostRow] | pd.DataFrame) -> pd.DataFrame:
    frame = rows if isinstance(rows, pd.DataFrame) else cost_frame(list(rows))
    missing = [c for c in _COLUMNS if c not in frame]
    return frame.assign(**{c: pd.Series(dtype=float) for c in missing}) if missing else frame


def _by_length(frame: pd.DataFrame, model: str, column: str) -> pd.Series:
    rows = frame[frame["model"] == model]
    return rows.set_index("length")[column].sort_index()


def batch_fit_verdict(rows: Sequence[CostRow] | pd.DataFrame) -> Verdict:
    """LED-base fits a larger batch than LED-large at 48 GB: compared at every common length.

    Test: at each input length with rows of both models, LED-base's largest batch under the
    48 GB memory model (``max_batch_48gb``) exceeds LED-large's; the part holds when at least
    75% of the lengths agree, does not hold at 25% or less. Both batches are upper bounds of the
    same memory model, whose unmodelled overheads (see ``tradeoff.records.reference.max_batch``)
    lower both.

    Args:
        rows: cost rows of one target length.

    Returns:
        The verdict (finding 6); numbers hold both batches per length.
    """
    frame = _frame(rows)
    if frame.empty:
        return Verdict(6, BATCH_STATEMENT, "inconclusive", "Missing data: no cost rows.", {})
    base = _by_length(frame, LED_BASE, "max_batch_48gb")
    large = _by_length(frame, LED_LARGE, "max_batch_48gb")
    common = base.index.intersection(large.index)
    if len(common) == 0:
        return Verdict(6, BATCH_STATEMENT, "inconclusive",
                       "Missing data: no input length with cost rows of both LED-base and "
                       "LED-large.", {})
    numbers: dict = {}
    larger = 0
    for length in common:
        numbers[f"led-base/{length}/max_batch_48gb"] = float(base[length])
        numbers[f"led-large/{length}/max_batch_48gb"] = float(large[length])
        larger += int(base[length] > large[length])
    numbers |= {"lengths": float(len(common)), "base_larger": float(larger)}
    target = int(frame["target_length"].iloc[0])
    pairs = ", ".join(f"{int(n)}: {int(base[n])} vs {int(large[n])}" for n in common)
    evidence = (f"{COUNTED} Largest batch under 48 GiB, LED-base vs LED-large, by input length "
                f"({target}-token targets): {pairs}. LED-base fits more in "
                f"{pct(larger, len(common))} of the lengths. Both are upper bounds of one "
                f"memory model (16 bytes a parameter for fp32 weights, gradients and AdamW, plus "
                f"saved activations and logits per sample); what it leaves out lowers both.")
    return Verdict(6, BATCH_STATEMENT, share_verdict(larger, len(common)), evidence, numbers)


def training_compute_verdict(rows: Sequence[CostRow] | pd.DataFrame,
                             length: int = 4096) -> Verdict:
    """BigBird-large's training FLOPs per sample over LED-large's at ``length``.

    Test: the ratio of counted training FLOPs per sample (forward + backward) holds at
    ``FAR_LONGER_RATIO`` (2, the threshold for "far longer" of finding 7 on runs) or more and
    does not hold below it (counts are exact: no zone of doubt). FLOPs are not time: a ratio
    below 2 says that compute per sample does not explain a much longer training, which must
    then come from throughput, batch or the number of steps.

    Args:
        rows: cost rows of one target length.
        length: the input length compared (the paper's 4096).

    Returns:
        The verdict (finding 7); numbers hold both counts, their ratio, and both largest
        batches at 48 GB.
    """
    frame = _frame(rows)
    statement = COMPUTE_STATEMENT.replace("4096", str(length))
    bigbird = frame[(frame["model"] == BIGBIRD) & (frame["length"] == length)]
    large = frame[(frame["model"] == LED_LARGE) & (frame["length"] == length)]
    if bigbird.empty or large.empty:
        return Verdict(7, statement, "inconclusive",
                       f"Missing data: no cost rows of both BigBird-large and LED-large at "
                       f"{length} tokens.", {})
    bb, led = bigbird.iloc[0], large.iloc[0]
    ratio = bb["train_step_flops"] / led["train_step_flops"]
    infer_ratio = bb["inference_flops"] / led["inference_flops"]
    # Counts are exact, so there is no zone of doubt between the two verdicts.
    verdict = "holds" if ratio >= FAR_LONGER_RATIO else "does not hold"
    evidence = (
        f"{COUNTED} These are FLOPs, not time. At {length} tokens ({int(bb['target_length'])}"
        f"-token targets) a BigBird-large training sample costs {ratio:.2f}x the FLOPs of a "
        f"LED-large one ({bb['train_step_flops'] / 1e12:.2f} vs "
        f"{led['train_step_flops'] / 1e12:.2f} TFLOP; inference {infer_ratio:.2f}x); "
        f"\"far longer\" is {FAR_LONGER_RATIO:g}x or more, and the paper reports about 4x the "
        f"training time. Compute per sample explains at most {ratio:.2f}x of it; the rest must "
        f"come from lower throughput (block-sparse attention gathers blocks and runs many small "
        f"matmuls; the counter sees only the matmuls), the smaller batch that fits "
        f"({int(bb['max_batch_48gb'])} vs {int(led['max_batch_48gb'])} at 48 GB), or more steps "
        f"to convergence. Measured step times decide which.")
    numbers = {"length": float(length), "bigbird_train_step_flops": float(bb["train_step_flops"]),
               "led_large_train_step_flops": float(led["train_step_flops"]),
               "train_flops_ratio": float(ratio), "inference_flops_ratio": float(infer_ratio),
               "bigbird_max_batch_48gb": float(bb["max_batch_48gb"]),
               "led_large_max_batch_48gb": float(led["max_batch_48gb"])}
    return Verdict(7, statement, verdict, evidence, numbers)


def speed_verdict(rows: Sequence[CostRow] | pd.DataFrame,
                  measured: pd.DataFrame | None = None) -> Verdict:
    """Finding 5's speed parts, from measured runs of the full architectures when there are any.

    Without measured runs (``measured`` None or without finished runs) the verdict is
    inconclusive: speed is time, and counted FLOPs are not. The evidence then gives what the
    counts predict (how FLOPs per sample grow with length, LED-base's inference FLOPs over
    LED-large's). With measured runs (the tidy table of the ``cpu-arch`` reference records),
    the test is :func:`tradeoff.analysis.claims.claim_5_speed_falls_with_length` on them.

    Args:
        rows: cost rows of one target length.
        measured: tidy table of measured runs of the full architectures, or None.

    Returns:
        The verdict (finding 5).
    """
    frame = _frame(rows)
    done = ok_rows(measured) if measured is not None and len(measured) else pd.DataFrame()
    if len(done):
        verdict = claim_5_speed_falls_with_length(done, "val_loss")
        return Verdict(5, SPEED_STATEMENT, verdict.verdict,
                       f"Measured on {len(done)} runs of the full architectures. "
                       + verdict.evidence, verdict.numbers)
    numbers: dict = {}
    growth = []
    for model in [m for m in (LED_BASE, LED_LARGE, BIGBIRD) if m in set(frame.get("model", []))]:
        train = _by_length(frame, model, "train_step_flops")
        infer = _by_length(frame, model, "inference_flops")
        if len(train) < 2:
            continue
        numbers[f"{model}/train_flops_growth"] = float(train.iloc[-1] / train.iloc[0])
        numbers[f"{model}/inference_flops_growth"] = float(infer.iloc[-1] / infer.iloc[0])
        growth.append(f"{model} x{train.iloc[-1] / train.iloc[0]:.2f} training, "
                      f"x{infer.iloc[-1] / infer.iloc[0]:.2f} inference "
                      f"({int(train.index[-1])} vs {int(train.index[0])} tokens)")
    base, large = (_by_length(frame, m, "inference_flops") for m in (LED_BASE, LED_LARGE))
    common = base.index.intersection(large.index)
    ratios = (base[common] / large[common]).to_numpy(float) if len(common) else np.array([])
    if len(ratios):
        numbers["inference_flops_base_over_large_min"] = float(ratios.min())
        numbers["inference_flops_base_over_large_max"] = float(ratios.max())
    sentences = [("Inconclusive: speed needs measured times of the full architectures, and "
                  "there are none yet (the cpu-arch profile's reference records).")]
    if growth:
        sentences.append("What the counts predict, which is not speed: FLOPs per sample grow "
                         "with the input, " + "; ".join(growth) + ".")
    if len(ratios):
        span = (f"{ratios.min():.2f}" if f"{ratios.min():.2f}" == f"{ratios.max():.2f}"
                else f"{ratios.min():.2f}-{ratios.max():.2f}")
        sentences.append(f"LED-base's inference costs {span}x the FLOPs of LED-large's at the "
                         f"same length.")
    sentences.append("Whether time follows FLOPs depends on how fast each architecture's "
                     "kernels run on the hardware, which counts cannot tell.")
    return Verdict(5, SPEED_STATEMENT, "inconclusive", " ".join(sentences), numbers)


PAPER_ARCHITECTURES = (LED_BASE, LED_LARGE, BIGBIRD)


def architecture_verdicts(rows: Sequence[CostRow] | pd.DataFrame,
                          measured: pd.DataFrame | None = None,
                          speed: pd.DataFrame | None = None) -> list[Verdict]:
    """The architecture-only findings: batch fit (6), training compute (7), speed (5), and with
    measured runs (``speed``: :func:`measured_speed`) training time per step (7, measured).

    The findings are the paper's, about its three architectures: measured runs of others (the
    published configurations' BART-base, say) are left out of ``measured`` and ``speed``.
    """
    measured, speed = (paper_architectures(f) for f in (measured, speed))
    verdicts = [batch_fit_verdict(rows), training_compute_verdict(rows),
                speed_verdict(rows, measured)]
    return verdicts + ([measured_training_time_verdict(speed)] if speed is not None else [])


def paper_architectures(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows of the paper's three architectures (None stays None)."""
    if frame is None or "model" not in frame:
        return frame
    return frame[frame["model"].isin(PAPER_ARCHITECTURES)]


# ----------------------------------------------------------------- measured runs of the archs

SPEED_COLUMNS = ("model", "length", "target_length", "generated_tokens", "timed_steps",
                 "step_s_median", "step_s_min", "step_s_max", "infer_s_per_sample",
                 "train_flops_per_step", "achieved_train_gflops", "inference_flops",
                 "achieved_infer_gflops", "peak_rss_gib", "load_average_5m", "hardware",
                 # Knob, batch and memory against the memory model; the steady window's
                 # throughput and its share of the GPU's peak (NaN on a CPU).
                 "variant", "batch_size", "predicted_max_batch", "max_memory_allocated_gib",
                 "predicted_memory_gib", "steady_samples_per_s", "achieved_steady_gflops",
                 "precision", "peak_tflops", "peak_name", "mfu")


def measured_speed(records: Sequence[RunRecord], reference: CostReference,
                   order: Sequence[str] = MODELS) -> pd.DataFrame:
    """Measured time of the full architectures beside their counted FLOPs, one row per run.

    A finished run (``status`` ok) gives its timed training steps (``train.step_times_s``
    after the ``measure_after_steps`` warm-up steps: median, min and max seconds), its
    inference seconds per sample, the process's peak resident memory in training (sampled by
    the energy meter's trace), and the achieved FLOP/s: counted FLOPs of the same model,
    input length, target length and generated tokens (a row of ``reference``) over the
    measured median time. Without such a row the FLOP/s are NaN, never guessed.

    On a GPU also: the batch the finder settled on beside the memory model's largest batch
    under the run's memory cap, the allocator's peak (``torch.cuda.max_memory_allocated``)
    beside the memory model's bytes at that batch (16 bytes a parameter plus the counted bytes
    per sample; predicted only for the knob ``none`` at the counted dropout), and the model
    FLOPs utilization: counted FLOPs per sample x the steady window's samples/s (its edges
    synchronise the GPU, where a step's own clock may not) over the card's dense peak for the
    precision the matmuls ran in (:mod:`tradeoff.analysis.hardware`).

    Args:
        records: run records (:class:`tradeoff.records.RunRecord`) of the full architectures.
        reference: the cost reference (:class:`tradeoff.records.reference.CostReference`).
        order: the models' order in the frame (the chapters pass the presets'); models not in
            it follow, by name.

    Returns:
        A frame with ``SPEED_COLUMNS``, sorted by model (``order``), length and knob (``none``
        first).
    """
    rows = []
    for record in records:
        if record.status != "ok":
            continue
        p = record.params
        steps = np.asarray(record.train.step_times_s[p.measure_after_steps:], float)
        samples = max(record.inference.samples or 0, 1)
        generated = (record.inference.generated_tokens or 0) // samples
        counted = [r for r in reference.select(p.max_target_length, [p.model], [p.length])
                   if r.generated_tokens == generated]
        per_step = (p.batch_size if record.train.effective_batch_size is None
                    else record.train.effective_batch_size)
        train_flops = counted[0].train_step_flops * per_step if counted else np.nan
        infer_flops = counted[0].inference_flops if counted else np.nan
        median, fastest, slowest = ((float(np.median(steps)), float(steps.min()),
                                     float(steps.max())) if len(steps) else (np.nan,) * 3)
        infer_s = record.efficiency.infer_time_s / samples
        load = record.env.load_average or [np.nan] * 3
        batch = np.nan if record.train.batch_size is None else record.train.batch_size
        # The memory model holds for the paper's setting at the dropout it was counted with.
        modelled = (counted[0] if counted and p.variant == "none"
                    and counted[0].dropout == p.dropout else None)
        predicted_batch = (max_batch(TRAIN_STATE_BYTES_PER_PARAM * modelled.params,
                                     modelled.memory_per_sample_bytes, p.gpu_memory_gb)
                           if modelled and p.gpu_memory_gb else np.nan)
        predicted_memory = ((TRAIN_STATE_BYTES_PER_PARAM * modelled.params
                             + batch * modelled.memory_per_sample_bytes) / GIB
                            if modelled and np.isfinite(batch) else np.nan)
        steady = record.efficiency.steady_samples_per_s
        steady_gflops = (counted[0].train_step_flops * steady / 1e9
                         if counted and steady is not None else np.nan)
        precision = matmul_precision(p.variant, p.tf32)
        peak = peak_rate(record.env.gpu, precision) if record.env.gpu_count else None
        rows.append([p.model, p.length, p.max_target_length, generated, len(steps), median,
                     fastest, slowest, infer_s, train_flops,
                     train_flops / median / 1e9, infer_flops, infer_flops / infer_s / 1e9,
                     _gib(record.efficiency.train_rss_peak_mib), load[1],
                     record.env.hardware, p.variant, batch, predicted_batch,
                     _number(record.train.max_memory_allocated_gib), predicted_memory,
                     _number(steady), steady_gflops, precision,
                     peak.tflops if peak else np.nan, peak.name if peak else "",
                     steady_gflops / (peak.tflops * 1e3) if peak else np.nan])
    frame = pd.DataFrame(rows, columns=list(SPEED_COLUMNS))
    return frame.sort_values(["model", "length", "variant"], key=_sort_key(order)
                             ).reset_index(drop=True)


def _number(value) -> float:
    return float(value) if value is not None else np.nan


def _gib(mib: float | None) -> float:
    return mib / 1024 if mib is not None else np.nan


def _sort_key(order: Sequence[str]):
    """Models in ``order`` (others after it, by name); the paper's setting before the knobs."""
    rank = {name: i for i, name in enumerate(order)}

    def key(column: pd.Series) -> pd.Series:
        if column.name == "model":
            return column.map(lambda v: f"{rank.get(v, len(rank)):04d} {v}")
        if column.name == "variant":
            return column.map(lambda v: "" if v == "none" else v)
        return column

    return key


def measured_training_time_verdict(speed: pd.DataFrame, length: int | None = None) -> Verdict:
    """BigBird-large's measured time per training step over LED-large's at ``length``: by
    default the paper's 4096 tokens, else the longest length both finished (the evidence says
    which, and why).

    The same batch (the runs' own, 1 on a CPU) and the same steps, so the ratio is time per
    sample; the paper's ~4x is total training time, which also counts the batch that fits and
    the steps to convergence. The verdict reads the ratio's range over the timed steps (BigBird's
    fastest over LED-large's slowest, and the reverse): it holds when even the lowest is
    ``FAR_LONGER_RATIO`` (2) or more, does not hold when even the highest is below 1.5, and is
    inconclusive otherwise.
    """
    statement = ("BigBird-large trains far longer than LED-large at 4096 tokens (the paper: about "
                 "4x): tested as measured time per training step.")
    both = (sorted(set(speed[speed["model"] == BIGBIRD]["length"])
                   & set(speed[speed["model"] == LED_LARGE]["length"])) if len(speed) else [])
    if length is None:
        length = 4096 if 4096 in both or not both else int(both[-1])
    at = speed[speed["length"] == length].set_index("model") if len(speed) else speed
    if len(at) == 0 or BIGBIRD not in at.index or LED_LARGE not in at.index:
        return Verdict(7, statement, "inconclusive",
                       f"Missing data: no finished measured runs of both BigBird-large and "
                       f"LED-large at {length} tokens.", {})
    where = ("" if length == 4096 else
             f"Tested at {length} tokens, the longest input both finished on this machine (at "
             f"4096 at least one did not fit in its memory). ")
    bb, led = at.loc[BIGBIRD], at.loc[LED_LARGE]
    ratio = bb["step_s_median"] / led["step_s_median"]
    low, high = bb["step_s_min"] / led["step_s_max"], bb["step_s_max"] / led["step_s_min"]
    verdict = ("holds" if low >= FAR_LONGER_RATIO else "does not hold" if high < 1.5
               else "inconclusive")
    evidence = (where + f"Measured ({bb['hardware']}), random weights, batch 1: a BigBird-large step "
                f"takes {ratio:.2f}x a LED-large one at {length} tokens (median "
                f"{bb['step_s_median']:.0f} s vs {led['step_s_median']:.0f} s; {low:.2f}-"
                f"{high:.2f}x over the timed steps' min-max). \"Far longer\" is "
                f"{FAR_LONGER_RATIO:g}x or more. Per-step time on a CPU, not the paper's GPU "
                f"training time.")
    return Verdict(7, statement, verdict, evidence,
                   {"length": float(length), "step_time_ratio": float(ratio),
                    "step_time_ratio_low": float(low), "step_time_ratio_high": float(high)})
