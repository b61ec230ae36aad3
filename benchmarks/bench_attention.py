#!/usr/bin/env python
"""Banded attention benchmark: what computing only the band saves, measured side by side.

    python benchmarks/bench_attention.py                      # T = 256 ... 8192, window 256 (~3 min, quiet 2-core CPU)
    python benchmarks/bench_attention.py --plot runs/attention.png --json runs/attention.json

For each context length T, on the same random q, k, v (batch 1, 8 heads of 64, float32: one
attention layer of a GPT-3-like head configuration, scaled to fit a CPU), one forward + backward of:

1. dense causal   F.scaled_dot_product_attention(is_causal=True)  (PyTorch's fused kernel, O(T²))
2. masked band    the same call with the (T, T) band mask          (right answer, still O(T²))
3. banded kernel  gptedu.banded_attention                          (only the band, O(T·w))

Time: the median of --reps runs, the three methods interleaved so that load from other
processes hits all of them alike. Memory: the bytes autograd keeps from the
forward for the backward (what a training step holds per layer), counted exactly with
saved-tensor hooks, so neither the allocator nor other processes can blur it. The slope of log(ms)
against log(T) over the largest lengths says how each grows (2 = quadratic, 1 = linear).
The last line is the headline ratio: dense causal time / banded time at T = 4096.

FlexAttention (torch.nn.attention.flex_attention, compiled, with a sliding-window block mask) is what a PyTorch
user would pick. On the CPU in torch 2.13 it has no backward (it raises; the message is recorded), so it gets a
second, forward-only table (no_grad): dense causal, the banded kernel and FlexAttention, with FlexAttention's
compile time at each T (its first call) reported apart. `--no-flex` skips it (compiling takes a minute or more).

Goals, reported after the table (a ratio below its goal is printed as such, never hidden): the kernel at least
3.0x faster than dense causal SDPA at T = 4096, not slower than it from T = 2w on, and keeping at most 2x the
memory dense SDPA keeps at every T >= 1024. `--results` writes the table, the goals, the machine (CPU, threads,
torch version and kernel capability, load average, date) and the command to data/results/bench_attention.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_machine  # noqa: E402
from gptedu.session import torch_threads  # noqa: E402

from gptedu.experiments.attention_bench import (FORWARD_METHODS, KERNEL, MEMORY_GOAL, METHODS,  # noqa: E402,F401
                                               SPEEDUP_GOAL, flex_attention_forward,
                                               attention_call, forward_backward, inputs, saved_for_backward,
                                               saved_for_backward_mb, slope, time_all)


def plot(results: dict, path: Path, window: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    Ts = results["T"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in METHODS:
        ax.loglog(Ts, results["ms"][m], "o-", label=f"{m} (slope {results['slope'][m]:.2f})")
    ax.set_xlabel("context length T")
    ax.set_ylabel("forward + backward, ms")
    ax.set_title(f"one attention layer, window {window}")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--T", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192])
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--head-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--no-memory", action="store_true", help="skip counting the memory kept for backward")
    p.add_argument("--no-flex", action="store_true", help="skip the forward-only FlexAttention comparison")
    p.add_argument("--json", type=Path)
    p.add_argument("--plot", type=Path)
    p.add_argument("--results", type=Path, nargs="?", const=bench_machine.results_path("attention"),
                   help="write the table, goals, machine and command to this file "
                        "(default data/results/bench_attention.json)")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.threads < 1 or args.threads > len(os.sched_getaffinity(0)):
        p.error(f"--threads {args.threads}: this process may use 1 to {len(os.sched_getaffinity(0))} CPUs")
    with torch_threads(args.threads):
        return _run(args)


def _run(args) -> dict:
    env = bench_machine.machine()
    print(f"{env['date']} | {env['cpu_model']}, {env['cpus']} CPUs | torch {env['torch']}, "
          f"{env['threads']} threads, {env['cpu_capability']} kernels | 1-min load {env['load_avg_start']}"
          + (" (other processes running: times are noisy)" if bench_machine.busy(env) else ""))
    print(f"torch {torch.__version__}, {args.threads} threads; batch 1, {args.heads} heads x {args.head_size}, "
          f"window {args.window}, float32, forward + backward, median of {args.reps}")
    header = f"{'T':>6} | " + " | ".join(f"{m:>13} ms" for m in METHODS) + " | dense/banded"
    if not args.no_memory:
        header += " | MB kept for backward: " + " / ".join(METHODS)
    print(header)
    results: dict = {"kernel": KERNEL, "T": [], "ms": {m: [] for m in METHODS}, "saved_mb": {m: [] for m in METHODS},
                     "config": {k: v for k, v in vars(args).items() if k not in ("json", "plot", "results", "argv")}}
    for T in args.T:
        ms = time_all(T, args)
        results["T"].append(T)
        line = f"{T:>6} | " + " | ".join(f"{ms[m]:>16.1f}" for m in METHODS)
        line += f" | {ms['dense causal'] / ms['banded kernel']:>11.2f}x"
        for m in METHODS:
            results["ms"][m].append(ms[m])
        if not args.no_memory:
            mb = {m: saved_for_backward_mb(m, T, args) for m in METHODS}
            for m in METHODS:
                results["saved_mb"][m].append(mb[m])
            line += " | " + " / ".join(f"{mb[m]:.1f}" for m in METHODS)
        print(line, flush=True)
    big = [i for i, T in enumerate(results["T"]) if T >= 4 * args.window] or list(range(len(results["T"])))
    results["slope"] = {m: slope([results["T"][i] for i in big], [results["ms"][m][i] for i in big])
                        if len(big) > 1 else float("nan") for m in METHODS}
    print("slope of log(ms) vs log(T) for T >= "
          f"{results['T'][big[0]]}: " + ", ".join(f"{m} {s:.2f}" for m, s in results["slope"].items()))
    if not args.no_flex:
        results["flex"] = flex_table(args)
    results.update(goals(results, args.window, memory=not args.no_memory))
    for line in results["goal_lines"]:
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.results:
        bench_machine.write_results(args.results, "attention", "bench_attention.py", args.argv, env, results)
    if args.plot:
        plot(results, args.plot, args.window)
    print(f"headline: dense causal SDPA / banded kernel at T={results['headline_T']}, window {args.window}: "
          f"{results['headline']:.2f}x")
    return results


def flex_table(args) -> dict:
    """The forward-only comparison with FlexAttention at every T above the window, printed and returned."""
    print(f"forward only (no_grad), median of {args.reps}: FlexAttention, compiled, sliding-window block mask")
    table: dict = {"T": [], "ms": {m: [] for m in FORWARD_METHODS}, "compile_s": [], "block_mask_s": [],
                   "max_abs_diff": [], "backward": None, "error": None}
    for T in [T for T in args.T if T > args.window]:
        r = flex_attention_forward(T, args)
        if "error" in r:
            table["error"] = r["error"]
            print(f"FlexAttention cannot run here: {r['error']}")
            break
        table["T"].append(T)
        for m in FORWARD_METHODS:
            table["ms"][m].append(r["ms"][m])
        for key in ("compile_s", "block_mask_s", "max_abs_diff"):
            table[key].append(r[key])
        table["backward"] = r["backward"]
        print(f"{T:>6} | " + " | ".join(f"{m} {r['ms'][m]:8.1f} ms" for m in FORWARD_METHODS)
              + f" | dense/flex {r['ms']['dense causal'] / r['ms']['flex attention']:.2f}x, dense/kernel "
              f"{r['ms']['dense causal'] / r['ms']['banded kernel']:.2f}x | compile {r['compile_s']:.1f} s, "
              f"block mask {r['block_mask_s']:.2f} s | max |flex - kernel| {r['max_abs_diff']:.1e}", flush=True)
    if table["backward"] is not None and table["backward"] != "ok":
        print(f"FlexAttention backward on the CPU: {table['backward']}")
    return table


def goals(results: dict, window: int, memory: bool = True) -> dict:
    """The headline ratio, and each goal that the measured lengths cover: its value, the goal, met or not."""
    Ts, ms, mb = results["T"], results["ms"], results["saved_mb"]
    speedup = [d / b for d, b in zip(ms["dense causal"], ms["banded kernel"])]
    at = 4096 if 4096 in Ts else Ts[-1]
    out: dict = {"headline_T": at, "headline": speedup[Ts.index(at)], "speedup": speedup, "goals": {}}
    g, lines = out["goals"], []
    if 4096 in Ts:
        value = speedup[Ts.index(4096)]
        g["speedup_at_4096"] = {"T": 4096, "value": value, "goal": SPEEDUP_GOAL, "met": value >= SPEEDUP_GOAL}
        lines.append(f"goal: dense causal / banded kernel >= {SPEEDUP_GOAL}x at T=4096: measured {value:.2f}x "
                     f"({'met' if value >= SPEEDUP_GOAL else 'BELOW THE GOAL'})")
    from_2w = [s for T, s in zip(Ts, speedup) if T >= 2 * window]
    if from_2w:
        g["not_slower_from_2w"] = {"T_min": 2 * window, "value": min(from_2w), "goal": 1.0, "met": min(from_2w) >= 1.0}
        lines.append(f"goal: banded kernel not slower than dense causal from T={2 * window} on: slowest "
                     f"{min(from_2w):.2f}x ({'met' if min(from_2w) >= 1.0 else 'BELOW THE GOAL'})")
    if memory:
        out["memory_ratio"] = [b / d for d, b in zip(mb["dense causal"], mb["banded kernel"])]
        big = [r for T, r in zip(Ts, out["memory_ratio"]) if T >= 1024]
        if big:
            g["memory_from_1024"] = {"T_min": 1024, "value": max(big), "goal": MEMORY_GOAL,
                                     "met": max(big) <= MEMORY_GOAL}
            lines.append(f"goal: banded kernel keeps <= {MEMORY_GOAL}x the memory dense causal keeps at every "
                         f"T >= 1024: largest {max(big):.1f}x ({'met' if max(big) <= MEMORY_GOAL else 'ABOVE THE GOAL'})")
    out["goal_lines"] = lines
    return out


if __name__ == "__main__":
    main()
