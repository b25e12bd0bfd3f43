"""Figures, tables and banners on hand-made run records; notebook conventions on every notebook.

Records are built by hand (no run, no /tmp data): the record factory ``make_record`` of
conftest.py makes one RunRecord with the fields the figures read, so each test knows exactly how
many lines, points and bars to expect.
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from tradeoff.analysis import table as T
from tradeoff.report import ceilings as C
from tradeoff.report import figures as F
from tradeoff.report import provenance as P
from tradeoff.report import style as S
from tradeoff.report import tables as Tb
from tradeoff.config import Profile
from tradeoff.records import POWER_EFFICIENCY

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
@pytest.fixture(scope="module")
def cpu_frame(make_record):
    return T.tidy(make_record.grid(datasets=("govreport", "qasper")))


def _texts(fig: Figure) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def _labels(fig: Figure) -> str:
    return " ".join(ax.get_xlabel() + " " + ax.get_ylabel() + " " + ax.get_title()
                    for ax in fig.axes) + " " + (fig._suptitle.get_text() if fig._suptitle else "")


# --------------------------------------------------------------------------------------------
# Figures


def test_accuracy_vs_power_efficiency_draws_one_line_per_model(cpu_frame):
    fig = F.accuracy_vs_power_efficiency(cpu_frame, "govreport", "val_loss")
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert len(ax.lines) == 3
    assert all(len(line.get_xdata()) == 2 for line in ax.lines)
    base = ax.lines[0]  # models in the book's order: led-base first
    assert list(base.get_xdata()) == pytest.approx([0.2, 0.1])
    assert base.get_color() == S.MODEL_COLORS["led-base"]
    assert sorted(t.get_text() for t in ax.texts) == ["1024"] * 3 + ["2048"] * 3
    assert "lower is better" in ax.get_ylabel()
    assert "estimated" in ax.get_xlabel()


def test_a_chapter_figures_csv_holds_each_models_points(cpu_frame, make_record):
    from tradeoff.report.figure_data import plotted_data

    data = plotted_data(F.accuracy_vs_power_efficiency(cpu_frame, "govreport", "val_loss"))
    assert sorted(set(data["series"])) == sorted(S.MODEL_LABELS[m] for m in make_record.MODELS)
    base = data[data["series"] == S.MODEL_LABELS["led-base"]]
    assert base["x"].tolist() == pytest.approx([0.2, 0.1])  # power efficiency at 1024, 2048
    assert base["y"].tolist() == pytest.approx([6.86, 6.87])  # their validation losses
    assert "lower is better" in base["y_label"].iloc[0]


def test_energy_vs_accuracy_rescales_small_energies_to_joules(cpu_frame):
    fig = F.energy_vs_accuracy(cpu_frame, "govreport", "headline")
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    assert "(J)" in ax.get_xlabel()
    assert list(ax.lines[0].get_xdata()) == pytest.approx([36.0, 72.0])  # 1e-5 kWh = 36 J
    assert "ROUGE" in ax.get_ylabel()


def test_energy_stays_in_kwh_when_large(make_record):
    frame = T.tidy([make_record(model=m, length=n, energy_kwh=2.0 * n / 1024)
                    for m in make_record.MODELS for n in (1024, 4096)])
    ax = F.energy_vs_accuracy(frame, "govreport", "val_loss").axes[0]
    assert "(kWh)" in ax.get_xlabel()
    assert list(ax.lines[0].get_xdata()) == pytest.approx([2.0, 8.0])


@pytest.mark.parametrize("which, column", [("train", "train_samples_per_s"),
                                           ("infer", "infer_samples_per_s")])
def test_speed_vs_length(cpu_frame, which, column):
    ax = F.speed_vs_length(cpu_frame, "qasper", which).axes[0]
    assert len(ax.lines) == 3
    assert list(ax.lines[0].get_xdata()) == [1024, 2048]
    expected = cpu_frame.query("dataset == 'qasper' and model == 'led-base'")[column]
    assert list(ax.lines[0].get_ydata()) == pytest.approx(list(expected))
    with pytest.raises(ValueError):
        F.speed_vs_length(cpu_frame, "qasper", "eval")


def test_qasper_efficiency_has_four_panels_of_three_lines(cpu_frame):
    fig = F.qasper_efficiency(cpu_frame)
    assert len(fig.axes) == 4
    assert [len(ax.lines) for ax in fig.axes] == [3, 3, 3, 3]


def test_batch_size_effect_one_line_per_accumulation(make_record):
    records = make_record.grid(datasets=("qasper",)) + [
        make_record("qasper", "led-base", n, grad_accum=4) for n in (1024, 2048)]
    fig = F.batch_size_effect(T.tidy(records), "val_loss")
    accuracy, energy = fig.axes[:2]
    assert len(accuracy.lines) == 2 and len(energy.lines) == 2
    labels = [line.get_label() for line in accuracy.lines]
    assert labels == ["accumulation 1, effective batch 2", "accumulation 4, effective batch 8"]
    assert "LED-base" in fig._suptitle.get_text()


def test_batch_gain_is_large_minus_small_accumulation(make_record):
    records = [make_record("qasper", "led-base", 1024, val_loss=7.0),
               make_record("qasper", "led-base", 1024, grad_accum=4, val_loss=6.5)]
    gain = Tb.batch_gain(T.tidy(records), "val_loss")
    assert gain["change"].tolist() == pytest.approx([-0.5])
    assert Tb.batch_gain(T.tidy(records[:1]), "val_loss").empty


def test_deep_dive_labels_cpu_equivalents_on_a_cpu_run(cpu_frame):
    fig = F.deep_dive(cpu_frame)
    assert len(fig.axes) == 3
    assert [len(ax.patches) for ax in fig.axes] == [6, 6, 6]  # 3 models x 2 lengths
    labels = _labels(fig)
    assert "CPU utilization" in labels and "CPU equivalent" in labels
    assert "GPU utilization (%)" not in labels


def test_deep_dive_uses_gpu_columns_on_a_gpu_run(make_record):
    fig = F.deep_dive(T.tidy(make_record.grid(gpu=True)))
    assert "mean GPU utilization (%)" in fig.axes[0].get_ylabel()
    heights = sorted(p.get_height() for p in fig.axes[0].patches)
    assert heights == pytest.approx([60, 60, 70, 70, 80, 80])


def test_power_traces_cpu_and_gpu(make_record):
    cpu = F.power_traces(make_record.grid(lengths=(1024, 2048, 4096)), "govreport")
    ax = cpu.axes[0]
    assert len(ax.lines) == 6  # per model: shortest and longest length
    assert "CPU" in ax.get_title() and "CPU utilization" in ax.get_ylabel()
    gpu = F.power_traces(make_record.grid(gpu=True), "govreport", models=["led-base"])
    ax = gpu.axes[0]
    assert len(ax.lines) == 2
    assert list(ax.lines[0].get_ydata()) == pytest.approx([300.0] * 3)  # gpu0 + gpu1
    assert "GPU power" in ax.get_ylabel()
    assert len(F.power_traces(make_record.grid(), "govreport", max_runs=2).axes[0].lines) == 2


def test_pareto_frontiers_one_panel_per_dataset(cpu_frame):
    fig = F.pareto_frontiers(cpu_frame, "val_loss")
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in visible] == ["GovReport", "Qasper"]
    for ax in visible:
        assert len(ax.lines) == 1  # the frontier
        assert len(ax.collections) == 3  # one scatter per model


def test_time_vs_energy(cpu_frame):
    assert len(F.time_vs_energy(cpu_frame).axes[0].lines) == 3


EMPTY_FIGURES = [
    lambda f, r: F.accuracy_vs_power_efficiency(f, "govreport", "headline"),
    lambda f, r: F.energy_vs_accuracy(f, "govreport", "val_loss"),
    lambda f, r: F.speed_vs_length(f, "govreport", "train"),
    lambda f, r: F.speed_vs_length(f, "govreport", "infer"),
    lambda f, r: F.qasper_efficiency(f),
    lambda f, r: F.batch_size_effect(f, "headline"),
    lambda f, r: F.deep_dive(f),
    lambda f, r: F.time_vs_energy(f),
    lambda f, r: F.power_traces(r, "govreport"),
    lambda f, r: F.pareto_frontiers(f, "headline"),
]


@pytest.mark.parametrize("draw", EMPTY_FIGURES)
@pytest.mark.parametrize("case", ["no records", "only failures", "bare columns"])
def test_missing_data_gives_a_note_not_an_error(draw, case, make_record):
    if case == "no records":
        records, frame = [], T.tidy([])
    elif case == "only failures":
        records = [make_record(m, status="oom", reason="CUDA out of memory")
                   for m in ("govreport",)]
        frame = T.tidy(records)
    else:  # a hand-made table with coordinates only: no efficiency or accuracy columns
        records = []
        frame = pd.DataFrame({"dataset": ["govreport"], "model": ["led-base"], "length": [1024],
                              "seed": [0], "grad_accum": [1], "status": ["ok"]})
    fig = draw(frame, records)
    assert isinstance(fig, Figure)
    assert all(not ax.lines for ax in fig.axes)
    assert "no finished runs" in _texts(fig) or "not measured" in _texts(fig)


def test_figures_stay_out_of_pyplot(cpu_frame):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    F.accuracy_vs_power_efficiency(cpu_frame, "govreport")
    assert plt.get_fignums() == before


# --------------------------------------------------------------------------------------------
# Signal, banner and tables


def test_accuracy_signal_and_labels(cpu_frame, make_record):
    assert T.accuracy_signal(cpu_frame) == "val_loss"
    pretrained = T.tidy(make_record.grid(init="pretrained", scale="full", source="scrolls"))
    assert T.accuracy_signal(pretrained) == "headline"
    assert T.accuracy_signal(T.tidy([])) == "headline"
    assert S.signal_label("val_loss") == "validation loss (lower is better)"
    assert S.signal_label("headline", "qasper").startswith("token F1")
    assert S.signal_label("headline", "govreport").startswith("ROUGE geometric mean")
    with pytest.raises(ValueError):
        S.signal_label("bleu")


def test_signal_values_are_raw(cpu_frame):
    values = T.configurations(cpu_frame, "val_loss", dataset="govreport")["value"]
    assert (values > 6).all()  # the loss itself, not the claims' negated score


def test_banner_for_a_cpu_demo_says_stand_in_and_estimated(cpu_frame):
    profile = Profile(name="demo", description="CPU demo", source="aclsum", init="random",
                      scale="mini")
    text = P.banner(profile, cpu_frame).data
    assert ":class: warning" in text
    assert "stand-in" in text and "not the SCROLLS data" in text
    assert "estimated from CPU time" in text and "10 W per busy core" in text
    assert "random initialization" in text and "mini architectures" in text
    assert "CPU only: 2 cores" in text
    assert "validation loss" in text
    assert "12 runs" in text


def test_banner_for_a_paper_run_says_scrolls(make_record):
    frame = T.tidy(make_record.grid(gpu=True, source="scrolls", init="pretrained", scale="full"))
    text = P.banner("no-such-profile", frame).data
    assert "SCROLLS" in text and "stand-in" not in text
    assert "2 x NVIDIA H100" in text
    assert "NVML GPU energy counter" in text
    assert ":class: note" in text and "Demo" not in text
    assert "ROUGE geometric mean" in text


def test_banner_without_records():
    text = P.banner(Profile(name="demo"), T.tidy([])).data
    assert "none found" in text and ":class: warning" in text


def test_energy_methods_table_says_why_in_a_sentence_not_the_library_error(cpu_frame, make_record):
    gpu = T.tidy(make_record.grid(gpu=True, source="scrolls", init="pretrained", scale="full"))
    table = P.energy_methods_table(cpu_frame)
    assert list(table.columns) == ["energy method", "why", "runs"]
    assert table["runs"].sum() == len(cpu_frame)
    assert table["why"].tolist() == ["no GPU and no readable RAPL counter on this machine, so "
                                     "energy is estimated from CPU time"]
    assert "NVML" not in " ".join(table["why"])
    assert "energy is measured" in P.energy_methods_table(gpu)["why"].iloc[0]
    assert P.energy_reason_text("nvml-sampled").startswith("the GPU has no NVML energy counter")
    assert P.energy_reason_text("rapl").endswith("energy is measured")
    assert P.energy_methods_table(T.tidy([])).empty


def test_failed_runs_table_shows_failures(make_record):
    records = make_record.grid() + [make_record(model="bigbird-large", length=4096, status="oom",
                               reason="CUDA out of memory at batch 1")]
    table = Tb.failed_runs_table(T.tidy(records))
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["model"], row["length"], row["status"]) == ("bigbird-large", 4096, "oom")
    assert "out of memory" in row["reason"]
    assert Tb.failed_runs_table(T.tidy(make_record.grid())).empty
    assert Tb.failed_runs_table(T.tidy([])).empty


def test_protocol_table_reflects_the_profile(cpu_frame):
    profile = Profile(name="demo", source="aclsum", init="random", scale="mini",
                      lengths=[1024, 2048], batch_size=2, max_steps=6, patience=None)
    table = Tb.protocol_table(profile, cpu_frame).set_index("aspect")["this run"]
    assert "stand-ins" in table["data"]
    assert table["weights"] == "random initialization"
    assert table["input lengths"] == "1024, 2048"
    assert "fixed per-device batch of 2" in table["batch size rule"]
    assert "6 optimizer steps" in table["convergence"]
    assert "estimated from CPU time" in table["energy measurement"]
    assert table["hardware"].startswith("CPU only")
    paper = Tb.protocol_table("paper").set_index("aspect")  # params/paper.yaml
    assert "48 GB" in paper.loc["batch size rule", "this run"]
    assert "3 validations" in paper.loc["convergence", "this run"]


def test_length_effect_ratio_and_text(make_record):
    frame = T.tidy([make_record(model="led-base", length=1024, power_eff=0.2),
                    make_record(model="led-base", length=4096, power_eff=0.05),
                    make_record(model="led-large", length=1024, power_eff=0.1)])
    table = Tb.length_effect(frame, "govreport", POWER_EFFICIENCY)
    assert table.loc["led-base", "ratio"] == pytest.approx(0.25)
    assert Tb.effect_text(table, "led-base") == "×0.250 (4096 vs 1024 tokens)"
    assert math.isnan(table.loc["led-large", "ratio"])
    assert Tb.effect_text(table, "led-large").startswith("n/a")
    assert Tb.effect_text(table, "bigbird-large").startswith("n/a")


def test_recommendations_show_the_loss_and_the_reason(cpu_frame):
    table = Tb.recommendations(cpu_frame, "val_loss")
    assert list(table["dataset"]) == ["govreport", "qasper"]
    assert (table["validation loss"] > 6).all()
    none_fit = Tb.recommendations(cpu_frame, "val_loss", budget=Tb.Budget(max_energy_kwh=1e-9))
    assert none_fit["model"].isna().all()
    assert none_fit["reason"].str.contains("none of the").all()


def test_selection_filters_records(make_record):
    records = make_record.grid(lengths=(1024, 2048, 4096))
    kept = T.select_records(records, models=["led-base"], lengths=[4096])
    assert [(r.params.model, r.params.length) for r in kept] == [("led-base", 4096)]


def test_load_reads_a_folder(tmp_path, make_record):
    from tradeoff.records import save_record

    for r in make_record.grid():
        save_record(r, tmp_path / f"{r.params_hash}.json")
    records, frame = T.load(tmp_path, models=["led-large"])
    assert len(records) == 2 and set(frame["model"]) == {"led-large"}
    assert frame.attrs["results_dir"] == str(tmp_path)
    records, frame = T.load(tmp_path / "missing")
    assert records == [] and frame.empty


def test_importing_the_report_does_not_import_torch():
    # Nor seaborn and the scipy.stats it loads: its palette is written out (report/style.py).
    code = ("import sys, tradeoff.report.figures, tradeoff.report.tables, tradeoff.analysis.claims; "
            "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'seaborn', 'scipy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# Ceilings and baselines: what longer inputs can buy (hand-made ceiling records)


SUMMARY_CEILINGS = {  # method: ({length: score}, {length: CPU s per sample})
    "oracle": ({1024: 30.0, 2048: 34.0, 4096: 35.0}, {1024: 0.05, 2048: 0.08, 4096: 0.16}),
    "lead": ({1024: 12.0, 2048: 12.0, 4096: 12.0}, {1024: 0.02, 2048: 0.02, 4096: 0.02}),
    "lexrank": ({1024: 20.0, 2048: 19.0, 4096: 18.0}, {1024: 0.07, 2048: 0.14, 4096: 0.30}),
}


@pytest.fixture(scope="module")
def ceiling_frame(make_record):
    records = [make_record.ceiling("govreport", n, m, s, cpus[n]) for m, (scores, cpus) in
               SUMMARY_CEILINGS.items() for n, s in scores.items()]
    records += [make_record.ceiling("qasper", n, "oracle", f1, 0.002 * n / 1024,
                                    recoverable_share=share, answer_coverage=cover)
                for n, f1, share, cover in [(1024, 50.0, 46.0, 10.0), (2048, 75.0, 72.0, 32.0)]]
    records += [make_record.ceiling("qasper", n, "bm25", f1, 0.05 * n / 1024)
                for n, f1 in [(1024, 8.0), (2048, 27.0)]]
    return T.tidy_ceilings(records)


def _line_values(ax) -> dict[str, tuple[list, list]]:
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
            for line in ax.lines}


def test_ceilings_figure_draws_one_line_per_method_with_its_values(ceiling_frame):
    fig = C.ceilings_vs_length(ceiling_frame, "govreport")
    score, cpu = fig.axes
    lines = _line_values(score)
    assert sorted(lines) == ["LexRank", "extractive oracle (ceiling)", "lead"]
    assert lines["extractive oracle (ceiling)"] == ([1024, 2048, 4096], [30.0, 34.0, 35.0])
    assert lines["LexRank"][1] == [20.0, 19.0, 18.0] and lines["lead"][1] == [12.0] * 3
    assert score.lines[0].get_color() == "black"  # the ceiling first, in black
    costs = _line_values(cpu)
    assert costs["LexRank"][1] == pytest.approx([70.0, 140.0, 300.0])  # ms per sample
    assert costs["lead"][1] == pytest.approx([20.0] * 3)
    assert cpu.get_yscale() == "linear"  # 300 / 20 is within a linear axis
    assert "ROUGE" in score.get_ylabel() and "CPU time" in cpu.get_ylabel()
    title = fig._suptitle.get_text()
    assert "not of LED or BigBird" in title and "ACLSum stand-ins, not SCROLLS" in title
    assert list(score.get_xticks()) == [1024, 2048, 4096]


def test_qasper_ceilings_figure_shows_both_answer_shares(ceiling_frame):
    fig = C.ceilings_vs_length(ceiling_frame, "qasper")
    shares, score, cpu = fig.axes
    lines = _line_values(shares)
    assert lines["answer text in the input"] == ([1024, 2048], [46.0, 72.0])
    assert lines["answer position in the input"] == ([1024, 2048], [10.0, 32.0])
    scores = _line_values(score)
    assert scores == {"best span (ceiling)": ([1024, 2048], [50.0, 75.0]),
                      "BM25 sentence": ([1024, 2048], [8.0, 27.0])}
    assert "F1" in score.get_ylabel()
    assert cpu.get_yscale() == "log"  # 100 ms against 2 ms
    assert _line_values(cpu)["BM25 sentence"][1] == pytest.approx([50.0, 100.0])


def test_ceilings_figure_shows_the_model_runs_only_on_the_same_scale(ceiling_frame, make_record):
    runs = T.tidy(make_record.grid(init="pretrained", scale="full"))
    beside = C.ceilings_vs_length(ceiling_frame, "govreport", runs, "headline").axes[0]
    assert len(beside.lines) == 3 + 3  # three methods, three models
    base = [line for line in beside.lines if line.get_label() == "LED-base"][0]
    assert list(base.get_ydata()) == pytest.approx([22.0, 23.0])  # 20 + size + length / 1024
    assert base.get_color() == S.MODEL_COLORS["led-base"]
    apart = C.ceilings_vs_length(ceiling_frame, "govreport", runs, "val_loss").axes[0]
    assert len(apart.lines) == 3  # the loss is not on the ROUGE scale


@pytest.mark.parametrize("frame", [T.tidy_ceilings([]), pd.DataFrame()], ids=["empty", "bare"])
def test_ceilings_figure_without_records_gives_a_note(frame):
    fig = C.ceilings_vs_length(frame, "govreport")
    assert isinstance(fig, Figure) and not fig.axes[0].lines
    assert "no ceiling records" in _texts(fig)
    assert C.gain_text(frame, "govreport") == "n/a (no ceiling records)"
    assert C.cost_table(frame, "govreport").empty and C.doubling_table(frame).empty
    assert C.largest_doubling_text(frame).startswith("n/a")
    assert "No ceiling records" in P.ceiling_provenance(T.tidy_ceilings([]))


def test_ceiling_cost_table_and_texts(ceiling_frame):
    table = C.cost_table(ceiling_frame, "govreport")
    assert len(table) == 9 and list(table["method"][:3]) == ["extractive oracle (ceiling)"] * 3
    lexrank = table[table["method"] == "LexRank"]
    assert list(lexrank["CPU time per sample (ms)"]) == pytest.approx([70.0, 140.0, 300.0])
    assert list(lexrank["estimated energy per sample (J)"]) == pytest.approx([0.7, 1.4, 3.0])
    qa = C.cost_table(ceiling_frame, "qasper")
    assert list(qa["answer position in the input (% of answers)"][:2]) == [10.0, 32.0]
    assert qa["answer text in the input (% of questions)"].iloc[2:].isna().all()  # BM25
    assert C.gain_text(ceiling_frame, "govreport") == (
        "30.0 at 1024 tokens, 35.0 at 4096 tokens (+5.0 points)")
    assert C.gain_text(ceiling_frame, "qasper", "oracle", "answer_coverage") == (
        "10.0 at 1024 tokens, 32.0 at 2048 tokens (+22.0 points)")
    assert C.cost_text(ceiling_frame, "govreport", "lexrank") == (
        "70.0 ms at 1024 tokens, 300 ms at 4096 tokens (×4.29)")
    text = P.ceiling_provenance(ceiling_frame[ceiling_frame["dataset"] == "qasper"])
    assert "not of LED or BigBird" in text and "ACLSum stand-ins, not SCROLLS" in text
    assert "20 of 100 validation examples" in text and "10 W per busy core" in text


def test_doubling_table_says_which_lengths_exist(ceiling_frame, make_record):
    table = C.doubling_table(ceiling_frame).set_index(["dataset", "ceiling"])
    assert [c for c in table.columns if c.endswith("(points)")] == [
        "1024 → 2048 (points)", "2048 → 4096 (points)"]
    gov = table.loc["GovReport"].iloc[0]
    assert gov["lengths with records"] == "1024, 2048, 4096"
    assert gov["1024 → 2048 (points)"] == pytest.approx(4.0)
    assert gov["2048 → 4096 (points)"] == pytest.approx(1.0)
    qasper = table.loc["Qasper"]
    assert len(qasper) == 3  # best span F1, and both answer shares
    assert qasper["1024 → 2048 (points)"].tolist() == pytest.approx([25.0, 26.0, 22.0])
    assert math.isnan(qasper["2048 → 4096 (points)"].iloc[0])  # no 4096 ceiling for Qasper
    assert C.largest_doubling_text(ceiling_frame) == "Qasper, 1024 → 2048: +25.0 points"
    assert "3072" not in C.doubling_text(ceiling_frame)
    no_doubling = T.tidy_ceilings([make_record.ceiling(length=n) for n in (1024, 3072)])
    assert "no two of these lengths are a doubling apart" in C.doubling_text(no_doubling)
    assert not [c for c in C.doubling_table(no_doubling).columns if c.endswith("(points)")]


def test_the_ceilings_report_does_not_import_torch():
    code = ("import sys, tradeoff.report.ceilings, tradeoff.analysis.table; "
            "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# Notebook conventions, on every notebook in notebooks/ (including ones added later)


def _code_cells(notebook: dict) -> list[dict]:
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def _python(cell: dict) -> str:
    """A cell's source with IPython magics and shell escapes blanked out, for ast."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in _source(cell).splitlines())


def test_there_are_notebooks():
    from tradeoff.book import CHAPTER_SOURCES

    names = {p.stem for p in NOTEBOOKS}
    assert set(CHAPTER_SOURCES) == {"setup", "cost", "govreport", "summscreenfd", "qmsum",
                                    "qasper", "energy", "knobs", "conclusions"}
    assert {source for source, _ in CHAPTER_SOURCES.values()} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    notebook = json.loads(path.read_text())
    for cell in _code_cells(notebook):
        assert cell.get("outputs", []) == [], f"{path.name}: a code cell has outputs"
        assert cell.get("execution_count") is None, f"{path.name}: a cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_holds_literal_parameters(path):
    notebook = json.loads(path.read_text())
    cells = _code_cells(notebook)
    assert cells, f"{path.name}: no code cell"
    first = cells[0]
    assert "parameters" in first.get("metadata", {}).get("tags", []), (
        f"{path.name}: the first code cell is not tagged 'parameters'")
    tree = ast.parse(_source(first))
    names = set()
    for statement in tree.body:
        assert isinstance(statement, (ast.Assign, ast.AnnAssign)), (
            f"{path.name}: parameters cell line {statement.lineno} is not an assignment")
        assert statement.value is not None, f"{path.name}: line {statement.lineno} has no value"
        ast.literal_eval(statement.value)  # raises on anything but a literal
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    assert {"profile", "results_dir"} <= names, f"{path.name}: profile / results_dir missing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_functions_or_classes(path):
    notebook = json.loads(path.read_text())
    for cell in _code_cells(notebook):
        for node in ast.walk(ast.parse(_python(cell))):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)), (
                f"{path.name}: `{_source(cell).splitlines()[0]}...` defines code; move it into "
                f"the package")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_a_title(path):
    notebook = json.loads(path.read_text())
    first = notebook["cells"][0]
    assert first["cell_type"] == "markdown" and _source(first).lstrip().startswith("# "), (
        f"{path.name}: the first cell should be a markdown '# Title'")



def test_styled_tables_escape_html_and_keep_small_numbers():
    table = pd.DataFrame({"evidence": ["rho < 0 in 3/4 series with >= 2 lengths"],
                          "train_energy_kwh": [6.2e-06]})
    html = Tb.styled(table).to_html()
    assert "rho &lt; 0" in html and "&gt;= 2" in html
    assert "training energy (J)" in html and ">22.3<" in html  # 6.2e-06 kWh = 22.32 J
    assert "e-06" not in html
