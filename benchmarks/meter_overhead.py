"""Overhead of EnergyMeter's background sampler on a small CPU training loop.

Times the same loop with no meter and with a running meter (sampler on, one window around
the loop), alternating A-B-B-A in one process so that drift (thermal, other tenants) hits
both arms alike. Prints median paired ratios metered/plain (goal: <= 1.01) of wall time and
of process CPU time (all threads, so the sampler's own work is included; less sensitive to
other tenants than wall time), and, as a noise-free cross-check, the cost of one sample
divided by the sampling interval.

Usage:
    python benchmarks/meter_overhead.py [--blocks 10] [--steps 150] [--interval 0.1] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from tradeoff.energy import EnergyMeter


def make_step(width: int = 512, batch: int = 64):
    """A small MLP regression step; returns a function running one optimiser step."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
                          nn.Linear(width, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, width), torch.randn(batch, 1)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    return step


def run_loop(step, steps: int, meter: EnergyMeter | None) -> tuple[float, float]:
    """(wall s, process CPU s) for ``steps`` steps, in a meter window when ``meter`` is given."""
    wall, cpu = time.perf_counter(), time.process_time()
    if meter is not None:
        meter.begin("loop")
    for _ in range(steps):
        step()
    if meter is not None:
        meter.end("loop")
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=10, help="A-B-B-A blocks (2 pairs each)")
    parser.add_argument("--steps", type=int, default=150, help="optimiser steps per timing")
    parser.add_argument("--interval", type=float, default=0.1, help="sampler period, s")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    step = make_step()
    for _ in range(50):  # warm-up outside every timing
        step()

    times: dict[str, list[tuple[float, float]]] = {"plain": [], "metered": []}
    for _ in range(args.blocks):
        for arm in ("plain", "metered", "metered", "plain"):
            meter = EnergyMeter(sample_interval_s=args.interval) if arm == "metered" else None
            times[arm].append(run_loop(step, args.steps, meter))
            if meter is not None:
                meter.close()
    pairs = list(zip(times["plain"], times["metered"], strict=True))
    wall_ratios = [m[0] / p[0] for p, m in pairs]
    cpu_ratios = [m[1] / p[1] for p, m in pairs]

    # Direct cost of one sample: NVML reads (if any), psutil, RAPL files.
    meter = EnergyMeter(sample=False)
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        meter.sample_now()
    sample_cost_s = (time.perf_counter() - start) / n
    method = meter.method
    meter.close()

    print(f"meter method here: {method}; torch threads: {torch.get_num_threads()}")
    plain_wall = statistics.median(t[0] for t in times["plain"])
    print(f"loop: {args.steps} steps, median plain {plain_wall:.3f} s wall, {len(pairs)} pairs")
    for name, ratios in (("wall time", wall_ratios), ("process CPU time", cpu_ratios)):
        print(f"paired ratio metered/plain, {name}: median {statistics.median(ratios):.4f} "
              f"(min {min(ratios):.4f}, max {max(ratios):.4f})")
    print(f"one sample costs {sample_cost_s * 1e6:.0f} us -> "
          f"{sample_cost_s / args.interval:.3%} of a {args.interval:g} s interval")


if __name__ == "__main__":
    main()
