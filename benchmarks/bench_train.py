#!/usr/bin/env python
"""Training benchmark on nanoGPT's CPU shakespeare_char shape: our GPT vs Hugging Face GPT-2.

    python benchmarks/bench_train.py                       # defaults: 2 threads, 100 timed iters, 2000-step val run
    python benchmarks/bench_train.py --threads 1 --iters 200 --val-iters 2000 --json out.json

One run prints, side by side (see benchmarks/README.md for every choice):

1. ms/iter (median of the timed iterations, after warm-up) and tokens/s of a full training
   step -- forward, cross-entropy, backward, grad-norm clipping, AdamW -- for gptedu.GPT and
   for transformers' GPT2LMHeadModel of the same shape. Both start from IDENTICAL weights
   (HF's random init, carried into ours by gptedu.pretrained), train on the SAME batches with
   the same optimizer, and run interleaved (A B, B A, A B, ...) so load from other processes
   hits both equally. ratio = HF ms / our ms: >= 1.0 means ours is not slower.
2. Model FLOPs utilisation: model FLOPs per step / time / a matmul peak MEASURED here
   (best fp32 torch.mm GFLOP/s at the same thread count).
3. The val loss (nats/char) our model reaches after --val-iters steps of gptedu.train.Trainer
   with nanoGPT's shakespeare_char recipe, and the wall time. nanoGPT reports ~1.88 at 2000.

`--results` writes every number, the goals (HF/ours >= 1.0, val loss <= 1.9 at 2000 steps; a miss is
reported, not hidden), the machine (CPU, threads, torch version and kernel capability, load average,
date) and the command to data/results/bench_train.json.

It fails loudly (raises) on a wrong setup: thread count not applied, HF not on SDPA, the
two models' configs or initial logits disagreeing, losses drifting apart while training.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Random-weight models only: nothing is ever downloaded. Set before transformers is imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere, without an install
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_machine  # noqa: E402

# ---------------------------------------------------------------- the benchmark's fixed recipe
# nanoGPT config/train_shakespeare_char.py, with its README's CPU settings for the model shape.
PRESET = "tiny"  # 4 layers, 4 heads, 128 wide, block 64, pre-LN, tanh GELU, tied embeddings
BATCH_SIZE = 12
LEARNING_RATE = 1e-3
MIN_LR = 1e-4
WARMUP_ITERS = 100
BETAS = (0.9, 0.99)
WEIGHT_DECAY = 0.1
GRAD_CLIP = 1.0
SEED = 1337
VAL_TARGET = 1.9  # nats/char after 2000 steps; nanoGPT reports ~1.88
NANOGPT_VAL = 1.88
HF_ATTENTION = "sdpa"  # torch.nn.functional.scaled_dot_product_attention, as ours
HF_ACTIVATION = "gelu_pytorch_tanh"  # F.gelu(approximate="tanh"): our tanh GELU, same kernel
LOGIT_TOL = 1e-5  # max |logit difference| allowed between the two models at step 0
LOSS_TOL = 1e-3  # max |loss difference| allowed while both train on the same batches


class SetupError(RuntimeError):
    """The benchmark is not measuring what it claims to (wrong threads, models differ, ...)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python benchmarks/bench_train.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=100, help="timed training steps per model (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps per model first (default 10)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--val-iters", type=int, default=2000, help="Trainer steps for the val-loss run (default 2000; 0 skips)")
    p.add_argument("--eval-iters", type=int, default=200, help="batches per split in each loss estimate (nanoGPT: 200)")
    p.add_argument("--eval-interval", type=int, default=500, help="print a loss estimate every this many steps")
    p.add_argument("--matmul-sizes", type=int, nargs="+", default=[1024, 2048],
                   help="square fp32 torch.mm sizes timed for the peak (default 1024 2048)")
    p.add_argument("--matmul-reps", type=int, default=5, help="timed torch.mm calls per size (default 5)")
    p.add_argument("--json", type=Path, default=None, help="also write every number to this JSON file")
    p.add_argument("--results", type=Path, nargs="?", const=bench_machine.results_path("train"),
                   help="write every number, the goals, the machine and the command to this file "
                        "(default data/results/bench_train.json)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if HF/ours < 1.0 or (at 2000+ steps) val loss > 1.9")
    return p


# ---------------------------------------------------------------- setup
def set_threads(n: int) -> int:
    """Set torch's intra-op thread count; returns the previous one. Refuses more threads than CPUs."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if n < 1:
        raise SetupError(f"--threads {n}: need at least 1.")
    if n > cpus:
        raise SetupError(f"--threads {n} but this process may use only {cpus} CPU(s): the timings would "
                         "measure oversubscription. Use --threads <= the CPU count.")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    if torch.get_num_threads() != n:
        raise SetupError(f"torch.set_num_threads({n}) did not take: torch uses {torch.get_num_threads()}.")
    return previous


def load_avg() -> float | None:
    load = bench_machine.load_avg()
    return load[0] if load else None


def environment(threads: int) -> dict:
    """bench_machine.machine() (CPU, threads, torch and its kernel capability, load, date) and transformers."""
    import transformers

    return {**bench_machine.machine(), "transformers": transformers.__version__}


def load_data():
    """Char tokenizer on the shipped Shakespeare; nanoGPT's 90/10 train/val split."""
    from gptedu.data import load_shakespeare, train_val_split
    from gptedu.tokenizers import CharTokenizer

    text = load_shakespeare()
    tok = CharTokenizer.from_text(text)
    data = torch.tensor(tok.encode(text), dtype=torch.long)
    train, val = train_val_split(data, 0.1)
    return tok, train, val


def build_models(vocab_size: int):
    """(ours, hf, config): HF GPT2LMHeadModel at random init, and our GPT with the SAME weights.

    Our GPT is loaded through gptedu.pretrained (save_pretrained -> GPT.from_pretrained), the
    course's own converter; its config must come out equal to preset "tiny" with dropout 0.
    """
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    from gptedu.config import GPTConfig
    from gptedu.model import GPT

    config = GPTConfig.from_preset(PRESET, vocab_size=vocab_size, dropout=0.0)
    if config.gelu != "tanh" or config.norm != "pre" or not config.tie_embeddings or not config.bias:
        raise SetupError(f"preset {PRESET!r} changed ({config.describe()}); this benchmark assumes "
                         "GPT-2's pre-LN, tanh GELU, tied embeddings and biases.")
    hf_config = GPT2Config(
        vocab_size=vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
        n_layer=config.n_layer, n_head=config.n_head, n_inner=None,
        activation_function=HF_ACTIVATION, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        layer_norm_epsilon=config.layer_norm_eps, tie_word_embeddings=True, use_cache=False,
        bos_token_id=None, eos_token_id=None, attn_implementation=HF_ATTENTION)
    torch.manual_seed(SEED)
    hf = GPT2LMHeadModel(hf_config)
    if hf.config._attn_implementation != HF_ATTENTION:
        raise SetupError(f"HF GPT-2 runs attention {hf.config._attn_implementation!r}, not {HF_ATTENTION!r}.")
    if hf.lm_head.weight.data_ptr() != hf.transformer.wte.weight.data_ptr():
        raise SetupError("HF GPT-2's lm_head is not tied to wte.")
    hf_logging.disable_progress_bar()  # save_pretrained's "Writing model shards" bar
    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp)
        ours = GPT.from_pretrained(tmp)
    if ours.config != config:
        raise SetupError(f"Converted config differs from preset {PRESET!r}:\n  {ours.config}\n  {config}")
    if sum(p.numel() for p in ours.parameters()) != sum(p.numel() for p in hf.parameters()):
        raise SetupError("The two models have different parameter counts.")
    return ours, hf, config


def hf_loss(hf, vocab_size: int):
    """HF's loss computed like ours: cross-entropy of every position's logits against y.

    (HF's own `labels=` shifts inside the model and scores T-1 positions per row; computing
    the loss the same way for both keeps the work and the numbers identical.)
    """
    def forward(x, y):
        logits = hf(input_ids=x, use_cache=False).logits
        return logits, F.cross_entropy(logits.view(-1, vocab_size), y.reshape(-1))
    return forward


def check_initial_parity(ours, hf_forward, x, y) -> float:
    """Max |logit difference| of the two models (both in eval mode) on one batch; raises if large."""
    with torch.no_grad():
        lo, _ = ours(x, y)
        lh, _ = hf_forward(x, y)
    diff = (lo - lh).abs().max().item()
    if not diff <= LOGIT_TOL:
        raise SetupError(f"Initial logits differ by {diff:.3g} (> {LOGIT_TOL}): the models are not the same "
                         "network, so their speeds are not comparable. Check gptedu.pretrained and the HF config.")
    return diff


# ---------------------------------------------------------------- measurements
def matmul_peak(sizes: list[int], reps: int) -> dict:
    """Best fp32 torch.mm throughput (GFLOP/s, 2*n^3 FLOPs per call) over sizes and reps."""
    best = {"gflops": 0.0, "n": None}
    per_size = {}
    gen = torch.Generator().manual_seed(0)
    for n in sizes:
        a = torch.randn(n, n, generator=gen)
        b = torch.randn(n, n, generator=gen)
        out = torch.empty(n, n)
        torch.mm(a, b, out=out)  # warm-up
        rates = []
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b, out=out)
            rates.append(2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
        per_size[n] = max(rates)
        if per_size[n] > best["gflops"]:
            best = {"gflops": per_size[n], "n": n}
    return {**best, "per_size": per_size}


def make_step(model, forward, lr: float):
    """One full training step as gptedu.train.Trainer does it; returns the loss as a float."""
    from gptedu.train import TrainConfig, make_optimizer

    opt = make_optimizer(model, TrainConfig(learning_rate=lr, betas=BETAS, weight_decay=WEIGHT_DECAY))
    params = [p for p in model.parameters() if p.requires_grad]

    def step(x, y) -> float:
        _, loss = forward(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        opt.step()
        return loss.item()
    return step


def speed(ours, hf, config, train_data, warmup: int, iters: int) -> dict:
    """Interleaved full training steps on the same batches; per-model step times in ms."""
    from gptedu.data import get_batch

    gen = torch.Generator().manual_seed(SEED)
    batches = [get_batch(train_data, BATCH_SIZE, config.block_size, generator=gen) for _ in range(warmup + iters)]
    hf_forward = hf_loss(hf, config.vocab_size)
    ours.eval(), hf.eval()
    logit_diff = check_initial_parity(ours, hf_forward, *batches[0])
    ours.train(), hf.train()
    steps = {"ours": make_step(ours, lambda x, y: ours(x, y), LEARNING_RATE),
             "hf": make_step(hf, hf_forward, LEARNING_RATE)}
    times = {"ours": [], "hf": []}
    losses = {"ours": [], "hf": []}
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside one model's step would charge it to that model
    try:
        for i, (x, y) in enumerate(batches):
            order = ("ours", "hf") if i % 2 == 0 else ("hf", "ours")  # ABBA: neither always goes first
            for name in order:
                t0 = time.perf_counter()
                loss = steps[name](x, y)
                dt = time.perf_counter() - t0
                losses[name].append(loss)
                if i >= warmup:
                    times[name].append(dt * 1e3)
    finally:
        if gc_was_enabled:
            gc.enable()
    loss_diff = max(abs(a - b) for a, b in zip(losses["ours"], losses["hf"]))
    if not all(math.isfinite(v) for v in losses["ours"] + losses["hf"]):
        raise SetupError("A training loss is not finite.")
    if not loss_diff <= LOSS_TOL:
        raise SetupError(f"Losses drifted apart by {loss_diff:.3g} (> {LOSS_TOL}) on identical batches: the two "
                         "training steps do not compute the same thing.")
    tokens = BATCH_SIZE * config.block_size
    out = {"logit_max_abs_diff": logit_diff, "loss_max_abs_diff": loss_diff,
           "final_loss": {k: v[-1] for k, v in losses.items()}}
    for name, ms in times.items():
        q = statistics.quantiles(ms, n=10) if len(ms) >= 2 else [ms[0]] * 9
        med = statistics.median(ms)
        out[name] = {"ms_per_iter": med, "ms_p10": q[0], "ms_p90": q[-1], "ms_min": min(ms),
                     "tokens_per_s": tokens / (med / 1e3)}
    out["ratio_hf_over_ours"] = out["hf"]["ms_per_iter"] / out["ours"]["ms_per_iter"]
    return out


def model_flops(model, config) -> dict:
    """FLOPs of one training step, nanoGPT's estimate_mfu / PaLM appendix B formula.

    per token: 6*N (2 forward + 4 backward per weight) + 12*L*T*d (attention scores
    q.k and the weighted sum a.v, 2*2*T*d forward per layer, times 3 with backward; the
    conventional count ignores that causality halves it). N counts every parameter once
    except the position embedding: nanoGPT's convention, since the tied token embedding
    does real matmul work as the lm_head while an embedding lookup costs nothing.
    """
    n_params = sum(p.numel() for p in model.parameters())
    n = n_params - model.wpe.weight.numel()
    L, T, d = config.n_layer, config.block_size, config.n_embd
    per_token = 6 * n + 12 * L * T * d
    tokens = BATCH_SIZE * T
    return {"n_params": n_params, "n_nanogpt": n, "n_non_embedding": model.num_params(non_embedding=True),
            "flops_per_token": per_token, "tokens_per_iter": tokens, "flops_per_iter": per_token * tokens}


def val_run(config, train_data, val_data, iters: int, eval_iters: int, eval_interval: int) -> dict:
    """Train a fresh GPT with gptedu.train.Trainer on nanoGPT's recipe; val loss and wall time."""
    from gptedu.model import GPT
    from gptedu.train import Trainer, TrainConfig

    class TimedTrainer(Trainer):
        eval_seconds = 0.0

        def estimate_loss(self):
            t0 = time.perf_counter()
            try:
                return super().estimate_loss()
            finally:
                self.eval_seconds += time.perf_counter() - t0

    cfg = TrainConfig(max_iters=iters, batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE, min_lr=MIN_LR,
                      warmup_iters=WARMUP_ITERS, lr_decay_iters=iters, weight_decay=WEIGHT_DECAY, betas=BETAS,
                      grad_clip=GRAD_CLIP, eval_interval=min(eval_interval, iters), eval_iters=eval_iters,
                      seed=SEED, device="cpu", progress=False)
    torch.manual_seed(SEED)
    model = GPT(config)
    t_start = time.perf_counter()

    def report(trainer, rec):
        print(f"  step {rec['step']:>5}: train {rec['train_loss']:.4f}, val {rec['val_loss']:.4f}, "
              f"lr {rec['lr']:.2e}  ({time.perf_counter() - t_start:.0f} s)", flush=True)

    trainer = TimedTrainer(model, train_data, val_data, cfg, callbacks=[report])
    if trainer.device.type != "cpu":
        raise SetupError(f"Trainer picked {trainer.device}, not the CPU this benchmark times.")
    trainer.fit()
    wall = time.perf_counter() - t_start
    last = trainer.history[-1]
    if last["step"] != iters:
        raise SetupError(f"Trainer stopped at step {last['step']}, not {iters}.")
    train_s = wall - trainer.eval_seconds
    return {"iters": iters, "val_loss": last["val_loss"], "train_loss": last["train_loss"],
            "wall_s": wall, "train_s": train_s, "eval_s": trainer.eval_seconds,
            "ms_per_iter": train_s / iters * 1e3, "eval_iters": eval_iters, "history": trainer.history}


# ---------------------------------------------------------------- report
def format_report(r: dict) -> str:
    e, s, f, pk = r["env"], r["speed"], r["flops"], r["matmul_peak"]
    c = r["config"]
    load = f"{e['load_avg_start']:.2f} -> {e['load_avg_end']:.2f}" if e["load_avg_start"] is not None else "n/a"
    lines = [
        "gptedu training benchmark: nanoGPT shakespeare_char shape on CPU",
        f"date {e['date']} | torch {e['torch']} | transformers {e['transformers']} | python {e['python']}",
        f"CPU {e['cpu_model']} | {e['cpus']} CPU(s) | torch threads {e['threads']} | {e['cpu_capability']} kernels "
        f"| 1-min load avg {load}",
        f"model: {c['describe']}",
        f"step: batch {BATCH_SIZE} x {c['block_size']} = {f['tokens_per_iter']} tokens; fwd + CE + bwd + clip "
        f"{GRAD_CLIP} + AdamW(lr {LEARNING_RATE}, betas {BETAS}, wd {WEIGHT_DECAY}); dropout 0",
        f"timing: {r['args']['warmup']} warm-up + {r['args']['iters']} timed steps per model, interleaved "
        f"ABBA on the same batches; HF attn_implementation={HF_ATTENTION!r}, activation {HF_ACTIVATION!r}",
        "",
        f"{'':24}{'ms/iter':>9}{'p10-p90':>16}{'tokens/s':>10}{'MFU':>8}",
    ]
    for key, label in (("ours", "gptedu GPT"), ("hf", "HF GPT2LMHeadModel")):
        m = s[key]
        lines.append(f"{label:24}{m['ms_per_iter']:9.1f}{m['ms_p10']:8.1f}-{m['ms_p90']:<7.1f}"
                     f"{m['tokens_per_s']:10,.0f}{100 * m['mfu']:7.2f}%")
    verdict = "ours not slower" if s["ratio_hf_over_ours"] >= 1.0 else "OURS SLOWER"
    lines += [
        f"ratio HF/ours (median ms): {s['ratio_hf_over_ours']:.3f}  ({verdict})",
        f"parity: step-0 logits max|diff| {s['logit_max_abs_diff']:.1e}; losses max|diff| over "
        f"{r['args']['warmup'] + r['args']['iters']} steps {s['loss_max_abs_diff']:.1e}",
        "",
        f"matmul peak: {pk['gflops']:.1f} GFLOP/s (best fp32 torch.mm, n={pk['n']}, "
        f"{e['threads']} threads; sizes {', '.join(f'{n}: {g:.1f}' for n, g in pk['per_size'].items())})",
        f"model FLOPs/iter: (6*N + 12*L*T*d) * tokens = (6*{f['n_nanogpt']:,} + 12*{c['n_layer']}*{c['block_size']}"
        f"*{c['n_embd']}) * {f['tokens_per_iter']} = {f['flops_per_iter'] / 1e9:.3f} GFLOP  "
        f"(N: all params but wpe, nanoGPT convention)",
    ]
    v = r.get("val")
    if v:
        ok = v["val_loss"] <= VAL_TARGET
        target = (f"target <= {VAL_TARGET}: {'PASS' if ok else 'MISS'}" if v["iters"] >= 2000
                  else f"target {VAL_TARGET} applies at 2000 steps")
        lines += [
            "",
            f"val loss after {v['iters']} steps (gptedu.train.Trainer, warmup {WARMUP_ITERS}, cosine "
            f"{LEARNING_RATE} -> {MIN_LR}, {v['eval_iters']} eval batches): {v['val_loss']:.4f} nats/char "
            f"(train {v['train_loss']:.4f}; nanoGPT ~{NANOGPT_VAL}; {target})",
            f"wall {v['wall_s']:.1f} s = train {v['train_s']:.1f} s ({v['ms_per_iter']:.1f} ms/iter) "
            f"+ loss estimates {v['eval_s']:.1f} s",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    for name in ("iters", "eval_iters", "eval_interval", "matmul_reps"):
        if getattr(args, name) < 1:
            raise SetupError(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}.")
    if args.warmup < 0 or args.val_iters < 0:
        raise SetupError("--warmup and --val-iters must be >= 0.")
    if min(args.matmul_sizes) < 1:
        raise SetupError("--matmul-sizes must be positive.")
    previous_threads = set_threads(args.threads)
    try:
        env = environment(args.threads)
        if env["load_avg_start"] is not None and env["load_avg_start"] > 0.5 * env["cpus"]:
            print(f"note: 1-min load average {env['load_avg_start']:.2f} on {env['cpus']} CPU(s): other "
                  "processes are running, timings will be noisy (the interleaving spreads it over both models).",
                  flush=True)
        tok, train_data, val_data = load_data()
        ours, hf, config = build_models(tok.vocab_size)
        peak_before = matmul_peak(args.matmul_sizes, args.matmul_reps)
        sp = speed(ours, hf, config, train_data, args.warmup, args.iters)
        print(f"speed: ours {sp['ours']['ms_per_iter']:.1f} ms/iter, HF {sp['hf']['ms_per_iter']:.1f} ms/iter, "
              f"HF/ours {sp['ratio_hf_over_ours']:.3f}", flush=True)
        peak_after = matmul_peak(args.matmul_sizes, args.matmul_reps)
        peak = max(peak_before, peak_after, key=lambda p: p["gflops"])
        flops = model_flops(ours, config)
        for key in ("ours", "hf"):
            sp[key]["mfu"] = flops["flops_per_iter"] / (sp[key]["ms_per_iter"] / 1e3) / (peak["gflops"] * 1e9)
        results = {
            "env": env, "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "config": {**{k: getattr(config, k) for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")},
                       "describe": config.describe()},
            "recipe": {"batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE, "min_lr": MIN_LR,
                       "warmup_iters": WARMUP_ITERS, "betas": list(BETAS), "weight_decay": WEIGHT_DECAY,
                       "grad_clip": GRAD_CLIP, "seed": SEED, "hf_attn_implementation": HF_ATTENTION,
                       "hf_activation": HF_ACTIVATION},
            "matmul_peak": {**peak, "before": peak_before["gflops"], "after": peak_after["gflops"]},
            "flops": flops, "speed": sp, "val": None,
        }
        del ours, hf
        if args.val_iters:
            print(f"val run: {args.val_iters} steps with gptedu.train.Trainer ...", flush=True)
            results["val"] = val_run(config, train_data, val_data, args.val_iters, args.eval_iters,
                                     args.eval_interval)
            results["val"]["target"] = VAL_TARGET
            results["val"]["meets_target"] = results["val"]["val_loss"] <= VAL_TARGET
        env["load_avg_end"] = load_avg()
    finally:
        torch.set_num_threads(previous_threads)
    results["failed"] = []
    if results["speed"]["ratio_hf_over_ours"] < 1.0:
        results["failed"].append("HF/ours < 1.0")
    if results["val"] and results["val"]["iters"] >= 2000 and not results["val"]["meets_target"]:
        results["failed"].append(f"val loss > {VAL_TARGET}")
    print(format_report(results), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    if args.results is not None:
        argv = list(sys.argv[1:] if argv is None else argv)
        bench_machine.write_results(args.results, "train", "bench_train.py", argv, results["env"], results)
    return results


if __name__ == "__main__":
    out = main()
    if "--strict" in sys.argv[1:] and out["failed"]:
        print("strict: " + "; ".join(out["failed"]), file=sys.stderr)
        sys.exit(1)
