"""The knobs chapter: each efficiency knob against the same cell without it, on the paper's axes.

Three sources, each shown apart with what it is:

* **runs** of the ``knobs`` profile (mini models, a few steps, on a CPU; committed under
  ``reference/knobs/``): every knob's ratio to the same (dataset, model, length) without it, for
  the accuracy signal, training energy, power efficiency and training and inference speed, with
  what the knob changed in the model as its record says (:func:`effects`), drawn one panel
  per quantity (:func:`effects_figure`) above the table;
* **counted memory** of the paper's full architectures with the memory knobs
  (:mod:`tradeoff.cost.knob_memory`): bytes per sample and the largest batch (:func:`memory_table`);
* **measured speed** of two knobs on the full architectures on this CPU
  (``benchmarks/knob_speed.py``): int8 inference and bf16 training against fp32 (:func:`speed_table`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..tasks import GIB
from ..analysis.table import configurations
from ..config import REPO_ROOT
from ..knobs import KNOBS, NO_KNOB, knob
from ..records import (
    ENERGY_KWH,
    INFER_SPEED,
    POWER_EFFICIENCY,
    TRAIN_SPEED,
    KnobInfo,
    RunRecord,
)
from ..records.reference import load_memory_reference, load_speed_reference
from .chapter import Chapter, open_chapter
from ..numbers import column_unit, fmt
from .style import MODEL_COLORS, MODEL_LABELS, MODEL_MARKERS, new_figure, no_data, signal_label

KNOBS_DIR = REPO_ROOT / "reference" / "knobs"
# The efficiency axes of the paper, as knob / none ratios: column, words.
AXES = ((ENERGY_KWH, "training energy"), (POWER_EFFICIENCY, "power efficiency"),
        (TRAIN_SPEED, "training speed"), (INFER_SPEED, "inference speed"))
_GROUP = ["dataset", "model", "length"]


@dataclass(frozen=True)
class KnobsView:
    """What the knobs chapter shows: the knob runs, and the full architectures' counts and
    measured speed (empty frames where none are committed)."""

    runs: Chapter
    memory: pd.DataFrame
    speed: pd.DataFrame


def open_knobs(*, profile: str, results_dir: str) -> KnobsView:
    """Check the chapter's parameters (one line when wrong) and load its three sources."""
    return KnobsView(open_chapter(profile=profile, results_dir=results_dir),
                     load_memory_reference(), load_speed_reference())


def _took_effect(record: RunRecord) -> str:
    """What the record says the knob changed in the model, in words."""
    knob_info = record.model.knob or KnobInfo()
    train, infer = knob_info.training, knob_info.inference
    variant = record.params.variant
    total = record.model.parameters or math.nan
    if variant in ("bf16", "fp16"):
        return (f"logits in {', '.join(train.logits_dtype) or '?'} (training), "
                f"{', '.join(infer.logits_dtype) or '?'} (inference)")
    if variant == "int8-dynamic":
        return f"{infer.int8_linear_layers or 0} Linear layers int8 at inference"
    if variant == "lora":
        trainable = train.trainable_parameters or 0
        return (f"{fmt(trainable, 'count')} trainable parameters "
                f"({fmt(trainable / total, 'percent', digits=2)} "
                f"of {fmt(total, 'count')})")
    if variant == "student":
        return f"{'?' if train.decoder_layers is None else train.decoder_layers} decoder layers"
    if variant.startswith("pruned-"):
        sparsity = 0 if infer.linear_weight_sparsity is None else infer.linear_weight_sparsity
        return f"Linear weight sparsity {fmt(sparsity, 'percent')}"
    if variant == "grad-checkpointing":
        return "activations recomputed in backward"
    return ""


def effects(view: KnobsView) -> pd.DataFrame:
    """Each knob's effect on each axis, as a ratio to the same configuration without it.

    Returns:
        Columns dataset, model, length, variant; ``signal`` (the knob's accuracy signal) and
        ``signal_change`` (minus the reference's, in the signal's units); one ``<axis>_ratio``
        per efficiency axis (knob over none: above 1 is more energy, or faster); and
        ``took_effect``. Configurations whose ``none`` run is missing have no row.
    """
    signal = view.runs.signal
    configs = configurations(view.runs.frame, signal, main=False, knobs=True)
    columns = [*_GROUP, "variant", "signal", "signal_change",
               *[f"{c}_ratio" for c, _ in AXES], "took_effect"]
    proof = {(r.params.dataset, r.params.model, r.params.length, r.params.variant):
             _took_effect(r) for r in view.runs.records if r.status == "ok"}
    rows = []
    for key, group in configs.groupby(_GROUP):
        base = group[group["variant"] == NO_KNOB]
        if base.empty:
            continue
        base = base.iloc[0]
        for _, row in group[group["variant"] != NO_KNOB].iterrows():
            rows.append([*key, row["variant"], row["value"], row["value"] - base["value"],
                         *[row[c] / base[c] if base[c] else math.nan for c, _ in AXES],
                         proof.get((*key, row["variant"]), "")])
    return pd.DataFrame(rows, columns=columns)


def effects_table(table: pd.DataFrame, signal: str) -> pd.DataFrame:
    """:func:`effects` with worded headers and the knobs in words."""
    words = {"val_loss": "validation loss", "headline": "task score",
             "teacher_forced": "teacher-forced score"}[signal]
    out = table.copy()
    out["model"] = out["model"].map(lambda m: MODEL_LABELS.get(m, m))
    out = out.rename(columns={
        "length": "length (tokens)", "variant": "knob", "signal": words,
        "signal_change": f"{words}: knob - none",
        **{f"{c}_ratio": f"{w} (knob / none)" for c, w in AXES},
        "took_effect": "what the record says it changed"}).drop(columns=["dataset"])
    out.attrs["kinds"] = {f"{w} (knob / none)": "ratio" for _, w in AXES}
    return out


def effects_figure(table: pd.DataFrame, signal: str) -> Figure:
    """Each knob against the same model and length without it, one panel per quantity.

    Four panels of ratios, knob / none on a log axis with a line at 1 (training energy, power
    efficiency, training and inference speed), and one of the accuracy signal's change, knob -
    none with a line at 0: one marker per knob, model and length (hollow: the shortest length;
    filled: the longest). The panels share the knobs' axis; the sixth place holds the legend.

    Args:
        table: :func:`effects`.
        signal: the accuracy signal of its ``signal_change`` (e.g. ``"val_loss"``).

    Returns:
        A Figure of two rows of three; every panel says "no knob runs" when the table is empty.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = new_figure(ncols=3, nrows=2, width=3.4, height=3.4)
    *panels, legend_place = axes.flat
    legend_place.axis("off")
    for ax in panels[1:]:
        ax.sharey(panels[0])
    for ax in (panels[1], panels[2], panels[4]):  # the knobs are named in the first column
        ax.tick_params(labelleft=False)
    quantities = [(f"{column}_ratio", f"{words}\n(knob / none)") for column, words in AXES]
    quantities.append(("signal_change", "accuracy signal\n(knob - none)"))
    knobs = list(dict.fromkeys(table["variant"])) if len(table) else []
    lengths = sorted(table["length"].unique()) if len(table) else []
    for ax, (column, title) in zip(panels, quantities):
        ax.set_title(title)
        if not knobs:
            no_data(ax, "no knob runs")
            continue
        for (model, length), rows in table.groupby(["model", "length"]):
            y = [knobs.index(v) + 0.15 * (lengths.index(length) - (len(lengths) - 1) / 2)
                 for v in rows["variant"]]
            filled = length == lengths[-1]
            ax.scatter(rows[column], y, marker=MODEL_MARKERS.get(model, "o"),
                       s=28, edgecolors=MODEL_COLORS.get(model, "grey"),
                       facecolors=MODEL_COLORS.get(model, "grey") if filled else "none",
                       label=f"{MODEL_LABELS.get(model, model)}, {length}")
        values = table[column].replace([np.inf, -np.inf], np.nan).dropna()
        if column == "signal_change":
            ax.axvline(0.0, color="black", linewidth=0.8, gid="no change (knob = none)")
            reach = float(values.abs().max()) * 1.15 if len(values) else 0.0
            ax.set_xlim(-(reach or 1.0), reach or 1.0)
            ax.set_xlabel(signal_label(signal))
            continue
        ax.axvline(1.0, color="black", linewidth=0.8, gid="no change (knob = none)")
        ax.set_xscale("log")
        if len(values):  # symmetric about 1 on the log axis, at least 0.5x to 2x
            reach = max(2.0, float(np.exp(np.abs(np.log(values[values > 0])).max())) * 1.15)
            ax.set_xlim(1 / reach, reach)
        ax.xaxis.set_major_locator(LogLocator(base=2))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("ratio (log scale)")
    if knobs:
        panels[0].set_yticks(range(len(knobs)), knobs)
        panels[0].invert_yaxis()
        legend_place.legend(*panels[0].get_legend_handles_labels(), loc="center left",
                            title="model, tokens", frameon=False)
    return fig


def memory_table(memory: pd.DataFrame) -> pd.DataFrame:
    """Counted training memory of the full architectures per knob, with the batch that fits."""
    if memory.empty:
        return pd.DataFrame()
    base = memory[memory["variant"] == NO_KNOB].set_index(["model", "length"])
    out = pd.DataFrame({
        "model": memory["model"].map(lambda m: MODEL_LABELS.get(m, m)),
        "length (tokens)": memory["length"], "knob": memory["variant"],
        "memory per sample (GiB)": memory["memory_per_sample_bytes"] / GIB,
        "per sample (knob / none)": [
            row.memory_per_sample_bytes / base.loc[(row.model, row.length),
                                                   "memory_per_sample_bytes"]
            for row in memory.itertuples()],
        "training state (GiB)": memory["state_bytes"] / GIB,
        "trainable parameters": memory["trainable_parameters"],
        "largest batch, 48 GB": memory["max_batch_48gb"],
        "largest batch, 80 GB": memory["max_batch_80gb"],
    })
    out.attrs["kinds"] = {"per sample (knob / none)": "ratio", "trainable parameters": "count"}
    return out


def speed_table(speed: pd.DataFrame) -> pd.DataFrame:
    """Measured knob-vs-fp32 times of the full architectures, with each arm's spread."""
    if speed.empty:
        return pd.DataFrame()

    # Both arms in one unit, so that a row compares at a glance.
    unit, _ = column_unit([t for times in (*speed["baseline_s"], *speed["variant_s"])
                           for t in times], "time")

    def spread(times) -> str:
        return f"{fmt(min(times), 'time', shown=unit)} - {fmt(max(times), 'time', shown=unit)}"

    table = pd.DataFrame({
        "model": speed["model"].map(lambda m: MODEL_LABELS.get(m, m)),
        "length (tokens)": speed["length"],
        "what": [f"greedy generation of {r.new_tokens} tokens" if r.kind == "inference"
                 else f"one AdamW step, {r.target_length}-token target"
                 for r in speed.itertuples()],
        "knob": speed["variant"],
        "fp32 median (s)": [statistics.median(t) for t in speed["baseline_s"]],
        "knob median (s)": [statistics.median(t) for t in speed["variant_s"]],
        "time ratio (knob / fp32)": speed["ratio"],
        "fp32 range": [spread(t) for t in speed["baseline_s"]],
        "knob range": [spread(t) for t in speed["variant_s"]],
        "repeats": [len(t) for t in speed["variant_s"]],
        "load average (start-end)": [
            "-".join(fmt(v) for v in load) if isinstance(load, list) and load
            else "not recorded" for load in speed["load_average"]],
    })
    table.attrs["kinds"] = {"time ratio (knob / fp32)": "ratio"}
    table.attrs["units"] = {"fp32 median (s)": unit, "knob median (s)": unit}
    return table


def knob_list() -> pd.DataFrame:
    """Every knob the grid takes, with what it does and where it acts."""
    rows = [(k.name, k.summary, k.acts_on) for k in KNOBS.values()]
    pruned = knob("pruned-50")
    rows.append(("pruned-N", pruned.summary.replace("50%", "N%"), pruned.acts_on))
    return pd.DataFrame(rows, columns=["knob", "what it does", "acts on"])


def glue_texts(view: KnobsView, table: pd.DataFrame) -> dict[str, str]:
    """The numbers the prose quotes, each read from the tables above it."""
    texts = {}
    signal_words = {"val_loss": "teacher-forced validation loss",
                    "headline": "task score", "teacher_forced": "teacher-forced task score"}
    texts["knobs_signal"] = signal_words[view.runs.signal]

    def ratio_range(variant: str, column: str) -> str:
        values = table.loc[table["variant"] == variant, f"{column}_ratio"].dropna()
        if values.empty:
            return "not measured"
        low, high = values.min(), values.max()
        if math.isclose(low, high, rel_tol=0.05):
            return fmt(low, "ratio", digits=2)
        return f"{fmt(low, 'ratio', digits=2)} to {fmt(high, 'ratio', digits=2)}"

    for variant in ("bf16", "grad-checkpointing", "int8-dynamic", "student", "lora"):
        key = variant.replace("-", "_")
        texts[f"knobs_{key}_train"] = ratio_range(variant, TRAIN_SPEED)
        texts[f"knobs_{key}_infer"] = ratio_range(variant, INFER_SPEED)
    pruned = sorted(v for v in table["variant"].unique() if v.startswith("pruned-")) \
        if len(table) else []
    texts["knobs_pruned"] = pruned[0] if pruned else "pruned-N"
    texts["knobs_pruned_infer"] = ratio_range(pruned[0], INFER_SPEED) if pruned else "not measured"

    # The batch that fits 48 GB at the longest counted length: none -> knob, per model.
    memory = view.memory
    longest = int(memory["length"].max()) if len(memory) else 4096
    batches = (memory[memory["length"] == longest]
               .pivot_table(index="model", columns="variant", values="max_batch_48gb", sort=False)
               if len(memory) else pd.DataFrame())
    for variant in ("grad-checkpointing", "bf16", "lora"):
        pairs = batches[[NO_KNOB, variant]].dropna() if {NO_KNOB, variant} <= set(batches) \
            else pd.DataFrame()
        texts[f"knobs_mem_{variant.replace('-', '_')}"] = "; ".join(
            f"{MODEL_LABELS.get(m, m)} {int(r[NO_KNOB])} -> {int(r[variant])}"
            for m, r in pairs.iterrows()) or "not counted"
    texts["knobs_mem_length"] = str(longest)

    speed = view.speed
    for kind in ("inference", "train"):
        rows = speed[speed["kind"] == kind] if len(speed) else speed
        texts[f"knobs_speed_{kind}"] = "; ".join(
            f"{MODEL_LABELS.get(r.model, r.model)} at {r.length}: {fmt(r.ratio, 'ratio')}"
            for r in rows.itertuples()) or "not measured yet"
    return texts



def takeaway_text(view: KnobsView, table: pd.DataFrame) -> str:
    """What the knobs chapter found: the counted batch each memory knob buys on the full
    architectures, and what the measured ratios of the mini runs can and cannot say."""
    texts = glue_texts(view, table)
    counted = (f"Counted on the paper's full architectures at {texts['knobs_mem_length']} "
               f"tokens, the largest batch on its 48 GB card goes, from no knob to gradient "
               f"checkpointing, {texts['knobs_mem_grad_checkpointing']}; to bf16 autocast, "
               f"{texts['knobs_mem_bf16']}; to LoRA, {texts['knobs_mem_lora']} (upper bounds).")
    return (f"{counted} The runs of every knob are mini random-init models on this CPU: their "
            f"ratios show that each knob takes effect (the table's last column), not what it "
            f"buys on a GPU. Int8 dynamic quantization leaves training untouched, so its "
            f"training-speed ratios, {texts['knobs_int8_dynamic_train']}, are this machine's "
            f"noise at that scale.")
