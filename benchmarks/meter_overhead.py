"""Overhead of EnergyMeter's background sampler on a small training loop; on a GPU, also the
energy counter against the sampled power, and the idle power.

Times the same loop with no meter and with a running meter (sampler on, one window around
the loop), alternating A-B-B-A in one process so that drift (thermal, other tenants) hits
both arms alike. Prints median paired ratios metered/plain (goal: <= 1.01) of wall time and
of process CPU time (all threads, so the sampler's own work is included; less sensitive to
other tenants than wall time), and, as a noise-free cross-check, the cost of one sample
divided by the sampling interval.

With ``--counter-s`` (a GPU with NVML's energy counter), one more metered window of the loop,
at least that long, compares the counter's energy with the trapezoid integral of the power the
sampler read in it (goal: within 2%); with ``--idle-s``, the meter's idle baseline. The checks
are :mod:`tradeoff.energy.validation`'s; ``benchmarks/gpu_session.py`` runs them through
:func:`validate_meter` on the lent GPU.

Usage:
    python benchmarks/meter_overhead.py [--blocks 10] [--steps 150] [--interval 0.1] [--threads N]
    python benchmarks/meter_overhead.py --device cuda --width 4096 --batch 8192 --blocks 3 \
        --steps 60 --counter-s 12 --idle-s 5 --json meter.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from tradeoff.energy import EnergyMeter, abba_overhead, counter_vs_sampled


def make_step(width: int = 512, batch: int = 64, device: str = "cpu"):
    """A small MLP regression step; returns a function running one optimiser step."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width), nn.GELU(),
                          nn.Linear(width, 1)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, width, device=device), torch.randn(batch, 1, device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    return step


def _sync() -> None:
    # Both arms wait for the device at their edges (the meter's windows do the same).
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def run_loop(step, steps: int, meter: EnergyMeter | None) -> tuple[float, float]:
    """(wall s, process CPU s) for ``steps`` steps, in a meter window when ``meter`` is given."""
    _sync()
    wall, cpu = time.perf_counter(), time.process_time()
    if meter is not None:
        meter.begin("loop")
    for _ in range(steps):
        step()
    if meter is not None:
        meter.end("loop")
    _sync()
    return time.perf_counter() - wall, time.process_time() - cpu


def abba(step, blocks: int, steps: int, interval: float) -> dict[str, list[tuple[float, float]]]:
    """Timings of the plain and metered arms, A-B-B-A in each block: ``{arm: [(wall, cpu)]}``."""
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "metered": []}
    for _ in range(blocks):
        for arm in ("plain", "metered", "metered", "plain"):
            meter = EnergyMeter(sample_interval_s=interval) if arm == "metered" else None
            times[arm].append(run_loop(step, steps, meter))
            if meter is not None:
                meter.close()
    return times


def counter_window(step, seconds: float, interval: float) -> dict:
    """One metered window of the loop lasting at least ``seconds``: GPU 0's counter energy
    against its sampled power (:func:`tradeoff.energy.counter_vs_sampled`)."""
    with EnergyMeter(sample_interval_s=interval) as meter:
        if meter.gpu_method != "nvml-counter":
            return {"ok": False, "verdict": f"no NVML energy counter: {meter.reason}"}
        meter.begin("counter")
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            step()
        measurement = meter.end("counter")
        trace = meter.trace("counter")
    check = counter_vs_sampled(measurement.gpu_energy_j[0], trace["t_s"], trace["gpu0_power_w"],
                               window_s=measurement.time_s)
    return check.to_dict() | {"gpu_util_mean_pct": float(trace["gpu0_util_pct"].mean())}


def idle_power(seconds: float) -> dict:
    """The meter's idle baseline over ``seconds`` (nothing else running)."""
    with EnergyMeter(sample_interval_s=0.1) as meter:
        m = meter.idle_baseline(seconds)
    return {"seconds": m.time_s, "gpu_w": m.idle_gpu_power_w, "cpu_w": m.idle_cpu_power_w,
            "method": m.method}


def validate_meter(*, device: str = "cpu", width: int = 512, batch: int = 64, blocks: int = 10,
                   steps: int = 150, interval: float = 0.1, counter_s: float = 0.0,
                   idle_s: float = 0.0, warmup_steps: int = 50) -> dict:
    """The whole benchmark: A-B-B-A overhead, then the counter window and the idle baseline
    when asked for. Returns a JSON-friendly dict with each check's verdict."""
    step = make_step(width, batch, device)
    for _ in range(warmup_steps):  # warm-up outside every timing (and the GPU at load power)
        step()
    times = abba(step, blocks, steps, interval)
    report = {"device": device, "torch_threads": torch.get_num_threads(),
              "loop": {"width": width, "batch": batch, "steps": steps, "blocks": blocks,
                       "interval_s": interval,
                       "median_plain_wall_s": statistics.median(t[0] for t in times["plain"])}}
    for name, index in (("wall", 0), ("cpu", 1)):
        check = abba_overhead([t[index] for t in times["plain"]],
                              [t[index] for t in times["metered"]])
        report[f"overhead_{name}"] = check.to_dict()

    # Direct cost of one sample: NVML reads (if any), psutil, RAPL files.
    with EnergyMeter(sample=False) as meter:
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            meter.sample_now()
        report["sample_cost_s"] = (time.perf_counter() - start) / n
        report["method"] = meter.method
    if counter_s > 0:
        report["counter"] = counter_window(step, counter_s, interval)
    if idle_s > 0:
        _sync()
        report["idle"] = idle_power(idle_s)
    return report


def summary_lines(report: dict) -> list[str]:
    """The report in a few printed lines."""
    loop = report["loop"]
    lines = [f"meter method here: {report['method']}; device {report['device']}; torch threads: "
             f"{report['torch_threads']}",
             f"loop: {loop['steps']} steps, median plain {loop['median_plain_wall_s']:.3f} s wall"]
    for name, words in (("wall", "wall time"), ("cpu", "process CPU time")):
        lines.append(f"overhead, {words}: {report[f'overhead_{name}']['verdict']}")
    lines.append(f"one sample costs {report['sample_cost_s'] * 1e6:.0f} us -> "
                 f"{report['sample_cost_s'] / loop['interval_s']:.3%} of a "
                 f"{loop['interval_s']:g} s interval")
    if "counter" in report:
        lines.append(f"energy counter vs sampled power: {report['counter']['verdict']}")
    if "idle" in report:
        idle = report["idle"]
        lines.append(f"idle baseline over {idle['seconds']:.1f} s: GPU {idle['gpu_w']:.1f} W, "
                     f"CPU {idle['cpu_w']:.1f} W ({idle['method']})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=10, help="A-B-B-A blocks (2 pairs each)")
    parser.add_argument("--steps", type=int, default=150, help="optimiser steps per timing")
    parser.add_argument("--interval", type=float, default=0.1, help="sampler period, s")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--width", type=int, default=512, help="MLP width")
    parser.add_argument("--batch", type=int, default=64, help="MLP batch")
    parser.add_argument("--counter-s", type=float, default=0.0,
                        help="a metered window this long: energy counter vs sampled power (GPU)")
    parser.add_argument("--idle-s", type=float, default=0.0, help="idle baseline seconds")
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = validate_meter(device=args.device, width=args.width, batch=args.batch,
                            blocks=args.blocks, steps=args.steps, interval=args.interval,
                            counter_s=args.counter_s, idle_s=args.idle_s)
    print("\n".join(summary_lines(report)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
