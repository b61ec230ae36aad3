"""A fast probe for the family's pilot: does in-context copying switch on, and when?

The pilots train, then evaluate once at the end. This probe trains one model and measures, every
--every steps, the two signs of in-context learning (Olsson et al. 2022) while it trains:

    repeat   loss on the second copy of a random letter string minus loss on the first copy
             (an induction head makes the second copy nearly free: strongly negative)
    mapping  at K = 8 on held-out words, the answer's mean log-prob when the query word's label
             is in the context ("seen") minus when it is not ("unseen"): > 0 once the model copies

so that a design can be judged in minutes, not after a whole pilot. Each run appends its
settings and trajectory to data/results/family_probe.json.

    python -m gptedu.experiments.family_probe --name p1 --shape 4 48 --block-size 256 --steps 1500
    python -m gptedu.experiments.family_probe --name p2 --repeat-fraction 0.25 ...   # seed with random repeats
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checks import check_output_file
from .. import evaluation
from ..config import GPTConfig
from ..model import GPT, count_params
from ..subtask_corpus import CorpusConfig, SubtaskCorpus, family_tokenizer

ROOT = Path(__file__).resolve().parents[2]

RESULTS = ROOT / "data" / "results" / "family_probe.json"
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.family_probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True)
    p.add_argument("--note", default="")
    p.add_argument("--shape", type=int, nargs=2, default=[4, 48], metavar=("N_LAYER", "N_EMBD"))
    p.add_argument("--head-size", type=int, default=16)
    p.add_argument("--block-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--task-fraction", type=float, default=1.0)
    p.add_argument("--tasks", nargs="+", default=["mapping"])
    p.add_argument("--task-weights", type=float, nargs="+", default=None)
    p.add_argument("--examples", type=int, nargs=2, default=[8, 32])
    p.add_argument("--mapping-words", type=int, nargs=2, default=[2, 5])
    p.add_argument("--description-prob", type=float, default=0.5)
    p.add_argument("--repeat-fraction", type=float, default=0.0,
                   help="share of training rows that are random letter strings repeated (induction seeding)")
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", default="", help="save the final weights here (a gptedu checkpoint)")
    return p.parse_args(argv)


def repeat_rows(n: int, length: int, rng: random.Random, tok) -> torch.Tensor:
    """Rows of random lower-case strings, each repeated until the row is full (newline-separated)."""
    rows = []
    for _ in range(n):
        s = "".join(rng.choice(LETTERS) for _ in range(rng.randint(8, 40))) + "\n"
        text = (s * (length // len(s) + 2))[:length + 1]
        rows.append(tok.encode(text))
    return torch.tensor(rows)


@torch.no_grad()
def repeat_score(model: GPT, tok, n: int = 32, length: int = 40) -> dict:
    """Mean loss on the first and second copy of n random strings of `length` letters."""
    rng = random.Random(12345)
    seqs = ["".join(rng.choice(LETTERS) for _ in range(length)) for _ in range(n)]
    idx = torch.tensor([tok.encode("\n" + s + "\n" + s) for s in seqs])
    logits, _ = model(idx[:, :-1])
    loss = F.cross_entropy(logits.transpose(1, 2), idx[:, 1:], reduction="none")  # (n, T-1)
    first, second = loss[:, 1:length].mean().item(), loss[:, length + 2:].mean().item()
    return {"first": round(first, 3), "second": round(second, 3), "diff": round(second - first, 3)}


@torch.no_grad()
def mapping_score(model: GPT, tok, k: int = 8, n: int = 96) -> dict:
    insts = evaluation.instances("mapping", k, n, description=False, seed=7)
    correct, logprobs = evaluation.exact_match_scores(model, tok, insts)
    seen, unseen = [], []
    for inst, lp in zip(insts, logprobs):
        query = inst.prompt.rsplit("\n", 1)[-1].split(" ->")[0]
        (seen if f"\n{query} ->" in "\n" + inst.prompt.rsplit("\n", 1)[0] else unseen).append(lp)
    mean = lambda xs: round(sum(xs) / len(xs), 3) if xs else None  # noqa: E731
    return {"accuracy": round(sum(correct) / n, 3), "seen": mean(seen), "unseen": mean(unseen),
            "n_seen": len(seen), "gain": None if not (seen and unseen) else round(mean(seen) - mean(unseen), 3)}


def main(argv=None) -> dict:
    args = parse(argv)
    check_output_file(RESULTS, "the results file")  # before training, not after it
    if args.save:
        check_output_file(args.save, "--save")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tok = family_tokenizer()
    corpus_cfg = CorpusConfig(task_fraction=args.task_fraction, tasks=tuple(args.tasks),
                              task_weights=tuple(args.task_weights) if args.task_weights else None,
                              description_prob=args.description_prob, examples=tuple(args.examples),
                              mapping_words=tuple(args.mapping_words))
    T, B = args.block_size, args.batch_size
    n_chars = max(2_000_000, args.steps * B * T // 2)
    data = torch.tensor(tok.encode(SubtaskCorpus(args.seed, corpus_cfg).stream(n_chars)))
    L, d = args.shape
    config = GPTConfig(vocab_size=tok.vocab_size, block_size=T, n_layer=L, n_head=d // args.head_size, n_embd=d,
                       norm="pre", residual_scale_init=True, gelu="tanh", dropout=0.0)
    model = GPT(config)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    n_rep = round(args.repeat_fraction * B)
    record = {"name": args.name, "note": args.note, "args": vars(args),
              "n_params_nonembedding": count_params(config, non_embedding=True), "points": []}
    t0 = time.perf_counter()
    for step in range(args.steps + 1):
        if step % args.every == 0 or step == args.steps:
            model.eval()
            point = {"step": step, "tokens": step * B * T, "seconds": round(time.perf_counter() - t0, 1),
                     "repeat": repeat_score(model, tok), "mapping": mapping_score(model, tok)}
            model.train()
            record["points"].append(point)
            print(json.dumps(point), flush=True)
        if step == args.steps:
            break
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(data) - T - 1, (B - n_rep,))
        batch = torch.stack([data[s:s + T + 1] for s in starts.tolist()])
        if n_rep:
            batch = torch.cat([batch, repeat_rows(n_rep, T, rng, tok)])
        _, loss = model(batch[:, :-1], batch[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    record["seconds"] = round(time.perf_counter() - t0, 1)
    if args.save:
        from ..checkpoints import save_checkpoint
        save_checkpoint(args.save, model, extra={"tokenizer": {"kind": "char", "chars": tok.chars}})
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"probes": []}
    results["probes"] = [p for p in results["probes"] if p["name"] != args.name] + [record]
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, RESULTS)
    return record


if __name__ == "__main__":
    main()
