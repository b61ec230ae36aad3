"""Training at depth: GPT-1's post-LN vs GPT-2's pre-LN, over learning rate x warmup (issue 12, item 4).

Xiong et al. (2020), "On Layer Normalization in the Transformer Architecture": a post-LN
Transformer needs a learning-rate warmup (or a small learning rate); a pre-LN one trains
without. This script looks for a CPU-sized regime where that shows, and ships the grid:

    python -m gptedu.experiments.depth_sweep --bench                      # ms/step of a few shapes, to budget
    python -m gptedu.experiments.depth_sweep --grid search --resume       # stage 1: 1 seed, cheap, many regimes
    python -m gptedu.experiments.depth_sweep --grid final --resume        # the shipped grid, 2 seeds
    python -m gptedu.experiments.depth_sweep --grid final --seeds 0 1 2 --resume   # add a seed

Every run: char-level Shakespeare (the 37 pretraining works; validation on the five
HELD_OUT_PLAYS), gptedu's GPT with norm="post" (GPT-1: residual_scale_init=False, no final
LN) or norm="pre" (GPT-2: residual_scale_init=True, final LN), gptedu's Trainer with
AdamW, linear warmup then cosine to lr/10, and gradient clipping OFF so instability shows.
Dropout 0.

Per run the results file holds: the spec (norm, n_layer, n_embd, n_head, lr, warmup,
beta2, eps, seed, steps, batch, block), the final train and val loss on fixed batches
(the same batches for every run), the training-loss curve (20 window means), the total
gradient norm (before any clipping: there is none) per window and its maximum and step,
`diverged` (a non-finite loss: gptedu's TrainingDiverged, or a loss that climbs back
above its value at initialisation) with its step, `stalled` (final val loss within 0.1
nats of the unigram loss or above it, or the final training loss not 0.05 below its value
around step 50), the seconds, and the command that made it. At the top: per-layer gradient norms at
initialisation for both norms (deterministic, no training; chapter 07's figure), the
ms/step bench, a summary per (grid, shape, beta2, steps, norm, lr, warmup) and a verdict.

Results go to data/results/gpt2_depth_sweep.json, rewritten after every run; --resume
keeps the rows already there and runs only the missing ones.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from ..checks import check_output_file
from ..config import GPTConfig
from ..data import HELD_OUT_PLAYS, get_batch, load_shakespeare, pretraining_plays
from ..model import GPT
from ..tokenizers import CharTokenizer
from ..train import TrainConfig, Trainer, TrainingDiverged

ROOT = Path(__file__).resolve().parents[2]

OUT = ROOT / "data" / "results" / "gpt2_depth_sweep.json"
CURVE_POINTS = 20
EVAL_BATCHES = 10  # fixed batches per split for the final losses
EVAL_SEED = 2020  # the same eval batches for every run
STALL_MARGIN = 0.05  # nats: a run that has not dropped this much below its step-50 loss is stalled
UNIGRAM_MARGIN = 0.1  # nats: a final val loss within this of the unigram loss (or above it) is stalled
EFFECT = 0.3  # nats: "clearly worse"


@dataclass(frozen=True)
class Spec:
    norm: str
    n_layer: int
    n_embd: int
    lr: float
    warmup: int
    seed: int = 0
    steps: int = 300
    batch: int = 16
    block: int = 128
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    init: str = "gpt"  # "gpt": gptedu's std 0.02; "width": x sqrt(768 / n_embd), see make_model

    @property
    def n_head(self) -> int:
        return max(1, self.n_embd // 32)

    def key(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))


# ---------------------------------------------------------------- grids
def _product(grid: str, *, norms, shapes, lrs, warmups, seeds, steps, beta2s=(0.95,), inits=("gpt",)
             ) -> list[tuple[str, Spec]]:
    return [(grid, Spec(norm=n, n_layer=L, n_embd=E, lr=lr, warmup=w, seed=s, steps=steps, beta2=b2, init=i))
            for (L, E), i, b2, lr, w, n, s in itertools.product(shapes, inits, beta2s, lrs, warmups, norms, seeds)]


def search_grid(seeds=(0,)) -> list[tuple[str, Spec]]:
    """Stage 1: one seed, 200 steps, the knobs of the issue, most promising regimes first.

    Each regime is the four cells post/pre x warmup 0/100 at one lr, so summary()'s verdicts can judge it.
    """
    kw = dict(norms=("post", "pre"), warmups=(0, 100), seeds=seeds, steps=200)
    jobs = []
    jobs += _product("search", shapes=[(12, 64)], lrs=(1e-2,), beta2s=(0.999,), inits=("width",), **kw)
    jobs += _product("search", shapes=[(12, 64)], lrs=(1e-2,), beta2s=(0.999,), inits=("gpt",), **kw)
    jobs += _product("search", shapes=[(12, 64)], lrs=(3e-3,), beta2s=(0.999,), inits=("width",), **kw)
    jobs += _product("search", shapes=[(12, 64)], lrs=(1e-2,), beta2s=(0.95,), inits=("width",), **kw)
    jobs += _product("search", shapes=[(24, 64)], lrs=(3e-3,), beta2s=(0.999,), inits=("width",), **kw)
    return jobs


# The regime stage 1 found (12 x 64, width-matched init, Adam beta2 0.999): at lr 3e-3 post-LN without
# warmup stalled at the unigram loss while post-LN with warmup and pre-LN trained; at 1e-2 post-LN
# stalled even with warmup. The final grid brackets that boundary.
FINAL = dict(shapes=[(12, 64)], lrs=(1e-3, 3e-3, 6e-3), warmups=(0, 100), steps=250, beta2s=(0.999,),
             inits=("width",))


def final_grid(seeds=(0, 1)) -> list[tuple[str, Spec]]:
    """Seed-major: every cell gets seed 0 before any gets seed 1, so a partial run is still a grid."""
    return [job for s in seeds for job in _product("final", norms=("post", "pre"), seeds=(s,), **FINAL)]


# ---------------------------------------------------------------- data
_DATA: dict = {}


def load_data() -> dict:
    """Train/val token tensors (pretraining works / held-out plays), vocab size, unigram loss."""
    if not _DATA:
        train_text = load_shakespeare(pretraining_plays())
        val_text = load_shakespeare(list(HELD_OUT_PLAYS))
        tok = CharTokenizer.from_text(train_text + val_text)
        train = torch.tensor(tok.encode(train_text), dtype=torch.long)
        val = torch.tensor(tok.encode(val_text), dtype=torch.long)
        counts = torch.bincount(train, minlength=tok.vocab_size).double()
        p = counts[counts > 0] / counts.sum()
        _DATA.update(train=train, val=val, vocab_size=tok.vocab_size,
                     unigram_loss=float(-(p * p.log()).sum()))
    return _DATA


def make_model(norm: str, n_layer: int, n_embd: int, block: int, vocab_size: int, seed: int,
               init: str = "gpt") -> GPT:
    """GPT-1 (post-LN, plain init) or GPT-2 (pre-LN, residual init 0.02/sqrt(2N), final LN) blocks.

    init="gpt" keeps gptedu's normal(0, 0.02) weights. init="width" multiplies every weight matrix
    (and embedding) by sqrt(768 / n_embd): std * sqrt(width) is then what GPT-1/GPT-2 small have at
    width 768, so each residual branch is as large relative to the stream as in the papers' models
    (with std 0.02 at width 64 the branches start ~3.5x smaller than at 768). Pre-LN's residual
    projections keep their extra 1/sqrt(2N).
    """
    config = GPTConfig.from_preset("tiny-gpt1" if norm == "post" else "tiny", vocab_size=vocab_size,
                                   n_layer=n_layer, n_embd=n_embd, n_head=max(1, n_embd // 32),
                                   block_size=block, dropout=0.0)
    assert config.norm == norm and config.residual_scale_init == (norm == "pre")
    torch.manual_seed(seed)
    model = GPT(config)
    if init == "width":
        with torch.no_grad():
            for p in model.parameters():  # a tied weight appears once
                if p.dim() >= 2:
                    p.mul_(math.sqrt(768 / n_embd))
    elif init != "gpt":
        raise ValueError(f"init={init!r} must be 'gpt' or 'width'")
    return model


@torch.no_grad()
def fixed_losses(model: GPT, data: dict, batch: int, block: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(EVAL_SEED)
    was = model.training
    model.eval()
    out = {}
    for split in ("train", "val"):
        losses = [model(*get_batch(data[split], batch, block, generator=gen))[1].item() for _ in range(EVAL_BATCHES)]
        out[split] = sum(losses) / len(losses)
    model.train(was)
    return out


def _windows(values: list[float], n: int, reduce) -> list[dict]:
    """n (step, value) points: reduce() over consecutive windows of the per-step values."""
    if not values:
        return []
    size = max(1, math.ceil(len(values) / n))
    return [{"step": min(i + size, len(values)), "value": _r(reduce(values[i:i + size]))}
            for i in range(0, len(values), size)]


def _r(x: float, digits: int = 4):
    return round(x, digits) if math.isfinite(x) else str(x)


def _fmax(values):
    finite = [v for v in values if math.isfinite(v)]
    return max(finite) if finite else float("nan")


def _fmean(values):
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


# ---------------------------------------------------------------- one run
def train_one(spec: Spec) -> dict:
    data = load_data()
    model = make_model(spec.norm, spec.n_layer, spec.n_embd, spec.block, data["vocab_size"], spec.seed, spec.init)
    cfg = TrainConfig(max_iters=spec.steps, batch_size=spec.batch, learning_rate=spec.lr, min_lr=spec.lr / 10,
                      warmup_iters=spec.warmup, weight_decay=spec.weight_decay, betas=(0.9, spec.beta2),
                      grad_clip=0, eval_interval=spec.steps, eval_iters=1, seed=spec.seed, device="cpu",
                      progress=False)
    trainer = Trainer(model, data["train"], data["val"], cfg)
    for group in trainer.optimizer.param_groups:
        group["eps"] = spec.eps
    params = [p for p in model.parameters() if p.requires_grad]
    losses: list[float] = []
    grad_norms: list[float] = []

    def record_loss(module, inputs, output):  # training steps only (estimate_loss runs in eval mode)
        if module.training and output[1] is not None:
            losses.append(output[1].item())

    def record_grad_norm(optimizer, args, kwargs):  # before the update; there is no clipping
        grad_norms.append(torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(p.grad) for p in params if p.grad is not None])).item())

    hooks = [model.register_forward_hook(record_loss), trainer.optimizer.register_step_pre_hook(record_grad_norm)]
    start = time.time()
    diverged, why = False, None
    try:
        trainer.fit()
    except TrainingDiverged as err:
        diverged, why = True, f"non-finite loss: {str(err).split('. ')[0]}"
    finally:
        for h in hooks:
            h.remove()
    seconds = time.time() - start

    init_loss = losses[0] if losses else float("nan")
    final = fixed_losses(model, data, spec.batch, spec.block) if not diverged else {"train": float("nan"), "val": float("nan")}
    if not diverged and not (math.isfinite(final["train"]) and math.isfinite(final["val"])):
        diverged, why = True, "non-finite loss on the eval batches"
    curve = _windows(losses, CURVE_POINTS, _fmean)
    diverged_step = len(losses) if diverged else None
    if not diverged:  # a finite blow-up: the loss climbs back above its value at initialisation
        smooth = [sum(losses[i:i + 10]) / len(losses[i:i + 10]) for i in range(20, len(losses), 10)]
        above = [i for i, v in zip(range(20, len(losses), 10), smooth) if v > init_loss + 0.1]
        if above:
            diverged, why, diverged_step = True, f"training loss back above its initial {init_loss:.2f}", above[0] + 10
    i50 = min(50, len(losses))
    loss_at_50 = _fmean(losses[max(0, i50 - 10):i50])
    final_train_window = _fmean(losses[-10:])
    stalled = (not diverged) and is_stalled(final["val"], data["unigram_loss"], final_train_window, loss_at_50)
    peak = _fmax(grad_norms)
    return {
        **asdict(spec), "n_head": spec.n_head, "params": model.num_params(),
        "final_train_loss": _r(final["train"]), "final_val_loss": _r(final["val"]),
        "initial_loss": _r(init_loss), "loss_at_step_50": _r(loss_at_50), "final_train_window_loss": _r(final_train_window),
        "unigram_loss": _r(data["unigram_loss"]),
        "diverged": diverged, "diverged_step": diverged_step, "diverged_why": why, "stalled": stalled,
        "max_grad_norm": _r(peak, 3), "max_grad_norm_step": (grad_norms.index(peak) + 1) if math.isfinite(peak) else None,
        "grad_norm_at_step_1": _r(grad_norms[0], 3) if grad_norms else None,
        "steps_done": len(grad_norms),
        "loss_curve": curve, "grad_norm_curve_max": _windows(grad_norms, CURVE_POINTS, _fmax),
        "seconds": round(seconds, 1), "ms_per_step": round(1000 * seconds / max(1, len(losses)), 1),
    }


# ---------------------------------------------------------------- at initialisation
def init_grad_norms(shapes=((12, 64), (24, 64)), inits=("gpt", "width"), seeds=(0, 1, 2), batch: int = 16,
                    block: int = 128) -> dict:
    """Per-layer gradient norms of a fresh model (no training) on one fixed batch, for both norms.

    For each block: the norm of the gradient of all its parameters, and of its MLP's c_fc weight
    (the W^1 of Xiong et al.'s Fig. 3). Mean over seeds (the weights' init seed; the batch is fixed).
    """
    data = load_data()
    x, y = get_batch(data["train"], batch, block, generator=torch.Generator().manual_seed(EVAL_SEED))
    out = {}
    for (L, E), init, norm in itertools.product(shapes, inits, ("post", "pre")):
        per_seed_block, per_seed_fc, total = [], [], []
        for seed in seeds:
            model = make_model(norm, L, E, block, data["vocab_size"], seed, init)
            _, loss = model(x, y)
            loss.backward()
            per_seed_block.append([torch.linalg.vector_norm(torch.stack(
                [torch.linalg.vector_norm(p.grad) for p in b.parameters()])).item() for b in model.h])
            per_seed_fc.append([b.mlp.c_fc.weight.grad.norm().item() for b in model.h])
            total.append(torch.linalg.vector_norm(torch.stack(
                [torch.linalg.vector_norm(p.grad) for p in model.parameters()])).item())
        mean = lambda rows: [round(statistics.fmean(col), 5) for col in zip(*rows)]  # noqa: E731
        out[f"{norm}_{L}x{E}_init-{init}"] = {"norm": norm, "n_layer": L, "n_embd": E, "init": init, "seeds": list(seeds),
                                  "block_grad_norm": mean(per_seed_block), "mlp_c_fc_grad_norm": mean(per_seed_fc),
                                  "total_grad_norm": round(statistics.fmean(total), 4)}
    return out


def bench(shapes=((12, 64), (12, 128), (24, 64)), steps: int = 8) -> dict:
    """ms per training step (pre-LN, batch 16, block 128, this process's torch threads) after 2 warm-up steps."""
    data = load_data()
    out = {}
    for L, E in shapes:
        for norm in ("post", "pre"):
            model = make_model(norm, L, E, 128, data["vocab_size"], 0)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            gen = torch.Generator().manual_seed(0)
            times = []
            for i in range(steps + 2):
                x, y = get_batch(data["train"], 16, 128, generator=gen)
                t = time.perf_counter()
                _, loss = model(x, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if i >= 2:
                    times.append(time.perf_counter() - t)
            out[f"{norm}_{L}x{E}"] = round(1000 * statistics.median(times), 1)
            print(f"  {norm}-LN {L}x{E}: {out[f'{norm}_{L}x{E}']} ms/step", flush=True)
    return {"batch": 16, "block": 128, "threads": torch.get_num_threads(), "ms_per_step": out}


# ---------------------------------------------------------------- summary
GROUP = ("grid", "n_layer", "n_embd", "init", "beta2", "eps", "steps", "norm", "lr", "warmup")


def is_stalled(final_val: float, unigram: float, final_train_window: float, loss_at_50: float) -> bool:
    """Stuck at (or above) what a model predicting character frequencies alone gets, or not learning since step 50."""
    return final_val > unigram - UNIGRAM_MARGIN or final_train_window > loss_at_50 - STALL_MARGIN


def reflag(rows: list[dict]) -> None:
    """Recompute each finite row's `stalled` with the current is_stalled (rows made under an earlier rule too)."""
    for r in rows:
        if not r["diverged"]:
            r["stalled"] = is_stalled(r["final_val_loss"], r["unigram_loss"], r["final_train_window_loss"],
                                      r["loss_at_step_50"])


def summarize(rows: list[dict]) -> dict:
    reflag(rows)
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in GROUP), []).append(row)
    table = []
    for key, rs in sorted(groups.items(), key=lambda kv: tuple(str(v) for v in kv[0])):
        vals = [r["final_val_loss"] for r in rs if isinstance(r["final_val_loss"], float)]
        table.append({
            **dict(zip(GROUP, key)), "n_seeds": len(rs), "seeds": sorted(r["seed"] for r in rs),
            "mean_final_val_loss": round(statistics.fmean(vals), 4) if vals else None,
            "sd_final_val_loss": round(statistics.stdev(vals), 4) if len(vals) > 1 else None,
            "n_diverged": sum(r["diverged"] for r in rs), "n_stalled": sum(r["stalled"] for r in rs),
            "mean_max_grad_norm": round(_fmean([r["max_grad_norm"] for r in rs if isinstance(r["max_grad_norm"], float)]), 3),
        })
    return {"table": table, "verdicts": verdicts(table)}


def _bad(cell: dict | None) -> bool:
    return cell is None or cell["n_diverged"] > 0 or cell["n_stalled"] > 0 or cell["mean_final_val_loss"] is None


def verdicts(table: list[dict]) -> list[dict]:
    """Per (grid, shape, beta2, eps, steps, lr): does post-LN without warmup fail where post-LN with
    warmup and pre-LN (either warmup) train? Failing = diverged or stalled in any seed, or a mean final val
    loss >= EFFECT nats above post-LN with warmup."""
    cells = {tuple(c[k] for k in GROUP): c for c in table}
    out = []
    for key in sorted({k[:7] + (k[8],) for k in cells}, key=str):
        warm = max((k[9] for k in cells if k[:7] + (k[8],) == key), default=0)  # the longest warmup run
        get = lambda norm, w: cells.get(key[:7] + (norm, key[7], w))  # noqa: E731
        post0, postw, pre0, prew = get("post", 0), get("post", warm), get("pre", 0), get("pre", warm)
        if not warm or not all((post0, postw, pre0, prew)):
            continue
        val = lambda c: c["mean_final_val_loss"]  # noqa: E731
        diff = lambda a, b: round(val(a) - val(b), 4) if None not in (val(a), val(b)) else None  # noqa: E731
        gap = diff(post0, postw)
        post0_fails = _bad(post0) or (gap is not None and gap >= EFFECT)
        others_fine = not (_bad(postw) or _bad(pre0) or _bad(prew))
        out.append({**dict(zip(GROUP[:7] + ("lr",), key)), "warmup": warm,
                    "post_w0_val": val(post0), "post_warm_val": val(postw), "pre_w0_val": val(pre0),
                    "pre_warm_val": val(prew), "post_w0_minus_post_warm": gap, "pre_w0_minus_pre_warm": diff(pre0, prew),
                    "diverged_or_stalled": {name: f"{c['n_diverged']}d/{c['n_stalled']}s of {c['n_seeds']}"
                                            for name, c in (("post_w0", post0), ("post_warm", postw),
                                                            ("pre_w0", pre0), ("pre_warm", prew))},
                    "shows_effect": bool(post0_fails and others_fine)})
    return out


# ---------------------------------------------------------------- main
def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.depth_sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", choices=("search", "final"), default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default: search 0; final 0 1")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--resume", action="store_true", help="keep the rows already in --out, run only the missing ones")
    p.add_argument("--bench", action="store_true", help="time ms/step of 12x64, 12x128, 24x64 first")
    p.add_argument("--no-init-grads", action="store_true", help="skip the per-layer gradient norms at init")
    p.add_argument("--limit", type=int, default=None, help="run at most this many missing runs, then stop")
    p.add_argument("--threads", type=int, default=int(os.environ.get("GPTEDU_THREADS", "1")))
    args = p.parse_args(argv)
    check_output_file(args.out, "--out")  # before the first run, not after it
    torch.set_num_threads(args.threads)
    command = " ".join(["python -m gptedu.experiments.depth_sweep", *(sys.argv[1:] if argv is None else argv)])

    result = _load(args.out) if args.resume else {}
    result.setdefault("description", "Post-LN (GPT-1) vs pre-LN (GPT-2) at depth: lr x warmup, Adam, no gradient "
                      "clipping; char-level Shakespeare (37 pretraining works; val on the 5 held-out plays). "
                      "See gptedu.experiments.depth_sweep for every definition.")
    result.setdefault("rows", [])
    result.setdefault("commands", [])
    started = time.time()
    entry = {"command": command, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "threads": args.threads,
             "machine": f"{platform.machine()}, torch {torch.__version__}", "runs": 0, "seconds": None}
    result["commands"].append(entry)
    data = load_data()
    result["data"] = {"train_chars": len(data["train"]), "val_chars": len(data["val"]), "vocab_size": data["vocab_size"],
                      "unigram_loss": round(data["unigram_loss"], 4), "eval": f"{EVAL_BATCHES} fixed batches per split "
                      f"(generator seed {EVAL_SEED}), batch and block of the run"}

    def save() -> None:
        entry["seconds"] = round(time.time() - started, 1)
        result["total_seconds"] = round(sum(c["seconds"] or 0 for c in result["commands"]), 1)
        result["summary"] = summarize(result["rows"])
        _write(args.out, result)

    if args.bench:
        print("bench:", flush=True)
        result["bench"] = bench()
        save()
    if not args.no_init_grads and "init_grad_norms" not in result:
        result["init_grad_norms"] = init_grad_norms()
        save()
    if args.grid:
        seeds = tuple(args.seeds) if args.seeds else ((0,) if args.grid == "search" else (0, 1))
        jobs = search_grid(seeds) if args.grid == "search" else final_grid(seeds)
        done = Counter((r["grid"], Spec(**{f.name: r[f.name] for f in fields(Spec)}).key()) for r in result["rows"])
        todo = [(g, s) for g, s in jobs if not done[(g, s.key())]]
        print(f"{args.grid}: {len(jobs)} runs, {len(jobs) - len(todo)} already done", flush=True)
        for i, (grid, spec) in enumerate(todo[:args.limit]):
            row = {"grid": grid, **train_one(spec), "command": command}
            result["rows"].append(row)
            entry["runs"] += 1
            save()
            flag = " DIVERGED@%s" % row["diverged_step"] if row["diverged"] else (" stalled" if row["stalled"] else "")
            print(f"[{i + 1}/{len(todo)}] {spec.norm}-LN {spec.n_layer}x{spec.n_embd} lr {spec.lr:g} warmup {spec.warmup} "
                  f"beta2 {spec.beta2} seed {spec.seed}: val {row['final_val_loss']}, peak |g| {row['max_grad_norm']} "
                  f"@{row['max_grad_norm_step']}, {row['seconds']} s{flag}", flush=True)
    save()
    return result


if __name__ == "__main__":
    main()
