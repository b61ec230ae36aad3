"""Evaluate every shipped family member on every registered task; write data/results/family_eval.json.

    python -m gptedu.experiments.eval_family                 # all members, all tasks, K in 0 1 2 4 8 16; resumable
    python -m gptedu.experiments.eval_family --n 100 --sizes 13k 38k
    python -m gptedu.experiments.eval_family --family v2    # family v2: also every rule condition -> family_v2_eval.json

Few-shot tasks (gptedu.subtask_corpus's six) at every K, without and with the description line;
zero-shot tasks (gptedu.play_tasks': last word, cloze, next speaker) at K = 0. Each entry holds the
accuracy with its binomial stderr and 95% Wilson interval, the mean log-prob of the right answer
with its stderr, and each instance's right/wrong (for bootstraps). The instances are seeded, the
same for every size. Results are saved after each entry, so a killed run resumes.

Family v2 (issue 26) is also scored on gptedu.experiments.rule_pilot's rule conditions (keys
"<size>/rule:<condition>/<K>"): the training rules with training and held-out letters, the rule
families no stream used and untrained formats, on held-out words, with each entry's copier ceiling.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from ..checks import check_output_file
from .. import evaluation
from ..family import FAMILIES, family_members, load_family, manifest

ROOT = Path(__file__).resolve().parents[2]

RESULTS = ROOT / "data" / "results" / "family_eval.json"
RESULTS_V2 = ROOT / "data" / "results" / "family_v2_eval.json"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.eval_family", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", default="v1", choices=list(FAMILIES))
    p.add_argument("--sizes", nargs="+", default=None, help="default: every shipped member")
    p.add_argument("--tasks", nargs="+", default=None, help="default: every registered task")
    p.add_argument("--ks", type=int, nargs="+", default=list(evaluation.KS))
    p.add_argument("--n", type=int, default=200, help="instances per (task, K)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="default data/results/family_eval.json (v2: family_v2_eval.json)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = check_output_file(args.out or (RESULTS if args.family == "v1" else RESULTS_V2), "--out")  # before, not after
    results = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("settings", {"n": args.n, "ks": args.ks, "seed": args.seed})
    results.setdefault("entries", {})
    folder = FAMILIES[args.family][2]
    sizes = args.sizes or family_members(folder)
    tasks = args.tasks or list(evaluation.TASKS)
    shipped = manifest(folder)
    for name in sizes:
        model, tok = load_family(name)
        for task in tasks:
            spec = evaluation.TASKS[task]
            ks = args.ks if spec.few_shot else [0]
            for description in ((False, True) if spec.few_shot else (False,)):
                for k in ks:
                    key = f"{name}/{task}/{k}/{'desc' if description else 'nodesc'}"
                    if key in results["entries"]:
                        continue
                    t0 = time.perf_counter()
                    r = evaluation.evaluate(model, tok, task, k=k, n=args.n, description=description,
                                            seed=args.seed, keep=True)
                    r.update(size=name, sha256=shipped[name]["sha256"], seconds=round(time.perf_counter() - t0, 1))
                    results["entries"][key] = r
                    _save(results, out)
                    print(f"{key}: accuracy {r['accuracy']:.3f} +- {r['accuracy_stderr']:.3f}, "
                          f"log-prob {r['logprob']:.3f}", flush=True)
        if args.family == "v2" and args.tasks is None:
            rule_entries(model, name, shipped[name]["sha256"], args, results, out)
    return results


def rule_entries(model, name: str, sha256: str, args: argparse.Namespace, results: dict, out: Path) -> None:
    """Every rule condition of rule_pilot.eval_keys() at every K (n instances on held-out words)."""
    from .rule_pilot import eval_keys, score
    for cond, rule, held, fmt in eval_keys():
        for k in args.ks:
            key = f"{name}/rule:{cond}/{k}"
            if key in results["entries"]:
                continue
            t0 = time.perf_counter()
            r = score(model, rule, held, fmt, k, args.n)
            r.update(size=name, rule=rule, held_out_letters=held, format=fmt, k=k, n=args.n, sha256=sha256,
                     seconds=round(time.perf_counter() - t0, 1))
            results["entries"][key] = r
            _save(results, out)
        print(f"{name}/rule:{cond}: " + " ".join(f"{results['entries'][f'{name}/rule:{cond}/{k}']['accuracy']:.2f}"
                                                 for k in args.ks), flush=True)


def _save(results: dict, out: Path) -> None:
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
