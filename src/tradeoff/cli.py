"""Command line: ``tradeoff run | grid | env | book | cost`` (also ``python -m tradeoff``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import executors
from .config import Cell, load_profile
from .errors import ConfigError, DataUnavailableError
from .grid import run_grid, validate_cells
from .pipeline import run_cell
from .records import record_path
from .tasks import DEFAULT_NEW_TOKENS, MODELS


def _profile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="demo", help="profile name in params/ or a YAML path")
    parser.add_argument("--results-dir", help="where run records go (default results/<profile>)")
    parser.add_argument("--data-dir", help="local SCROLLS zips or folders (default: the "
                                           "profile's data_dir, else the Hugging Face cache)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradeoff", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one grid cell and write its record")
    _profile_args(run)
    run.add_argument("--dataset", required=True, help="govreport | summscreenfd | qmsum | qasper")
    run.add_argument("--model", required=True, help="led-base | led-large | bigbird-large")
    run.add_argument("--length", required=True, type=int, help="input length in tokens")
    run.add_argument("--seed", type=int, default=0, help="random seed")
    run.add_argument("--grad-accum", type=int, help="gradient accumulation (default: profile's)")
    run.add_argument("--variant", default="none",
                     help="efficiency knob (tradeoff.knobs; default: none, the paper's setting)")
    run.add_argument("--force", action="store_true", help="re-run even if a record exists")
    run.add_argument("--dry-run", action="store_true",
                     help="validate the cell and print its record path; run nothing")

    grid = sub.add_parser("grid", help="run every cell of a profile (resumable)")
    _profile_args(grid)
    grid.add_argument("--list", action="store_true", help="print one cell per line and exit")
    grid.add_argument("--force", action="store_true", help="re-run cells that have a record")
    grid.add_argument("--retry-failed", action="store_true", help="re-run oom/failed cells")
    grid.add_argument("--dry-run", action="store_true",
                      help="validate every cell and print which would run; run nothing")
    grid.add_argument("--executor", choices=("local", "slurm"),
                      help="submit one job per unfinished cell through submitit: 'slurm' (a job "
                           "array; returns once queued) or 'local' (processes here; waits); "
                           "default: run the cells in this process")
    grid.add_argument("--parallel", type=int, default=1,
                      help="--executor local: cells run at once (default 1)")
    grid.add_argument("--status", action="store_true",
                      help="which cells are done, queued, running or failed (records and job "
                           "states); changes nothing")

    env = sub.add_parser("env", help="what the energy meter can see and which method it uses")
    env.add_argument("--json", action="store_true", help="print JSON")

    book = sub.add_parser("book", help="grid -> executed notebooks -> jupyter-book HTML")
    _profile_args(book)
    book.add_argument("--build-dir", default="_build", help="build folder")
    book.add_argument("--dry-run", action="store_true",
                      help="validate the profile and the book's sources; list the pages")

    cost = sub.add_parser("cost", help="counted FLOPs, saved activations and batch fit of the "
                                       "paper's full architectures (cached)")
    cost.add_argument("--models", nargs="+", default=list(MODELS),
                      help=f"models, space- or comma-separated (default: {' '.join(MODELS)})")
    cost.add_argument("--lengths", nargs="+",
                      help="input lengths in tokens, space- or comma-separated "
                           "(default: the paper profile's)")
    cost.add_argument("--target-length", type=int,
                      help="target tokens of the training sample (default: the paper profile's "
                           "max_target_length)")
    cost.add_argument("--new-tokens", type=int,
                      help=f"greedy tokens generated in the inference count (default: "
                           f"{DEFAULT_NEW_TOKENS})")
    cost.add_argument("--dataset",
                      help="set --target-length and --new-tokens to the dataset's mean reference "
                           "length (govreport | summscreenfd | qmsum | qasper; one token per "
                           "word, a lower bound: tradeoff.tasks.COST_TARGET_TOKENS)")
    cost.add_argument("--scale", choices=("full", "mini"), default="full",
                      help="full: the paper's architectures; mini: the small stand-ins (quick)")
    cost.add_argument("--json", action="store_true", help="one JSON object per model x length")
    cost.add_argument("--write-reference", action="store_true",
                      help="merge the rows into the committed reference data the book reads, "
                           "with an extrapolation check of the first model at its shortest "
                           "length (resumes from the count cache)")
    cost.add_argument("--reference", help="reference file (default: reference/cost/cost-rows.json)")
    cost.add_argument("--skip-check", action="store_true",
                      help="with --write-reference: no new extrapolation check (a full-depth "
                           "count, which at 16k tokens does not fit a CPU's memory); the checks "
                           "already recorded stay")
    cost.add_argument("--dry-run", action="store_true",
                      help="validate the models and lengths and say what would be counted")
    cost.add_argument("--knobs", action="store_true",
                      help="count the memory knobs instead (grad-checkpointing, bf16, lora): "
                           "bytes per training sample and the batch that fits; with "
                           "--write-reference, into reference/knobs-full/memory.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _dispatch(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        if isinstance(err, DataUnavailableError):
            print(f"error: {err}", file=sys.stderr)
            return 2
        raise


def _dispatch(args) -> int:
    if args.command == "env":
        return _env(args)
    if args.command == "cost":
        return _cost(args)
    profile = load_profile(args.profile, results_dir=args.results_dir, data_dir=args.data_dir)
    if args.command == "run":
        cell = Cell(args.dataset, args.model, args.length, args.seed,
                    args.grad_accum or profile.gradient_accumulation_steps, args.variant)
        if args.dry_run:
            return _dry_run(profile, [cell], args.force)
        record = run_cell(profile, cell, force=args.force)
        print(f"{cell.label}: {record.status} {record.reason}".rstrip())
        return 0 if record.status == "ok" else 1
    if args.command == "grid":
        if args.list:
            validate_cells(profile, profile.cells(), here=False)
            for cell in profile.cells():
                print(f"--dataset {cell.dataset} --model {cell.model} --length {cell.length} "
                      f"--seed {cell.seed} --grad-accum {cell.grad_accum} "
                      f"--variant {cell.variant}")
            return 0
        if args.status or args.executor:
            return _grid_jobs(profile, args)
        if args.dry_run:
            return _dry_run(profile, profile.cells(), args.force)
        records = run_grid(profile, force=args.force, retry_failed=args.retry_failed)
        failed = [r for r in records if r.status != "ok"]
        print(f"{len(records) - len(failed)}/{len(records)} cells ok; records in {profile.results_path}")
        for r in failed:
            print(f"  {r.label}: {r.status}: {r.reason}")
        return 0
    if args.command == "book":
        # The book loads the chapters' report modules (pandas, matplotlib): only for `book`.
        from .book import build_book, plan_book

        if args.dry_run:
            print("\n".join(plan_book(profile)))
            return 0
        print(build_book(profile, build_dir=args.build_dir))
        return 0
    raise AssertionError(args.command)


def _grid_jobs(profile, args) -> int:
    """``grid --status`` and ``grid --executor``: cells as scheduler jobs (tradeoff.executors)."""
    if args.status:
        states = executors.cell_states(profile)
        for state in states:
            print(state.line)
        print(f"{executors.status_counts(states)}; records in {profile.results_path}, "
              f"logs in {executors.jobs_folder(profile)}")
        return 0
    if args.dry_run:
        todo, states = executors.plan_grid(profile, executor=args.executor, force=args.force,
                                           retry_failed=args.retry_failed)
        print("\n".join(executors.describe_plan(profile, todo, states, args.executor)))
        return 0
    local = args.executor == "local"
    jobs = executors.submit_grid(profile, executor=args.executor, force=args.force,
                                 retry_failed=args.retry_failed,
                                 parallel=max(1, args.parallel) if local else None, wait=local)
    for cell, job_id in jobs:
        print(f"{cell.label}: job {job_id}")
    where = f" --results-dir {args.results_dir}" if args.results_dir else ""
    print(f"{len(jobs)} job(s) submitted ({args.executor}); logs in "
          f"{executors.jobs_folder(profile)}; `tradeoff grid --profile {args.profile}{where} "
          f"--status` shows where each cell stands")
    if local:
        states = executors.cell_states(profile)
        print(executors.status_counts(states))
    return 0


def _dry_run(profile, cells: list[Cell], force: bool) -> int:
    """Validate cells (as a real run would, before any compute) and say what would run."""
    for cell, params in zip(cells, validate_cells(profile, cells)):
        path = record_path(profile.results_path, params)
        action = "would run" if force or not path.exists() else "has a record"
        print(f"{cell.label}: {action}: {path}")
    return 0


def _cost(args) -> int:
    from .cost.architecture import cost_rows, format_table

    def split(values: list[str]) -> list[str]:
        return [v for value in values for v in value.split(",") if v]

    target_length, new_tokens = _cost_targets(args)
    lengths = None
    if args.lengths:
        lengths = []
        for value in split(args.lengths):
            try:
                lengths.append(int(value))
            except ValueError:
                raise ConfigError(f"input length '{value}' is not a whole number of tokens") from None
    if args.dry_run:
        from .cost.architecture import paper_defaults, validate_request
        from .cost.knob_memory import MEMORY_KNOBS, MEMORY_LENGTHS
        from .models import check_length

        lengths = lengths or (list(MEMORY_LENGTHS) if args.knobs else paper_defaults()[0])
        if args.knobs:
            for model in split(args.models):
                for length in lengths:
                    check_length(model, args.scale, length)
            what, target = f"memory knobs {', '.join(MEMORY_KNOBS)}", ""
        else:
            target_length = paper_defaults()[1] if target_length is None else target_length
            validate_request(split(args.models), lengths, args.scale, target_length, new_tokens)
            what = "FLOPs and memory"
            target = (f" with {target_length}-token targets and {new_tokens} generated tokens"
                      f"{f' ({args.dataset})' if args.dataset else ''}")
        print(f"would count {what} of {', '.join(split(args.models))} ({args.scale}) at "
              f"{', '.join(map(str, lengths))} tokens{target}"
              f"{'; and write the reference' if args.write_reference else ''}")
        return 0
    if args.knobs:
        return _knob_memory(split(args.models), lengths, target_length, args)
    rows = cost_rows(models=split(args.models), lengths=lengths, target_length=target_length,
                     new_tokens=new_tokens, scale=args.scale)
    if args.json:
        for row in rows:
            print(json.dumps(row.model_dump()))
    else:
        print(format_table(rows))
    if args.write_reference:
        from .cost.reference_file import check_extrapolation, write_reference

        if args.skip_check:
            reference = write_reference(rows, args.reference)
            print(f"wrote {len(rows)} row(s) to {reference.path} ({len(reference.rows)} in all); "
                  f"no new extrapolation check", file=sys.stderr)
            return 0
        first = rows[0]
        shortest = min(r.length for r in rows if r.model == first.model)
        check = check_extrapolation(first.model, shortest, first.target_length,
                                    first.generated_tokens, first.dropout, scale=args.scale)
        reference = write_reference(rows, args.reference, checks=[check])
        print(f"wrote {len(rows)} row(s) to {reference.path} ({len(reference.rows)} in all); "
              f"extrapolated vs full depth at {check.model} {check.length}: largest relative "
              f"difference {check.largest:.2g}", file=sys.stderr)
    return 0


def _cost_targets(args) -> tuple[int | None, int]:
    """``cost``'s target and generated tokens: ``--dataset``'s, or the flags (or defaults)."""
    if args.dataset is None:
        return args.target_length, (DEFAULT_NEW_TOKENS if args.new_tokens is None
                                    else args.new_tokens)
    from .config import cost_target_tokens

    tokens = cost_target_tokens(args.dataset)
    if args.target_length is not None or args.new_tokens is not None:
        raise ConfigError(f"--dataset {args.dataset} sets --target-length and --new-tokens "
                          f"(both {tokens}); give either --dataset or those two")
    return tokens, tokens


def _knob_memory(models: list[str], lengths: list[int] | None, target_length: int | None,
                 args) -> int:
    """``cost --knobs``: the memory knobs counted on the architectures (cost.knob_memory)."""
    from .cost.knob_memory import MEMORY_LENGTHS, memory_rows, update_memory_reference

    lengths = lengths or list(MEMORY_LENGTHS)
    if args.write_reference:
        update_memory_reference(models, lengths)
        return 0
    rows = memory_rows(models, lengths, target_length=target_length or 1024,
                       scale=args.scale)
    for row in rows:
        print(json.dumps(row.model_dump()) if args.json else
              f"{row.model} L{row.length} {row.variant}: "
              f"{row.memory_per_sample_bytes / 2**30:.2f} GiB a sample, batch "
              f"{row.max_batch_48gb} (48 GB) / {row.max_batch_80gb} (80 GB)")
    return 0


def _env(args) -> int:
    from .energy import EnergyMeter
    from .env import describe_environment

    meter = EnergyMeter(sample=False)
    try:
        report = {"energy": meter.describe(), "environment": describe_environment()}
    finally:
        meter.close()
    if args.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        for section, values in report.items():
            print(f"[{section}]")
            for key, value in values.items():
                print(f"  {key}: {value}")
    return 0
