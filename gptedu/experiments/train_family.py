"""Train the course's model family: every size of gptedu.family.SIZES with the shared RECIPE.

One command for the whole family, one stage per size (each can finish and be committed alone):

    python -m gptedu.experiments.train_family                     # all sizes, smallest first; resumable
    python -m gptedu.experiments.train_family --family v2         # the rule-stream family (issue 26)
    python -m gptedu.experiments.train_family --sizes 13k 38k     # some sizes only
    python -m gptedu.experiments.train_family --sizes 389k --threads 1 &   # sizes in parallel, one core each
    GPTEDU_DEVICE=cuda python -m gptedu.experiments.train_family  # the same run on a GPU (gptedu.device picks)

Per size it writes data/family/<name>.pt (fp16 weights; loading upcasts) and <name>.json (the
training log: tokens, compute C = 6ND and the attention term, train loss, validation loss on the
held-out plays at >= 30 log-spaced points, seconds), and records the checkpoint's sha256 with the
command and time in data/family/manifest.json (v2: data/family_v2/, and each log also holds the
in-context probe of gptedu.experiments.rule_pilot at every point). The full training state (optimizer included) is
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
from ..family import (FAMILIES, RECIPE_V2, SIZES_V2, load_checkpoint, manifest, model_from,
                      save_family_checkpoint, sha256_file, train_size, training_tokens, validation_tokens)

ROOT = Path(__file__).resolve().parents[2]


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gptedu.experiments.train_family", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", default="v1", choices=list(FAMILIES),
                   help="v1: the six-task corpus, context 256; v2: the rule stream, context 512 (issue 26)")
    p.add_argument("--sizes", nargs="+", default=None, help="some sizes only (default: all of the family's)")
    p.add_argument("--out", default=None, help="where the shipped files go (default data/family or data/family_v2)")
    p.add_argument("--state", default=None, help="resumable training state (default runs/family[_v2])")
    p.add_argument("--tokens", type=int, default=None, help="token budget per size (the same for all)")
    p.add_argument("--from-pilot", default=None, metavar="NAME",
                   help="v2 only: adopt rule pilot NAME's finished run (runs/rule_pilot/NAME) for the size "
                        "of its shape instead of training it, after checking its recipe is the family's")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: gptedu.device.pick_device())")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--retrain", action="store_true", help="train sizes the manifest already lists")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    sizes, recipe, default_out = FAMILIES[args.family]
    unknown = [s for s in args.sizes or [] if s not in sizes]
    if unknown:
        raise SystemExit(f"--sizes: {', '.join(unknown)} not in family {args.family} ({', '.join(sizes)}).")
    if args.from_pilot and args.family != "v2":
        raise SystemExit("--from-pilot adopts a rule pilot's run, which only family v2 shares.")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.tokens is not None:
        recipe = dataclasses.replace(recipe, tokens=args.tokens)
    suffix = "" if args.family == "v1" else f"_{args.family}"
    out = check_output_folder(args.out or default_out, "--out")  # before training, not at its end
    state = check_output_folder(args.state or ROOT / "runs" / f"family{suffix}", "--state")
    command = "python -m gptedu.experiments.train_family " + " ".join(argv if argv is not None else sys.argv[1:])
    todo = [s for s in (args.sizes or sizes) if args.retrain or s not in manifest(out, missing_ok=True)]
    print(f"family {args.family}: {len(todo)} size(s) to train ({', '.join(todo) or 'none'}) on {device}, "
          f"{recipe.tokens:,} tokens each ({recipe.steps} steps of {recipe.tokens_per_step})", flush=True)
    if not todo:
        return
    adopted = adopt_pilot(args.from_pilot, recipe, out) if args.from_pilot else {}
    t0 = time.perf_counter()
    train_data, val_data = training_tokens(recipe), validation_tokens()
    print(f"corpus: {len(train_data):,} training tokens, {len(val_data):,} validation tokens "
          f"({time.perf_counter() - t0:.0f}s)", flush=True)
    for name in todo:
        if name in adopted:
            log = adopted[name]
        else:
            on_point = probe_recorder(Path(state) / f"{name}.probe.json") if recipe.rules is not None else None
            log = train_size(sizes[name], recipe, out, progress=not args.no_progress, device=str(device),
                             train_data=train_data, val_data=val_data, state_dir=state, on_point=on_point)
            if on_point is not None:
                log["probe"] = on_point.points
                (out / f"{name}.json").write_text(json.dumps(log, indent=1) + "\n")
        entry = {"file": f"{name}.pt", "sha256": sha256_file(out / f"{name}.pt"),
                 "log": f"{name}.json", "log_sha256": sha256_file(out / f"{name}.json"),
                 "n_params_nonembedding": log["n_params_nonembedding"], "tokens": log["points"][-1]["tokens"],
                 "val_loss": log["points"][-1]["val_loss"], "seconds": log["seconds"],
                 "device": log["device"], "torch_threads": log["torch_threads"],
                 "command": log.get("adopted_from", {}).get("command", command)}
        if "adopted_from" in log:
            entry["adopted_by"] = command
        with open(out / ".manifest.lock", "w") as lock:  # sizes may train in parallel processes
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            shipped = manifest(out, missing_ok=True)
            shipped[name] = entry
            shipped = {k: shipped[k] for k in sizes if k in shipped}  # smallest first
            tmp = out / "manifest.json.tmp"
            tmp.write_text(json.dumps(shipped, indent=1) + "\n")
            os.replace(tmp, out / "manifest.json")
        print(f"{name}: val loss {entry['val_loss']:.4f} after {entry['tokens']:,} tokens, "
              f"{log['seconds']:.0f}s; sha256 {entry['sha256']}", flush=True)


class probe_recorder:  # noqa: N801 (used like a function: on_point=probe_recorder(path))
    """on_point for train_size: the in-context probe (loss on an episode's early vs late outputs)
    at every logged point, kept in a file beside the training state so that a resumed run keeps it."""

    def __init__(self, path: Path):
        from .rule_pilot import probe_episodes
        self.path, self.episodes = path, probe_episodes()
        self.points = json.loads(path.read_text()) if path.exists() else []

    def __call__(self, rec: dict, model) -> None:
        from .rule_pilot import in_context_probe
        if any(p["step"] == rec["step"] for p in self.points):
            return
        self.points.append({"step": rec["step"], "tokens": rec["tokens_seen"], "val_loss": round(rec["val_loss"], 4),
                            **in_context_probe(model, self.episodes)})
        self.path.write_text(json.dumps(self.points, indent=1))


def adopt_pilot(name: str, recipe, out: Path) -> dict[str, dict]:
    """{size: log} for the v2 size whose shape rule pilot `name` trained, with the same recipe.

    The pilot's checkpoint is re-saved as that member (the same fp16 weights, the member's name);
    its log and probe are copied, with where they came from. Anything that differs stops here.
    """
    from .rule_pilot import pilot_record
    run = ROOT / "runs" / "rule_pilot" / name
    pilot = pilot_record(name)
    member = [s for s, size in SIZES_V2.items() if [size.n_layer, size.n_embd] == pilot["shape"]]
    shape = f"{pilot['shape'][0]}x{pilot['shape'][1]}"
    ckpt_path, log_path = run / f"{shape}.pt", run / f"{shape}.json"
    if not member or not ckpt_path.exists():
        raise SystemExit(f"--from-pilot {name}: shape {shape} is no v2 size, or {ckpt_path} is missing.")
    log = json.loads(log_path.read_text())
    want = {"stream": dataclasses.asdict(recipe.rules), "lr": SIZES_V2[member[0]].learning_rate,
            "tokens": recipe.tokens, "batch_size": recipe.batch_size, "block_size": recipe.block_size}
    got = {"stream": {**pilot["stream"], "families": tuple(pilot["stream"]["families"]),
                      "examples": tuple(pilot["stream"]["examples"])},
           "lr": pilot["lr"], "tokens": log["recipe"]["tokens"], "batch_size": pilot["batch_size"],
           "block_size": pilot["block_size"]}
    differ = [k for k in want if want[k] != got[k]]
    if differ or log["recipe"]["seed"] != recipe.seed or not log.get("done"):
        raise SystemExit(f"--from-pilot {name}: its run differs from family v2's recipe in {differ or 'seed/done'}.")
    size = SIZES_V2[member[0]]
    model = model_from(load_checkpoint(ckpt_path))
    save_family_checkpoint(out / f"{size.name}.pt", model, size, recipe)
    log.update(name=size.name, size=dataclasses.asdict(size), recipe=json.loads(json.dumps(dataclasses.asdict(recipe))),
               probe=pilot["probe"], checkpoint_sha256=sha256_file(out / f"{size.name}.pt"),
               adopted_from={"pilot": name, "command": pilot["command"], "checkpoint": str(ckpt_path.relative_to(ROOT)),
                             "checkpoint_sha256": sha256_file(ckpt_path)})
    (out / f"{size.name}.json").write_text(json.dumps(log, indent=1) + "\n")
    return {size.name: log}


if __name__ == "__main__":
    main()
