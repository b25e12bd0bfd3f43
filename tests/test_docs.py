"""Every shell command that the README and the book's pages show runs as written.

Commands come from the fenced ``bash``/``sh``/``shell`` blocks of README.md, book/*.md and the
chapter notebooks' Markdown cells (each chapter's "Re-run this page" command), and from the code
cell that computes the command of each page the summarization template gives. A command runs as
written, in a scratch folder whose ``results/demo`` holds smoke records (the
chapters read those), unless its comment says it needs a GPU, a network or a grid's records, or takes minutes:
then its dry-run form runs (``--dry-run`` for ``tradeoff``, ``make -n``, ``papermill
--help-notebook``), which validates it as a real run would. A command that fails, or a slow one
that has no dry-run form, fails the test with the page and line named.

An ``export`` line sets its variable for the later commands of its block, as in a reader's
shell. A block whose first command says "as root" (the one-machine SLURM of the reproducing
page) runs where the tests run as root, and is skipped elsewhere; any cluster it started in the
scratch folder is stopped at the end.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tradeoff.book import CHAPTER_SOURCES
from tradeoff.config import Cell
from tradeoff.records import load_records
from tradeoff.report import chapter
from tradeoff.report.chapter import ParameterError, open_chapter

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "book").glob("*.md"))]
NOTEBOOKS = sorted({ROOT / "notebooks" / f"{source}.ipynb" for source, _ in CHAPTER_SOURCES.values()})
SHELL_FENCE = re.compile(r"^```(bash|sh|shell)\s*$")
# Words a reader sees in the command's comment, saying it is not run as written by the tests.
SLOW = re.compile(r"needs (a|\d+) GPUs?|needs a network|needs the (paper|demo) grid|"
                  r"takes (a minute|minutes|hours|days)")
# The cell of a template that shows its page's re-run command (computed: one template, many pages).
COMPUTED_COMMAND = re.compile(r"^chapter\.rerun_markdown\(.*\)$")
# The smoke records the chapters' examples read: two lengths of a QA and a summarization set
# (from the shared smoke grid, conftest.py).
RECORDED = [Cell(d, "led-base", n) for d in ("qasper", "qmsum") for n in (1024, 2048)]


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str  # the command as written, without its comment
    comment: str
    block: int = 0  # the line of its block's opening fence

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def documented_commands(path: Path) -> list[Command]:
    """The commands of a page's shell blocks, continuation lines joined, comments split off."""
    page = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    return commands_in(path.read_text(), page)


def commands_in(text: str, page: str) -> list[Command]:
    """The commands of the shell blocks of a Markdown text; ``page`` names where it is."""
    commands, inside, pending, start, block = [], False, "", 0, 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not inside:
            inside = bool(SHELL_FENCE.match(line.strip()))
            block = number
            continue
        if line.strip().startswith("```"):
            inside = False
            continue
        if not pending:
            start = number
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        comment = re.search(r"\s+#\s", pending)
        command = pending[:comment.start()] if comment else pending
        if command.strip() and not command.strip().startswith("#"):
            commands.append(Command(page, start, command.strip(),
                                    pending[comment.end():].strip() if comment else "", block))
        pending = ""
    return commands


def _cells(path: Path) -> list[tuple[int, str, str]]:
    cells = json.loads(path.read_text())["cells"]
    return [(i, c["cell_type"], "".join(c["source"])) for i, c in enumerate(cells, start=1)]


def notebook_commands(path: Path) -> list[Command]:
    """The commands of a chapter notebook's Markdown cells, and those its template cells compute
    for each page it gives (evaluated with that page's parameters, as the book executes it)."""
    name = path.relative_to(ROOT).as_posix()
    commands = [c for i, kind, source in _cells(path) if kind == "markdown"
                for c in commands_in(source, f"{name}, cell {i}")]
    pages = {page: extra for page, (source, extra) in CHAPTER_SOURCES.items()
             if source == path.stem}
    for i, kind, source in _cells(path):
        if kind == "code" and COMPUTED_COMMAND.match(source.strip()):
            for page, extra in pages.items():
                shown = eval(source, {"chapter": chapter, **extra})  # noqa: S307 - our notebook
                commands += commands_in(shown.data, f"{name} as {page}, cell {i}")
    return commands


def check_form(command: Command) -> tuple[str, Path | None]:
    """The shell line the test runs for a documented command, and its working folder.

    Returns:
        ``(line, cwd)``; cwd None means the scratch folder.

    Raises:
        AssertionError: a slow command with no dry-run form.
    """
    if not SLOW.search(command.comment):
        # make and the benchmarks' scripts name paths of the checkout.
        here = command.text.startswith(("make ", "bash benchmarks/", "python benchmarks/"))
        return command.text, ROOT if here else None
    words = shlex.split(command.text)
    if words[0] == "make":
        return "make -n " + " ".join(words[1:]), ROOT
    if "tradeoff" in words:
        # torchrun / accelerate launch start the same command on each process.
        tail = command.text[command.text.index("-m tradeoff"):]
        return f"python {tail} --dry-run", None
    if words[0] == "papermill":
        return f"papermill --help-notebook {words[1]}", None
    if words[0] == "python" and words[1].startswith("benchmarks/"):
        return f"{command.text} --dry-run", ROOT
    if words[0] == "hf":
        # Downloads need the network; the subcommand and its options are checked by --help.
        return f"hf {words[1]} --help", None
    raise AssertionError(f"{command.where}: marked slow but has no dry-run form for the tests")


def block_of(command: Command) -> list[Command]:
    return [c for c in ALL if (c.page, c.block) == (command.page, command.block)]


def with_exports(command: Command, line: str) -> str:
    """The line, after the ``export`` lines that come before it in its block."""
    exports = [c.text for c in block_of(command)
               if c.line < command.line and c.text.startswith("export ")]
    return "; ".join([*exports, line])


def needs_root(command: Command) -> bool:
    """Its block starts with a command that says it runs as root."""
    return "as root" in block_of(command)[0].comment


def run_line(line: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                        "SLURM_ARRAY_TASK_ID": "1"}
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, smoke_grid):
    """A folder like a checkout after `make book`: notebooks/ and smoke records in results/demo."""
    folder = tmp_path_factory.mktemp("docs")
    (folder / "notebooks").symlink_to(ROOT / "notebooks")
    (folder / "reference").symlink_to(ROOT / "reference")  # the committed knob runs
    (folder / "tests").symlink_to(ROOT / "tests")  # the one-machine SLURM's script
    smoke_grid.copy(RECORDED, folder / "results" / "demo")
    records = load_records(folder / "results" / "demo")
    assert sorted(r.label for r in records) == sorted(c.label for c in RECORDED)
    assert all(r.status == "ok" for r in records), [r.reason for r in records]
    yield folder
    # A cluster a page's commands started stops here too, even where its stop command failed.
    from slurm_cluster import Cluster

    for conf in folder.glob("*/slurm.conf"):
        Cluster(conf.parent).stop()


@pytest.fixture(scope="module")
def ran(scratch):
    """Runs a documented command's check form (:func:`check_form`) in its folder, once: pages
    that show the same command in the same folder share its result."""
    results = {}

    def run(command: Command) -> subprocess.CompletedProcess:
        line, cwd = check_form(command)
        key = (with_exports(command, line), cwd or scratch)
        if key not in results:
            results[key] = run_line(*key)
        return results[key]
    return run


ALL = ([c for page in PAGES for c in documented_commands(page)]
       + [c for path in NOTEBOOKS for c in notebook_commands(path)])


def test_the_pages_document_commands():
    pages = {c.page for c in ALL}
    assert {"README.md", "book/reproducing.md"} <= pages
    assert any("papermill" in c.text for c in ALL)


@pytest.mark.parametrize("page", CHAPTER_SOURCES)
def test_every_chapter_shows_the_command_that_re_runs_it(page):
    source, extra = CHAPTER_SOURCES[page]
    where = f"notebooks/{source}.ipynb" + (f" as {page}" if source != page else "")
    shown = [c for c in ALL if c.page.startswith(f"{where}, cell")]
    assert [c.text.split(" -p ")[0] for c in shown] == [
        f"papermill notebooks/{source}.ipynb {page}.ipynb"], shown
    words = shlex.split(shown[0].text)
    assert len(words[3:]) % 3 == 0 and set(words[3::3]) == {"-p"}, shown[0].where
    params = dict(zip(words[4::3], words[5::3]))
    assert params.get("dataset") == extra.get("dataset")  # each summarization page its own
    expected = ({"profile": "knobs", "results_dir": "reference/knobs"} if page == "knobs"
                else {"profile": "demo", "results_dir": "results/demo"})
    assert {k: params.get(k) for k in expected} == expected


def test_papermill_commands_pass_only_parameters_their_notebook_declares():
    import papermill
    import yaml

    commands = [c for c in ALL if c.text.startswith("papermill notebooks/")]
    assert len(commands) >= len(CHAPTER_SOURCES)
    for command in commands:
        words = shlex.split(command.text)
        names = {words[i + 1] for i, w in enumerate(words) if w == "-p"}
        names |= {k for i, w in enumerate(words) if w == "-y" for k in yaml.safe_load(words[i + 1])}
        declared = papermill.inspect_notebook(str(ROOT / words[1]))
        assert names <= set(declared), f"{command.where}: {names - set(declared)} not declared"


@pytest.mark.parametrize("command", ALL, ids=lambda c: f"{c.page}:{c.line}")
def test_documented_command_runs(command, ran):
    if needs_root(command) and os.geteuid() != 0:
        pytest.skip(f"{command.where}: its block runs as root")
    line = with_exports(command, check_form(command)[0])
    done = ran(command)
    assert done.returncode == 0, (
        f"{command.where}\n  ran: {line}\n  exit {done.returncode}\n"
        + "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:]))


def test_the_papermill_example_shows_only_the_lengths_asked_for(scratch, ran):
    [example] = [c for c in ALL if "papermill notebooks/qasper.ipynb qasper-short" in c.text]
    line, cwd = check_form(example)
    assert (with_exports(example, line), cwd) == (example.text, None)  # as written, in scratch
    assert ran(example).returncode == 0
    out = Path(scratch, shlex.split(example.text)[2])
    cells = json.loads(out.read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # The runs' sections (after the published scores, which are at their published lengths).
    start = next(i for i, c in enumerate(cells)
                 if "".join(c["source"]).startswith("## The pipeline re-run on a laptop"))
    frames = " ".join(json.dumps(o) for c in cells[start:] for o in c.get("outputs", []))
    assert "2048" in frames and "3072" not in frames and "4096" not in frames


def test_a_broken_command_fails_with_its_page_and_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n```bash\npython -m tradeoff grid --profile no-such-profile --list\n```\n")
    [command] = documented_commands(page)
    assert (command.page, command.line) == ("page.md", 4)
    done = run_line(check_form(command)[0], tmp_path)
    assert done.returncode == 2
    assert "no-such-profile" in done.stderr


def test_a_slow_command_without_a_dry_run_is_an_error():
    with pytest.raises(AssertionError, match="no dry-run form"):
        check_form(Command("page.md", 1, "huggingface-cli download x", "needs a network"))


def test_a_list_passed_with_p_ends_in_one_line_naming_the_parameter(scratch):
    done = run_line("papermill notebooks/qasper.ipynb out.ipynb -p lengths '[1024, 2048]'",
                    scratch)
    assert done.returncode != 0
    last = [line for line in done.stderr.splitlines() if line.strip()][-1]
    assert "parameter `lengths`" in last and "-y 'lengths: [1024, 2048]'" in last, last
    assert "tradeoff/" not in done.stderr  # no traceback through the package


@pytest.mark.parametrize("overrides, needle", [
    ({"lengths": "[1024, 2048]"}, "parameter `lengths` got '[1024, 2048]' (text)"),
    ({"models": ["led-small"]}, "parameter `models`"),
    ({"lengths": [8192]}, "missing: 8192"),
    ({"results_dir": "no/such/folder"}, "parameter `results_dir`"),
    ({"signal": "rouge"}, "parameter `signal`"),
    ({"dataset": "qasperr"}, "parameter `dataset`"),
])
def test_open_chapter_names_the_bad_parameter(scratch, overrides, needle):
    params = dict(profile="smoke", results_dir=str(scratch / "results" / "demo"),
                  models=["led-base"], lengths=[1024, 2048], signal="auto", dataset="qasper")
    with pytest.raises(ParameterError) as caught:
        open_chapter(**params | overrides)
    assert needle in str(caught.value)
    assert caught.value._render_traceback_() == [f"ParameterError: {caught.value}"]


def test_open_chapter_keeps_the_lengths_asked_for(scratch):
    chapter = open_chapter(profile="smoke", results_dir=str(scratch / "results" / "demo"),
                           lengths=[2048], dataset="qmsum")
    assert sorted(set(chapter.frame["length"])) == [2048]
    assert chapter.signal == "val_loss"  # random-init records
