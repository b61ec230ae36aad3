"""What the band loses: all-dense vs GPT-3's alternating vs all-banded attention (issue 15, item 5).

    python -m gptedu.experiments.band_ablation --resume --threads 1     # 3 patterns x 2 seeds, 3,000 steps (shipped)
    python -m gptedu.experiments.band_ablation --resume --threads 1 --longer --seeds 0 --patterns alternating --steps 6000
    python -m gptedu.experiments.band_ablation --resume --threads 1 --spread --seeds 0 --patterns dense alternating
    python -m gptedu.experiments.band_ablation --steps 40 --out /tmp/quick.json   # a quick try

Three models of one small shape (4 layers x 64 wide, 4 heads, context 256, band w = 32)
differ only in `attention_pattern`; they train on the same batches, in the same order, for
the same number of tokens (gptedu.train's AdamW and warmup + cosine schedule, seeded).

Training rows (characters, the family's tokenizer): half are mapping episodes, chapter 10's
`word -> label` lines with fresh labels, where a label can only be known from an earlier line
(the data that taught the family to copy); the other half are windows of the training plays
with one fresh `word -> label` line written in twice, d positions apart, d anywhere that fits.
Copying from far back is then worth learning, and the architecture decides how far back a
model can look: an all-banded stack of L layers reaches at most L·(w-1) = 124 positions back,
while a dense or an alternating stack reaches the whole context.

Measured:
- validation loss on the held-out plays (natural text, nothing inserted);
- the copy probe: fixed held-out rows, each with a held-out word and a new label written in
  twice, d apart, for d inside one band (16), beyond one band but within the all-banded reach
  (64, 100) and beyond it (160, 200). Per d: the mean loss on the label's 3 letters at the
  repeat against the same letters' loss at their first occurrence (where they are new). A
  model that copies gets the repeat nearly free; one that cannot see that far pays full price;
- during training, the probe on TRACK_ROWS rows every steps/TRACK_POINTS steps (when copying
  switches on), and the first FIRST_LOSSES training losses (a notebook reruns them live).

Results go to data/results/gpt3_band_ablation.json, rewritten after every run; --resume keeps
finished runs.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import time
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..checks import check_output_file
from ..config import GPTConfig
from ..data import HELD_OUT_PLAYS, load_shakespeare, pretraining_plays
from ..model import GPT
from ..subtask_corpus import (ARROW, evaluation_words, family_tokenizer, mapping_pairs,
                               new_labels, render_line, training_words)
from ..train import TrainConfig, lr_at, make_optimizer

ROOT = Path(__file__).resolve().parents[2]

OUT = ROOT / "data" / "results" / "gpt3_band_ablation.json"
PATTERNS = ("dense", "alternating", "banded")
SHAPE = dict(n_layer=4, n_embd=64, n_head=4, block_size=256)
WINDOW = 32
# Half of the rows are mapping episodes, chapter 10's "word -> label" lines: 2-5 words, each with a fresh label, many
# lines, so a label can only be known from an earlier line. This is the data that taught the family to copy (its probe
# p1, data/results/family_probe.json: mapping episodes only, 4 x 48, copying from step ~1,000 of 16 x 256). Its
# repeats are close (a few lines back). The other half are play text with one "word -> label" line written in twice,
# d positions apart, d anywhere that fits: there copying pays off from far back too.
MAPPING_FRACTION = 0.5
# Spans of 20 random capitals in every other row (the first shipped version: 1,500 steps, two seeds) taught no pattern
# to copy, nor did lowercase spans or 40-letter spans in every row; the json keeps that run's numbers as "no_copy_v1".
PROBE_DISTANCES = (16, 64, 100, 160, 200)
PROBE_ROWS = 64
EVAL_BATCHES = 8
TRACK_POINTS = 16  # the copy probe during training, on TRACK_ROWS rows per distance
TRACK_ROWS = 16
FIRST_LOSSES = 10


def load_data() -> dict:
    train_text = load_shakespeare(pretraining_plays())
    val_text = load_shakespeare(list(HELD_OUT_PLAYS))
    tok = family_tokenizer()  # the plays' characters and the arrow's '>'
    return dict(train=torch.tensor(tok.encode(train_text), dtype=torch.long),
                val=torch.tensor(tok.encode(val_text), dtype=torch.long),
                vocab_size=tok.vocab_size, tokenizer=tok,
                train_words=training_words(), probe_words=evaluation_words())


def windows(data: torch.Tensor, n: int, T: int, gen: torch.Generator) -> torch.Tensor:
    """n random windows of T + 1 tokens: (n, T + 1)."""
    starts = torch.randint(len(data) - T - 1, (n,), generator=gen)
    return torch.stack([data[s:s + T + 1] for s in starts.tolist()])


def python_rng(gen: torch.Generator) -> random.Random:
    """A random.Random for the word choices, seeded from (and advancing) the torch generator."""
    return random.Random(int(torch.randint(2**31, (), generator=gen)))


def mapping_row(data: dict, n: int, rng: random.Random) -> torch.Tensor:
    """The first n characters of a mapping episode: 2-5 words with fresh labels, lines drawn with replacement."""
    lines = ""
    while len(lines) < n:
        lines += "".join(render_line(w, lab) for w, lab in mapping_pairs(data["train_words"], rng.randint(2, 5), 8, rng))
    return torch.tensor(data["tokenizer"].encode(lines[:n]), dtype=torch.long)


SPREAD_GAP = 3  # --spread: a word never comes back within this many lines (about 36+ characters: beyond one band)


def spread_mapping_row(data: dict, n: int, rng: random.Random) -> torch.Tensor:
    """A mapping episode whose repeats are all beyond one band: 5-8 words, none within SPREAD_GAP lines of itself."""
    lines = ""
    while len(lines) < n:  # a new mapping every 16 lines
        words = rng.sample(list(data["train_words"]), rng.randint(5, 8))
        table = dict(zip(words, new_labels(len(words), rng)))
        recent = []
        for _ in range(16):
            word = rng.choice([w for w in words if w not in recent[-SPREAD_GAP:]])
            recent.append(word)
            lines += render_line(word, table[word])
    return torch.tensor(data["tokenizer"].encode(lines[:n]), dtype=torch.long)


def insert_line(row: torch.Tensor, line: torch.Tensor, distance: int, start: int) -> None:
    """Write `line` at `start` and again at `start + distance` (in place)."""
    row[start:start + len(line)] = line
    row[start + distance:start + distance + len(line)] = line


def line_ids(data: dict, words: Sequence[str], rng: random.Random) -> tuple[torch.Tensor, int]:
    """One fresh "word -> label" line as ids, and where its label starts in it."""
    word = rng.choice(words)
    text = render_line(word, new_labels(1, rng)[0])
    return torch.tensor(data["tokenizer"].encode(text), dtype=torch.long), len(word) + len(ARROW)


def train_batch(data: dict, batch: int, T: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    rows = windows(data["train"], batch, T, gen)
    rng = python_rng(gen)
    for row in rows:
        if rng.random() < MAPPING_FRACTION:
            row[:] = (spread_mapping_row if data.get("spread") else mapping_row)(data, T + 1, rng)
        else:
            line, _ = line_ids(data, data["train_words"], rng)
            distance = rng.randint(len(line), T + 1 - len(line))  # both copies fit in the T + 1 tokens
            insert_line(row, line, distance, rng.randint(0, T + 1 - len(line) - distance))
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
    """Per distance: mean loss on a label's 3 letters at its repeat vs at its first occurrence.

    Held-out text rows, each with one fresh "word -> label" line (a held-out word, a new label)
    written in twice, d apart, the repeat ending at the row's end.
    """
    T = model.config.block_size
    out = {}
    for d in PROBE_DISTANCES:
        gen = torch.Generator().manual_seed(4321 + d)
        rows = windows(data["val"], n_rows or PROBE_ROWS, T, gen)
        rng = python_rng(gen)
        label_at = []  # where each row's first label starts
        for row in rows:
            line, offset = line_ids(data, data["probe_words"], rng)
            start = T + 1 - len(line) - d
            insert_line(row, line, d, start)
            label_at.append(start + offset)
        losses = token_losses(model, rows[:, :-1], rows[:, 1:])  # losses[:, j - 1] is the loss on row[:, j]
        first = torch.stack([losses[i, j - 1:j + 2] for i, j in enumerate(label_at)]).mean()
        repeat = torch.stack([losses[i, j + d - 1:j + d + 2] for i, j in enumerate(label_at)]).mean()
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
    bar = tqdm(range(steps), desc=f"{pattern} seed {seed}", unit="step")
    for step in bar:
        if step % track_every == 0:
            model.eval()
            copy_curve.append(dict(step=step, saved={d: c["saved"] for d, c in
                                                     copy_probe(model, data, TRACK_ROWS).items()}))
            bar.set_postfix_str("nats saved " + " ".join(f"{d}:{v:+.1f}" for d, v in copy_curve[-1]["saved"].items()))
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
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.band_ablation",
                                description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--patterns", nargs="+", default=list(PATTERNS), choices=PATTERNS)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--resume", action="store_true", help="keep the finished runs already in --out")
    p.add_argument("--longer", action="store_true",
                   help="extra runs at another --steps, kept apart under 'longer' (the comparison stays in 'runs')")
    p.add_argument("--spread", action="store_true",
                   help="mapping episodes whose repeats are all beyond one band; runs kept apart under 'spread'")
    args = p.parse_args(argv)
    check_output_file(args.out, "--out")  # before the first run, not after it
    torch.set_num_threads(args.threads)
    result = json.loads(args.out.read_text()) if args.resume and args.out.exists() else {}
    key = "spread" if args.spread else "longer" if args.longer else "runs"
    runs = result.get(key, [])
    done = {(r["pattern"], r["seed"], r["steps"]) for r in runs}
    data = load_data()
    data["spread"] = args.spread
    command = "python -m gptedu.experiments.band_ablation " + " ".join(argv if argv is not None else sys.argv[1:])
    settings = result.setdefault("settings", {})
    settings["commands"] = settings.get("commands", []) + [command]  # one per invocation (--resume adds seeds)
    if key == "runs":
        settings.update(steps=args.steps, batch=args.batch, lr=args.lr, window=WINDOW, **SHAPE, threads=args.threads)
    result.update(command=command, mapping_fraction=MAPPING_FRACTION, probe_distances=list(PROBE_DISTANCES),
                  all_banded_reach=SHAPE["n_layer"] * (WINDOW - 1),
                  machine=f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                          f"{args.threads} threads")
    for seed in args.seeds:
        for pattern in args.patterns:
            if (pattern, seed, args.steps) in done:
                continue
            runs.append(train_one(pattern, seed, args.steps, args.batch, args.lr, data))
            result[key] = runs
            settings["seconds"] = round(sum(r["seconds"] for k in ("runs", "longer", "spread") for r in result.get(k, [])), 1)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=1) + "\n")
            r = runs[-1]
            print(f"{pattern:>11} seed {seed}: val {r['val_loss']:.3f}, copy saved (nats) "
                  + ", ".join(f"d={d}: {c['saved']:+.2f}" for d, c in r["copy"].items())
                  + f"  [{r['seconds']:.0f} s]", flush=True)
    return result


if __name__ == "__main__":
    main()
