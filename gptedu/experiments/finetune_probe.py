"""Quick probe: does the shipped GPT-1 char model fine-tune better than the same model untrained?

    python -m gptedu.experiments.finetune_probe --task sentiment --n-train 1000 --steps 200

Fine-tunes twice on the same examples with the same seed, once from the shipped weights
(every layer transferred) and once from random weights (no pre-training), and prints
the test accuracies. One torch thread by default. A probe, not the chapter's sweep:
it prints numbers and writes nothing.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from ..checkpoints import load_shipped
from ..finetune import DEFAULT_LR, GPTClassifier, finetune, transfer
from ..tasks import FINETUNE_TASKS, finetune_examples


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.finetune_probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=FINETUNE_TASKS, default="sentiment")
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, nargs="+", default=[DEFAULT_LR])
    p.add_argument("--lambda-lm", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", nargs="+", default=["pretrained", "random"],
                   help="pretrained (all layers), random (no pre-training), or k (embeddings + first k blocks)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    gpt, tok = load_shipped()
    block = gpt.config.block_size
    train = finetune_examples(args.task, args.n_train, "train", args.seed, tok, block)
    test = finetune_examples(args.task, args.n_test, "test", args.seed, tok, block)
    print(f"{args.task}: {len(train)} train / {len(test)} test examples, {args.steps} steps of {args.batch_size}, "
          f"lambda {args.lambda_lm}, {args.threads} thread(s); model {gpt.config.describe()}", flush=True)
    for lr in args.lr:
        for run in args.runs:
            if run == "pretrained":
                base = transfer(gpt, seed=args.seed)
            elif run == "random":
                base = transfer(gpt, pretrained=False, seed=args.seed)
            else:
                base = transfer(gpt, int(run), seed=args.seed)
            clf = GPTClassifier(base, tok, FINETUNE_TASKS[args.task].form, seed=args.seed)
            start = time.perf_counter()
            result = finetune(clf, train, test, steps=args.steps, batch_size=args.batch_size, lr=lr,
                              lambda_lm=args.lambda_lm, seed=args.seed, progress=False)
            last = result.history[-1]
            print(f"lr {lr:.0e} {run:>10}: test accuracy {result.accuracy:.3f}  (final train loss L2 "
                  f"{last['task_loss']:.3f}, L1 {last['lm_loss']:.3f}; {time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
