"""Measured speed of two knobs on the paper's full architectures, on this machine's CPU.

* ``int8-dynamic`` against fp32 inference: greedy generation of a fixed number of tokens at
  batch 1 (encoder pass plus decoding with the KV cache), the Linear layers quantized by
  ``torch.ao.quantization.quantize_dynamic``.
* ``bf16`` against fp32 training: one AdamW step at batch 1 (forward, backward, update) under
  ``torch.autocast("cpu", torch.bfloat16)``, as the Trainer's ``bf16`` flag runs it on a CPU.

Random weights (speed does not depend on their values), dropout 0 (it costs no FLOPs and its
masks would only add memory). Both arms of a pair run in one process, each warmed up once,
then alternate A-B-B-A so that drift (other tenants, thermal) hits both alike; a pair's
figure is the ratio of the arms' medians. Each finished pair is written at once to
``reference/knobs-full/speed.json`` with this machine's description, and a rerun skips finished
pairs (resumable). Hours on a 2-core CPU for every pair: run it in the background.

Usage:
    python benchmarks/knob_speed.py [--models led-base led-large] [--lengths 1024 4096]
        [--kinds inference train] [--repeats 2] [--new-tokens 16] [--target-length 128]
        [--dry-run]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time

import torch

from tradeoff import knobs
from tradeoff.cost.depth import build_counting_model, random_inputs
from tradeoff.errors import ConfigError
from tradeoff.env import describe_environment
from tradeoff.models import build_config, check_length, guard_block_sparse, is_led
from tradeoff.records.reference import SpeedRow, load_speed_reference, write_speed_row


def full_model(name: str):
    config = build_config(name, "full", vocab_size=0, dropout=0.0)
    model = build_counting_model(config)
    if not is_led(name):
        guard_block_sparse(model)
    return model, config


def inference_arms(name: str, length: int, new_tokens: int):
    model, config = full_model(name)
    model.eval()
    inputs, _ = random_inputs(name, config, length, 1)
    quantized = knobs.before_inference(copy.deepcopy(model), "int8-dynamic")

    def arm(m):
        @torch.inference_mode()
        def run():
            m.generate(**inputs, min_new_tokens=new_tokens, max_new_tokens=new_tokens,
                       do_sample=False, num_beams=1)
        return run

    return {"fp32": arm(model), "int8-dynamic": arm(quantized)}


def train_arms(name: str, length: int, target_length: int):
    model, config = full_model(name)
    model.train()
    inputs, labels = random_inputs(name, config, length, target_length)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def arm(variant):
        def run():
            optimizer.zero_grad(set_to_none=True)
            with knobs.inference_context(variant, "cpu"):  # the bf16 autocast, or nothing
                loss = model(**inputs, labels=labels).loss
            loss.backward()
            optimizer.step()
        return run

    return {"fp32": arm("none"), "bf16": arm("bf16")}


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(arms: dict, repeats: int) -> dict[str, list[float]]:
    """Warm each arm up once, then A-B-B-A blocks; seconds per call of each arm."""
    (a, run_a), (b, run_b) = arms.items()
    run_a(), run_b()
    times = {a: [], b: []}
    for block in range(repeats):
        order = [(a, run_a), (b, run_b)] if block % 2 == 0 else [(b, run_b), (a, run_a)]
        for arm, run in order:
            times[arm].append(timed(run))
            print(f"  {arm}: {times[arm][-1]:.2f} s", flush=True)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["led-base", "led-large"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[1024, 4096])
    parser.add_argument("--kinds", nargs="+", default=["inference", "train"],
                        choices=["inference", "train"])
    parser.add_argument("--repeats", type=int, default=2, help="A-B-B-A blocks per pair")
    parser.add_argument("--new-tokens", type=int, default=16, help="greedy tokens per inference")
    parser.add_argument("--target-length", type=int, default=128, help="training target tokens")
    parser.add_argument("--dry-run", action="store_true",
                        help="say which pairs would be measured and which have a record")
    args = parser.parse_args()
    for name in args.models:
        for length in args.lengths:
            check_length(name, "full", length)  # an impossible length: one line, no compute

    env = describe_environment()
    done = {(r.model, r.length, r.kind) for r in load_speed_reference().itertuples()}
    for kind in args.kinds:
        for name in args.models:
            for length in args.lengths:
                if (name, length, kind) in done:
                    print(f"{name} L{length} {kind}: has a record, skipped")
                    continue
                if args.dry_run:
                    print(f"{name} L{length} {kind}: would measure")
                    continue
                print(f"{name} L{length} {kind}:", flush=True)
                torch.manual_seed(0)
                arms = (inference_arms(name, length, args.new_tokens) if kind == "inference"
                        else train_arms(name, length, args.target_length))
                load = [os.getloadavg()[0]]
                times = measure(arms, args.repeats)
                load.append(os.getloadavg()[0])
                (base, base_s), (knob, knob_s) = times.items()
                row = SpeedRow(model=name, length=length, kind=kind, baseline=base, variant=knob,
                               baseline_s=base_s, variant_s=knob_s,
                               ratio=statistics.median(knob_s) / statistics.median(base_s),
                               new_tokens=args.new_tokens if kind == "inference" else 0,
                               target_length=args.target_length if kind == "train" else 0,
                               threads=torch.get_num_threads(), env=env, load_average=load)
                write_speed_row(row)
                print(f"  {knob}/{base} time ratio (medians): {row.ratio:.3f}", flush=True)
                del arms
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConfigError as err:
        sys.exit(f"error: {err}")
