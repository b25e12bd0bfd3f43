"""Wall time of a cold and a warm book build.

The cold build starts from nothing (no records, no executed notebooks, no Sphinx environment) in a
temporary folder; the warm build repeats it with nothing changed, so every notebook must come
from the cache and Sphinx must find nothing to rebuild. Targets on a 2-core CPU: cold demo build
<= 20 minutes, warm rebuild <= 90 seconds.

Usage:
    python benchmarks/book_build.py [--profile smoke] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from tradeoff.book import build_book, read_report
from tradeoff.config import load_profile

TARGETS_S = {"cold": {"demo": 20 * 60}, "warm": {"*": 90}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke", help="profile name or YAML path")
    parser.add_argument("--keep", help="build in this folder and keep it (default: a temp folder)")
    args = parser.parse_args()

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="book-bench-"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    profile = load_profile(args.profile, results_dir=str(folder / "results"))
    build_dir = folder / "build"
    times = {}
    try:
        for phase in ("cold", "warm"):
            clock = time.perf_counter()
            index = build_book(profile, build_dir=build_dir)
            times[phase] = time.perf_counter() - clock
            report = read_report(build_dir)
            print(f"{phase}: {times[phase]:7.1f} s  ({report.executed} notebooks executed, "
                  f"{report.cached} reused, {report.staged_files} files staged, "
                  f"Sphinx {report.sphinx_seconds:.1f} s)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"profile {profile.name}: {len(profile.cells())} cells; book at {index}"
          + ("" if args.keep else " (removed)"))
    print(f"warm/cold ratio: {times['warm'] / times['cold']:.3f}")
    for phase, targets in TARGETS_S.items():
        target = targets.get(profile.name, targets.get("*"))
        if target:
            verdict = "met" if times[phase] <= target else "MISSED"
            print(f"{phase} target <= {target} s: {verdict}")


if __name__ == "__main__":
    main()
