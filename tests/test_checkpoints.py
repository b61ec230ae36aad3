import dataclasses
import datetime
import hashlib
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gptedu.checkpoints import (FORMAT, HEADER_SIZE, MAGIC, SHIPPED_DIR, CheckpointError, check_extra,
                                load_checkpoint, load_model, load_weights_into, save_checkpoint)
from gptedu.config import GPTConfig
from gptedu.model import GPT


def small(**overrides) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=16, **overrides))


def test_round_trip_keeps_config_weights_step_and_extra(tmp_path):
    model = small()
    opt = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))[1].backward()
    opt.step()
    path = save_checkpoint(tmp_path / "run.pt", model, step=7, optimizer=opt, extra={"val_loss": 1.5})
    ckpt = load_checkpoint(path)
    assert ckpt.config == model.config and ckpt.step == 7 and ckpt.extra == {"val_loss": 1.5}
    assert ckpt.optimizer["state"]
    loaded = load_model(path)
    x = torch.randint(0, 17, (2, 8))
    model.eval()
    assert torch.equal(loaded(x)[0], model(x)[0])


def test_corrupted_file_is_caught_before_loading(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", small())
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(path)


def test_truncated_file_without_verification_still_gets_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", small())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path, verify=False)


def test_the_file_carries_its_own_sha256(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", small())
    raw = path.read_bytes()
    header, payload = raw[:HEADER_SIZE].decode().splitlines(), raw[HEADER_SIZE:]
    assert header == [MAGIC.decode().strip(), f"sha256 {hashlib.sha256(payload).hexdigest()}",
                      f"bytes {len(payload):020d}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # nothing beside it to fall out of step


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


def legacy_checkpoint(path: Path, model) -> Path:
    """A checkpoint as the first gptedu wrote it (and as data/checkpoints/gpt1-char.pt is):
    a bare torch.save file, its sha256 in a .sha256 file beside it."""
    torch.save({"format": FORMAT, "config": dataclasses.asdict(model.config), "model": model.state_dict(),
                "step": 3, "optimizer": None, "extra": {"old": True}}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (path.parent / (path.name + ".sha256")).write_text(f"{digest}  {path.name}\n")
    return path


def test_older_checkpoints_load_verified_by_the_file_beside_them(tmp_path):
    path = legacy_checkpoint(tmp_path / "old.pt", small())
    assert load_checkpoint(path).extra == {"old": True}
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted .* differs from old.pt.sha256"):
        load_checkpoint(path)
    (tmp_path / "old.pt.sha256").unlink()
    with pytest.raises(CheckpointError, match="old.pt.sha256 is missing .* cannot be verified"):
        load_checkpoint(path)


def test_the_shipped_checkpoint_still_loads_verified():
    ckpt = load_checkpoint(SHIPPED_DIR / "gpt1-char.pt")
    assert ckpt.step == 5000 and ckpt.extra["tokenizer"]["kind"] == "char"


def test_saving_over_an_older_checkpoint_removes_its_stale_hash_file(tmp_path):
    path = legacy_checkpoint(tmp_path / "run.pt", small())
    save_checkpoint(path, small(), step=9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"] and load_checkpoint(path).step == 9


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"wte": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a gptedu checkpoint"):
        load_checkpoint(path, verify=False)


def test_loading_into_a_different_model_names_the_difference(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", small())
    other = small(norm="post")
    with pytest.raises(CheckpointError, match="norm"):
        load_weights_into(other, path)


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    model = small()
    path = save_checkpoint(tmp_path / "run.pt", model, step=1)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, model, step=2)
    assert path.read_bytes() == before and load_checkpoint(path).step == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # no temp file left


def test_the_next_save_removes_temp_files_of_killed_saves_only(tmp_path):
    path = save_checkpoint(tmp_path / "run.pt", small(), step=1)
    dead = tmp_path / ".run.pt.999999999-0a1b2c3d.tmp"  # pid 999999999 cannot exist (Linux caps pids at 2**22)
    old = tmp_path / ".run.pt.not-a-pid.tmp"  # nobody wrote to it for an hour
    running = tmp_path / f".run.pt.{os.getpid()}-feedbeef.tmp"  # a save in progress in a live process
    other = tmp_path / ".other.pt.999999999-0a1b2c3d.tmp"  # another checkpoint's
    for tmp in (dead, old, running, other):
        tmp.write_bytes(b"partial")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    save_checkpoint(path, small(), step=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run.pt", running.name, other.name])
    assert load_checkpoint(path).step == 2


def test_numpy_scalars_in_extra_become_python_numbers(tmp_path):
    extra = {"loss": np.float32(1.5), "steps": [np.int64(3), (np.bool_(True), np.str_("a"))],
             "nested": {"x": np.float64(0.25)}, "t": torch.arange(3), "none": None}
    path = save_checkpoint(tmp_path / "run.pt", small(), extra=extra)
    got = load_checkpoint(path).extra
    assert got["loss"] == 1.5 and type(got["loss"]) is float
    assert got["steps"] == [3, (True, "a")] and type(got["steps"][0]) is int and type(got["steps"][1][0]) is bool
    assert got["nested"] == {"x": 0.25} and torch.equal(got["t"], torch.arange(3)) and got["none"] is None
    assert type(extra["loss"]) is np.float32  # the caller's dict is not changed


@pytest.mark.parametrize("value, where, hint", [
    (Path("runs/a"), "extra['out'] is of type pathlib.", "Path"),
    ({"history": [0, 1, 2, np.zeros(3)]}, "extra['out']['history'][3] is of type numpy.ndarray", "tolist"),
    (datetime.datetime(2024, 1, 1), "extra['out'] is of type datetime.datetime", "isoformat"),
    ([{1, 2}], "extra['out'][0] is of type set", "sorted(value)"),
    ({3: "x"}, "extra['out'] has the key 3 of type int", "str(key)"),
    (object(), "extra['out'] is of type object", "torch.Tensor"),
])
def test_values_a_checkpoint_cannot_load_are_refused_before_the_file_is_touched(tmp_path, value, where, hint):
    path = save_checkpoint(tmp_path / "run.pt", small(), step=1)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=re.escape(where)) as err:
        save_checkpoint(path, small(), step=2, extra={"out": value})
    assert hint in str(err.value)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


def test_check_extra_names_what_to_do():
    with pytest.raises(TypeError, match=r"extra\['out'\] is of type numpy.ndarray .* "
                                        r"torch.from_numpy\(value\) or value.tolist\(\)"):
        check_extra({"out": np.zeros(2)})
    with pytest.raises(TypeError, match=r"extra\['when'\] is of type datetime.date .* value.isoformat\(\)"):
        check_extra({"when": datetime.date(2024, 1, 1)})
    with pytest.raises(TypeError, match="extra must be a dict"):
        check_extra([("loss", 1.0)])
    assert check_extra(None) == {} and check_extra({"d": torch.device("cpu")}) == {"d": torch.device("cpu")}


def test_trainer_refuses_bad_extra_when_it_is_built():
    from gptedu.train import TrainConfig, Trainer

    data, cfg = torch.arange(100) % 17, TrainConfig(max_iters=1, warmup_iters=0, device="cpu", progress=False)
    with pytest.raises(TypeError, match=r"extra\['run_dir'\] is of type pathlib\..*Path .* str\(value\)"):
        Trainer(small(), data, data, cfg, extra={"run_dir": Path("runs")})
    trainer = Trainer(small(), data, data, cfg, extra={"lr": np.float64(1e-3)})
    assert trainer.extra == {"lr": 1e-3} and type(trainer.extra["lr"]) is float


def test_load_shipped_unknown_name_lists_what_ships():
    from gptedu.checkpoints import load_shipped

    with pytest.raises(CheckpointError, match="No shipped checkpoint named 'gpt9'"):
        load_shipped("gpt9")
