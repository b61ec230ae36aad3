"""Pretrain the course's small GPT-1 (character level, post-LN) on Shakespeare and ship it.

    python -m gptedu.experiments.pretrain_gpt1                      # the shipped run (about an hour on 1 CPU thread)
    python -m gptedu.experiments.pretrain_gpt1 --max-iters 50 --out runs/smoke --no-ship   # a quick try

It trains on the 37 pretraining works and validates on the five HELD_OUT_PLAYS, keeps
snapshots at log-spaced steps in OUT/snapshots/ (chapter 05 measures zero-shot skills
on them: GPT-1 Fig. 2 right), and, unless --no-ship, copies the final weights to
data/checkpoints/gpt1-char.pt with a record (command, seed, threads, time, losses) beside it.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

from ..checks import check_output_file, check_output_folder
from ..checkpoints import load_checkpoint, save_checkpoint
from ..config import GPTConfig
from ..data import HELD_OUT_PLAYS, load_shakespeare, pretraining_plays
from ..model import GPT
from ..tokenizers import CharTokenizer
from ..train import Trainer, TrainConfig, print_losses

ROOT = Path(__file__).resolve().parents[2]

SHIP_DIR = ROOT / "data" / "checkpoints"
NAME = "gpt1-char"


def snapshot_steps(max_iters: int, eval_interval: int) -> list[int]:
    """0, then doubling from one eval interval up to max_iters (snapshots happen at evaluations)."""
    steps, step = [0], eval_interval
    while step < max_iters:
        steps.append(step)
        step *= 2
    return steps + [max_iters]


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.pretrain_gpt1", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/gpt1-char")
    p.add_argument("--n-layer", type=int, default=6)
    p.add_argument("--n-head", type=int, default=6)
    p.add_argument("--n-embd", type=int, default=192)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-iters", type=int, default=9000)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--warmup-iters", type=int, default=300)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-iters", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--note", default="", help="a sentence for the record, e.g. why a run was resumed")
    p.add_argument("--no-ship", action="store_true", help="do not copy the result into data/checkpoints/")
    args = p.parse_args()
    check_output_folder(args.out, "--out")  # before step 0, not at the end of the run
    if not args.no_ship:
        check_output_file(SHIP_DIR / f"{NAME}.pt", "the shipped checkpoint (or pass --no-ship)")

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    (out / "snapshots").mkdir(parents=True, exist_ok=True)

    train_text = load_shakespeare(pretraining_plays())
    val_text = load_shakespeare(list(HELD_OUT_PLAYS))
    tokenizer = CharTokenizer.from_text(train_text + val_text)
    encode = lambda text: torch.tensor(tokenizer.encode(text), dtype=torch.long)  # noqa: E731

    config = GPTConfig.from_preset("tiny-gpt1", vocab_size=tokenizer.vocab_size, n_layer=args.n_layer,
                                   n_head=args.n_head, n_embd=args.n_embd, block_size=args.block_size,
                                   dropout=args.dropout)
    torch.manual_seed(args.seed)
    model = GPT(config)
    cfg = TrainConfig(max_iters=args.max_iters, batch_size=args.batch_size, learning_rate=args.learning_rate,
                      min_lr=args.learning_rate / 10, warmup_iters=args.warmup_iters,
                      eval_interval=args.eval_interval, eval_iters=args.eval_iters, seed=args.seed,
                      checkpoint_path=out / "ckpt.pt", checkpoint_interval=1000, device="cpu", progress=False)
    extra = {"tokenizer": {"kind": "char", "chars": tokenizer.chars}, "held_out_plays": list(HELD_OUT_PLAYS)}
    wanted = set(snapshot_steps(args.max_iters, args.eval_interval))

    def snapshot(trainer: Trainer, record: dict) -> None:
        if record["step"] in wanted:
            save_checkpoint(out / "snapshots" / f"step{record['step']:06d}.pt", trainer.model,
                            step=record["step"], extra={**extra, "val_loss": record["val_loss"]})

    trainer = Trainer(model, encode(train_text), encode(val_text), cfg,
                      callbacks=[print_losses, snapshot], extra=extra)
    print(f"{model.num_params():,} parameters; {len(trainer.train_data):,} training and "
          f"{len(trainer.val_data):,} held-out characters; vocab {tokenizer.vocab_size}", flush=True)
    start = time.time()
    resume = out / "ckpt.pt" if (out / "ckpt.pt").exists() else None
    resumed_from = load_checkpoint(resume).step if resume else None
    trainer.fit(resume_from=resume)
    minutes = (time.time() - start) / 60

    final = trainer.history[-1]
    record = {
        "command": " ".join(["python -m gptedu.experiments.pretrain_gpt1", *sys.argv[1:]]),
        # A run can be stopped and continued (same --out): say where this invocation started.
        "resumed_from_step": resumed_from,
        "note": args.note,
        "seed": args.seed, "threads": args.threads, "minutes": round(minutes, 1),
        "machine": f"{platform.machine()}, torch {torch.__version__}",
        "config": {k: v for k, v in vars(config).items()},
        "train": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
        "parameters": model.num_params(),
        "final_val_loss": round(final["val_loss"], 4), "final_train_loss": round(final["train_loss"], 4),
        "tokens_seen": final["tokens_seen"],
        "snapshots": sorted(wanted),
        "history": trainer.history,
    }
    (out / "record.json").write_text(json.dumps(record, indent=1))
    print(f"done in {minutes:.1f} min: val {final['val_loss']:.4f} nats/char", flush=True)
    if not args.no_ship:
        SHIP_DIR.mkdir(parents=True, exist_ok=True)
        save_checkpoint(SHIP_DIR / f"{NAME}.pt", trainer.model, step=trainer.step,
                        extra={**extra, "val_loss": final["val_loss"]})
        shutil.copyfile(out / "record.json", SHIP_DIR / f"{NAME}.json")
        print(f"shipped {SHIP_DIR / NAME}.pt", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
