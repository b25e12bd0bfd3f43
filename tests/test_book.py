"""The book end to end: grid -> lab records -> chapters -> ``jupyter-book build -W`` -> browser.

One build per test run (tests/smoke_book.py, shared through conftest.py) reads a reduced smoke
grid (every dataset and model, one input length) with one cell seeded as failed, then builds
again to check that nothing is executed twice. To keep the suite within its budget, all groups
but one are run in one process first, into the grid that the other end-to-end tests share (one
import of torch instead of twelve); the kernel of the remaining group (govreport x led-base)
runs its cell, so the path "papermill runs the grid" is exercised too. The rendered pages are
opened in headless Chromium (skipped when it is not installed: ``make browser`` installs it), all
in one browser, each page in a frame, to check that every chapter shows its title, its figures
and its numbers.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from page_scan import VERDICT, verdict_leaks
from smoke_book import FAILED_CELL, FAILED_REASON, KERNEL_GROUP, reduced_smoke

from tradeoff import book
from tradeoff.book import build, cache, execute, schedule, stage
from tradeoff.config import REPO_ROOT, load_profile
from tradeoff.grid import cell_record_path
from tradeoff.records import RunRecord, save_record

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture
def built(built_book):
    """The smoke book, built once per test run on the shared grid (conftest.py)."""
    return built_book


# ----------------------------------------------------------------------------- end to end


def test_build_returns_the_rendered_index(built):
    assert built.index.name == "index.html" and built.index.is_file()
    assert built.index == built.index_again
    assert "book/intro.html" in built.index.read_text()  # jupyter-book's redirect to the root
    assert "Efficiency vs. accuracy" in (built.html / "book" / "intro.html").read_text()


def test_first_build_executes_every_notebook_and_keeps_the_failed_cell(built):
    n_groups = len(built.profile.datasets) * len(built.profile.models)
    assert built.first.executed == n_groups + len(book.CHAPTERS)
    assert built.first.cached == 0
    assert built.first.failed == []
    assert built.first.failed_cells == [f"{FAILED_CELL.label}: failed: {FAILED_REASON}"]
    # Every other cell ran and left a record, those of KERNEL_GROUP inside the lab notebook.
    for cell in built.profile.cells():
        assert cell_record_path(built.profile, cell).is_file(), cell.label
    lab = [nb for nb in built.first.notebooks if nb.name.endswith("-".join(KERNEL_GROUP))]
    assert [nb.status for nb in lab] == ["executed"]


def test_rebuild_with_nothing_changed_executes_nothing(built):
    assert built.second.executed == 0
    assert built.second.cached == len(built.first.notebooks)
    assert built.second.staged_files == 0


def test_every_chapter_and_lab_page_exists(built):
    for chapter in book.CHAPTERS:
        assert (built.html / "notebooks" / f"{chapter}.html").is_file(), chapter
    for page in ("method", "reproducing", "lab", "references"):
        assert (built.html / "book" / f"{page}.html").is_file(), page
    groups = book.lab_names(book.lab_groups(built.profile, built.profile.cells()))
    assert len(groups) == 12
    for name in groups.values():
        assert (built.html / "lab" / f"{name}.html").is_file(), name


def test_lab_page_shows_each_cell_with_status_and_figure(built):
    names = book.lab_names(book.lab_groups(built.profile, built.profile.cells()))
    page = (built.html / "lab" / f"{names['govreport', 'led-large']}.html").read_text()
    assert "Lab record: govreport × led-large" in html.unescape(page)
    assert "L1024/s0" in page and ">ok<" in page
    assert "cpu-time-estimate" in page  # the energy method is named
    assert re.search(r'<img[^>]+src="[^"]*_images/[^"]+\.png"', page)


def test_failed_cell_is_shown_with_its_reason(built):
    names = book.lab_names(book.lab_groups(built.profile, built.profile.cells()))
    page = html.unescape(
        (built.html / "lab" / f"{names['qasper', 'bigbird-large']}.html").read_text())
    assert ">failed<" in page
    assert FAILED_REASON in page


def test_no_page_prints_a_verdict_from_the_random_init_runs(built):
    # The smoke profile's runs are random-init minis on stand-ins: they can bear no verdict, so
    # every verdict on a page must sit beside published, counted or measured evidence.
    assert built.profile.init == "random"
    pages = [built.html / "notebooks" / f"{c}.html" for c in book.CHAPTERS]
    pages += sorted((built.html / "book").glob("*.html"))
    leaks = [f"{p.name}: {leak}" for p in pages for leak in verdict_leaks(p.read_text())]
    assert leaks == []
    # The conclusions do print verdicts, each with its evidence: the scan sees them.
    assert VERDICT.search(_page_words(built, "notebooks", "conclusions.html"))


def test_no_chapter_cell_shows_a_stray_value(built):
    # A cell whose last line is a call (a parameter check, say) prints its return value under
    # a hidden input: a bare "6" on the page. Tables, figures and glued text carry HTML/images.
    stray = []
    for chapter in book.CHAPTERS:
        nb = json.loads((built.build_dir / "src" / "notebooks" / f"{chapter}.ipynb").read_text())
        stray += [(chapter, i, "".join(out["data"]["text/plain"]))
                  for i, cell in enumerate(nb["cells"]) for out in cell.get("outputs", [])
                  if out["output_type"] == "execute_result" and set(out["data"]) == {"text/plain"}]
    assert stray == []


def test_pages_cite_the_references(built):
    refs = (built.html / "book" / "references.html").read_text().lower()
    for text in ("characterizing the efficiency", "2022.nlppower-1.12", "scrolls", "longformer",
                 "big bird", "zeus", "aclsum"):
        assert text in refs, text  # the bibliography style lowercases titles
    intro = (built.html / "book" / "intro.html").read_text()
    assert 'href="references.html#' in intro  # {cite} roles resolved to the bibliography


def test_ceilings_are_recorded_before_the_chapters_and_not_redone(built):
    from tradeoff.analysis.table import load_ceilings
    from tradeoff.records import CEILINGS_FOLDER

    assert built.first.ceilings == "up to date", built.first.ceilings
    assert built.second.ceilings == "cached" and built.second.ceilings_computed == 0
    table = load_ceilings(built.profile.results_path)
    assert sorted(set(zip(table["dataset"], table["method"]))) == [
        ("govreport", "lead"), ("govreport", "lexrank"), ("govreport", "oracle"),
        ("qasper", "bm25"), ("qasper", "oracle"), ("qmsum", "lead"), ("qmsum", "lexrank"),
        ("qmsum", "oracle"), ("summscreenfd", "lead"), ("summscreenfd", "lexrank"),
        ("summscreenfd", "oracle")]
    assert set(table["length"]) == {1024} and table["tokenizer"].nunique() == 1
    # The extractive oracle bounds what copying sentences reaches: at least lead and LexRank.
    summaries = table[table["task"] == "summarization"].pivot(
        index="dataset", columns="method", values="score")
    assert (summaries["oracle"] >= summaries[["lead", "lexrank"]].max(axis=1)).all()
    assert (table["cpu_s_per_sample"] > 0).all()
    # The chapters' cache keys hash the ceiling records.
    ceiling_files = set((built.profile.results_path / CEILINGS_FOLDER).glob("*.json"))
    assert len(ceiling_files) == 11 and ceiling_files <= set(book.chapter_inputs(built.profile))


VERDICT_WORDS = re.compile(r"\b(holds|does not hold|hold|inconclusive)\b")


def _page_words(built, *parts: str) -> str:
    """The words of a page's article: its body, without the navigation and tables of contents."""
    page = built.html.joinpath(*parts).read_text()
    return words(re.search(r'<article class="bd-article">(.*)</article>', page, re.DOTALL).group(1))


# A float printed raw in scientific notation (5.817e-05, 1E+15, x1.4e-05): Python, numpy and
# pandas always write the exponent's sign and at least two digits. A setting quoted as the
# papers write it ("learning rate 1e-5", "eps 1e-6") is prose, not a printed float. Not inside
# a word (a hash such as 3fa1e52).
SCIENTIFIC = re.compile(r"(?<![\w.])[x×]?(\d(?:\.\d+)?e[-+]\d{2,})\b", re.IGNORECASE)


def scientific_numbers(page: str) -> list[tuple[str, str]]:
    """Each number in scientific notation in a page's article, with its context.

    Code is left out: cell inputs and commands (``<pre>``, ``<code>``) are what a reader types,
    not numbers the book reports.
    """
    article = re.search(r'<article class="bd-article">(.*)</article>', page, re.DOTALL)
    body = article.group(1) if article else page
    body = re.sub(r"<(pre|code|script|style)\b.*?</\1>", " ", body, flags=re.DOTALL | re.I)
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
    return [(m.group(1), text[max(m.start() - 60, 0):m.end() + 60])
            for m in SCIENTIFIC.finditer(text)]


def test_the_scan_finds_numbers_in_scientific_notation():
    page = ('<nav>1e-03 outside the article</nav><article class="bd-article"><table><tr>'
            '<td>5.817e-05</td><td>1E+15 kWh</td><td>0.0003233</td></tr></table>'
            '<p>ran <code>--lr 5e-05</code> for 2e+05 steps (x1.369e-05)</p><pre>lr = 3e-04</pre>'
            '<p>commit 3fa1e52, 1e2f3a, 12 samples; a learning rate of 1e-5 as SCROLLS writes '
            'it</p></article>')
    found = scientific_numbers(page)
    assert [number for number, _ in found] == ["5.817e-05", "1E+15", "2e+05", "1.369e-05"]
    assert "1E+15 kWh" in found[1][1]
    assert scientific_numbers('<article class="bd-article"><td>209 J</td></article>') == []


def test_no_page_prints_a_number_in_scientific_notation(built):
    """Every table and glued number went through the book's formatter: no raw float shows."""
    pages = [p for p in sorted(built.html.rglob("*.html"))
             if not {"_static", "_sources"} & set(p.relative_to(built.html).parts)]
    assert len(pages) > len(book.CHAPTERS)
    found = [f"{page.relative_to(built.html)}: {number} in ...{context}..."
             for page in pages for number, context in scientific_numbers(page.read_text())]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("chapter", ["govreport", "summscreenfd", "qmsum", "qasper"])
def test_dataset_chapters_open_with_published_accuracy_against_counted_compute(built, chapter):
    from tradeoff.records.published import load_published

    text = _page_words(built, "notebooks", f"{chapter}.html")
    published = text.index("Published accuracy against counted compute")
    pipeline = text.index("The pipeline re run on a laptop")
    assert published < pipeline < text.index("Runs that did not finish")
    real = text[published:pipeline]
    # Every source of the chapter's rows in the committed table is named, with its split.
    scores = load_published()
    for row in scores.rows:
        if row.dataset == chapter:
            source = scores.source(row)
            assert words(source.cite) in real and words(source.table) in real, source.label
    assert "test split" in real and "counted here FlopCounterMode" in real
    # The takeaway above the section says what four times the input bought, in published points.
    takeaway = text[text.index("Takeaway published test scores and counted compute"):published]
    assert re.search(r"LED base from 1024 to 4096 tokens bought \d+ \d points", takeaway)
    assert re.search(r"for \d+ \d+ the training FLOPs", takeaway)  # "for ×2.98 the training FLOPs"
    # The demo runs below check the pipeline: no verdict on the paper comes from them.
    assert not VERDICT_WORDS.search(text[pipeline:]), VERDICT_WORDS.search(text[pipeline:])


def test_conclusions_test_each_finding_on_the_evidence_that_can_bear_it(built):
    from tradeoff.analysis.findings import EVIDENCE_KINDS

    text = _page_words(built, "notebooks", "conclusions.html")
    pipeline = text.index("The pipeline re run on a laptop")
    assert "The findings on the evidence that can bear them" in text[:pipeline]
    for kind in EVIDENCE_KINDS:
        assert words(kind) in text[:pipeline], kind
    assert "needs the paper profile s runs" in text[:pipeline]
    assert "python m tradeoff grid profile paper" in text[:pipeline]
    assert "Choosing among published configurations" in text[:pipeline]
    assert not VERDICT_WORDS.search(text[pipeline:]), VERDICT_WORDS.search(text[pipeline:])


def test_the_landing_page_gives_the_headline_findings_with_their_numbers(built):
    text = _page_words(built, "book", "intro.html")
    assert "What the evidence says so far" in text
    assert re.search(r"On GovReport four times the input LED base from 1024 to 4096 tokens "
                     r"bought \d+ \d points", text)
    assert re.search(r"On Qasper four times the input", text)
    assert "Grow the model rather than the input" in text
    assert re.search(r"\d+ of the findings parts need measured energy", text)
    assert "The paper published no code" not in text
    assert "phyllisayk nlp efficiency tradeoff" in text


CSV_LINK = re.compile(r'<a download="([^"]+)" href="data:text/csv;base64,([^"]+)">([^<]*)</a>')


def test_every_chapter_figure_has_its_data_as_csv_after_it(built):
    """Under every figure of a chapter, a link to the figure's data as plotted (CSV)."""
    import base64
    import io

    import pandas as pd

    from tradeoff.report.figure_data import COLUMNS

    counts = {}
    for chapter in book.CHAPTERS:
        page = (built.html / "notebooks" / f"{chapter}.html").read_text()
        images = [m.end() for m in re.finditer(r'<img[^>]+src="[^"]*_images/[^"]+"', page)]
        assert images, chapter
        filled = 0
        for start, end in zip(images, images[1:] + [len(page)]):
            links = CSV_LINK.findall(page[start:end])
            assert links, f"{chapter}: a figure without a CSV link after it"
            filename, payload, text = links[0]
            assert filename.endswith(".csv"), filename
            if "dataset" in book.CHAPTER_SOURCES[chapter][1]:  # one template, a name per page
                assert filename.startswith(f"{chapter}-"), filename
            data = pd.read_csv(io.StringIO(base64.b64decode(payload).decode()))
            assert list(data.columns) == COLUMNS, filename
            if len(data):
                assert f"({len(data)} plotted values, CSV)" in text, (filename, text)
                assert data[["x", "y"]].notna().any(axis=1).all(), filename
                filled += 1
            else:
                assert "nothing plotted" in text, filename
        counts[chapter] = (filled, len(images))
    # The smoke book's runs, committed rows and stand-in data draw something in every figure.
    assert all(filled == figures for filled, figures in counts.values()), counts
    assert sum(figures for _, figures in counts.values()) == 40, counts


@pytest.mark.parametrize("chapter", book.CHAPTERS)
def test_every_chapter_ends_with_the_command_that_re_runs_it(built, chapter):
    source, extra = book.CHAPTER_SOURCES[chapter]
    text = _page_words(built, "notebooks", f"{chapter}.html")
    section = text[text.index("Re run this page"):]
    command = words(f"papermill notebooks/{source}.ipynb {chapter}.ipynb")
    assert command in section
    if "dataset" in extra:
        assert words(f"-p dataset {extra['dataset']}") in section
        others = set(book.CHAPTER_SOURCES) - {chapter}
        assert not any(words(f"{other}.ipynb -p dataset {other}") in section for other in others)
    assert "parameters cell" in section


def test_every_page_names_the_profile_and_labels_the_other_evidence(built):
    for page in [built.html / "book" / "intro.html", built.html / "notebooks" / "qasper.html"]:
        text = page.read_text()
        assert "This book's own runs: profile <b>smoke-book</b>" in text
        assert "energy: estimated from CPU time" in text
        assert "Published scores, counted costs and committed reference measurements" in text


# ----------------------------------------------------------------------------- caching (no grid)


def _tiny_notebook(path: Path, code: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Tiny"),
        nbformat.v4.new_code_cell('value: int = 1  # a parameter', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_cache_key_follows_records_notebook_and_parameters(tmp_path):
    profile = load_profile("smoke", results_dir=str(tmp_path))
    notebook = _tiny_notebook(tmp_path / "nb.ipynb", "print(value)")
    record = tmp_path / "r.json"
    record.write_text("{}")
    key = cache.notebook_key(notebook, {"a": 1}, profile, "code", [record])
    assert key == cache.notebook_key(notebook, {"a": 1}, profile, "code", [record])
    assert key != cache.notebook_key(notebook, {"a": 2}, profile, "code", [record])
    assert key != cache.notebook_key(notebook, {"a": 1}, profile, "code2", [record])
    record.write_text('{"changed": 1}')
    changed = cache.notebook_key(notebook, {"a": 1}, profile, "code", [record])
    assert changed != key
    record.unlink()
    assert cache.notebook_key(notebook, {"a": 1}, profile, "code", [record]) not in (key, changed)


def test_failed_notebook_is_kept_with_its_error_and_retried(tmp_path):
    import nbformat

    source = _tiny_notebook(tmp_path / "bad.ipynb", "raise ValueError('broken on purpose')")
    out = tmp_path / "out" / "bad.ipynb"
    out.parent.mkdir()
    run = execute.execute_cached("bad", source, out, {"value": 2}, key=lambda: "k", title=None,
                                  build_dir=tmp_path)
    assert run.status == "failed" and "broken on purpose" in run.reason
    nb = nbformat.read(out, as_version=4)
    assert nb.cells[0].source.startswith("# Tiny")  # the page keeps its title
    assert "{error}" in nb.cells[1].source and "broken on purpose" in nb.cells[1].source
    assert nb.metadata["tradeoff"]["status"] == "failed"
    # A failed execution is not cached: the next build tries again.
    again = execute.execute_cached("bad", source, out, {"value": 2}, key=lambda: "k",
                                    title=None, build_dir=tmp_path)
    assert again.status == "failed"

    good = _tiny_notebook(tmp_path / "good.ipynb", "from ipykernel.kernelapp import IPKernelApp\n"
                          "app = IPKernelApp.instance()\n"
                          "print(value * 10, app.transport, app.ip)")
    target = tmp_path / "out" / "good.ipynb"
    first = execute.execute_cached("good", good, target, {"value": 3}, key=lambda: "k1",
                                    title="Renamed", build_dir=tmp_path)
    assert first.status == "executed"
    executed = nbformat.read(target, as_version=4)
    assert executed.cells[0].source.startswith("# Renamed")
    # The kernel talked over Unix sockets of its own (no TCP port that another process could take
    # first), and its shutdown removed them.
    [printed] = [o.get("text", "") for c in executed.cells for o in c.get("outputs", [])]
    value, transport, address = printed.split()
    assert (value, transport) == ("30", "ipc")
    assert Path(address).parent == Path(tempfile.gettempdir())
    assert not list(Path(address).parent.glob(Path(address).name + "-*"))
    assert execute.execute_cached("good", good, target, {"value": 3}, key=lambda: "k1",
                                   title="Renamed", build_dir=tmp_path).status == "cached"
    assert execute.execute_cached("good", good, target, {"value": 3}, key=lambda: "k2",
                                   title="Renamed", build_dir=tmp_path).status == "executed"


def test_staging_writes_only_changed_files(tmp_path):
    root = tmp_path / "repo"
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text("title: T\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (root / "book" / "intro.md").write_text("# Intro\n")
    src = tmp_path / "src"
    assert stage.stage_sources(root, src, "banner") == 3
    assert yaml.safe_load((src / "_config.yml").read_text())["html"]["announcement"] == "banner"
    assert stage.stage_sources(root, src, "banner") == 0
    (root / "book" / "intro.md").write_text("# Intro, changed\n")
    (src / "book" / "stale.md").write_text("# Gone\n")
    assert stage.stage_sources(root, src, "banner") == 2  # one copied, one removed
    assert not (src / "book" / "stale.md").exists()


def test_ceilings_key_follows_profile_code_data_and_records(tmp_path):
    profile = load_profile("smoke", results_dir=str(tmp_path / "results"))
    key = cache.ceilings_key(profile, "code")
    assert key == cache.ceilings_key(profile, "code")
    assert key != cache.ceilings_key(profile, "code2")
    assert key != cache.ceilings_key(profile.model_copy(update={"lengths": [1024]}), "code")
    record = tmp_path / "results" / "ceilings" / "qasper-L1024-oracle-t.json"
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    with_record = cache.ceilings_key(profile, "code")
    assert with_record != key
    record.write_text('{"changed": 1}')
    assert cache.ceilings_key(profile, "code") not in (key, with_record)
    assert record in book.chapter_inputs(profile)  # and the chapters' keys hash it too


def test_ceilings_step_runs_once_and_reports_a_failure(tmp_path, monkeypatch):
    from tradeoff import ceilings

    profile = load_profile("smoke", results_dir=str(tmp_path / "results"))
    calls = []

    def fail(*args, **kwargs):
        calls.append("fail")
        raise OSError("SCROLLS is not available offline")

    monkeypatch.setattr(ceilings, "ceiling_records", fail)
    report = book.BuildReport(profile=profile.name)
    build._ceilings_step(profile, tmp_path, "code", report, show_progress=False)
    assert report.ceilings == "failed: OSError: SCROLLS is not available offline"
    assert "ceilings failed" in report.summary()
    assert not (tmp_path / "ceilings-key.txt").exists()  # a failure is tried again

    def succeed(*args, **kwargs):
        calls.append("ok")
        return ceilings.CeilingUpdate(records=[], paths=[], computed=3, written=3)

    monkeypatch.setattr(ceilings, "ceiling_records", succeed)
    report = book.BuildReport(profile=profile.name)
    build._ceilings_step(profile, tmp_path, "code", report, show_progress=False)
    assert (report.ceilings, report.ceilings_computed) == ("up to date", 3)
    again = book.BuildReport(profile=profile.name)
    build._ceilings_step(profile, tmp_path, "code", again, show_progress=False)
    assert (again.ceilings, again.ceilings_computed) == ("cached", 0)
    assert calls == ["fail", "ok"]  # the third step found its inputs unchanged


def test_a_lab_page_with_a_cell_to_run_executes_alone(tmp_path, monkeypatch):
    """Lab pages that run cells measure them, so no other kernel runs beside them; pages that
    only read records, and the chapters, run two at a time; the report keeps book order."""
    profile = reduced_smoke(tmp_path)
    pending = next(c for c in profile.cells() if (c.dataset, c.model) == KERNEL_GROUP)
    for cell in profile.cells():
        if cell != pending:  # every other lab page finds its one cell recorded
            params = cell.resolve(profile)
            save_record(RunRecord(profile=profile.name, label=cell.label, status="ok",
                                  params_hash=params.digest, params=params, wall_time_s=0.0),
                        cell_record_path(profile, cell))
    spans, lock = {}, threading.Lock()

    def fake_execute(name, *args, **kwargs):
        start = time.perf_counter()
        time.sleep(0.2)
        with lock:
            spans[name] = (start, time.perf_counter())
        return book.NotebookRun(name, "executed")

    monkeypatch.setattr(schedule, "execute_cached", fake_execute)
    monkeypatch.setattr(build, "_ceilings_step", lambda *args, **kwargs: None)
    monkeypatch.setattr(build, "_jupyter_book", lambda src, build_dir, strict: src / "index.html")
    book.build_book(profile, build_dir=tmp_path / "build", show_progress=False)

    def overlap(a, b):
        return spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]

    names = book.lab_names(book.lab_groups(profile, profile.cells()))
    lab, alone = [f"lab/{name}" for name in names.values()], f"lab/{names[KERNEL_GROUP]}"
    assert not any(overlap(alone, other) for other in spans if other != alone)
    readers = [name for name in spans if name != alone]
    assert any(overlap(a, b) for a in readers for b in readers if a < b)  # side by side
    chapters = [f"notebooks/{c}" for c in book.CHAPTERS]
    assert [run.name for run in book.read_report(tmp_path / "build").notebooks] == lab + chapters


def test_missing_chapter_notebook_is_reported_before_any_compute(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text("title: T\n")
    shutil.copy(REPO_ROOT / "_toc.yml", tmp_path / "_toc.yml")  # the chapters it lists
    with pytest.raises(book.BookError, match="notebooks/qasper.ipynb"):
        book.build_book(load_profile("smoke", results_dir=str(tmp_path / "r")),
                        build_dir=tmp_path / "b", source_root=tmp_path, show_progress=False)
    assert not (tmp_path / "r").exists()


def test_the_chapters_are_those_of_the_toc_in_its_order(tmp_path):
    assert book.CHAPTER_SOURCES == book.chapter_sources(REPO_ROOT)
    assert book.CHAPTERS[:2] == ("setup", "cost") and book.CHAPTERS[-1] == "conclusions"
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "book/intro", "parts": [
            {"caption": "Results", "chapters": [{"file": "notebooks/qmsum"},
                                                {"file": "notebooks/setup"}]},
            {"caption": "Appendix", "chapters": [{"file": "book/lab",
                                                  "sections": [{"glob": "lab/*"}]}]}]}))
    assert book.chapter_sources(tmp_path) == {"qmsum": ("summarization", {"dataset": "qmsum"}),
                                              "setup": ("setup", {})}
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text("title: T\n")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "run.ipynb").write_text("{}")
    (tmp_path / "notebooks" / "setup.ipynb").write_text("{}")
    with pytest.raises(book.BookError, match=r"sources under .*: notebooks/summarization.ipynb$"):
        book.plan_book(load_profile("smoke", results_dir=str(tmp_path / "r")),
                       source_root=tmp_path)
    (tmp_path / "notebooks" / "summarization.ipynb").write_text("{}")
    plan = book.plan_book(load_profile("smoke", results_dir=str(tmp_path / "r")),
                          source_root=tmp_path)
    assert [line for line in plan if line.startswith("notebooks/")] == [
        "notebooks/qmsum: summarization.ipynb {'dataset': 'qmsum'}", "notebooks/setup: setup.ipynb"]


# ----------------------------------------------------------------------------- browser

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless Chromium not installed (/usr/bin/chromium; `make browser` or "
           "`apt-get install chromium chromium-driver`)")


def chromium(tmp_path: Path, *args: str, timeout: int = 90) -> str:
    profile_dir = tmp_path / "chromium-profile"  # fresh for every call
    shutil.rmtree(profile_dir, ignore_errors=True)
    command = [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    shutil.rmtree(profile_dir, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


# Loads each page in a frame (its scripts run as in a reader's browser) and reports its DOM and
# its images' loaded widths: one Chromium for every page the tests read.
PROBE = """<html><body><pre id="out">pending</pre><script>
const pages = PAGES; const result = {}; let left = pages.length;
for (const page of pages) {
  const frame = document.createElement('iframe');
  frame.width = 1200; frame.height = 2000; frame.src = page;
  frame.onload = () => {
    const doc = frame.contentDocument;
    result[page] = {dom: doc.documentElement.outerHTML,
                    images: Array.from(doc.querySelectorAll('img')).map(
                      i => [i.getAttribute('src'), i.complete && i.naturalWidth])};
    if (--left === 0) document.getElementById('out').textContent = JSON.stringify(result);
  };
  document.body.appendChild(frame);
}
</script></body></html>"""


@dataclass(frozen=True)
class Rendered:
    """The pages of the built book as Chromium rendered them, by path under the html folder."""

    dom: dict[str, str]  # the page's DOM once its scripts ran
    images: dict[str, list[tuple[str, int]]]  # (src, natural width) of each image; 0 if broken


@pytest.fixture(scope="module")
def rendered(built_book, tmp_path_factory) -> Rendered:
    """Every chapter and the method page, loaded by one Chromium (several tests read each)."""
    pages = [f"notebooks/{c}.html" for c in book.CHAPTERS] + ["book/method.html"]
    probe = built_book.html / "_probe.html"
    probe.write_text(PROBE.replace("PAGES", json.dumps(pages)))
    try:
        dom = chromium(tmp_path_factory.mktemp("chromium"), "--allow-file-access-from-files",
                       "--virtual-time-budget=15000", "--dump-dom", probe.as_uri())
    finally:
        probe.unlink()
    out = html.unescape(re.search(r'<pre id="out">(.*?)</pre>', dom, re.DOTALL).group(1))
    assert out != "pending", "a page did not load within Chromium's time budget"
    result = json.loads(out)
    assert sorted(result) == sorted(pages)
    return Rendered(dom={page: r["dom"] for page, r in result.items()},
                    images={page: [tuple(i) for i in r["images"]] for page, r in result.items()})


def chapter_title(built, chapter: str) -> str:
    """The first heading of the executed chapter notebook, as plain words."""
    nb = json.loads((built.build_dir / "src" / "notebooks" / f"{chapter}.ipynb").read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and (m := re.search(r"^# (.+)$", source, re.MULTILINE)):
            return m.group(1).strip()
    raise AssertionError(f"{chapter} has no title")


def words(text: str) -> str:
    return " ".join(re.findall(r"\w+", html.unescape(re.sub(r"<[^>]+>", " ", text))))


def _gpu_section_words() -> str:
    """What the GPU sections show: the one line while reference/gpu/ has no finished run,
    else the tables' label."""
    from tradeoff.report import gpu as gpu_report

    if gpu_report.open_gpu().finished:
        return "random weights efficiency only"
    return words(gpu_report.NO_RECORDS)


@needs_chromium
@pytest.mark.parametrize("chapter", book.CHAPTERS)
def test_chromium_renders_chapter_with_title_and_figures(built, chapter, rendered):
    page = built.html / "notebooks" / f"{chapter}.html"
    dom = rendered.dom[f"notebooks/{chapter}.html"]
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", dom, re.DOTALL)
    assert h1, f"{chapter}: no <h1> in the rendered DOM"
    assert words(chapter_title(built, chapter)) in words(h1.group(1))
    images = re.findall(r'<img[^>]+src="([^"]+)"', dom)
    figures = [src for src in images if "_images/" in src]
    assert figures, f"{chapter}: no figure in the rendered DOM"
    for src in figures:
        png = (page.parent / src).resolve()
        assert png.is_file() and png.stat().st_size > 2000, src
    assert "papermill-error-cell" not in dom and "This notebook failed" not in dom


@needs_chromium
@pytest.mark.parametrize("chapter", ["govreport", "qasper"])
def test_chromium_shows_what_longer_inputs_can_buy(built, chapter, rendered):
    """The ceilings figure is on a summarization chapter and on Qasper, with its numbers."""
    page = built.html / "notebooks" / f"{chapter}.html"
    dom = rendered.dom[f"notebooks/{chapter}.html"]
    text = words(dom)
    assert "What longer inputs can buy" in text
    figures = [f for f in re.findall(r"<figure\b.*?</figure>", dom, re.DOTALL)
               if "what longer inputs can buy" in words(f).lower()]
    assert len(figures) == 1, f"{chapter}: the ceilings figure is missing"
    assert "not of LED or BigBird" in words(figures[0])
    src = re.search(r'<img[^>]+src="([^"]*_images/[^"]+\.png)"', figures[0])
    assert src, f"{chapter}: the ceilings figure has no image"
    png = (page.parent / src.group(1)).resolve()
    assert png.is_file() and png.stat().st_size > 2000
    # Glued values, not the notes for missing records (the code cells hold those notes' text).
    assert "n a no ceiling records" not in text and "No ceiling records in" not in text
    assert "ACLSum stand ins not SCROLLS" in text  # the data is named as stand-ins
    if chapter == "qasper":
        for share in ("answer text in the input", "answer position in the input"):
            assert share in text, share
        assert re.search(r"answers whose position is inside it \d+ \d at 1024 tokens", text)
    else:
        assert re.search(r"extractive oracle \d+ \d at 1024 tokens", text)
        assert re.search(r"LexRank [\d ]+ ms at 1024 tokens", text)


@needs_chromium
def test_chromium_loads_every_chapter_figure(rendered):
    """In the browser, every chapter image has loaded with a real width (not a broken link)."""
    for chapter in book.CHAPTERS:
        page = f"notebooks/{chapter}.html"
        figures = [(src, width) for src, width in rendered.images[page] if "_images/" in src]
        assert figures, page
        assert all(width and width > 100 for _, width in figures), (page, figures)


@needs_chromium
def test_chromium_screenshot_of_a_chapter_is_not_blank(built, tmp_path):
    from PIL import Image

    shot = tmp_path / "govreport.png"
    chromium(tmp_path, "--window-size=1280,2400", "--hide-scrollbars",
             f"--screenshot={shot}", (built.html / "notebooks" / "govreport.html").as_uri())
    assert shot.stat().st_size > 10_000
    with Image.open(shot) as image:
        colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is None or len(colors) > 50  # text, plots and theme, not one flat colour


@needs_chromium
def test_chromium_shows_the_energy_audit_and_the_method_comparison(built, rendered):
    """The energy chapter's audit figure with its glued ratios; the method page's comparison
    of the paper's text, the released code and the two profiles."""
    page = built.html / "notebooks" / "energy.html"
    dom = rendered.dom["notebooks/energy.html"]
    text = words(dom)
    assert "Audit the energy number of the released code" in text
    figures = [f for f in re.findall(r"<figure\b.*?</figure>", dom, re.DOTALL)
               if "released energy computation on runs of constant power" in words(f)]
    assert len(figures) == 1, "the audit figure is missing"
    src = re.search(r'<img[^>]+src="([^"]*_images/[^"]+\.png)"', figures[0])
    assert src and (page.parent / src.group(1)).resolve().stat().st_size > 2000
    assert ("released number is 121 times the true energy in kWh at 1 h 120 at 4 h 62 at 8 h "
            "and 21 at 24 h") in text
    assert "Measured on a GPU" in text and _gpu_section_words() in text
    dom = rendered.dom["book/method.html"]
    tables = [t for t in re.findall(r"<table\b.*?</table>", dom, re.DOTALL)
              if "Released code" in words(t) and "paper code profile" in words(t)]
    assert len(tables) == 1, "the comparison table is missing"
    assert len(re.findall(r"<tr\b", tables[0])) == 1 + 13  # header + one row per difference


@needs_chromium
def test_chromium_shows_what_the_architectures_cost(rendered):
    """The cost chapter: its five figures, and numbers and verdicts read from the reference
    counts and the committed measured runs."""
    from tradeoff.analysis import cost_claims, findings
    from tradeoff.analysis.table import tidy
    from tradeoff.models import PRESETS
    from tradeoff.records.reference import load_cost_reference
    from tradeoff.report import cost as cost_report
    from tradeoff.report import gpu

    dom = rendered.dom["notebooks/cost.html"]
    text = words(dom)
    figures = [f for f in re.findall(r"<figure\b.*?</figure>", dom, re.DOTALL)
               if re.search(r'<img[^>]+src="[^"]*_images/[^"]+\.png"', f)]
    assert len(figures) == 5, "compute, attention, memory, linearity and measured speed"
    assert "Counted not measured" in text  # the provenance banner
    reference = load_cost_reference(None)
    rows = reference.select(1024)
    base = next(r for r in rows if (r.model, r.length) == ("led-base", 1024))
    assert f"the memory model fits at most {base.max_batch_48gb} with 1024 token targets" in text
    records = gpu.measured_records(cost_report.MEASURED_DIR)
    speed = cost_claims.measured_speed(records, reference, PRESETS)
    tested = findings.architecture_findings(rows, tidy(records) if records else None, speed)
    assert [f.finding for f in tested][:3] == ["5, speed", "6, its explanation", "7, compute"]
    for finding in tested:  # each row of the table: finding, statement, evidence, verdict
        assert words(f"{finding.finding} {finding.statement} {finding.evidence} "
                     f"{finding.verdict}") in text, finding.finding
    assert (f"{len(speed)} finished runs of the full architectures are in reference cpu arch"
            if len(speed) else "There are no measured runs of the full architectures yet") in text
    assert "Measured on a GPU" in text and _gpu_section_words() in text
    assert "n a no rows" not in text and "This notebook failed" not in dom
