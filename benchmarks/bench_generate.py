#!/usr/bin/env python
"""Generation speed: gptedu without and with its KV cache, and Hugging Face GPT-2, on the same weights.

    python benchmarks/bench_generate.py                       # ~1-2 min on a quiet 2-core CPU
    python benchmarks/bench_generate.py --n-layer 12 --n-embd 768 --n-head 12 --new-tokens 128   # GPT-2 small

One run prints, side by side: tokens/s of greedy generation of --new-tokens tokens after a
--prompt-tokens prompt (batch 1) for

1. gptedu.generate(use_cache=False)   re-reads the whole sequence at every step
2. gptedu.generate()                   the KV cache: reads each token once (gptedu.kv_cache)
3. transformers' GPT2LMHeadModel.generate(do_sample=False, use_cache=True)

with the ratios. The models are one network: HF's random init (a GPT-2 config, SDPA
attention, tanh GELU, tied embeddings, dropout 0), carried into gptedu through
gptedu.pretrained (save_pretrained -> GPT.from_pretrained); the script refuses to time
them if their logits differ, and reports how many generated tokens agree. Runs are
interleaved (ours, cached, HF, then rotated) so load from other processes hits all three
alike; each time is the median of --reps. The last line is the headline ratio:
HF time / our cached time (>= 1.0: ours is not slower; the goal, and a ratio below it is
printed as such). Nothing is downloaded.

`--extra-shapes BxP ...` (default 4x64 1x512: batch 4 with the 64-token prompt, batch 1 with a 512-token
prompt) times the cached generators again at other shapes, ours and HF's only (the uncached one would take
minutes there), each with its own ratio and verdict against the same goal; the tokens of the two must agree. `--results` writes the table, the goal, the machine
(CPU, threads, torch version and kernel capability, load average, date) and the command to
data/results/bench_generate.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # random-weight models only; set before transformers is imported
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_machine  # noqa: E402
from gptedu.generate import generate  # noqa: E402
from gptedu.model import GPT  # noqa: E402
from gptedu.session import torch_threads  # noqa: E402

LOGIT_TOL = 1e-4
GOAL = 1.0  # HF time / our cached time: ours not slower


def build_models(args) -> tuple[GPT, "torch.nn.Module"]:
    """HF GPT2LMHeadModel at random init and gptedu's GPT with the same weights, both in eval mode."""
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_config = GPT2Config(vocab_size=args.vocab_size, n_positions=args.block_size, n_embd=args.n_embd,
                           n_layer=args.n_layer, n_head=args.n_head, activation_function="gelu_pytorch_tanh",
                           resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
                           bos_token_id=None, eos_token_id=None, attn_implementation="sdpa")
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(hf_config).eval()
    hf_logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp)
        ours = GPT.from_pretrained(tmp).eval()
    prompt = torch.randint(0, args.vocab_size, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (ours(prompt)[0] - hf(prompt).logits).abs().max().item()
    if not diff < LOGIT_TOL:
        raise SystemExit(f"The two models' logits differ by {diff:.2e} (>= {LOGIT_TOL}): not the same network, "
                         f"so their speeds are not comparable. Check gptedu.pretrained.")
    return ours, hf


def runners(ours: GPT, hf, new_tokens: int) -> dict:
    """name -> function(prompt) -> generated ids (1, prompt + new_tokens)."""
    def hf_generate(prompt):
        return hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, do_sample=False, use_cache=True, pad_token_id=0)
    return {
        "gptedu, no cache": lambda p: generate(ours, p, new_tokens, greedy=True, use_cache=False),
        "gptedu, KV cache": lambda p: generate(ours, p, new_tokens, greedy=True),
        "HF GPT2LMHeadModel": hf_generate,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-layer", type=int, default=6)
    p.add_argument("--n-embd", type=int, default=384)
    p.add_argument("--n-head", type=int, default=6)
    p.add_argument("--vocab-size", type=int, default=50257)
    p.add_argument("--block-size", type=int, default=1024)
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=192)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--extra-shapes", nargs="*", default=["4x64", "1x512"], metavar="BxP",
                   help="more shapes (batch x prompt tokens) for the cached generators (default 4x64 1x512)")
    p.add_argument("--results", type=Path, nargs="?", const=bench_machine.results_path("generate"),
                   help="write the table, goal, machine and command to this file "
                        "(default data/results/bench_generate.json)")
    args = p.parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    if args.prompt_tokens + args.new_tokens > args.block_size:
        p.error(f"--prompt-tokens + --new-tokens = {args.prompt_tokens + args.new_tokens} must fit in "
                f"--block-size {args.block_size} (HF GPT-2 cannot go past its n_positions)")
    args.shapes = []
    for text in args.extra_shapes:
        try:
            batch, prompt = (int(x) for x in text.lower().split("x"))
        except ValueError:
            p.error(f"--extra-shapes {text!r}: write batch x prompt tokens, e.g. 4x64")
        if batch < 1 or prompt < 1 or prompt + args.new_tokens > args.block_size:
            p.error(f"--extra-shapes {text}: batch and prompt must be >= 1 and prompt + --new-tokens "
                    f"({prompt + args.new_tokens}) must fit in --block-size {args.block_size}")
        args.shapes.append((batch, prompt))
    with torch_threads(args.threads):
        return _run(args, argv)


def _run(args, argv: list[str]) -> dict:
    import transformers
    env = bench_machine.machine()
    env["transformers"] = transformers.__version__
    print(f"{env['date']} | {env['cpu_model']}, {env['cpus']} CPUs | {env['cpu_capability']} kernels | "
          f"1-min load {env['load_avg_start']}"
          + (" (other processes running: times are noisy)" if bench_machine.busy(env) else ""))
    ours, hf = build_models(args)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} threads; "
          f"{args.n_layer} layers x {args.n_embd}, {args.n_head} heads, vocab {args.vocab_size}; greedy, "
          f"batch 1, prompt {args.prompt_tokens} + {args.new_tokens} new tokens, median of {args.reps}")
    prompt = torch.randint(0, args.vocab_size, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(2))
    run = runners(ours, hf, args.new_tokens)
    names = list(run)
    outputs = {n: run[n](prompt) for n in names}  # warm-up, and the tokens to compare
    seconds: dict[str, list[float]] = {n: [] for n in names}
    with torch.no_grad():
        for rep in range(args.reps):
            for n in names[rep % 3:] + names[:rep % 3]:
                start = time.perf_counter()
                run[n](prompt)
                seconds[n].append(time.perf_counter() - start)
    new = slice(args.prompt_tokens, None)
    reference = outputs["gptedu, no cache"][0, new]
    agree = {n: (outputs[n][0, new] == reference).float().mean().item() for n in names}
    if outputs["gptedu, KV cache"].shape != outputs["gptedu, no cache"].shape or agree["gptedu, KV cache"] < 1.0:
        raise SystemExit("The KV cache changed the generated tokens: gptedu.kv_cache is broken.")
    result = {"config": {k: v for k, v in vars(args).items() if k not in ("results", "shapes")}, "seconds": {n: statistics.median(s) for n, s in seconds.items()},
              "agreement_with_uncached": agree}
    print(f"{'':>20} | {'s':>7} | {'tokens/s':>8} | tokens equal to gptedu's uncached")
    for n in names:
        s = result["seconds"][n]
        print(f"{n:>20} | {s:>7.3f} | {args.new_tokens / s:>8.1f} | {agree[n]:.0%}")
    t = result["seconds"]
    print(f"cache speed-up: no cache / KV cache = {t['gptedu, no cache'] / t['gptedu, KV cache']:.2f}x; "
          f"HF / no cache = {t['HF GPT2LMHeadModel'] / t['gptedu, no cache']:.2f}x")
    result["headline"] = t["HF GPT2LMHeadModel"] / t["gptedu, KV cache"]
    result["cache_speedup"] = t["gptedu, no cache"] / t["gptedu, KV cache"]
    result["goal"] = {"value": result["headline"], "goal": GOAL, "met": result["headline"] >= GOAL}
    print(f"goal: HF / gptedu cached >= {GOAL}: measured {result['headline']:.2f}x "
          f"({'met' if result['goal']['met'] else 'BELOW THE GOAL'})")
    result["shapes"] = [{"batch": 1, "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
                         "seconds": {n: t[n] for n in ("gptedu, KV cache", "HF GPT2LMHeadModel")},
                         "ratio": result["headline"], "met": result["goal"]["met"],
                         "agreement_hf_vs_cached": agree["HF GPT2LMHeadModel"]}]
    for batch, prompt_tokens in args.shapes:
        result["shapes"].append(time_shape(run, args, batch, prompt_tokens))
    if args.results:
        bench_machine.write_results(args.results, "generate", "bench_generate.py", argv, env, result)
    print(f"headline: HF GPT2LMHeadModel.generate time / gptedu cached generate time = {result['headline']:.2f}x")
    return result


def time_shape(run: dict, args, batch: int, prompt_tokens: int) -> dict:
    """Our cached generate and HF's at one more shape: median seconds, the ratio and its verdict."""
    names = ["gptedu, KV cache", "HF GPT2LMHeadModel"]
    gen = torch.Generator().manual_seed(3)
    prompt = torch.randint(0, args.vocab_size, (batch, prompt_tokens), generator=gen)
    outputs = {n: run[n](prompt) for n in names}  # warm-up, and the tokens to compare
    agree = (outputs[names[0]][:, prompt_tokens:] == outputs[names[1]][:, prompt_tokens:]).float().mean().item()
    seconds: dict[str, list[float]] = {n: [] for n in names}
    with torch.no_grad():
        for rep in range(args.reps):
            for n in (names if rep % 2 == 0 else names[::-1]):
                start = time.perf_counter()
                run[n](prompt)
                seconds[n].append(time.perf_counter() - start)
    med = {n: statistics.median(s) for n, s in seconds.items()}
    ratio = med["HF GPT2LMHeadModel"] / med["gptedu, KV cache"]
    print(f"batch {batch}, prompt {prompt_tokens} + {args.new_tokens} new: gptedu cached {med[names[0]]:.3f} s, "
          f"HF {med[names[1]]:.3f} s, HF / gptedu cached = {ratio:.2f}x "
          f"({'met' if ratio >= GOAL else 'BELOW THE GOAL'}); tokens equal {agree:.0%}", flush=True)
    return {"batch": batch, "prompt_tokens": prompt_tokens, "new_tokens": args.new_tokens, "seconds": med,
            "ratio": ratio, "met": ratio >= GOAL, "agreement_hf_vs_cached": agree}


if __name__ == "__main__":
    main()
