#!/usr/bin/env python3
"""What the band loses: all-dense vs GPT-3's alternating vs all-banded attention (issue 15, item 5).

    python scripts/band_ablation.py --resume                 # 3 patterns x 2 seeds (seed 0 is shipped)
    python scripts/band_ablation.py --steps 40 --out /tmp/quick.json   # a quick try

Three models of one small shape (4 layers x 64 wide, 4 heads, context 256, band w = 32)
differ only in `attention_pattern`; they train on the same batches, in the same order, for
the same number of tokens (gptedu.train's AdamW and warmup + cosine schedule, seeded).

The training stream is Shakespeare's pretraining works (characters), where half of the rows
carry a *repeated span*: 20 random capital letters, then the same 20 letters again d positions later,
d drawn uniformly from every distance that fits the row. Copying a span from far back is
then worth learning, and the architecture decides how far back a model can look: an
all-banded stack of L layers reaches at most L·(w-1) = 124 positions back, while a dense or
an alternating stack reaches the whole context.

Measured after training:
- validation loss on the held-out plays (natural text, no inserted spans);
- during training, the copy probe on TRACK_ROWS rows every steps/TRACK_POINTS steps (when copying
  switches on), and the first FIRST_LOSSES training losses (a notebook reruns them live);
- the copy probe: fixed held-out rows with a fresh random span repeated at distance d, for d
  inside one band (16), beyond one band but within the all-banded reach (64, 100) and beyond
  it (160, 200). Per d: the mean loss on the repeat's letters 2..20 (the first letter of the
  repeat cannot be known) against the same letters' loss at their first occurrence. A model
  that copies gets the repeat nearly free; one that cannot see that far pays full price.

Results go to data/results/gpt3_band_ablation.json, rewritten after every run; --resume keeps
finished runs.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import string
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gptedu.config import GPTConfig  # noqa: E402
from gptedu.data import HELD_OUT_PLAYS, load_shakespeare, pretraining_plays  # noqa: E402
from gptedu.model import GPT  # noqa: E402
from gptedu.tokenizers import CharTokenizer  # noqa: E402
from gptedu.train import TrainConfig, lr_at, make_optimizer  # noqa: E402

OUT = ROOT / "data" / "results" / "gpt3_band_ablation.json"
PATTERNS = ("dense", "alternating", "banded")
SHAPE = dict(n_layer=4, n_embd=64, n_head=4, block_size=256)
WINDOW = 32
SPAN = 20
# Capitals: rare in the text (about 1 character in 30), so a span's letters are easier to find again than lowercase
# ones, which are everywhere in the text around them. Lowercase spans (the json's pilot_lowercase: dense, 1,200 steps)
# taught no copying; with capitals a 16-row probe saw +0.3 nats at d = 64 after 125-200 steps in dense pilots, but
# in the shipped 1,500-step runs no pattern copied at the end either (see the json and chapter 09).
LETTERS = string.ascii_uppercase
REPEAT_FRACTION = 0.5
PROBE_DISTANCES = (16, 64, 100, 160, 200)
PROBE_ROWS = 64
EVAL_BATCHES = 8
TRACK_POINTS = 12  # the copy probe during training, on TRACK_ROWS rows per distance
TRACK_ROWS = 16
FIRST_LOSSES = 10


def load_data() -> dict:
    train_text = load_shakespeare(pretraining_plays())
    val_text = load_shakespeare(list(HELD_OUT_PLAYS))
    tok = CharTokenizer.from_text(train_text + val_text)
    letters = torch.tensor(tok.encode(LETTERS), dtype=torch.long)
    return dict(train=torch.tensor(tok.encode(train_text), dtype=torch.long),
                val=torch.tensor(tok.encode(val_text), dtype=torch.long),
                vocab_size=tok.vocab_size, letters=letters, tokenizer=tok)


def windows(data: torch.Tensor, n: int, T: int, gen: torch.Generator) -> torch.Tensor:
    """n random windows of T + 1 tokens: (n, T + 1)."""
    starts = torch.randint(len(data) - T - 1, (n,), generator=gen)
    return torch.stack([data[s:s + T + 1] for s in starts.tolist()])


def insert_repeat(row: torch.Tensor, letters: torch.Tensor, distance: int, start: int,
                  gen: torch.Generator) -> None:
    """Write a random span of SPAN letters at `start` and again at `start + distance` (in place)."""
    span = letters[torch.randint(len(letters), (SPAN,), generator=gen)]
    row[start:start + SPAN] = span
    row[start + distance:start + distance + SPAN] = span


def train_batch(data: dict, batch: int, T: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    rows = windows(data["train"], batch, T, gen)
    for row in rows:
        if torch.rand((), generator=gen) < REPEAT_FRACTION:
            distance = int(torch.randint(SPAN, T + 1 - SPAN, (), generator=gen))  # the copy fits in T + 1
            start = int(torch.randint(T + 2 - SPAN - distance, (), generator=gen))
            insert_repeat(row, data["letters"], distance, start, gen)
    return rows[:, :-1], rows[:, 1:]


def make_model(pattern: str, vocab_size: int, seed: int) -> GPT:
    window = None if pattern == "dense" else WINDOW
    config = GPTConfig.from_preset("tiny", vocab_size=vocab_size, dropout=0.0, attention_pattern=pattern,
                                   attention_window=window, **SHAPE)
    torch.manual_seed(seed)
    return GPT(config)


def token_losses(model: GPT, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, T) per-token cross-entropy."""
    logits, _ = model(x)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(y.shape)


@torch.no_grad()
def val_loss(model: GPT, data: dict) -> float:
    gen = torch.Generator().manual_seed(1234)
    T = model.config.block_size
    losses = [token_losses(model, r[:, :-1], r[:, 1:]).mean() for r in
              (windows(data["val"], 16, T, gen) for _ in range(EVAL_BATCHES))]
    return float(torch.stack(losses).mean())


@torch.no_grad()
def copy_probe(model: GPT, data: dict, n_rows: int | None = None) -> dict[str, dict]:
    """Per distance: mean loss on the repeat's letters 2..SPAN vs on the same letters first time."""
    T = model.config.block_size
    out = {}
    for d in PROBE_DISTANCES:
        gen = torch.Generator().manual_seed(4321 + d)
        rows = windows(data["val"], n_rows or PROBE_ROWS, T, gen)
        start = T - SPAN - d  # the repeat ends at the window's last position
        for row in rows:
            insert_repeat(row, data["letters"], d, start, gen)
        losses = token_losses(model, rows[:, :-1], rows[:, 1:])  # position t predicts token t + 1
        first = losses[:, start:start + SPAN - 1].mean()  # predicting letters 2..SPAN of the first span
        repeat = losses[:, start + d:start + d + SPAN - 1].mean()
        out[str(d)] = dict(first=round(float(first), 4), repeat=round(float(repeat), 4),
                           saved=round(float(first - repeat), 4))
    return out


def start_run(pattern: str, seed: int, steps: int, batch: int, lr: float, data: dict) -> dict:
    """A fresh model, its optimizer and schedule, and the batch generator (the same batches for every pattern)."""
    model = make_model(pattern, data["vocab_size"], seed)
    cfg = TrainConfig(max_iters=steps, batch_size=batch, learning_rate=lr, min_lr=lr / 10,
                      warmup_iters=min(100, steps // 10), lr_decay_iters=steps, grad_clip=1.0,
                      weight_decay=0.1, progress=False)
    return dict(model=model, cfg=cfg, optimizer=make_optimizer(model, cfg), gen=torch.Generator().manual_seed(seed))


def train_step(run: dict, step: int, data: dict) -> float:
    """One optimizer step of `run` (from start_run) on the next batch; returns its training loss."""
    model, cfg, optimizer = run["model"], run["cfg"], run["optimizer"]
    model.train()
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, cfg)
    x, y = train_batch(data, cfg.batch_size, model.config.block_size, run["gen"])
    loss = token_losses(model, x, y).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return loss.item()


def train_one(pattern: str, seed: int, steps: int, batch: int, lr: float, data: dict) -> dict:
    run = start_run(pattern, seed, steps, batch, lr, data)
    model = run["model"]
    curve, started = [], time.time()
    track_every = max(1, steps // TRACK_POINTS)
    copy_curve = []  # when copying switches on: the copy probe (TRACK_ROWS rows) every track_every steps
    for step in tqdm(range(steps), desc=f"{pattern} seed {seed}", unit="step"):
        if step % track_every == 0:
            model.eval()
            copy_curve.append(dict(step=step, saved={d: c["saved"] for d, c in
                                                     copy_probe(model, data, TRACK_ROWS).items()}))
        loss = train_step(run, step, data)
        if not math.isfinite(loss):
            raise FloatingPointError(f"{pattern} seed {seed}: loss {loss} at step {step}")
        curve.append(loss)
    model.eval()
    copy_curve.append(dict(step=steps, saved={d: c["saved"] for d, c in copy_probe(model, data, TRACK_ROWS).items()}))
    every = max(1, steps // 25)
    return dict(pattern=pattern, seed=seed, steps=steps, batch=batch, lr=lr, window=WINDOW, **SHAPE,
                tokens=steps * batch * model.config.block_size,
                params=sum(p.numel() for p in model.parameters()),
                train_curve=[round(sum(curve[i:i + every]) / len(curve[i:i + every]), 4)
                             for i in range(0, steps, every)],
                first_losses=[round(v, 4) for v in curve[:FIRST_LOSSES]],  # per step, for a live recheck
                val_loss=round(val_loss(model, data), 4), copy=copy_probe(model, data), copy_curve=copy_curve,
                seconds=round(time.time() - started, 1))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--patterns", nargs="+", default=list(PATTERNS), choices=PATTERNS)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--resume", action="store_true", help="keep the finished runs already in --out")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = json.loads(args.out.read_text()) if args.resume and args.out.exists() else {}
    runs = result.get("runs", [])
    done = {(r["pattern"], r["seed"], r["steps"]) for r in runs}
    data = load_data()
    command = "python scripts/band_ablation.py " + " ".join(argv if argv is not None else sys.argv[1:])
    settings = result.setdefault("settings", {})
    settings["commands"] = settings.get("commands", []) + [command]  # one per invocation (--resume adds seeds)
    settings.update(steps=args.steps, batch=args.batch, lr=args.lr, window=WINDOW, **SHAPE, threads=args.threads)
    result.update(command=command, span=SPAN, repeat_fraction=REPEAT_FRACTION, probe_distances=list(PROBE_DISTANCES),
                  all_banded_reach=SHAPE["n_layer"] * (WINDOW - 1),
                  machine=f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                          f"{args.threads} threads")
    for seed in args.seeds:
        for pattern in args.patterns:
            if (pattern, seed, args.steps) in done:
                continue
            runs.append(train_one(pattern, seed, args.steps, args.batch, args.lr, data))
            result["runs"] = runs
            settings["seconds"] = round(sum(r["seconds"] for r in runs), 1)  # all runs, training + probes
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=1) + "\n")
            r = runs[-1]
            print(f"{pattern:>11} seed {seed}: val {r['val_loss']:.3f}, copy saved (nats) "
                  + ", ".join(f"d={d}: {c['saved']:+.2f}" for d, c in r["copy"].items())
                  + f"  [{r['seconds']:.0f} s]", flush=True)
    return result


if __name__ == "__main__":
    main()
