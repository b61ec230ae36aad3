"""Bad inputs to gptedu.checkpoints: each raises a clear error that names the argument or value at fault."""
import dataclasses
import datetime
import re
from pathlib import Path

import pytest
import torch

from gptedu import checkpoints
from gptedu.checkpoints import (FORMAT, HEADER_SIZE, CheckpointError, load_checkpoint, load_shipped,
                                load_weights_into, save_checkpoint)
from gptedu.config import GPTConfig
from gptedu.model import GPT


def small(**overrides) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**{"vocab_size": 17, "block_size": 8, "n_layer": 1, "n_head": 2, "n_embd": 16, **overrides}))


@pytest.fixture
def saved(tmp_path) -> Path:
    return save_checkpoint(tmp_path / "run.pt", small(), step=1)


def write_state(path: Path, **changes) -> Path:
    """A verified checkpoint file holding a dict save_checkpoint would never write."""
    model = small()
    state = {"format": FORMAT, "config": dataclasses.asdict(model.config), "model": model.state_dict(),
             "step": 0, "optimizer": None, "extra": {}}
    state.update(changes)
    checkpoints._write_atomically(path, {k: v for k, v in state.items() if v is not ...})
    return path


def test_nonexistent_path(tmp_path):
    with pytest.raises(CheckpointError, match=r"No checkpoint at .*nope\.pt\. Check the path"):
        load_checkpoint(tmp_path / "nope.pt")


def test_a_folder_given_as_the_path_lists_the_checkpoints_in_it(saved):
    with pytest.raises(CheckpointError, match=r"is a folder, not a checkpoint file.*\['run\.pt'\]"):
        load_checkpoint(saved.parent)
    with pytest.raises(IsADirectoryError, match=r"path='.*' is a folder; give a file name inside it"):
        save_checkpoint(saved.parent, small())


def test_path_and_model_swapped(saved):
    with pytest.raises(TypeError, match=r"path must be a file path .* got GPT\. Call save_checkpoint\(path, model\)"):
        save_checkpoint(small(), saved)
    with pytest.raises(TypeError, match=r"model must be a gptedu GPT .* got Linear"):
        save_checkpoint(saved, torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"path must be a file path .* got NoneType"):
        load_checkpoint(None)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt is not a readable checkpoint: it is empty \(0 bytes\)"):
        load_checkpoint(path)


@pytest.mark.parametrize("keep", [10, HEADER_SIZE - 5, HEADER_SIZE + 100])
def test_truncated_file(saved, keep):
    saved.write_bytes(saved.read_bytes()[:keep])
    with pytest.raises(CheckpointError, match=r"run\.pt is not a readable checkpoint: it is truncated"):
        load_checkpoint(saved)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0),
                                   dtype=torch.uint8).numpy().tobytes())
    with pytest.raises(CheckpointError, match=r"noise\.pt is not a readable checkpoint: it starts with b'"):
        load_checkpoint(path)


def test_bytes_appended_or_a_damaged_header(saved):
    raw = saved.read_bytes()
    saved.write_bytes(raw + b"junk")
    with pytest.raises(CheckpointError, match=r"run\.pt is corrupted .* \(\d[\d,]* bytes follow its header"):
        load_checkpoint(saved)
    saved.write_bytes(raw.replace(b"sha256 ", b"sha512 ", 1))
    with pytest.raises(CheckpointError, match=r"run\.pt is corrupted .* its header .* is damaged"):
        load_checkpoint(saved)


def test_a_plain_torch_save_of_a_dict(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"wte": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=r"weights\.pt records no sha256 .* weights\.pt\.sha256 is missing"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"weights\.pt is not a gptedu checkpoint .* GPT\.from_pretrained"):
        load_checkpoint(path, verify=False)


def test_config_fields_this_version_does_not_know(tmp_path):
    path = write_state(tmp_path / "future.pt", config={**dataclasses.asdict(small().config), "n_experts": 8})
    with pytest.raises(CheckpointError, match=r"future\.pt was saved with config fields .* \['n_experts'\]"):
        load_checkpoint(path)


def test_a_config_that_cannot_be_built(tmp_path):
    path = write_state(tmp_path / "odd.pt", config={**dataclasses.asdict(small().config), "n_head": 3})
    with pytest.raises(CheckpointError, match=r"odd\.pt records a config this gptedu cannot build \(.*n_head"):
        load_checkpoint(path)


def test_a_checkpoint_without_its_step(tmp_path):
    path = write_state(tmp_path / "partial.pt", step=...)
    with pytest.raises(CheckpointError, match=r"partial\.pt lacks \['step'\]"):
        load_checkpoint(path)


def test_load_weights_into_a_different_model(saved):
    with pytest.raises(CheckpointError, match=r"run\.pt was saved from a different model: .*'n_embd': \(16, 32\)"):
        load_weights_into(small(n_embd=32), saved)


def test_load_shipped_with_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(CheckpointError, match=r"No shipped checkpoint named 'nope'; shipped: \[.*'gpt1-char'.*\]"):
        load_shipped("nope")


@pytest.mark.parametrize("extra, message", [
    ({"when": datetime.date(2024, 5, 1)}, "extra['when'] is of type datetime.date"),
    ({"history": [{"acc": 0.5}, {"acc": torch.nn.Linear(1, 1)}]}, "extra['history'][1]['acc'] is of type"),
    ({"out": Path("runs")}, "extra['out'] is of type pathlib."),
    ([("loss", 1.0)], "extra must be a dict with str keys"),
])
def test_extra_a_checkpoint_cannot_hold(saved, extra, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        save_checkpoint(saved, small(), step=2, extra=extra)
    assert load_checkpoint(saved).step == 1  # the checkpoint already there is untouched


def test_resume_from_a_missing_checkpoint(tmp_path):
    from gptedu.train import TrainConfig, Trainer

    data = torch.arange(100) % 17
    trainer = Trainer(small(), data, data, TrainConfig(max_iters=1, warmup_iters=0, device="cpu", progress=False))
    with pytest.raises(CheckpointError, match=r"No checkpoint at .*ckpt\.pt"):
        trainer.fit(resume_from=tmp_path / "ckpt.pt")
