"""The package's layers, checked on its source: data flows one way and each module stays small.

producers (config, models, knobs, data, train, infer, energy, metrics, pipeline, cost, ceilings)
-> records -> analysis -> report -> book. The graph is read from every ``import`` in
``src/tradeoff`` (function-level imports included; imports under ``if TYPE_CHECKING:`` are
annotations only and left out), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tradeoff"
MAX_LINES = 600
# What analysis/ may import from the package: records and reference rows, the constants and
# errors, the typed settings (no torch), the number formatter, and pure helpers of the meter's
# traces. Never a producer that builds models, nor the report.
ANALYSIS_MAY_IMPORT = ("tradeoff.analysis", "tradeoff.records", "tradeoff.tasks",
                       "tradeoff.errors", "tradeoff.numbers", "tradeoff.config", "tradeoff.knobs",
                       "tradeoff.env", "tradeoff.energy.trace")
# Modules that import nothing from the package, so every layer can use them.
LEAVES = ("tradeoff.errors", "tradeoff.tasks", "tradeoff.numbers")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return inside


def _imports(name: str, path: Path) -> set[str]:
    """The package modules ``name`` imports, anywhere in its source."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            if target.startswith("tradeoff"):
                while target not in MODULES and "." in target:
                    target = target.rpartition(".")[0]
                if target in MODULES and target != name:
                    found.add(target)
                    break
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_checker_sees_relative_and_function_level_imports():
    # The checker itself, on modules whose imports are known: a relative import two levels up,
    # a function-level one, and an import kept out by TYPE_CHECKING.
    assert "tradeoff.tasks" in GRAPH["tradeoff.analysis.claims"]
    assert "tradeoff.records.run" in GRAPH["tradeoff.records"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_function_level_imports_included():
    assert _cycles(GRAPH) == []


def test_the_constants_and_errors_import_nothing_from_the_package():
    for leaf in LEAVES:
        assert GRAPH[leaf] == set(), f"{leaf} imports {sorted(GRAPH[leaf])}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _is_within(m, ["tradeoff.analysis"])))
def test_analysis_reads_records_only(module):
    outside = sorted(t for t in GRAPH[module] if not _is_within(t, ANALYSIS_MAY_IMPORT))
    assert outside == [], f"{module} imports {outside}"


def test_importing_the_analysis_loads_neither_torch_nor_the_report():
    analysis = [m for m in MODULES if _is_within(m, ["tradeoff.analysis"])]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in analysis)
            + "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('torch', 'transformers', 'matplotlib', 'seaborn') or m.startswith('tradeoff.report')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"


@pytest.mark.parametrize("command", [
    ["run", "--profile", "smoke", "--dataset", "qasper", "--model", "led-base", "--length",
     "1024", "--variant", "bf16", "--dry-run"],
    ["grid", "--profile", "smoke", "--dry-run"],
    ["grid", "--profile", "smoke", "--list"],
    ["cost", "--dry-run"],
], ids=lambda command: " ".join(command[:1] + command[-1:]))
def test_the_commands_that_only_validate_load_no_torch(command, tmp_path):
    # Validating a profile, a cell or a count request takes a fraction of a second, as a user
    # checking a command expects; importing torch alone takes seconds.
    argv = command + (["--results-dir", str(tmp_path)] if command[0] != "cost" else [])
    code = (f"import sys\nfrom tradeoff.cli import main\nassert main({argv!r}) == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip().splitlines()[-1]
    assert loaded == "[]"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_600_lines(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines"


def test_the_report_never_imports_a_producer_that_builds_models():
    # Chapters read records; what trains, counts or runs cells sits below the records. The
    # report may read the presets registry (tradeoff.models.PRESETS: names, order, checkpoints),
    # which config reads too; it never builds a model.
    producers = ("tradeoff.train", "tradeoff.infer", "tradeoff.pipeline", "tradeoff.cost",
                 "tradeoff.ceilings", "tradeoff.grid", "tradeoff.executors")
    importers = defaultdict(list)
    for module, targets in GRAPH.items():
        if _is_within(module, ["tradeoff.report"]):
            for target in targets:
                if _is_within(target, producers):
                    importers[module].append(target)
    assert dict(importers) == {}
