"""The task-diversity transition (Raventós et al. 2023) at character level: memorising tasks vs learning them.

One model size, one token budget, streams that differ only in how many distinct (rule, parameter)
tasks their rule episodes draw from: 1, 4, 16, 64, ... or every task of the training rules (a fresh
draw each episode). Each model is scored on held-out words, at K = 0..8 examples, on
    seen       tasks from its own stream (memorised tasks are enough here)
    unseen     the training rule families with held-out letters (jqxz): no stream used them
    new rule   the rule families no stream used (gptedu.rule_tasks.HELD_OUT_FAMILIES)
Below the transition a model does well on the tasks it saw and fails on the others; above it,
it infers any task from the examples. Results: data/results/task_diversity.json (one record per
stream, appended as each finishes; resumable, each run in runs/task_diversity/<name>/).

    python -m gptedu.experiments.task_diversity --tasks 1 4 16 64 0       # 0: every training task
    python -m gptedu.experiments.task_diversity --tasks 16 --shape 3 96 --tokens 4000000
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from ..checks import check_output_file
from ..family import FamilySize, Recipe, encode, load_checkpoint, model_from, train_size, validation_tokens
from ..rule_tasks import HELD_OUT_FAMILIES, RULES, TRAIN_FAMILIES, RuleCorpus, RuleStreamConfig
from .rule_pilot import in_context_probe, probe_episodes, score

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "data" / "results" / "task_diversity.json"
KS = (0, 1, 2, 4, 8)
LETTER_FAMILIES = tuple(f for f in TRAIN_FAMILIES if RULES[f].kind == "letter")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, nargs="+", default=[1, 4, 16, 64, 0],
                   help="distinct (rule, parameter) tasks per stream; 0 = every training task, fresh per episode")
    p.add_argument("--shape", type=int, nargs=2, default=[4, 128], metavar=("N_LAYER", "N_EMBD"))
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--tokens", type=int, default=4_000_000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--block-size", type=int, default=512)
    p.add_argument("--n", type=int, default=200, help="instances per (condition, K)")
    p.add_argument("--rule-fraction", type=float, default=0.8, help="share of characters in rule episodes (r2's)")
    p.add_argument("--word-task-fraction", type=float, default=0.1)
    p.add_argument("--task-seed", type=int, default=0)
    p.add_argument("--from-pilot", default=None, metavar="NAME",
                   help="for the unbounded stream (0): use rule pilot NAME's finished run (same stream, shape, lr, "
                        "tokens) instead of training it again; checked, then only evaluated")
    p.add_argument("--results", default=str(RESULTS), help="the results file each stream's record is added to")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def seen_score(model, tasks: list[tuple[str, object]], k: int, n: int) -> dict:
    """Exact match on the stream's own tasks (held-out words), n instances spread over its tasks."""
    from .. import evaluation, rule_tasks
    from ..evaluation import Instance
    from ..subtask_corpus import evaluation_words, family_tokenizer
    rng = random.Random(f"seen/{k}/{len(tasks)}")
    items = []
    for i in range(n):
        rule, param = tasks[i % len(tasks)]
        *examples, (query, answer) = rule_tasks.rule_pairs(rule, param, evaluation_words(), k + 1, rng)
        fmt = rule_tasks.TRAINED_FORMAT
        items.append(Instance("".join(fmt.line(s, t) for s, t in examples) + fmt.prompt(query), fmt.answer(answer)))
    correct, logprobs = evaluation.exact_match_scores(model, family_tokenizer(), items)
    hits = sum(correct)
    return {"accuracy": hits / n, "ci95": [round(x, 4) for x in evaluation.wilson_interval(hits, n)],
            "logprob": round(sum(logprobs) / n, 4), "copier": rule_tasks.copier_ceiling(items)}


def pooled(model, conditions: list[tuple[str, bool]], k: int, n: int) -> dict:
    """One score over several (rule, held-out letters?) conditions, n instances split evenly."""
    from .. import evaluation
    per = max(1, n // len(conditions))
    parts = [score(model, rule, held, "arrow", k, per) for rule, held in conditions]
    hits = round(sum(p["accuracy"] * per for p in parts))
    total = per * len(parts)
    return {"accuracy": hits / total, "ci95": [round(x, 4) for x in evaluation.wilson_interval(hits, total)],
            "logprob": round(sum(p["logprob"] for p in parts) / len(parts), 4),
            "copier": sum(p["copier"] for p in parts) / len(parts), "n": total}


@contextmanager
def _locked(path: Path = RESULTS) -> Iterator[None]:
    lock = Path(path).with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        try:
            import fcntl
            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # Windows: run one process at a time
            pass
        yield


def load_results(path: Path = RESULTS) -> dict:
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {"runs": []}


def save_results(results: dict, path: Path = RESULTS) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)


def run_one(n_tasks: int, args: argparse.Namespace, argv_text: str) -> dict:
    cfg = RuleStreamConfig(rule_fraction=args.rule_fraction, word_task_fraction=args.word_task_fraction,
                           n_parameters=n_tasks or None, task_seed=args.task_seed)
    tasks = cfg.tasks()
    n_layer, n_embd = args.shape
    name = f"{n_layer}x{n_embd}_tasks{n_tasks or 'all'}"
    size = FamilySize(name, n_layer, n_embd, args.lr)
    recipe = Recipe(tokens=args.tokens, batch_size=args.batch_size, block_size=args.block_size,
                    log_points=16, eval_iters=4)
    out = ROOT / "runs" / "task_diversity" / name
    out.mkdir(parents=True, exist_ok=True)
    trained_as = adopt_pilot(args.from_pilot, name, cfg, args, out) if args.from_pilot and n_tasks == 0 else None
    train_data = encode(RuleCorpus(0, cfg).stream(max(args.tokens, 1_000_000)))
    episodes = probe_episodes()
    probe_path = out / "probe.json"  # kept beside the run so that a resumed run keeps its probe
    probe = json.loads(probe_path.read_text()) if probe_path.exists() else []

    def on_point(rec: dict, model) -> None:
        if all(p["step"] != rec["step"] for p in probe):
            probe.append({"step": rec["step"], "val_loss": round(rec["val_loss"], 4),
                          **in_context_probe(model, episodes)})
            probe_path.write_text(json.dumps(probe))

    log = train_size(size, recipe, out, progress=not args.no_progress, train_data=train_data,
                     val_data=validation_tokens(), on_point=on_point)
    model = model_from(load_checkpoint(out / f"{name}.pt")).float().eval()
    unseen = [(f, True) for f in LETTER_FAMILIES]
    new_rule = [(f, held) for f in HELD_OUT_FAMILIES for held in (False, True)]
    scores = {"seen": {}, "unseen_parameters": {}, "new_rule": {}}
    for k in KS:
        scores["seen"][str(k)] = seen_score(model, tasks, k, args.n)
        scores["unseen_parameters"][str(k)] = pooled(model, unseen, k, args.n)
        scores["new_rule"][str(k)] = pooled(model, new_rule, k, args.n)
    rec = {"name": name, "n_tasks": len(tasks), "unbounded": n_tasks == 0, "tasks": [list(map(str, t)) for t in tasks]
           if len(tasks) <= 64 else "every (training rule, training parameter)",
           "stream": {"rule_fraction": cfg.rule_fraction, "word_task_fraction": cfg.word_task_fraction},
           "command": argv_text, "shape": args.shape, "lr": args.lr, "tokens": log["points"][-1]["tokens"],
           "steps": log["points"][-1]["step"], "n_params_nonembedding": log["n_params_nonembedding"],
           "train_seconds": log["seconds"], "val_loss": log["points"][-1]["val_loss"], "probe": probe,
           "eval": {"n": args.n, "ks": list(KS), "words": "held-out plays' words"}, "scores": scores}
    if trained_as:
        rec["trained_as"] = trained_as
    print(f"[{name}] " + "; ".join(f"{c} K=0/8 {v['0']['accuracy']:.2f}/{v['8']['accuracy']:.2f}"
                                   for c, v in scores.items()), flush=True)
    return rec


def adopt_pilot(pilot: str, name: str, cfg: RuleStreamConfig, args: argparse.Namespace, out: Path) -> dict:
    """Put rule pilot `pilot`'s finished run in `out` as run `name` (train_size then finds it done), after
    checking that it trained this stream, shape, lr, token budget, batch and context. Returns its record."""
    import dataclasses
    import shutil
    from .rule_pilot import pilot_record
    p = pilot_record(pilot)
    want = {"stream": json.loads(json.dumps(dataclasses.asdict(cfg))), "shape": list(args.shape), "lr": args.lr,
            "batch_size": args.batch_size, "block_size": args.block_size}
    differ = [k for k in want if p[k] != want[k]] + (["tokens"] if abs(p["tokens"] - args.tokens) > 4096 else [])
    if differ:
        raise SystemExit(f"--from-pilot {pilot}: its run differs from this stream's in {', '.join(differ)}.")
    run, shape = ROOT / "runs" / "rule_pilot" / pilot, f"{args.shape[0]}x{args.shape[1]}"
    for suffix in (".state.pt", ".json"):
        if not (out / f"{name}{suffix}").exists():
            shutil.copyfile(run / f"{shape}{suffix}", out / f"{name}{suffix}")
    if not (out / "probe.json").exists():
        shutil.copyfile(run / "probe.json", out / "probe.json")
    return {"pilot": pilot, "command": p["command"]}


def main(argv=None) -> dict:
    args = parse(argv)
    results_path = check_output_file(args.results, "--results")  # before training, not after it
    torch.set_num_threads(args.threads)
    argv_text = "python -m gptedu.experiments.task_diversity " + " ".join(argv if argv is not None else sys.argv[1:])
    for n_tasks in args.tasks:
        t0 = time.perf_counter()
        rec = run_one(n_tasks, args, argv_text)
        rec["wall_seconds"] = round(time.perf_counter() - t0, 1)
        with _locked(results_path):  # streams may train in parallel processes, one core each
            results = load_results(results_path)
            results["runs"] = [r for r in results["runs"] if r["name"] != rec["name"]] + [rec]
            results["runs"].sort(key=lambda r: (r["shape"], r["unbounded"], r["n_tasks"]))
            save_results(results, results_path)
    return load_results(results_path)


if __name__ == "__main__":
    main()
