"""Issue 29, item 2: every script that writes results checks where they go before it starts working.

Each script is given an output path that runs through a file (a file where a folder should be) and must
stop at once with an error naming its option, before any training or evaluation (a time limit: before
the fix the scripts set off on their whole run). The file in the way is left as it was.
"""
import importlib
import sys

import pytest

from tests import limits
from tests.scripts import load_script

LIMIT_S = 60  # loading a script and its imports; any training or evaluation would take longer


def time_limit(seconds: int):
    return limits.time_limit(seconds, "the output location was not checked first")


@pytest.fixture
def blocked(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("keep me")
    yield blocker
    assert blocker.read_text() == "keep me"


# module, arguments (BAD is replaced by a path under the file in the way), the option the error names
CASES = [
    ("gptedu.experiments.band_ablation", ["--out", "BAD/ablation.json", "--steps", "2"], "--out"),
    ("gptedu.experiments.depth_sweep", ["--out", "BAD/sweep.json"], "--out"),
    ("gptedu.experiments.eval_family", ["--out", "BAD/eval.json", "--sizes", "13k", "--n", "2"], "--out"),
    ("gptedu.experiments.family_probe", ["--name", "t", "--save", "BAD/probe.pt"], "--save"),
    ("gptedu.experiments.heldout_tasks", ["--out", "BAD/heldout.json"], "--out"),
    ("gptedu.experiments.rule_pilot", ["--name", "t", "--results", "BAD/pilot.json", "--tokens", "4096"], "--results"),
    ("gptedu.experiments.task_diversity", ["--tasks", "1", "--results", "BAD/td.json", "--tokens", "4096"],
     "--results"),
    ("gptedu.experiments.finetune_sweep", ["--out", "BAD/sweep.json", "--ks", "0", "--seeds", "0", "--steps", "2"],
     "--out"),
    ("gptedu.experiments.icl_extras", ["--out", "BAD/extras.json"], "--out"),
    ("gptedu.experiments.pilot_family", ["--name", "BAD/pilot"], "--name"),
    ("gptedu.experiments.pretrain_gpt1", ["--out", "BAD/run", "--max-iters", "2", "--no-ship"], "--out"),
    ("gptedu.experiments.train_family", ["--out", "BAD/family", "--sizes", "13k"], "--out"),
    ("gptedu.experiments.zeroshot_sweep", ["--out", "BAD/sweep.json"], "--out"),
]


@pytest.mark.parametrize("script, args, option", CASES, ids=[c[0].rsplit(".", 1)[1] for c in CASES])
def test_a_script_checks_its_output_before_it_starts(script, args, option, blocked, monkeypatch):
    argv = [a.replace("BAD", str(blocked)) for a in args]
    module = importlib.import_module(script)
    monkeypatch.setattr(sys, "argv", [script, *argv])
    takes_argv = module.main.__code__.co_argcount > 0
    with time_limit(LIMIT_S), pytest.raises(ValueError, match=rf"^{option}='.*': '.*results' is a file, not a "
                                                              rf"folder.*Nothing was run"):
        module.main(argv) if takes_argv else module.main()


def test_train_family_still_starts_a_new_folder(tmp_path, monkeypatch):
    """The manifest of a folder the script is about to fill may be missing (missing_ok), and nothing is trained
    when the manifest already lists every size asked for."""
    from gptedu.family import manifest
    assert manifest(tmp_path / "new", missing_ok=True) == {}
    module = importlib.import_module("gptedu.experiments.train_family")
    (tmp_path / "fam").mkdir()
    (tmp_path / "fam" / "manifest.json").write_text('{"13k": {"file": "13k.pt", "sha256": "' + "0" * 64 + '"}}')
    with time_limit(LIMIT_S):
        module.main(["--out", str(tmp_path / "fam"), "--sizes", "13k", "--state", str(tmp_path / "state")])


def test_build_data_checks_out_before_downloading(blocked, monkeypatch):
    module = load_script("scripts/build_data.py")

    def no_network(*args, **kwargs):
        raise AssertionError("downloaded before --out was checked")
    monkeypatch.setattr(module, "download", no_network)
    monkeypatch.setattr(sys, "argv", ["scripts/build_data.py", "--out", str(blocked / "data")])
    with pytest.raises(SystemExit, match=r"^--out='.*results/data' cannot be written .*Nothing was downloaded"):
        module.main()
