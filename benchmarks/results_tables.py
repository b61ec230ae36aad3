#!/usr/bin/env python
"""benchmarks/README.md's result tables, generated from the results files so that they cannot drift.

    python benchmarks/results_tables.py            # print the three tables (markdown)
    python benchmarks/results_tables.py --write    # refresh them in benchmarks/README.md
    python benchmarks/results_tables.py --check    # exit 1 if benchmarks/README.md is stale

Each benchmark's `--results` writes data/results/bench_<name>.json: its numbers, its goals with their verdicts,
the machine (CPU model, kernels, CPUs, threads, torch version, load average at the start, date) and the command.
`render(name, record)` turns one file into markdown: a line naming the machine, the table, and every goal with the
measured value and **met** or **missed** (a ratio below its goal is printed as missed, never left out).

In benchmarks/README.md each table sits between

    <!-- generated from data/results/bench_<name>.json by benchmarks/results_tables.py: do not edit -->
    <!-- end of generated bench_<name> -->

and, while a benchmark has no results file yet, the table measured before results files existed sits between
`<!-- typed by hand: bench_<name> -->` and `<!-- end of typed by hand: bench_<name> -->`; `--write` removes it
as soon as the file exists. tests/test_bench_results.py holds the README to the files.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "benchmarks" / "README.md"
NAMES = ("train", "generate", "attention")


def results_file(name: str) -> Path:
    return ROOT / "data" / "results" / f"bench_{name}.json"


def begin_marker(name: str) -> str:
    return (f"<!-- generated from data/results/bench_{name}.json by benchmarks/results_tables.py: "
            "do not edit -->")


def end_marker(name: str) -> str:
    return f"<!-- end of generated bench_{name} -->"


def hand_markers(name: str) -> tuple[str, str]:
    return f"<!-- typed by hand: bench_{name} -->", f"<!-- end of typed by hand: bench_{name} -->"


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def quiet(machine: dict) -> bool:
    load = machine.get("load_avg_start")
    return load is not None and load <= 0.5 * machine["cpus"]


def machine_line(record: dict) -> str:
    """The run's machine, threads, software, load and date, in one sentence."""
    m = record["machine"]
    load = m.get("load_avg_start")
    state = ("a quiet machine" if quiet(m) else "other processes were running: times are noisy"
             ) if load is not None else "load unknown"
    extra = f", transformers {m['transformers']}" if m.get("transformers") else ""
    return (f"Measured {m['date'][:10]} on {m['cpu_model']} ({m['cpu_capability']} kernels), {m['cpus']} CPUs, "
            f"{m['threads']} threads, torch {m['torch']}{extra}; 1-min load average {load:.2f} at the start "
            f"({state}). Command: `{record['command']}`; file: `data/results/bench_{record['benchmark']}.json`.")


def _attention(r: dict) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from gptedu.experiments.attention_bench import KERNEL, KERNEL_BEFORE
    Ts, ms, mb = r["T"], r["ms"], r["saved_mb"]
    cfg = r["config"]
    kernel = r.get("kernel", KERNEL_BEFORE)
    lines = [f"Banded kernel measured: {kernel}"
             + ("." if kernel == KERNEL else f"; **not the kernel in this checkout** ({KERNEL}): rerun.")]
    lines += ["", f"One attention layer, batch 1, {cfg['heads']} heads of {cfg['head_size']}, window {cfg['window']}, "
             f"float32, forward + backward, median of {cfg['reps']}; memory = what autograd keeps for the backward.",
             "",
             "| T | dense causal SDPA ms | masked band ms | banded kernel ms | dense / banded | "
             "MB kept: dense / masked / banded |",
             "|---|---|---|---|---|---|"]
    for i, T in enumerate(Ts):
        memory = " / ".join(f"{mb[m][i]:.1f}" for m in ("dense causal", "masked band", "banded kernel")) \
            if mb["banded kernel"] else "not counted"
        lines.append(f"| {T} | {ms['dense causal'][i]:.1f} | {ms['masked band'][i]:.1f} | "
                     f"{ms['banded kernel'][i]:.1f} | {r['speedup'][i]:.2f}× | {memory} |")
    lines += ["", "Slopes of log(ms) vs log(T) for the largest lengths: "
              + ", ".join(f"{m} {s:.2f}" for m, s in r["slope"].items()) + "."]
    flex = r.get("flex")
    if flex:
        lines.append("")
        if flex.get("T"):
            lines += ["FlexAttention (`torch.nn.attention.flex_attention`, compiled, sliding-window block mask), "
                      "forward only (no_grad), since its backward does not run on the CPU here: "
                      f"`{flex['backward']}`.", "",
                      "| T | dense causal ms | banded kernel ms | FlexAttention ms | dense / flex | dense / banded "
                      "| flex compile s (first call) |",
                      "|---|---|---|---|---|---|---|"]
            for i, T in enumerate(flex["T"]):
                f = {m: flex["ms"][m][i] for m in flex["ms"]}
                lines.append(f"| {T} | {f['dense causal']:.1f} | {f['banded kernel']:.1f} | "
                             f"{f['flex attention']:.1f} | {f['dense causal'] / f['flex attention']:.2f}× | "
                             f"{f['dense causal'] / f['banded kernel']:.2f}× | {flex['compile_s'][i]:.1f} |")
        if flex.get("error"):
            lines.append(f"FlexAttention could not run: `{flex['error']}`.")
    lines += ["", "Goals:", ""]
    g = r["goals"]
    if "speedup_at_4096" in g:
        x = g["speedup_at_4096"]
        lines.append(f"- dense causal / banded kernel ≥ {x['goal']:.1f}× at T = {x['T']}: "
                     f"{x['value']:.2f}×, {verdict(x['met'])}")
    if "not_slower_from_2w" in g:
        x = g["not_slower_from_2w"]
        lines.append(f"- banded kernel not slower than dense causal from T = 2w = {x['T_min']} on: slowest "
                     f"{x['value']:.2f}×, {verdict(x['met'])}")
    if "memory_from_1024" in g:
        x = g["memory_from_1024"]
        lines.append(f"- banded kernel keeps ≤ {x['goal']:.1f}× the memory dense causal keeps at every "
                     f"T ≥ {x['T_min']}: largest {x['value']:.1f}×, {verdict(x['met'])}")
    return lines


def _generate(r: dict) -> list[str]:
    cfg = r["config"]
    lines = [f"Greedy, {cfg['n_layer']} layers × {cfg['n_embd']}, {cfg['n_head']} heads, vocabulary "
             f"{cfg['vocab_size']:,}, one set of weights (HF's random init carried into ours), "
             f"{cfg['new_tokens']} new tokens, median of {cfg['reps']}.", "",
             f"Batch 1, a {cfg['prompt_tokens']}-token prompt:", "",
             "| | s | tokens/s | tokens equal to the uncached run |", "|---|---|---|---|"]
    label = {"gptedu, no cache": "gptedu `generate(use_cache=False)`", "gptedu, KV cache": "gptedu `generate()` (KV cache)",
             "HF GPT2LMHeadModel": "HF `GPT2LMHeadModel.generate` (cache)"}
    for n, s in r["seconds"].items():
        lines.append(f"| {label.get(n, n)} | {s:.2f} | {cfg['new_tokens'] / s:.1f} | "
                     f"{r['agreement_with_uncached'][n]:.0%} |")
    lines += ["", f"The cache is {r['cache_speedup']:.1f}× faster than re-reading the sequence.", ""]
    shapes = r.get("shapes") or [{"batch": 1, "prompt_tokens": cfg["prompt_tokens"], "new_tokens": cfg["new_tokens"],
                                  "seconds": {k: r["seconds"][k] for k in ("gptedu, KV cache", "HF GPT2LMHeadModel")},
                                  "ratio": r["headline"], "met": r["goal"]["met"],
                                  "agreement_hf_vs_cached": r["agreement_with_uncached"]["HF GPT2LMHeadModel"]}]
    lines += ["Cached generation, ours against HF's, by shape (goal: HF / ours ≥ 1.0 at every shape):", "",
              "| batch | prompt + new tokens | gptedu cached s | HF s | HF / gptedu | goal | tokens equal |",
              "|---|---|---|---|---|---|---|"]
    for s in shapes:
        lines.append(f"| {s['batch']} | {s['prompt_tokens']} + {s['new_tokens']} | "
                     f"{s['seconds']['gptedu, KV cache']:.2f} | {s['seconds']['HF GPT2LMHeadModel']:.2f} | "
                     f"{s['ratio']:.2f}× | {verdict(s['met'])} | {s['agreement_hf_vs_cached']:.0%} |")
    return lines


def _train(r: dict) -> list[str]:
    sp, peak = r["speed"], r["matmul_peak"]
    lines = [f"nanoGPT's CPU `shakespeare_char` shape ({r['config']['describe']}), batch "
             f"{r['recipe']['batch_size']}, our `GPT` and HF's `GPT2LMHeadModel` interleaved on the same batches "
             "from the same weights.", "",
             f"| | ms/iter | tokens/s | MFU (vs measured {peak['gflops']:.0f} GFLOP/s fp32 matmul peak) |",
             "|---|---|---|---|"]
    for key, label in (("ours", "gptedu `GPT`"), ("hf", "HF `GPT2LMHeadModel` (sdpa)")):
        lines.append(f"| {label} | {sp[key]['ms_per_iter']:.1f} | {sp[key]['tokens_per_s']:,.0f} | "
                     f"{sp[key]['mfu']:.1%} |")
    ratio = sp["ratio_hf_over_ours"]
    lines += ["", "Goals:", "", f"- HF / ours ≥ 1.0 (ours not slower): {ratio:.3f}, {verdict(ratio >= 1.0)}"]
    val = r.get("val")
    if val:
        judged = val["iters"] >= 2000
        lines.append(f"- validation loss after {val['iters']} steps ≤ {val['target']}: {val['val_loss']:.3f} "
                     f"nats/char, " + (verdict(val["meets_target"]) if judged else "not judged (fewer than 2000 "
                                       "steps)") + f" ({val['wall_s']:.0f} s wall)")
    return lines


RENDER = {"attention": _attention, "generate": _generate, "train": _train}


def render(name: str, record: dict | None) -> str:
    """The markdown for benchmark `name` from its results record (None: there is no file yet)."""
    if record is None:
        return (f"No `data/results/bench_{name}.json` yet: `python benchmarks/bench_{name}.py --results` writes it, "
                "and `python benchmarks/results_tables.py --write` puts its table here.")
    return "\n".join([machine_line(record), "", *RENDER[name](record["results"])])


def load(name: str) -> dict | None:
    path = results_file(name)
    return json.loads(path.read_text()) if path.exists() else None


def block(name: str, record: dict | None) -> str:
    return f"{begin_marker(name)}\n{render(name, record)}\n{end_marker(name)}"


def refreshed(text: str) -> str:
    """benchmarks/README.md's text with every generated block redone from the files (hand tables dropped
    where a file now exists)."""
    for name in NAMES:
        record = load(name)
        pattern = re.compile(re.escape(begin_marker(name)) + r".*?" + re.escape(end_marker(name)), re.S)
        if not pattern.search(text):
            raise SystemExit(f"{README} has no generated block for bench_{name}: add its two markers.")
        text = pattern.sub(lambda _: block(name, record), text)
        start, stop = hand_markers(name)
        if record is not None:
            text = re.sub(re.escape(start) + r".*?" + re.escape(stop) + r"\n?", "", text, flags=re.S)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="refresh the tables in benchmarks/README.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if benchmarks/README.md is stale")
    args = p.parse_args(argv)
    text = README.read_text()
    new = refreshed(text)
    if args.write:
        README.write_text(new)
        print(f"{'rewrote' if new != text else 'unchanged:'} {README}")
    elif args.check:
        if new != text:
            print(f"{README} is stale: run python benchmarks/results_tables.py --write", file=sys.stderr)
            return 1
        print(f"{README} matches the results files")
    else:
        print("\n\n".join(f"## bench_{name}\n\n{render(name, load(name))}" for name in NAMES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
