"""GPT-1 Fig. 2 (right) at laptop scale: zero-shot skills measured across pretraining.

    python -m gptedu.experiments.zeroshot_sweep                       # snapshots of gptedu.experiments.pretrain_gpt1
    python -m gptedu.experiments.zeroshot_sweep --snapshots DIR --n 100 --out /tmp/sweep.json

For each snapshot the pretraining run saved, score two zero-shot heuristics on text
pretraining never saw (no parameter is changed):
  next line: pick the true next line of a held-out play among 4 lines of the same play;
  sentiment: the course's variant of GPT-1's heuristic (gptedu.tasks, heuristic="it_was_very"),
             review + " It was very" -> " good" vs " bad". GPT-1's own rule (" very" ->
             " positive" vs " negative") is sentiment_task's default; chapter 05 scores both.
Each choice is scored by how much the context raises its log-probability over a
content-free context (gptedu.tasks.choice_scores).
Writes data/results/gpt1_zeroshot_sweep.json, which chapter 05 plots; it stores each
example's right/wrong so the notebook can recompute a point live and compare.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..checks import check_output_file
from ..checkpoints import load_checkpoint, model_from
from ..generate import complete
from ..tasks import next_line_task, sentiment_task, zero_shot_accuracy
from ..tokenizers import CharTokenizer

ROOT = Path(__file__).resolve().parents[2]

OUT = ROOT / "data" / "results" / "gpt1_zeroshot_sweep.json"
SAMPLE_PROMPT = "ROMEO.\n"  # each snapshot also writes a sample, to watch the text improve


def evaluate(path: Path, n: int, seed: int) -> dict:
    ckpt = load_checkpoint(path)
    model = model_from(ckpt).eval()
    tokenizer = CharTokenizer(ckpt.extra["tokenizer"]["chars"])
    row = {"snapshot": path.name, "step": ckpt.step, "val_loss": ckpt.extra.get("val_loss")}
    for name, examples in (("next_line", next_line_task(n, seed=seed)),
                           ("sentiment", sentiment_task(n, charset=tokenizer.chars, heuristic="it_was_very", seed=seed))):
        acc, correct = zero_shot_accuracy(model, tokenizer, examples)
        row[name] = acc
        row[f"{name}_correct"] = "".join("1" if c else "0" for c in correct)
    generator = torch.Generator().manual_seed(seed)
    row["sample"] = SAMPLE_PROMPT + complete(model, tokenizer, SAMPLE_PROMPT, 240, temperature=0.8,
                                             generator=generator)
    return row


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.zeroshot_sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--snapshots", type=Path, default=ROOT / "runs" / "gpt1-char" / "snapshots")
    p.add_argument("--n", type=int, default=400, help="examples per task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    check_output_file(args.out, "--out")  # before the sweep, not after it
    torch.set_num_threads(args.threads)
    paths = sorted(args.snapshots.glob("step*.pt"))
    if not paths:
        sys.exit(f"No snapshots in {args.snapshots}: run gptedu.experiments.pretrain_gpt1 first.")
    start = time.time()
    rows = [evaluate(path, args.n, args.seed) for path in tqdm(paths, desc="snapshots")]
    result = {
        "command": " ".join(["python -m gptedu.experiments.zeroshot_sweep", *sys.argv[1:]]),
        "n": args.n, "seed": args.seed, "threads": args.threads,
        "minutes": round((time.time() - start) / 60, 1),
        "tasks": {"next_line": "true next line among 4 from the same held-out play (chance 0.25)",
                  "sentiment": "review + ' It was very' -> ' good' vs ' bad', balanced (chance 0.5)",
                  "scoring": "log P(choice | context) - log P(choice | content-free context) "
                             "(GPT-3 section 2.4), see gptedu.tasks.choice_scores"},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for row in rows:
        print(f"step {row['step']:>6}  val {row['val_loss']:.3f}  next line {row['next_line']:.3f}  "
              f"sentiment {row['sentiment']:.3f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
