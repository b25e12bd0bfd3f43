"""Mutation testing of the modules that make the numbers a reader sees (mutmut).

Copies the checkout to a temporary folder, configures mutmut for the chosen modules and the tests
that guard them, runs it and prints the survival rate: the share of mutants (small changes of the
code, such as ``>`` for ``>=`` or ``*`` for ``/``) that no test noticed. Not part of ``make test``:
it takes about a minute on 2 cores for the default modules. Needs `pip install mutmut` (3.x), which
the package itself does not depend on.

    python benchmarks/mutation.py                      # records/run.py and config.py
    python benchmarks/mutation.py --paths src/tradeoff/analysis/claims.py --tests tests/test_claims.py
    python benchmarks/mutation.py --paths src/tradeoff/train.py --tests tests/test_numbers.py \
        --mutants 'tradeoff.train.x_tokenize__mutmut_*'  # one function of a module

mutmut mutates whole files; ``--mutants`` runs only the mutants whose names match (fnmatch
patterns, ``<module>.x_<function>__mutmut_<n>``), and the others count as "not checked", which the
rate leaves out. ``--show`` prints each survivor's diff (``mutmut show``) for triage.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = ["src/tradeoff/records/run.py", "src/tradeoff/config.py"]
DEFAULT_TESTS = ["tests/test_numbers.py", "tests/test_config.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", nargs="+", default=DEFAULT_PATHS, help="modules to mutate")
    parser.add_argument("--tests", nargs="+", default=DEFAULT_TESTS, help="tests that guard them")
    parser.add_argument("--mutants", nargs="+", default=[],
                        help="run only the mutants matching these name patterns (fnmatch)")
    parser.add_argument("--show", action="store_true", help="print each surviving mutant's diff")
    args = parser.parse_args()
    missing = [p for p in args.paths + args.tests if not (ROOT / p).is_file()]
    if missing:
        parser.error(f"no such file in the checkout: {', '.join(missing)}")
    mutmut = shutil.which("mutmut") or str(Path(sys.executable).parent / "mutmut")
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        work = Path(tmp) / "tree"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
        quoted = lambda items: ", ".join(f'"{x}"' for x in items)  # noqa: E731
        with open(work / "pyproject.toml", "a") as f:
            f.write(f"\n[tool.mutmut]\npaths_to_mutate = [{quoted(args.paths)}]\n"
                    f"tests_dir = [{quoted(args.tests)}]\n"
                    f"pytest_add_cli_args_test_selection = [{quoted(args.tests)}]\n"
                    'also_copy = ["params/", "src/tradeoff/"]\n')
        # The mutated copy must win over the editable install of the package.
        env = os.environ | {"PYTHONPATH": "src"}
        run = subprocess.run([mutmut, "run", "--max-children", "2", *args.mutants], cwd=work,
                             env=env, capture_output=True, text=True)
        if run.returncode != 0:
            tail = (run.stdout + run.stderr).replace("\r", "\n").strip().splitlines()[-15:]
            print("mutmut did not finish:\n" + "\n".join(tail), file=sys.stderr)
            return 1
        results = subprocess.run([mutmut, "results", "--all", "true"], cwd=work, env=env,
                                 capture_output=True, text=True).stdout
        states = re.findall(r"^\s*(\S+__mutmut_\d+): (.+)$", results, flags=re.M)
        counts: dict[str, int] = {}
        for _, state in states:
            counts[state] = counts.get(state, 0) + 1
        survived = [name for name, state in states if state == "survived"]
        # Mutants some test ran to a verdict; "no tests" and "not checked" have none.
        tested = sum(n for state, n in counts.items()
                     if state not in ("no tests", "not checked"))
        print(f"modules: {', '.join(args.paths)}; tests: {', '.join(args.tests)}"
              + (f"; mutants: {', '.join(args.mutants)}" if args.mutants else ""))
        print("mutants: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
        if tested:
            print(f"survival rate: {len(survived)}/{tested} = {len(survived) / tested:.1%} "
                  f"of the mutants that some test executes")
        if args.show:
            for name in survived:
                print(subprocess.run([mutmut, "show", name], cwd=work, env=env,
                                     capture_output=True, text=True).stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
