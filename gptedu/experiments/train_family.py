"""Train the course's model family: every size of gptedu.family.SIZES with the shared RECIPE.

One command for the whole family, one stage per size (each can finish and be committed alone):

    python -m gptedu.experiments.train_family                     # all sizes, smallest first; resumable
    python -m gptedu.experiments.train_family --sizes 13k 38k     # some sizes only
    python -m gptedu.experiments.train_family --sizes 389k --threads 1 &   # sizes in parallel, one core each
    GPTEDU_DEVICE=cuda python -m gptedu.experiments.train_family  # the same run on a GPU (gptedu.device picks)

Per size it writes data/family/<name>.pt (fp16 weights; loading upcasts) and <name>.json (the
training log: tokens, compute C = 6ND and the attention term, train loss, validation loss on the
held-out plays at >= 30 log-spaced points, seconds), and records the checkpoint's sha256 with the
command and time in data/family/manifest.json. The full training state (optimizer included) is
kept in runs/family/ so that a killed stage resumes where it stopped; it is not shipped.
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

try:
    import fcntl  # POSIX: a lock for the manifest when sizes train in parallel
except ImportError:  # Windows: train one process at a time
    fcntl = None

from ..checks import check_output_folder
from ..device import pick_device
from ..family import (FAMILY_DIR, RECIPE, SIZES, manifest, sha256_file, train_size,
                       training_tokens, validation_tokens)

ROOT = Path(__file__).resolve().parents[2]


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.train_family", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--out", default=str(FAMILY_DIR), help="where the shipped files go (default data/family)")
    p.add_argument("--state", default=str(ROOT / "runs" / "family"), help="resumable training state")
    p.add_argument("--tokens", type=int, default=RECIPE.tokens, help="token budget per size (the same for all)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: gptedu.device.pick_device())")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--retrain", action="store_true", help="train sizes the manifest already lists")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    recipe = dataclasses.replace(RECIPE, tokens=args.tokens)
    out = check_output_folder(args.out, "--out")  # before training, not at its end
    check_output_folder(args.state, "--state")
    command = "python -m gptedu.experiments.train_family " + " ".join(argv if argv is not None else sys.argv[1:])
    todo = [s for s in args.sizes if args.retrain or s not in manifest(out, missing_ok=True)]
    print(f"family: {len(todo)} size(s) to train ({', '.join(todo) or 'none'}) on {device}, "
          f"{recipe.tokens:,} tokens each ({recipe.steps} steps of {recipe.tokens_per_step})", flush=True)
    if not todo:
        return
    t0 = time.perf_counter()
    train_data, val_data = training_tokens(recipe), validation_tokens()
    print(f"corpus: {len(train_data):,} training tokens, {len(val_data):,} validation tokens "
          f"({time.perf_counter() - t0:.0f}s)", flush=True)
    for name in todo:
        log = train_size(SIZES[name], recipe, out, progress=not args.no_progress, device=str(device),
                         train_data=train_data, val_data=val_data, state_dir=args.state)
        entry = {"file": f"{name}.pt", "sha256": sha256_file(out / f"{name}.pt"),
                 "log": f"{name}.json", "log_sha256": sha256_file(out / f"{name}.json"),
                 "n_params_nonembedding": log["n_params_nonembedding"], "tokens": log["points"][-1]["tokens"],
                 "val_loss": log["points"][-1]["val_loss"], "seconds": log["seconds"],
                 "device": log["device"], "torch_threads": log["torch_threads"], "command": command}
        with open(out / ".manifest.lock", "w") as lock:  # sizes may train in parallel processes
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            shipped = manifest(out, missing_ok=True)
            shipped[name] = entry
            shipped = {k: shipped[k] for k in SIZES if k in shipped}  # smallest first
            tmp = out / "manifest.json.tmp"
            tmp.write_text(json.dumps(shipped, indent=1) + "\n")
            os.replace(tmp, out / "manifest.json")
        print(f"{name}: val loss {entry['val_loss']:.4f} after {entry['tokens']:,} tokens, "
              f"{log['seconds']:.0f}s; sha256 {entry['sha256']}", flush=True)


if __name__ == "__main__":
    main()
