"""Issue 29, items 1, 2 and 6: no lost work in gptedu.checkpoints and gptedu.train.

A refused resume leaves the model's weights, the optimizer and the step as they were; where a run
writes is checked before its first step (Trainer.fit's checkpoint_path, `python -m gptedu.train --out`),
not at the final save; and the first round's leftovers (an emptied .sha256, weights that do not fit
their config, `step`, load_shipped's pointer, an unknown device) get a clear error.
"""
import dataclasses
import os
import shutil

import pytest
import torch

from gptedu import checkpoints
from gptedu.checkpoints import CheckpointError, load_checkpoint, load_model, load_shipped, save_checkpoint
from gptedu.config import GPTConfig
from gptedu.model import GPT
from gptedu.train import TrainConfig, Trainer, main, param_checksum

torch.set_num_threads(int(os.environ.get("GPTEDU_THREADS", "1")))

SMALL = dict(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=16)


def small(seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**SMALL, **overrides}))


def trainer_for(model: GPT, **cfg) -> Trainer:
    data = torch.arange(200) % 17
    settings = dict(max_iters=2, warmup_iters=0, eval_interval=1, eval_iters=1, batch_size=2, device="cpu",
                    progress=False)
    return Trainer(model, data, data, TrainConfig(**{**settings, **cfg}))


def optimizer_snapshot(trainer: Trainer) -> list:
    return [v.clone() for state in trainer.optimizer.state.values() for v in state.values()
            if isinstance(v, torch.Tensor)]


# ---------------------------------------------------------------- item 1: a refused resume loses nothing
def test_a_weights_only_checkpoint_is_refused_before_the_weights_are_touched(tmp_path):
    path = save_checkpoint(tmp_path / "weights.pt", small(seed=1))  # same shape, other weights, no training state
    trainer = trainer_for(small(seed=0))
    trainer.fit()  # a run with optimizer state and history, to be kept
    before = param_checksum(trainer.model), trainer.step, optimizer_snapshot(trainer), list(trainer.history)
    with pytest.raises(ValueError, match=r"weights\.pt holds weights but no training state.*"
                                         r"Nothing was loaded: the model's weights are as they were"):
        trainer.load_state(path)
    with pytest.raises(ValueError, match="holds weights but no training state"):
        trainer.fit(resume_from=path)
    assert param_checksum(trainer.model) == before[0] and trainer.step == before[1]
    assert all(torch.equal(a, b) for a, b in zip(optimizer_snapshot(trainer), before[2]))
    assert trainer.history == before[3]


def mismatched_file(path, seed: int = 1):
    """A checkpoint whose config records vocab_size 18 while its weights are for 17: every other tensor fits,
    so load_state_dict would copy those and only then fail."""
    model = small(seed=seed)
    model.config = dataclasses.replace(model.config, vocab_size=18)
    return save_checkpoint(path, model)


def test_weights_that_do_not_fit_their_config_are_refused_before_any_is_copied(tmp_path):
    path = mismatched_file(tmp_path / "edited.pt")
    target = small(seed=0, vocab_size=18)
    before = param_checksum(target)
    with pytest.raises(CheckpointError, match=r"The weights in .*edited\.pt do not fit the model its config "
                                              r"describes \(wrong shape: wte\.weight \(17, 16\) "
                                              r"instead of \(18, 16\).*No weights were loaded"):
        checkpoints.load_weights_into(target, path)
    assert param_checksum(target) == before
    with pytest.raises(CheckpointError, match=r"The weights in .*edited\.pt do not fit"):
        load_model(path)
    trainer = trainer_for(small(seed=0, vocab_size=18))
    before = param_checksum(trainer.model)
    with pytest.raises(CheckpointError, match="do not fit"):
        trainer.fit(resume_from=path)
    assert param_checksum(trainer.model) == before and trainer.step == 0


def test_optimizer_state_of_another_set_up_is_refused_before_the_weights_are_touched(tmp_path):
    donor = trainer_for(small(seed=1))
    state = {**donor.optimizer.state_dict()}
    state["param_groups"] = state["param_groups"][:1]  # one group instead of decay / no-decay
    extra = {"history": [], "rng": [{"data": donor.data_generator.get_state()}]}
    path = tmp_path / "odd.pt"
    save_checkpoint(path, donor.model, step=1, extra=extra)
    raw = load_checkpoint(path)
    checkpoints._write_atomically(path, {"format": checkpoints.FORMAT, "config": dataclasses.asdict(raw.config),
                                         "model": raw.model, "step": 1, "optimizer": state, "extra": extra})
    trainer = trainer_for(small(seed=0))
    before = param_checksum(trainer.model)
    with pytest.raises(ValueError, match=r"odd\.pt holds optimizer state for parameter groups of sizes \[\d+\], "
                                         r"but this run's optimizer has \[\d+, \d+\].*weights are as they were"):
        trainer.fit(resume_from=path)
    assert param_checksum(trainer.model) == before and trainer.step == 0


# ---------------------------------------------------------------- item 2: where results go, checked before step 0
def test_fit_checks_checkpoint_path_before_the_first_step(tmp_path):
    (tmp_path / "runs").write_text("a file where the run's folder should be")
    trainer = trainer_for(small(), checkpoint_path=tmp_path / "runs" / "ckpt.pt")
    before = param_checksum(trainer.model)
    with pytest.raises(ValueError, match=r"^checkpoint_path='.*runs/ckpt\.pt': '.*runs' is a file, not a folder"):
        trainer.fit()
    assert trainer.step == 0 and trainer.history == [] and param_checksum(trainer.model) == before
    trainer = trainer_for(small(), checkpoint_path=tmp_path)  # a folder given as the file
    with pytest.raises(ValueError, match=r"^checkpoint_path='.*' is a folder; give a file name inside it"):
        trainer.fit()
    assert trainer.step == 0 and trainer.history == []


@pytest.fixture
def no_data(monkeypatch):
    """Reading the corpus fails the test: the output location must be checked before anything else."""
    import gptedu.data

    def refuse(*args, **kwargs):
        raise AssertionError("the corpus was read before --out was checked")
    monkeypatch.setattr(gptedu.data, "load_shakespeare", refuse)


def test_train_cli_checks_out_before_reading_data_or_training(tmp_path, no_data):
    blocker = tmp_path / "runs"
    blocker.write_text("keep me")
    with pytest.raises(ValueError, match=r"^--out='.*runs/tiny': '.*runs' is a file, not a folder.*Nothing was run"):
        main(["--out", str(blocker / "tiny"), "--max-iters", "1", "--no-progress"])
    (tmp_path / "run2" / "ckpt.pt").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"^--out='.*run2/ckpt\.pt' is a folder"):
        main(["--out", str(tmp_path / "run2"), "--max-iters", "1", "--no-progress"])
    assert blocker.read_text() == "keep me"


def test_train_cli_checks_that_out_can_be_written(tmp_path, no_data):
    from tests.test_bad_inputs_round2_checks import unwritable_folder
    folder = unwritable_folder(tmp_path)
    with pytest.raises(ValueError, match=r"^--out='.*': the folder '.*' cannot be written"):
        main(["--out", str(folder / "tiny"), "--max-iters", "1", "--no-progress"])


# ---------------------------------------------------------------- item 6: the first round's leftovers
@pytest.mark.parametrize("sidecar", ["", "\n", "not-a-hash  gpt1-char.pt\n"])
def test_a_damaged_sha256_file_beside_a_legacy_checkpoint(tmp_path, sidecar):
    legacy = tmp_path / "old.pt"
    torch.save({"format": checkpoints.FORMAT, "config": dataclasses.asdict(small().config),
                "model": small().state_dict(), "step": 0, "optimizer": None, "extra": {}}, legacy)
    (tmp_path / "old.pt.sha256").write_text(sidecar)
    with pytest.raises(CheckpointError, match=r"old\.pt\.sha256 is damaged \((empty|no sha256 in it)\), so "
                                              r".*old\.pt cannot be verified"):
        load_checkpoint(legacy)


def test_the_shipped_legacy_checkpoint_with_an_emptied_sha256(tmp_path, monkeypatch):
    shipped = checkpoints.SHIPPED_DIR / "gpt1-char.pt"
    shutil.copy(shipped, tmp_path / "gpt1-char.pt")
    (tmp_path / "gpt1-char.pt.sha256").write_text("")
    with pytest.raises(CheckpointError, match=r"gpt1-char\.pt\.sha256 is damaged \(empty\)"):
        load_checkpoint(tmp_path / "gpt1-char.pt")


@pytest.mark.parametrize("step", [2.7, -5, True, "3", None])
def test_step_must_be_a_whole_number_of_steps(tmp_path, step):
    with pytest.raises(ValueError, match=rf"^step={step!r} must be an integer >= 0 \(the number of optimizer steps"):
        save_checkpoint(tmp_path / "s.pt", small(), step=step)
    assert not (tmp_path / "s.pt").exists()


def test_load_shipped_points_to_a_readme_that_exists():
    with pytest.raises(CheckpointError, match=r"No shipped checkpoint named 'nope'.*data/README\.md") as caught:
        load_shipped("nope")
    readme = str(caught.value).rsplit(". ", 1)[-1].split(" says")[0]
    assert (checkpoints.SHIPPED_DIR.parents[1] / readme).is_file()
    with pytest.raises(CheckpointError, match=r"No shipped checkpoint named \['gpt1-char'\]"):
        load_shipped(["gpt1-char"])


@pytest.mark.parametrize("device", ["gpu", "cuda:x", 0])
def test_an_unknown_device_is_named_before_loading(tmp_path, device):
    path = save_checkpoint(tmp_path / "m.pt", small())
    with pytest.raises(ValueError, match=r"(Unknown device: device=|device=).*(cuda, mps, cpu)"):
        load_model(path, device=device)
    with pytest.raises(ValueError, match=r"(Unknown device: device=|device=).*(cuda, mps, cpu)"):
        load_shipped(device=device)
