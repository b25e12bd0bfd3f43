"""Where every number of the book comes from, written once.

The chapter banner (:func:`banner`), the line under each lab figure (:func:`figure_provenance`),
the lab page's header (:func:`lab_provenance`) and the announcement bar of every page
(:func:`book_banner`) all say the same things (profile, data, weights, hardware, energy method)
through the phrases defined here, so no page can describe a run differently from another.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from IPython.display import Markdown

from ..analysis.table import accuracy_signal, ok_rows
from ..config import REPO_ROOT, load_profile, Profile
from ..errors import ConfigError
from ..numbers import fmt
from ..records.reference import (
    DEPTHS_NOTE,
    FLOPS_NOTE,
    MEMORY_ERROR_SOURCES,
    SAVED_BYTES_NOTE,
    TRAIN_STATE_BYTES_PER_PARAM,
)
from ..tasks import DATASET_LABELS

if TYPE_CHECKING:
    from ..records import RunRecord


ENERGY_METHOD_TEXT = {
    "nvml-counter": "measured: NVML GPU energy counter",
    "nvml-sampled": "GPU power sampled through NVML and integrated over time",
    "rapl": "measured: RAPL CPU package and DRAM counters",
    "cpu-time-estimate": "estimated from CPU time: process CPU time x {w:g} W per busy core "
                         "(assumed)",
    "none": "not measured",
}


# Short phrases for one-line provenance (figure footers, the page announcement).
DATA_SHORT = {"aclsum": "ACLSum stand-ins, not SCROLLS", "scrolls": "SCROLLS"}
ENERGY_SHORT = {"nvml-counter": "NVML energy counter", "nvml-sampled": "NVML power samples",
                "rapl": "RAPL counters", "cpu-time-estimate": "estimated from CPU time",
                "none": "not measured"}


def short_parts(source: str, init: str, scale: str, methods, hardware: str | None = None
                ) -> list[str]:
    """The one-line provenance phrases: data, weights, hardware (when known), energy methods."""
    parts = [f"data: {DATA_SHORT.get(source, source)}", f"weights: {init} init ({scale} scale)"]
    if hardware:
        parts.append(f"hardware: {hardware}")
    if methods:
        parts.append(f"energy: {', '.join(sorted(set(methods)))}")
    return parts


def figure_provenance(records: list[RunRecord]) -> str:
    """The line under a lab figure: profile, data, weights, hardware, energy method."""
    done = [r for r in records if r.status == "ok"] or list(records)
    if not done:
        return "no records"
    r = done[0]
    parts = short_parts(r.params.source, r.params.init, r.params.scale,
                        [x.energy_method for x in done], r.env.hardware if r.env.recorded else None)
    return " | ".join([f"profile {r.profile}", *parts])


def lab_provenance(profile: Profile, dataset: str, model: str, records: list[RunRecord]) -> str:
    """The header of a lab page: its group, profile, records, and what its cells ran on."""
    lines = [f"group: {dataset} x {model}", f"profile: {profile.name} ({profile.description})",
             f"records: {profile.results_path}"]
    ok = [r for r in records if r.status == "ok"] or list(records)
    if ok:
        r = ok[0]
        if r.data.recorded:
            lines.append(f"data: {r.params.source} - {r.data.description}")
        if r.model.recorded:
            parameters = "?" if r.model.parameters is None else r.model.parameters
            lines.append(f"weights: {r.params.init} init, {r.params.scale} scale "
                         f"({r.model.checkpoint}), {parameters} parameters")
        if r.env.recorded:
            commit = "?" if r.env.git_commit is None else r.env.git_commit
            lines.append(f"hardware: {r.env.hardware}; git {commit}")
        lines.append(f"energy method: {energy_method_text(r.energy_method, r.params.cpu_watts_per_core)}")
    return "\n".join(lines)


def book_banner(profile: Profile, paths: list[Path]) -> str:
    """The announcement shown on every page: whose runs the book shows, and that the other
    evidence (published scores, counts, committed reference measurements) is labelled where
    it appears, so that no page is taken for the profile's runs that does not show them.

    The runs' data, weights and energy method(s) (in words, from the finished runs' records)
    follow the profile's name.
    """
    from ..errors import RecordError
    from ..records import load_record

    methods = set()
    for path in paths:
        try:
            record = load_record(path)
        except (OSError, RecordError):
            continue
        if record.status == "ok":
            methods.update(ENERGY_SHORT.get(m, m) for m in record.energy_method.split("+"))
    text = f"This book's own runs: profile <b>{profile.name}</b>"
    if profile.description:
        text += f" ({profile.description})"
    parts = short_parts(profile.source, profile.init, profile.scale, methods)
    return (f"{text} &middot; " + " &middot; ".join(parts) + ". Published scores, counted "
            "costs and committed reference measurements are labelled where they appear.")


def ceiling_provenance(ceilings: pd.DataFrame) -> str:
    """Where the ceilings and baselines of a table come from, in one paragraph.

    Args:
        ceilings: rows of :func:`tradeoff.analysis.table.tidy_ceilings` (one or more datasets).

    Returns:
        What they are (properties of the data and of simple methods, not of LED or BigBird),
        the data (stand-ins named as such), examples, tokenizer, where the CPU time was
        measured and how the energy was estimated; a note when there are no records. Plain
        text (no Markdown), for ``glue``.
    """
    if ceilings.empty:
        where = ceilings.attrs.get("results_dir")
        return (f"No ceiling records{f' in {where}' if where else ''}: the book computes them "
                f"before the chapters (python -m tradeoff book).")
    sources = "; ".join(DATA_SHORT.get(s, s) for s in unique_values(ceilings, "source"))
    counts = ceilings.groupby("dataset", sort=False)[["n_samples", "n_available"]].first()
    examples = ", ".join(
        (f"{DATASET_LABELS.get(d, d)} " if len(counts) > 1 else "") + f"{int(n)} of {int(a)}"
        for d, (n, a) in zip(counts.index, counts.to_numpy()))
    tokenizers = ", ".join(unique_values(ceilings, "tokenizer"))
    hardware = "; ".join(unique_values(ceilings, "hardware")) or "unknown"
    watts = unique_values(ceilings, "cpu_watts_per_core")
    energy = energy_method_text("cpu-time-estimate", float(watts[0]) if watts else 10.0)
    return (f"These are properties of the data and of simple methods that read the truncated "
            f"input, not of LED or BigBird. Data: {sources}; {examples} validation examples "
            f"(seeded sample, the same at every length); tokens counted by {tokenizers}. CPU "
            f"time measured ({hardware}); energy {energy}.")


def energy_method_text(method: str, watts_per_core: float = 10.0) -> str:
    """A record's ``energy_method`` in words (parts joined by "+" are explained one by one)."""
    parts = [ENERGY_METHOD_TEXT.get(p, p).format(w=watts_per_core) for p in method.split("+")]
    return "; ".join(parts)


def estimated(rows: pd.DataFrame) -> bool:
    methods = set(rows.get("energy_method", pd.Series(dtype=object)).dropna())
    return any("cpu-time-estimate" in m for m in methods)


def energy_note(rows: pd.DataFrame) -> str:
    """Suffix for energy / power axis labels when the energy was estimated, not measured."""
    methods = set(rows.get("energy_method", pd.Series(dtype=object)).dropna())
    if not methods:
        return ""
    if all(m == "cpu-time-estimate" for m in methods):
        return "\n(estimated from CPU time, not measured)"
    if estimated(rows):
        return "\n(partly estimated from CPU time)"
    return ""


def resolve_profile(profile: Profile | str | None) -> Profile | None:
    if profile is None or isinstance(profile, Profile):
        return profile
    try:
        return load_profile(profile)
    except ConfigError:
        return None


def unique_values(rows: pd.DataFrame, column: str) -> list:
    if column not in rows:
        return []
    return list(dict.fromkeys(v for v in rows[column] if v is not None and v == v))


def banner(profile: Profile | str | None, frame: pd.DataFrame) -> Markdown:
    """The provenance banner every chapter opens with, as a MyST admonition.

    It says where the numbers come from, read from the records (falling back to the profile):
    profile, records, data source, weights, hardware, energy method and accuracy signal. Demo
    runs (stand-in data, random or mini weights, estimated energy, CPU) get a warning box, so a
    reader never mistakes a demo figure for the paper's. Give the notebook cell the metadata
    ``{"mystnb": {"markdown_format": "myst"}}`` so the book renders the admonition.

    Args:
        profile: the profile (or its name) whose records are shown.
        frame: the tidy table (:func:`tradeoff.analysis.table.tidy`).

    Returns:
        An ``IPython.display.Markdown``; its ``.data`` is the MyST text.
    """
    prof = resolve_profile(profile)
    name = prof.name if prof else str(profile)
    rows = frame
    ok = ok_rows(rows)
    basis = ok if len(ok) else rows

    lines = []
    description = f" - {prof.description}" if prof and prof.description else ""
    lines.append(f"**Profile:** `{name}`{description}")
    n = len(rows)
    where = rows.attrs.get("results_dir")
    where = f" in `{where}`" if where else ""
    if n == 0:
        lines.append(f"**Records:** none found{where}; the figures below are empty. Run the "
                     f"grid first (`tradeoff grid --profile {name}`).")
    else:
        statuses = rows["status"].value_counts()
        counts = ", ".join(f"{statuses[s]} {s}" for s in ("ok", "oom", "failed") if s in statuses)
        lines.append(f"**Records:** {n} runs{where} ({counts})")
        others = [p for p in unique_values(rows, "record_profile") if p != name]
        if others:
            lines.append(f"**Note:** some records were written by profile(s) "
                         f"{', '.join(f'`{p}`' for p in others)}, not `{name}`.")

    sources = unique_values(basis, "source") or ([prof.source] if prof else [])
    data = []
    for source in sources:
        if source == "aclsum":
            data.append("ACLSum stand-ins built from 250 ACL papers - **not the SCROLLS data**")
        elif source == "scrolls":
            data.append("SCROLLS (official train and validation splits)")
        else:
            data.append(str(source))
    lines.append(f"**Data:** {'; '.join(data) or 'unknown'}")

    inits = unique_values(basis, "init") or ([prof.init] if prof else [])
    scales = unique_values(basis, "scale") or ([prof.scale] if prof else [])
    weights = []
    for init in inits:
        weights.append("pretrained checkpoints" if init == "pretrained" else
                       "**random initialization** (not the paper's pretrained checkpoints)")
    for scale in scales:
        weights.append("paper architectures (full size)" if scale == "full" else
                       "**mini architectures** sized for a CPU (not the paper's models)")
    lines.append(f"**Weights:** {'; '.join(weights) or 'unknown'}")

    hardware = unique_values(basis, "hardware")
    lines.append(f"**Hardware:** {'; '.join(hardware) or 'unknown'} (the paper: NVIDIA RTX A6000 "
                 f"48 GB; 1 GPU for summarization, 8 for Qasper)")

    watts = unique_values(basis, "cpu_watts_per_core")
    watts_per_core = float(watts[0]) if watts else (prof.cpu_watts_per_core if prof else 10.0)
    methods = unique_values(basis, "energy_method")
    energy = "; ".join(energy_method_text(m, watts_per_core) for m in methods) or "unknown"
    lines.append(f"**Energy:** {energy}")
    if any(m in ("none",) for m in methods):
        lines.append("**Note:** runs whose energy was not measured show no energy or power "
                     "efficiency (NaN, never 0).")

    signal = accuracy_signal(frame)
    if signal == "val_loss":
        lines.append("**Accuracy signal:** teacher-forced validation loss (lower is better): "
                     "random-init models decode nothing meaningful, so ROUGE / F1 are not shown")
    elif signal == "teacher_forced":
        lines.append("**Accuracy signal:** teacher-forced ROUGE geometric mean (summarization) "
                     "and token F1 (Qasper): the argmax predictions given the reference's "
                     "prefix, as the released code's compute_metrics scored them, not generated "
                     "text (the records keep both)")
    else:
        lines.append("**Accuracy signal:** the SCROLLS headline metric: ROUGE geometric mean "
                     "(summarization) and token F1 (Qasper)")

    demo = (any(s != "scrolls" for s in sources) or any(i != "pretrained" for i in inits)
            or any(s != "full" for s in scales) or estimated(basis) or n == 0)
    if demo:
        title = "Demo run: these are not the paper's numbers"
        klass = "warning"
    else:
        title = "Where these numbers come from"
        klass = "note"
    body = "\n".join(f"- {line}" for line in lines)
    return Markdown(f"```{{admonition}} {title}\n:class: {klass}\n\n{body}\n```\n")


def _demo_parts(rows: pd.DataFrame) -> list[str]:
    """What makes finished runs a demo rather than the paper's protocol, in words."""
    demo = []
    if (rows["source"] != "scrolls").any():
        demo.append("stand-in data instead of SCROLLS")
    if (rows["init"] != "pretrained").any():
        demo.append("randomly initialized weights")
    if (rows["scale"] != "full").any():
        demo.append("mini architectures")
    if estimated(rows):
        demo.append("energy estimated from CPU time")
    return demo


def caveat(frame: pd.DataFrame) -> str:
    """One sentence on what the verdicts of these runs can and cannot say."""
    rows = ok_rows(frame)
    if rows.empty:
        return "There are no finished runs, so every verdict is inconclusive."
    demo = _demo_parts(rows)
    if not demo:
        return ("These runs follow the paper's protocol as configured in the profile, so the "
                "verdicts bear on the paper's findings (within the differences of the protocol "
                "table).")
    return (f"These runs use {', '.join(demo)}: the verdicts exercise the analysis end to end; "
            f"they neither confirm nor refute the paper.")


def can_bear_verdicts(frame: pd.DataFrame) -> bool:
    """Whether runs can bear a verdict on the paper: finished runs, every one of them of the
    pretrained full architectures on SCROLLS (random-init or stand-in runs check the pipeline)."""
    rows = ok_rows(frame)
    return bool(len(rows)) and bool(((rows["source"] == "scrolls") & (rows["init"] == "pretrained")
                                     & (rows["scale"] == "full")).all())


def runs_role(frame: pd.DataFrame) -> str:
    """One sentence on what a chapter's own runs are for: results, or a check of the pipeline."""
    rows = ok_rows(frame)
    if rows.empty:
        return "The profile has no finished runs yet: the sections on its runs are empty."
    if can_bear_verdicts(frame):
        return ("The profile's own runs further down follow the paper's protocol on SCROLLS "
                "with pretrained checkpoints, and test its findings.")
    return (f"The profile's own runs further down ({', '.join(_demo_parts(rows))}) check the "
            f"pipeline; their numbers say nothing about the dataset.")


def energy_methods_table(frame: pd.DataFrame) -> pd.DataFrame:
    """How each run's energy was obtained: the method in words, why, and how many runs.

    "why" is a sentence for a reader (:func:`energy_reason_text`); the meter's own message,
    with the libraries' errors, stays in each record (``measurements.*.reason``).
    """
    columns = ["energy method", "why", "runs"]
    if frame.empty or "energy_method" not in frame:
        return pd.DataFrame(columns=columns)
    watts = unique_values(frame, "cpu_watts_per_core")
    watts = float(watts[0]) if watts else 10.0
    out = frame.groupby("energy_method", as_index=False).size()
    return pd.DataFrame({"energy method": [energy_method_text(m, watts)
                                           for m in out["energy_method"]],
                         "why": [energy_reason_text(m) for m in out["energy_method"]],
                         "runs": out["size"]})[columns]


def energy_reason_text(method: str) -> str:
    """Why a run's energy was obtained the way its ``energy_method`` says, in one sentence.

    Args:
        method: a record's ``energy_method`` (parts joined by "+", GPU part first).

    Returns:
        E.g. "no GPU and no readable RAPL counter on this machine, so energy is estimated
        from CPU time".
    """
    parts = set(method.split("+"))
    if "nvml-counter" in parts:
        return "the GPU's NVML energy counter was readable: energy is measured"
    if "nvml-sampled" in parts:
        return ("the GPU has no NVML energy counter (older than Volta), so its sampled power "
                "is integrated over time")
    if "rapl" in parts:
        return "no GPU on this machine; the CPU's RAPL counters were readable: energy is measured"
    if "cpu-time-estimate" in parts:
        return ("no GPU and no readable RAPL counter on this machine, so energy is estimated "
                "from CPU time")
    return "nothing on this machine could measure or estimate energy"


def cost_banner(reference, rows) -> Markdown:
    """Where the cost chapter's numbers come from, as a MyST admonition.

    Counted, not measured: what was counted (random-init full architectures, no weights, data
    or GPU), how FLOPs and saved bytes were counted, how depth was handled and checked, the
    memory model's error sources, and the versions and date of the committed reference rows.
    Give the notebook cell the metadata ``{"mystnb": {"markdown_format": "myst"}}``.

    Args:
        reference: the :class:`tradeoff.records.reference.CostReference` read.
        rows: the rows shown (``CostRow``s or their ``cost_frame``).

    Returns:
        An ``IPython.display.Markdown``; its ``.data`` is the MyST text.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(
        [{"model": r.model, "params": r.params, "attention": r.attention, "method": r.method,
          "dropout": r.dropout} for r in rows])
    models = "; ".join(f"{m} ({p / 1e6:.1f}M parameters, encoder attention: {a})" for m, p, a in
                       frame.groupby("model", sort=False)[["params", "attention"]].first()
                       .itertuples()) or "none"
    methods = "; ".join(unique_values(frame, "method")) or "none"
    dropouts = ", ".join(f"{d:g}" for d in unique_values(frame, "dropout"))
    versions = "; ".join(f"{k} {', '.join(v)}" for k, v in reference.versions().items())
    written = ", ".join(sorted(set(reference.written))) or "unknown"
    where = Path(reference.path).resolve()
    where = where.relative_to(REPO_ROOT) if where.is_relative_to(REPO_ROOT) else where
    checks = reference.checks
    if checks:
        configs = sorted({(c.model, c.length) for c in checks})
        largest = max(c.largest for c in checks)
        checks = (f"{len(checks)}, of {', '.join(f'{m} at {n}' for m, n in configs)} tokens at "
                  f"their target lengths; the largest relative difference in any is "
                  f"{fmt(largest, digits=1)}")
    lines = [
        f"**What:** the paper's full architectures with random weights: {models}. No pretrained "
        f"weights, data or GPU are involved, and the counts do not depend on the hardware.",
        f"**FLOPs:** {FLOPS_NOTE}.",
        f"**Memory:** {SAVED_BYTES_NOTE} (dropout {dropouts}); plus "
        f"{TRAIN_STATE_BYTES_PER_PARAM} bytes a parameter for fp32 weights, gradients and AdamW. "
        f"The largest batch is an upper bound: {MEMORY_ERROR_SOURCES}.",
        f"**Depth:** {methods}; {DEPTHS_NOTE}. Recorded checks: {checks or 'none'}.",
        f"**Counted with:** {versions}; rows written {written} to `{where}`.",
        "**Not here:** time, speed and energy of these architectures; the last section "
        "measures time on this project's CPU, and says so.",
    ]
    body = "\n".join(f"- {line}" for line in lines)
    return Markdown(f"```{{admonition}} Counted, not measured: the paper's architectures\n"
                    f":class: note\n\n{body}\n```\n")
