"""The family's pilot: 3 sizes, short runs, then the gate that decides whether the full run starts.

Gate (issue 13): for the largest pilot model, accuracy on held-out random insertion or on the
mapping task rises from K = 0 to K = 16 examples by at least 15 points. Every pilot (its
settings and numbers) is recorded in data/results/family_pilot.json, kept or not.

    python -m gptedu.experiments.pilot_family --name pilot1                    # the recipe's defaults, short
    python -m gptedu.experiments.pilot_family --name pilot2 --task-fraction 0.7 --tokens 3000000

Resumable: each size's run lives in runs/pilot/<name>/ and continues where it stopped.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch

from ..checks import check_output_file, check_output_folder
from .. import evaluation
from ..family import RECIPE, SIZES, load_checkpoint, model_from, train_size
from ..subtask_corpus import family_tokenizer

ROOT = Path(__file__).resolve().parents[2]

RESULTS = ROOT / "data" / "results" / "family_pilot.json"
GATE_TASKS = ("insertion", "mapping")
GATE_POINTS = 0.15


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.pilot_family", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, help="the pilot's name in the results file")
    p.add_argument("--note", default="", help="why this pilot: what it changes and why")
    p.add_argument("--sizes", nargs="+", default=["38k", "113k", "389k"])
    p.add_argument("--tokens", type=int, default=2_000_000)
    p.add_argument("--task-fraction", type=float, default=RECIPE.corpus.task_fraction)
    p.add_argument("--tasks", nargs="+", default=list(RECIPE.corpus.tasks))
    p.add_argument("--description-prob", type=float, default=RECIPE.corpus.description_prob)
    p.add_argument("--examples", type=int, nargs=2, default=list(RECIPE.corpus.examples))
    p.add_argument("--mapping-words", type=int, nargs=2, default=list(RECIPE.corpus.mapping_words))
    p.add_argument("--lr-scale", type=float, default=1.0, help="multiply every size's learning rate")
    p.add_argument("--batch-size", type=int, default=RECIPE.batch_size)
    p.add_argument("--block-size", type=int, default=RECIPE.block_size,
                   help="context; below 512, K = 16 prompts of the long tasks are cropped from the left")
    p.add_argument("--ks", type=int, nargs="+", default=[0, 1, 4, 16])
    p.add_argument("--eval-tasks", nargs="+", default=list(GATE_TASKS))
    p.add_argument("--n", type=int, default=100, help="instances per (task, K)")
    p.add_argument("--task-weights", type=float, nargs="+", default=None, help="one per task (default equal)")
    p.add_argument("--log-points", type=int, default=6)
    p.add_argument("--eval-iters", type=int, default=2)
    p.add_argument("--descriptions", type=lambda s: s == "1", nargs="+", default=[False],
                   help="evaluate without (0) and/or with (1) the description line")
    p.add_argument("--jobs", type=int, default=1, help="sizes trained at once, one process each")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {"gate": {
        "rule": "largest pilot model: accuracy(K=16) - accuracy(K=0) >= 0.15 on held-out random insertion "
                "or on the mapping task (issue 13)", "tasks": list(GATE_TASKS), "points": GATE_POINTS},
        "pilots": []}


def save_results(results: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, RESULTS)


def run_size(job: tuple) -> tuple[str, dict]:
    """Train one size (resumable) and evaluate it; runs in its own process when --jobs > 1."""
    size, recipe, out, args, threads = job
    torch.set_num_threads(threads)
    from ..family import training_tokens, validation_tokens
    train_data, val_data = training_tokens(recipe), validation_tokens()
    log = train_size(size, recipe, out, progress=not args.no_progress, train_data=train_data, val_data=val_data)
    model = model_from(load_checkpoint(out / f"{size.name}.pt")).float().eval()
    tok = family_tokenizer()
    t1 = time.perf_counter()
    scores = {}
    for task in args.eval_tasks:
        for description in args.descriptions:
            for k in args.ks:
                r = evaluation.evaluate(model, tok, task, k=k, n=args.n, description=description)
                key = f"{task}{'+desc' if description else ''}"
                scores.setdefault(key, {})[str(k)] = {m: r[m] for m in ("accuracy", "accuracy_stderr", "logprob")}
    last = log["points"][-1]
    rec = {"n_params_nonembedding": log["n_params_nonembedding"], "learning_rate": size.learning_rate,
           "config": {k: log["config"][k] for k in ("n_layer", "n_embd", "n_head", "block_size")},
           "train_seconds": log["seconds"], "threads": threads, "tokens": last["tokens"],
           "tokens_per_second": round(last["tokens"] / max(log["seconds"], 1e-9)),
           "train_loss": last["train_loss"], "val_loss": last["val_loss"],
           "eval_seconds": round(time.perf_counter() - t1, 1), "scores": scores}
    line = ", ".join(f"{key} K=0 {v[str(args.ks[0])]['accuracy']:.2f} K={args.ks[-1]} "
                     f"{v[str(args.ks[-1])]['accuracy']:.2f}" for key, v in scores.items())
    print(f"[{args.name}] {size.name}: val {last['val_loss']:.3f} train {last['train_loss']:.3f}, "
          f"{log['seconds']:.0f}s; {line}", flush=True)
    return size.name, rec


def main(argv=None) -> dict:
    args = parse(argv)
    corpus = dataclasses.replace(RECIPE.corpus, task_fraction=args.task_fraction, tasks=tuple(args.tasks),
                                 description_prob=args.description_prob, examples=tuple(args.examples),
                                 mapping_words=tuple(args.mapping_words),
                                 task_weights=tuple(args.task_weights) if args.task_weights else None)
    recipe = dataclasses.replace(RECIPE, tokens=args.tokens, corpus=corpus, batch_size=args.batch_size,
                                 block_size=args.block_size, log_points=args.log_points, eval_iters=args.eval_iters)
    sizes = [dataclasses.replace(SIZES[s], learning_rate=float(f"{SIZES[s].learning_rate * args.lr_scale:.2g}"))
             for s in args.sizes]
    out = check_output_folder(ROOT / "runs" / "pilot" / args.name, "--name")  # before training, not after it
    check_output_file(RESULTS, "the results file")
    t0 = time.perf_counter()
    record = {"name": args.name, "note": args.note, "command": "python -m gptedu.experiments.pilot_family " +
              " ".join(argv if argv is not None else sys.argv[1:]),
              "recipe": json.loads(json.dumps(dataclasses.asdict(recipe))),
              "learning_rates": {s.name: s.learning_rate for s in sizes},
              "eval": {"n": args.n, "ks": args.ks, "tasks": args.eval_tasks, "descriptions": args.descriptions},
              "sizes": {}}
    jobs = [(size, recipe, out, args, args.threads) for size in sizes]
    if args.jobs > 1:
        import multiprocessing as mp
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            done = dict(pool.map(run_size, jobs, chunksize=1))
    else:
        done = dict(map(run_size, jobs))
    record["sizes"] = {s.name: done[s.name] for s in sizes}
    largest = record["sizes"][sizes[-1].name]["scores"]
    lo, hi = str(min(args.ks)), str(max(args.ks))
    gains = {key: v[hi]["accuracy"] - v[lo]["accuracy"] for key, v in largest.items()
             if key.split("+")[0] in GATE_TASKS}
    record["gate"] = {"largest": sizes[-1].name, f"gain_K{lo}_to_K{hi}": gains,
                      "passed": bool(gains) and max(gains.values()) >= GATE_POINTS}
    record["wall_seconds"] = round(time.perf_counter() - t0, 1)
    results = load_results()
    results["pilots"] = [p for p in results["pilots"] if p["name"] != args.name] + [record]
    save_results(results)
    print(f"[{args.name}] gate {'PASSED' if record['gate']['passed'] else 'not passed'}: {gains}", flush=True)
    return record


if __name__ == "__main__":
    main()
