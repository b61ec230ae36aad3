"""The training CLI under torchrun: 2 CPU processes with gloo agree on their weights, and resume exactly."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gptedu.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--preset", "tiny", "--plays", "phoenix_and_the_turtle", "--batch-size", "4", "--warmup-iters", "2",
        "--lr-decay-iters", "6", "--eval-interval", "3", "--eval-iters", "1", "--no-progress"]


def torchrun(*args: str) -> dict:
    """Run `torchrun --nproc_per_node 2 -m gptedu.train ARGS`; returns {(rank, "initial"|"final"): sha256}."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GPTEDU_THREADS": "1", "GPTEDU_DEVICE": "cpu"}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "gptedu.train", *ARGS, *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    found = re.findall(r"\[rank (\d)/2\] (initial|final) params sha256 ([0-9a-f]{64})", proc.stdout)
    sums = {(int(rank), when): digest for rank, when, digest in found}
    assert set(sums) == {(r, w) for r in (0, 1) for w in ("initial", "final")}, proc.stdout
    return sums


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_full")
    return out, torchrun("--max-iters", "6", "--out", str(out))


def test_two_ranks_train_to_the_same_changed_weights(uninterrupted):
    out, sums = uninterrupted
    assert sums[0, "initial"] == sums[1, "initial"]
    assert sums[0, "final"] == sums[1, "final"]  # DDP kept the ranks in step
    assert sums[0, "final"] != sums[0, "initial"]  # and training changed the weights
    ckpt = load_checkpoint(out / "ckpt.pt")
    assert ckpt.step == 6 and len(ckpt.extra["rng"]) == 2
    assert not torch.equal(ckpt.extra["rng"][0]["data"], ckpt.extra["rng"][1]["data"])  # ranks drew different batches
    assert ckpt.extra["history"][-1]["tokens_seen"] == 6 * 4 * 64 * 2


def test_ddp_resume_equals_the_uninterrupted_run(uninterrupted, tmp_path):
    _, full = uninterrupted
    torchrun("--max-iters", "3", "--out", str(tmp_path))
    resumed = torchrun("--max-iters", "6", "--out", str(tmp_path), "--resume")
    assert resumed[0, "final"] == resumed[1, "final"] == full[0, "final"]
