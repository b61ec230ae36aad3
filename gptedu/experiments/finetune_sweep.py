"""GPT-1 Fig. 2 (left) and Table 5 at laptop scale: fine-tune the shipped model on sentiment.

    python -m gptedu.experiments.finetune_sweep --seeds 0 1 2 3 4 --workers 2   # the shipped results file (~45 min)
    python -m gptedu.experiments.finetune_sweep --seeds 0 1 2 3 4 5 6 --workers 2 --resume   # add seeds 5, 6 to it
    python -m gptedu.experiments.finetune_sweep --ks 0 6 --seeds 0 --steps 50 --out /tmp/sweep.json

Task: Rotten Tomatoes sentiment with its real labels (gptedu.tasks.sentiment_examples: disjoint,
balanced train and test splits; chance is 0.5), in GPT-1's classification form [<s>; text; <e>].
Each run fine-tunes with L3 = L2 + lambda * L1 (gptedu.finetune.finetune) and reports test accuracy.

Points (each run once per seed):
  k = 0, 2, 4, 6  Fig. 2 (left), "layers transferred": the shipped model's token and position
                  embeddings plus its first k blocks; the other blocks freshly initialised.
                  k = 0 transfers the embeddings only; k = 6 is every layer, i.e. Table 5's "full".
  no_pretraining  Table 5: the same architecture, nothing transferred (lambda as for the others).
  no_aux_lm       Table 5: every layer transferred, lambda = 0 (no auxiliary language-model loss).

A run is fixed by its seed (fresh weights, new-token rows, head, batch order, dropout) and one
torch thread; the train/test examples are the same for every run (--data-seed). With --workers N
the runs go to N processes, each on one thread, so the numbers do not depend on N.
Writes data/results/gpt1_finetune_sweep.json: the command(s), the settings, one row per run,
and each point's mean and standard deviation across seeds. --resume keeps the runs already in
the output file (when their settings are the same) and runs only the missing ones.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import torch

from ..checks import check_output_file
from ..checkpoints import load_shipped
from ..finetune import DEFAULT_LR, GPTClassifier, finetune, transfer
from ..tasks import finetune_examples

ROOT = Path(__file__).resolve().parents[2]

OUT = ROOT / "data" / "results" / "gpt1_finetune_sweep.json"
TASK = "sentiment"

_STATE: dict = {}  # per process: the shipped model, its tokenizer, the examples


def _init_worker(settings: dict) -> None:
    torch.set_num_threads(settings["threads"])
    gpt, tok = load_shipped(settings["checkpoint"])
    block, seed = gpt.config.block_size, settings["data_seed"]
    _STATE.update(gpt=gpt, tok=tok, settings=settings,
                  train=finetune_examples(TASK, settings["n_train"], "train", seed, tok, block),
                  test=finetune_examples(TASK, settings["n_test"], "test", seed, tok, block))


def point_name(variant: str, k: int | None) -> str:
    return f"k={k}" if variant == "transfer" else variant


def _run(job: dict) -> dict:
    s, gpt, tok = _STATE["settings"], _STATE["gpt"], _STATE["tok"]
    seed = job["seed"]
    if job["variant"] == "no_pretraining":
        base = transfer(gpt, pretrained=False, seed=seed)
    else:
        base = transfer(gpt, job["k"], seed=seed)
    clf = GPTClassifier(base, tok, "classification", seed=seed)
    start = time.perf_counter()
    result = finetune(clf, _STATE["train"], _STATE["test"], steps=s["steps"], batch_size=s["batch_size"],
                      lr=s["lr"], lambda_lm=job["lambda_lm"], seed=seed, progress=False)
    last = result.history[-1]
    return {"task": TASK, "point": point_name(job["variant"], job["k"]), **job,
            "test_accuracy": round(result.accuracy, 4),
            "final_task_loss": round(last["task_loss"], 4), "final_lm_loss": round(last["lm_loss"], 4),
            "final_train_accuracy": round(last["train_accuracy"], 4),
            "seconds": round(time.perf_counter() - start, 1)}


def jobs_for(ks: list[int], seeds: list[int], lambda_lm: float, n_layer: int,
             no_pretraining: bool = True, no_aux_lm: bool = True) -> list[dict]:
    """Every run, seed by seed (so an interrupted sweep has whole seeds)."""
    points = [{"variant": "transfer", "k": k, "lambda_lm": lambda_lm} for k in ks]
    if no_pretraining:
        points.append({"variant": "no_pretraining", "k": None, "lambda_lm": lambda_lm})
    if no_aux_lm:
        points.append({"variant": "no_aux_lm", "k": n_layer, "lambda_lm": 0.0})
    return [{**p, "seed": seed} for seed in seeds for p in points]


def summarise(rows: list[dict]) -> dict:
    by_point: dict[str, list[float]] = {}
    for row in rows:
        by_point.setdefault(row["point"], []).append(row["test_accuracy"])
    return {name: {"mean": round(statistics.fmean(accs), 4),
                   "std": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
                   "n": len(accs), "min": min(accs), "max": max(accs)}
            for name, accs in by_point.items()}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.finetune_sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ks", type=int, nargs="+", default=[0, 2, 4, 6],
                   help="layers transferred (0: embeddings only; the model's n_layer: all)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=DEFAULT_LR)
    p.add_argument("--lambda-lm", type=float, default=0.5)
    p.add_argument("--data-seed", type=int, default=0, help="which train/test examples (the same for every run)")
    p.add_argument("--no-table5", action="store_true", help="skip the no_pretraining and no_aux_lm points")
    p.add_argument("--workers", type=int, default=1, help="processes, each with --threads torch threads")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--checkpoint", default="gpt1-char", help="a model in data/checkpoints/")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--resume", action="store_true",
                   help="keep the runs already in --out (same settings) and run only the missing ones")
    args = p.parse_args(argv)
    check_output_file(args.out, "--out")  # before the first run, not after it
    command = " ".join(["python -m gptedu.experiments.finetune_sweep", *(sys.argv[1:] if argv is None else argv)])

    settings = {"checkpoint": args.checkpoint, "n_train": args.n_train, "n_test": args.n_test,
                "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                "data_seed": args.data_seed, "threads": args.threads}
    gpt, _ = load_shipped(args.checkpoint)
    n_layer = gpt.config.n_layer
    if any(not 0 <= k <= n_layer for k in args.ks):
        p.error(f"--ks must be in 0..{n_layer}")
    planned = jobs_for(args.ks, args.seeds, args.lambda_lm, n_layer, *(2 * [not args.no_table5]))
    order = {_job_key(job): i for i, job in enumerate(planned)}  # the rows' order in the results file
    jobs, kept, commands, earlier_minutes = planned, [], [command], 0.0
    if args.resume and args.out.exists():
        old = _resumable(args.out, settings, p)
        earlier_minutes = old["minutes"]
        commands = [*(old["command"] if isinstance(old["command"], list) else [old["command"]]), command]
        done = {_job_key(row) for row in old["rows"]}
        kept = [row for row in old["rows"] if _job_key(row) in order]
        jobs = [job for job in planned if _job_key(job) not in done]
        print(f"resuming {args.out}: {len(kept)} runs kept", flush=True)
    print(f"{TASK}: {len(jobs)} runs ({args.n_train} train / {args.n_test} test, {args.steps} steps of "
          f"{args.batch_size}, lr {args.lr:g}, lambda {args.lambda_lm}) on {args.workers} worker(s); "
          f"model {gpt.config.describe()}", flush=True)

    start = time.time()
    rows = []
    if args.workers > 1:
        with mp.get_context("spawn").Pool(args.workers, _init_worker, (settings,)) as pool:
            for row in pool.imap(_run, jobs):
                rows.append(row)
                _print_row(row, len(rows), len(jobs))
    else:
        previous = torch.get_num_threads()
        try:
            _init_worker(settings)
            for job in jobs:
                rows.append(_run(job))
                _print_row(rows[-1], len(rows), len(jobs))
        finally:
            torch.set_num_threads(previous)
            _STATE.clear()

    rows = sorted(kept + rows, key=lambda row: order[_job_key(row)])
    summary = summarise(rows)
    result = {
        "command": commands[0] if len(commands) == 1 else commands,
        "task": "Rotten Tomatoes sentiment, real labels, balanced; classification [<s>; text; <e>]; chance 0.5",
        "settings": {**settings, "ks": args.ks, "seeds": args.seeds, "lambda_lm": args.lambda_lm,
                     "workers": args.workers, "torch": torch.__version__},
        "points": {"k=K": "token + position embeddings and the first K blocks transferred, the rest fresh "
                          f"(k=0: embeddings only; k={n_layer}: every layer = Table 5 'full')",
                   "no_pretraining": "nothing transferred: the same architecture from random weights",
                   "no_aux_lm": "every layer transferred, lambda = 0 (no auxiliary LM loss)"},
        "minutes": round(earlier_minutes + (time.time() - start) / 60, 1),
        "rows": rows,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print_table(summary, rows)
    print(f"{result['minutes']} min; wrote {args.out}")
    return result


def _job_key(job: dict) -> tuple:
    return job["variant"], job["k"], job["lambda_lm"], job["seed"]


def _resumable(path: Path, settings: dict, parser: argparse.ArgumentParser) -> dict:
    """An earlier sweep's results, if it ran with the same settings (its seeds and ks may differ)."""
    old = json.loads(path.read_text())
    differ = [k for k, v in settings.items() if k != "threads" and old["settings"].get(k) != v]
    if differ:
        parser.error(f"--resume: {path} was made with other settings ({', '.join(differ)}); "
                     f"use the same ones, or another --out.")
    return old


def _print_row(row: dict, done: int, total: int) -> None:
    print(f"[{done:>2}/{total}] {row['point']:>15} seed {row['seed']}: test {row['test_accuracy']:.3f}  "
          f"(L2 {row['final_task_loss']:.3f}, L1 {row['final_lm_loss']:.3f}; {row['seconds']:.0f} s)", flush=True)


def print_table(summary: dict, rows: list[dict]) -> None:
    print(f"\n{'point':>15}  {'test accuracy':>15}  per seed")
    for name, s in summary.items():
        per_seed = " ".join(f"{r['test_accuracy']:.3f}" for r in rows if r["point"] == name)
        print(f"{name:>15}  {s['mean']:.3f} ± {s['std']:.3f}  {per_seed}")


if __name__ == "__main__":
    main()
