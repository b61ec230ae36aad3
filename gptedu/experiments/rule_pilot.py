"""Pilot of the rule stream (issue 26): does a model infer a rule it has never seen from K examples?

One model (by default the next family's largest shape) is trained on gptedu.rule_tasks' stream:
rule episodes with a fresh parameter each, GPT-3's word tasks and training-play text. While it
trains, an in-context probe reads the loss on the outputs of an episode's first lines against its
late lines (held-out words): the gap opens when the model starts inferring the rule. At the end
every rule is scored on held-out words, K = 0..16, exact match with 95% Wilson intervals, answer
log-prob and the copier ceiling, for training parameters, held-out letters, the held-out rule
families and untrained formats.

Gate: some rule whose answers cannot be copied (copier ceiling 0) rises from K = 1 to K = 8 by
>= 15 points with non-overlapping 95% intervals. Every pilot is appended to
data/results/rule_pilot.json, passed or not.

    python -m gptedu.experiments.rule_pilot --name r1                     # 4 x 128, 4M tokens
    python -m gptedu.experiments.rule_pilot --name r2 --shape 3 64 --tokens 2000000

Resumable: the run lives in runs/rule_pilot/<name>/ and continues where it stopped.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import evaluation, rule_tasks
from ..checks import check_output_file
from ..family import FamilySize, Recipe, encode, load_checkpoint, model_from, train_size, validation_tokens
from ..model import GPT
from ..rule_tasks import FORMATS, HELD_OUT_FAMILIES, RULES, TRAIN_FAMILIES, RuleCorpus, RuleStreamConfig
from ..subtask_corpus import evaluation_words, family_tokenizer

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "data" / "results" / "rule_pilot.json"
KS = (0, 1, 2, 4, 8, 16)
GATE = {"from_k": 1, "to_k": 8, "points": 0.15,
        "rule": "on held-out words, some rule with a copier ceiling of 0 gains >= 15 points of exact match "
                "from K = 1 to K = 8, with non-overlapping 95% Wilson intervals (issue 26)"}
FORMAT_RULES = ("append", "replace_last", "insert_before_last")


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, help="the pilot's name in the results file")
    p.add_argument("--note", default="", help="what this pilot changes and why")
    p.add_argument("--shape", type=int, nargs=2, default=[4, 128], metavar=("N_LAYER", "N_EMBD"))
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--tokens", type=int, default=4_000_000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--block-size", type=int, default=512)
    p.add_argument("--rule-fraction", type=float, default=0.5)
    p.add_argument("--word-task-fraction", type=float, default=0.2)
    p.add_argument("--n-parameters", type=int, default=None, help="distinct (rule, parameter) tasks; default unbounded")
    p.add_argument("--n", type=int, default=200, help="instances per (task, K)")
    p.add_argument("--ks", type=int, nargs="+", default=list(KS))
    p.add_argument("--log-points", type=int, default=24)
    p.add_argument("--results", default=str(RESULTS), help="the results file every pilot is appended to")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


# ---------------------------------------------------------------- the in-context probe
def probe_episodes(n: int = 32, lines: int = 12, seed: int = 0) -> list[list[tuple[str, str]]]:
    """Fixed rule episodes on held-out words (training rules and letters): what the probe reads."""
    rng = random.Random(seed)
    words = evaluation_words()
    episodes = []
    for _ in range(n):
        rule = rng.choice(TRAIN_FAMILIES)
        episodes.append(rule_tasks.rule_pairs(rule, rng.choice(RULES[rule].parameters()), words, lines, rng))
    return episodes


@torch.no_grad()
def in_context_probe(model: GPT, episodes: list[list[tuple[str, str]]], early: int = 2, late: int = 8) -> dict:
    """Mean loss (nats per character) on the outputs of lines [0, early) and of lines [late, end).

    Before in-context learning both are high; once the model infers the rule from the first lines,
    the late lines' outputs become cheap and the gap (score = early - late) opens.
    """
    tok = family_tokenizer()
    was_training = model.training
    model.eval()
    rows, masks = [], []
    for pairs in episodes:
        ids, line_of = [], []
        for i, (s, t) in enumerate(pairs):
            head = tok.encode(rule_tasks.TRAINED_FORMAT.prompt(s))
            out = tok.encode(rule_tasks.TRAINED_FORMAT.answer(t) + "\n")
            ids += head + out
            line_of += [-1] * len(head) + [i] * len(out)
        rows.append(ids)
        masks.append(line_of)
    T = max(map(len, rows))
    idx = torch.zeros(len(rows), T, dtype=torch.long)
    line = torch.full((len(rows), T), -1)
    for r, (ids, lo) in enumerate(zip(rows, masks)):
        idx[r, :len(ids)] = torch.tensor(ids)
        line[r, :len(lo)] = torch.tensor(lo)
    device = next(model.parameters()).device
    logits, _ = model(idx[:, :-1].to(device))
    loss = F.cross_entropy(logits.float().transpose(1, 2), idx[:, 1:].to(device), reduction="none").cpu()
    target_line = line[:, 1:]
    n_lines = len(episodes[0])
    early_mask = (target_line >= 0) & (target_line < early)
    late_mask = (target_line >= late) & (target_line < n_lines)
    model.train(was_training)
    e, l_ = float(loss[early_mask].mean()), float(loss[late_mask].mean())
    return {"early": round(e, 4), "late": round(l_, 4), "score": round(e - l_, 4)}


# ---------------------------------------------------------------- evaluation
def eval_keys() -> list[tuple[str, str, bool, str]]:
    """(key, rule, held_out_parameters, format) for every evaluated condition."""
    keys = [(r, r, False, "arrow") for r in TRAIN_FAMILIES]
    keys += [(f"{r}@held_letters", r, True, "arrow") for r in TRAIN_FAMILIES if RULES[r].kind == "letter"]
    for r in HELD_OUT_FAMILIES:
        keys += [(r, r, False, "arrow"), (f"{r}@held_letters", r, True, "arrow")]
    keys += [(f"{r}@{fmt}", r, False, fmt) for r in FORMAT_RULES for fmt in FORMATS if fmt != "arrow"]
    return keys


def score(model: GPT, rule: str, held: bool, fmt: str, k: int, n: int) -> dict:
    tok = family_tokenizer()
    items = rule_tasks.rule_instances(rule, k, n, held_out_parameters=held, fmt=fmt)
    correct, logprobs = evaluation.exact_match_scores(model, tok, items)
    hits = sum(correct)
    return {"accuracy": hits / n, "ci95": [round(x, 4) for x in evaluation.wilson_interval(hits, n)],
            "logprob": round(sum(logprobs) / n, 4), "copier": rule_tasks.copier_ceiling(items)}


def gate(scores: dict, lo: int, hi: int, points: float) -> dict:
    """Which conditions pass: copier ceiling 0 at both K, gain >= points, intervals apart."""
    passing, gains = [], {}
    for key, by_k in scores.items():
        a, b = by_k.get(str(lo)), by_k.get(str(hi))
        if a is None or b is None:
            continue
        gains[key] = round(b["accuracy"] - a["accuracy"], 4)
        if (a["copier"] == 0 and b["copier"] == 0 and gains[key] >= points and b["ci95"][0] > a["ci95"][1]):
            passing.append(key)
    return {"gains": gains, "passing": passing, "passed": bool(passing)}


# ---------------------------------------------------------------- results file
def load_results(path: Path = RESULTS) -> dict:
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {"gate": GATE, "pilots": []}


def pilot_record(name: str, path: Path = RESULTS) -> dict:
    """The shipped record of rule pilot `name`: what train_family and task_diversity check (stream, shape,
    lr, tokens, batch, context) before they adopt its run instead of training the same thing again."""
    found = [p for p in load_results(path)["pilots"] if p["name"] == name]
    if not found:
        have = ", ".join(p["name"] for p in load_results(path)["pilots"]) or "none"
        raise SystemExit(f"--from-pilot {name}: no such pilot in {Path(path).name} (pilots: {have}).")
    return found[0]


def save_results(results: dict, path: Path = RESULTS) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)


def main(argv=None) -> dict:
    args = parse(argv)
    results_path = check_output_file(args.results, "--results")  # before training, not after it
    torch.set_num_threads(args.threads)
    stream_cfg = RuleStreamConfig(rule_fraction=args.rule_fraction, word_task_fraction=args.word_task_fraction,
                                  n_parameters=args.n_parameters)
    n_layer, n_embd = args.shape
    size = FamilySize(f"{n_layer}x{n_embd}", n_layer, n_embd, args.lr)
    recipe = Recipe(tokens=args.tokens, batch_size=args.batch_size, block_size=args.block_size,
                    log_points=args.log_points, eval_iters=4)
    out = ROOT / "runs" / "rule_pilot" / args.name
    out.mkdir(parents=True, exist_ok=True)  # checked before step 0: a bad place fails now, not after training
    t0 = time.perf_counter()
    train_data = encode(RuleCorpus(0, stream_cfg).stream(max(args.tokens, 1_000_000)))
    episodes = probe_episodes()
    probe_path = out / "probe.json"
    probe = json.loads(probe_path.read_text()) if probe_path.exists() else []

    def on_point(rec: dict, model: GPT) -> None:
        if any(p["step"] == rec["step"] for p in probe):
            return
        probe.append({"step": rec["step"], "tokens": rec["tokens_seen"], "val_loss": round(rec["val_loss"], 4),
                      **in_context_probe(model, episodes)})
        probe_path.write_text(json.dumps(probe, indent=1))
        print(f"[{args.name}] step {rec['step']}: val {rec['val_loss']:.3f}, probe {probe[-1]}", flush=True)

    log = train_size(size, recipe, out, progress=not args.no_progress, train_data=train_data,
                     val_data=validation_tokens(), on_point=on_point)
    model = model_from(load_checkpoint(out / f"{size.name}.pt")).float().eval()
    t1 = time.perf_counter()
    scores: dict[str, dict] = {}
    for key, rule, held, fmt in eval_keys():
        scores[key] = {str(k): score(model, rule, held, fmt, k, args.n) for k in args.ks}
        print(f"[{args.name}] {key}: " + " ".join(f"{scores[key][str(k)]['accuracy']:.2f}" for k in args.ks),
              flush=True)
    record = {"name": args.name, "note": args.note,
              "command": "python -m gptedu.experiments.rule_pilot " + " ".join(argv if argv is not None else sys.argv[1:]),
              "stream": dataclasses.asdict(stream_cfg), "shape": [n_layer, n_embd], "lr": args.lr,
              "n_params_nonembedding": log["n_params_nonembedding"], "tokens": log["points"][-1]["tokens"],
              "steps": log["points"][-1]["step"], "batch_size": args.batch_size, "block_size": args.block_size,
              "threads": args.threads, "train_seconds": log["seconds"], "eval_seconds": round(time.perf_counter() - t1, 1),
              "val_loss": log["points"][-1]["val_loss"], "probe": probe,
              "eval": {"n": args.n, "ks": args.ks, "words": "held-out plays' words (evaluation_words)"},
              "scores": scores}
    if GATE["from_k"] in args.ks and GATE["to_k"] in args.ks:
        record["gate"] = gate(scores, GATE["from_k"], GATE["to_k"], GATE["points"])
    record["wall_seconds"] = round(time.perf_counter() - t0, 1)
    results = load_results(results_path)
    results["pilots"] = [p for p in results["pilots"] if p["name"] != args.name] + [record]
    save_results(results, results_path)
    print(f"[{args.name}] gate: {record.get('gate')}", flush=True)
    return record


if __name__ == "__main__":
    main()
