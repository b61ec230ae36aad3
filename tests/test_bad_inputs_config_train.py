"""Bad inputs get one clear error: configs, token ids, training settings, divergence, setup, device.

Each case checks the error's type and that its message names the offending argument or
value (issue 10, items 3, 5, 6). Everything here is tiny: the file runs in seconds.
"""
import math
import os

import numpy as np
import pytest
import torch

from gptedu.checkpoints import load_checkpoint
from gptedu.config import GPTConfig
from gptedu.data import get_batch
from gptedu.device import pick_device
from gptedu.finetune import GPTClassifier, finetune
from gptedu.model import GPT
from gptedu.session import setup
from gptedu.tasks import LabelledText
from gptedu.tokenizers import CharTokenizer
from gptedu.train import Trainer, TrainConfig, TrainingDiverged, main

torch.set_num_threads(int(os.environ.get("GPTEDU_THREADS", "1")))

VOCAB, BLOCK = 20, 8
SMALL = dict(vocab_size=VOCAB, block_size=BLOCK, n_layer=1, n_head=2, n_embd=16)


def small_config(**kw) -> GPTConfig:
    return GPTConfig(**{**SMALL, **kw})


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(small_config())


def token_data(n: int = 400, vocab: int = VOCAB) -> torch.Tensor:
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(0))


def quick(**kw) -> TrainConfig:
    settings = dict(max_iters=6, batch_size=2, learning_rate=1e-3, min_lr=1e-4, warmup_iters=1,
                    eval_interval=3, eval_iters=1, progress=False, device="cpu")
    return TrainConfig(**{**settings, **kw})


# ---------------------------------------------------------------- GPTConfig (item 5)
@pytest.mark.parametrize("kw, pattern", [
    (dict(tie_embeddings="no"), "tie_embeddings='no' must be True or False"),
    (dict(bias=1), "bias=1 must be True or False"),
    (dict(residual_scale_init=None), "residual_scale_init=None must be True or False"),
    (dict(layer_norm_eps=float("nan")), "layer_norm_eps=nan must be a positive finite number"),
    (dict(layer_norm_eps=float("inf")), "layer_norm_eps=inf"),
    (dict(layer_norm_eps=-1e-5), "layer_norm_eps=-1e-05"),
    (dict(dropout=float("nan")), r"dropout=nan must be in \[0, 1\)"),
    (dict(dropout="0.1"), r"dropout='0.1' must be in \[0, 1\)"),
    (dict(attention_window=4), "attention_window=4 has no effect with attention_pattern='dense'"),
    (dict(n_embd=np.float64(16.0)), "n_embd=.*16.0.* must be a positive integer"),
    (dict(n_head=True), "n_head=True must be a positive integer"),
    (dict(norm=["pre"]), r"norm=\['pre'\] is not one of"),
])
def test_config_rejects_nonsense(kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        small_config(**kw)


def test_config_takes_numpy_integers_as_ints():
    config = small_config(vocab_size=np.int64(VOCAB), n_layer=np.int32(1), tie_embeddings=np.bool_(False))
    assert type(config.vocab_size) is int and type(config.n_layer) is int and config.tie_embeddings is False
    assert config == small_config(tie_embeddings=False)


@pytest.mark.parametrize("field, value, pattern", [
    ("n_head", 3, "n_embd=16 is not divisible by n_head=3"),
    ("tie_embeddings", "yes", "tie_embeddings='yes' must be True or False"),
    ("layer_norm_eps", 0.0, "layer_norm_eps=0.0"),
])
def test_a_config_edited_after_construction_is_checked_when_a_model_is_built(field, value, pattern):
    config = small_config()
    setattr(config, field, value)
    with pytest.raises(ValueError, match=pattern):
        GPT(config)


def test_gpt_needs_a_config_object():
    with pytest.raises(TypeError, match="GPT\\(config\\) needs a GPTConfig, got dict"):
        GPT(dict(SMALL))


# ---------------------------------------------------------------- token ids into the model (item 3)
@pytest.mark.parametrize("idx, pattern", [
    (torch.tensor([[1, 2, VOCAB]]), f"idx holds token id {VOCAB}, but this model's vocab_size is {VOCAB}.*"
                                    "vocab_size=tokenizer.vocab_size"),
    (torch.tensor([[1, 500, 3]]), "token id 500"),
    (torch.tensor([[1, -1, 3]]), "idx holds the negative token id -1"),
    (torch.tensor([[0.0, 1.0]]), "idx must hold integer token ids.*got dtype torch.float32"),
    (torch.tensor([[True, False]]), "idx must hold integer token ids.*torch.bool"),
])
def test_forward_refuses_bad_token_ids(model, idx, pattern):
    with pytest.raises(ValueError, match=pattern):
        model(idx)


@pytest.mark.parametrize("idx, targets, pattern", [
    ([[1, 2, 3]], None, "idx must be a torch.Tensor of token ids.*got a list"),
    (torch.tensor([[1, 2, 3]]), [[2, 3, 4]], "targets must be a torch.Tensor of token ids.*got a list"),
])
def test_forward_refuses_lists(model, idx, targets, pattern):
    with pytest.raises(TypeError, match=pattern):
        model(idx, targets)


@pytest.mark.parametrize("targets, pattern", [
    (torch.tensor([[1, 2, VOCAB]]), f"targets holds token id {VOCAB}"),
    (torch.tensor([[1, -2, 3]]), "targets holds the negative token id -2.*-1 is allowed"),
    (torch.tensor([[1, 2, 3]], dtype=torch.int32), "targets must hold integer token ids.*torch.int32"),
    (torch.tensor([[1, 2]]), r"targets must have the shape of idx, \(1, 3\); got \(1, 2\)"),
])
def test_forward_refuses_bad_targets(model, targets, pattern):
    with pytest.raises(ValueError, match=pattern):
        model(torch.tensor([[1, 2, 3]]), targets)


def test_valid_ids_and_ignored_targets_still_work(model):
    idx = torch.tensor([[0, 5, VOCAB - 1]])
    _, loss = model(idx, torch.tensor([[5, -1, 0]]))
    assert math.isfinite(loss.item())
    assert model(idx.int())[0].shape == (1, 3, VOCAB)  # int32 ids embed as before


# ---------------------------------------------------------------- get_batch (item 3)
@pytest.mark.parametrize("data, kw, pattern", [
    (token_data(vocab=VOCAB + 30), dict(vocab_size=VOCAB), f"data holds token id .*but vocab_size={VOCAB}"),
    (token_data() - 100, {}, "data holds the negative token id -"),
    (token_data().float(), {}, "data must be a 1-D tensor of token ids.*torch.float32"),
    (token_data().view(20, 20), {}, r"data must be a 1-D tensor.*shape \(20, 20\)"),
    (token_data(), dict(batch_size=0), "batch_size=0 must be a positive integer"),
    (token_data(), dict(block_size=2.5), "block_size=2.5 must be a positive integer"),
])
def test_get_batch_refuses_bad_data_and_sizes(data, kw, pattern):
    args = {"batch_size": 2, "block_size": BLOCK, **kw}
    with pytest.raises(ValueError, match=pattern):
        get_batch(data, args.pop("batch_size"), args.pop("block_size"), **args)


def test_get_batch_refuses_a_list():
    with pytest.raises(TypeError, match="data must be a 1-D tensor of token ids; got a list"):
        get_batch(list(range(100)), 2, BLOCK)


def test_get_batch_batches_are_unchanged_by_the_check():
    data = token_data()
    x1, y1 = get_batch(data, 4, BLOCK, generator=torch.Generator().manual_seed(3), vocab_size=VOCAB)
    x2, y2 = get_batch(data, 4, BLOCK, generator=torch.Generator().manual_seed(3))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)


# ---------------------------------------------------------------- TrainConfig (item 5)
@pytest.mark.parametrize("kw, pattern", [
    (dict(learning_rate=float("nan")), "learning_rate=nan must be a finite number > 0"),
    (dict(learning_rate=float("inf")), "learning_rate=inf"),
    (dict(learning_rate=0.0, min_lr=0.0), "learning_rate=0.0 must be a finite number > 0"),
    (dict(learning_rate=-1e-3), "learning_rate=-0.001"),
    (dict(min_lr=1e-2), "min_lr <= learning_rate; got min_lr=0.01, learning_rate=0.001"),
    (dict(min_lr=-1e-4), "min_lr=-0.0001 must be a finite number >= 0"),
    (dict(weight_decay=-0.1), "weight_decay=-0.1 must be a finite number >= 0"),
    (dict(weight_decay=float("nan")), "weight_decay=nan"),
    (dict(grad_clip=-1.0), "grad_clip=-1.0 must be a finite number >= 0 .*None turns clipping off"),
    (dict(batch_size=0), "batch_size=0 must be a positive integer"),
    (dict(batch_size=2.0), "batch_size=2.0 must be a positive integer"),
    (dict(max_iters=-1), "max_iters=-1 must be an integer >= 0"),
    (dict(max_iters="100"), "max_iters='100' must be an integer >= 0"),
    (dict(eval_interval=0), "eval_interval=0 must be a positive integer"),
    (dict(eval_iters=0), "eval_iters=0 must be a positive integer"),
    (dict(lr_decay_iters=0), "lr_decay_iters=0 must be a positive integer"),
    (dict(warmup_iters=-5), "warmup_iters=-5 must be an integer >= 0"),
    (dict(betas=(0.9, 1.5)), r"betas=\(0.9, 1.5\) must be two numbers in \[0, 1\)"),
    (dict(betas=0.9), "betas=0.9 must be two numbers"),
    (dict(seed=1.5), "seed=1.5 must be an integer"),
    (dict(progress="no"), "progress='no' must be True or False"),
    (dict(checkpoint_path="c.pt", checkpoint_interval=0), "checkpoint_interval=0 must be a positive integer"),
])
def test_train_config_rejects_nonsense(kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        quick(**kw)


def test_train_config_takes_numpy_ints_and_grad_clip_none():
    cfg = quick(max_iters=np.int64(6), batch_size=np.int32(2), grad_clip=None)
    assert type(cfg.max_iters) is int and type(cfg.batch_size) is int and cfg.grad_clip is None


@pytest.mark.parametrize("kw, pattern", [
    (dict(max_iters=5, warmup_iters=10), "warmup_iters=10 is longer than the decay horizon max_iters=5"),
    (dict(max_iters=50, warmup_iters=10, lr_decay_iters=8), "decay horizon lr_decay_iters=8"),
])
def test_warmup_beyond_the_decay_horizon_warns(kw, pattern):
    with pytest.warns(UserWarning, match=pattern):
        quick(**kw)


def test_a_train_config_edited_after_construction_is_checked_by_fit(model):
    trainer = Trainer(model, token_data(), token_data(), quick())
    trainer.cfg.learning_rate = float("nan")
    with pytest.raises(ValueError, match="learning_rate=nan"):
        trainer.fit()


# ---------------------------------------------------------------- the Trainer: token ids, divergence
@pytest.mark.parametrize("split, data, pattern", [
    ("train_data", token_data(vocab=VOCAB + 5), f"train_data holds token id {VOCAB + 4}, but the model's "
                                                f"vocab_size is {VOCAB}.*vocab_size=tokenizer.vocab_size"),
    ("val_data", token_data() - 3, "val_data holds the negative token id -3"),
])
def test_trainer_checks_its_data_against_the_model_vocab(model, split, data, pattern):
    splits = {"train_data": token_data(), "val_data": token_data(), split: data}
    with pytest.raises(ValueError, match=pattern):
        Trainer(model, splits["train_data"], splits["val_data"], quick())


@pytest.mark.parametrize("grad_clip", [None, 1.0])
def test_training_stops_at_the_first_non_finite_loss(grad_clip):
    torch.manual_seed(0)
    trainer = Trainer(GPT(small_config()), token_data(), token_data(),
                      quick(max_iters=30, learning_rate=1e6, min_lr=0.0, warmup_iters=0, grad_clip=grad_clip))
    with pytest.raises(TrainingDiverged, match=r"Training diverged: .*learning rate .*lower learning_rate "
                                               r"\(now 1e\+06\)"):
        trainer.fit()
    assert isinstance(TrainingDiverged("x"), FloatingPointError)
    assert trainer.step < 30 and all(math.isfinite(h["train_loss"]) for h in trainer.history)


def test_divergence_never_overwrites_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.manual_seed(0)
    trainer = Trainer(GPT(small_config()), token_data(), token_data(),
                      quick(max_iters=30, learning_rate=1e6, min_lr=0.0, warmup_iters=0,
                            checkpoint_path=path, checkpoint_interval=1))
    with pytest.raises(TrainingDiverged, match="ckpt.pt is left as it was"):
        trainer.fit()
    ckpt = load_checkpoint(path)
    assert ckpt.step < 30 and all(torch.isfinite(w).all() for w in ckpt.model.values())


# ---------------------------------------------------------------- fine-tuning (item 5)
LETTERS = "abcdefghijklmnopqrst"
EXAMPLES = [LabelledText("abc", 0), LabelledText("rst", 1), LabelledText("abd", 0), LabelledText("qrs", 1)]


@pytest.fixture(scope="module")
def classifier() -> GPTClassifier:
    torch.manual_seed(0)
    return GPTClassifier(GPT(small_config()), CharTokenizer(LETTERS))


@pytest.mark.parametrize("kw, pattern", [
    (dict(grad_clip=-1.0), "grad_clip=-1.0 must be a finite number >= 0"),
    (dict(grad_clip=float("nan")), "grad_clip=nan"),
    (dict(weight_decay=-0.01), "weight_decay=-0.01 must be a finite number >= 0"),
    (dict(log_every=0), "log_every=0 must be a positive integer"),
    (dict(log_every=2.5), "log_every=2.5"),
    (dict(eval_every=-1), "eval_every=-1 must be a positive integer"),
    (dict(lr=float("inf")), "lr=inf must be a finite number > 0"),
    (dict(steps=0), "steps=0 must be a positive integer"),
])
def test_finetune_rejects_nonsense(classifier, kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        finetune(classifier, EXAMPLES, EXAMPLES, **{"steps": 2, "batch_size": 2, "progress": False, **kw})


def test_finetune_stops_at_the_first_non_finite_loss():
    torch.manual_seed(0)
    clf = GPTClassifier(GPT(small_config()), CharTokenizer(LETTERS))
    with pytest.raises(TrainingDiverged, match=r"Fine-tuning diverged: step \d+ of 20 .*lower lr \(now 1e\+06\)"):
        finetune(clf, EXAMPLES, EXAMPLES, steps=20, batch_size=2, lr=1e6, warmup=0.0, grad_clip=None,
                 progress=False)


# ---------------------------------------------------------------- setup, GPTEDU_THREADS, GPTEDU_DEVICE (item 6)
@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads, pattern", [
    (0, "threads=0 must be a positive integer"),
    (-2, "threads=-2 must be a positive integer"),
    (1.5, "threads=1.5"),
    ("2", "threads='2'"),
])
def test_setup_refuses_bad_thread_counts(restore_threads, threads, pattern):
    with pytest.raises(ValueError, match=pattern):
        setup(threads=threads)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5"])
def test_bad_gptedu_threads_names_the_variable(restore_threads, monkeypatch, value):
    monkeypatch.setenv("GPTEDU_THREADS", value)
    with pytest.raises(ValueError, match=f"GPTEDU_THREADS='{value}' must be a positive integer"):
        setup()


def test_bad_gptedu_threads_stops_the_command_line(monkeypatch, tmp_path):
    monkeypatch.setenv("GPTEDU_THREADS", "zero")
    with pytest.raises(ValueError, match="GPTEDU_THREADS='zero' must be a positive integer"):
        main(["--out", str(tmp_path), "--no-progress"])


def test_setup_refuses_a_bad_seed(restore_threads):
    with pytest.raises(ValueError, match="seed=-1 must be an integer >= 0"):
        setup(seed=-1, threads=1)


@pytest.mark.parametrize("prefer, env, pattern", [
    ("tpu", None, "device='tpu'.*cuda, mps, cpu"),
    (None, "gpu", "GPTEDU_DEVICE='gpu'.*cuda, mps, cpu"),
    ("cuda:x", None, "device='cuda:x'"),
    (3, None, "device=3 must be a device name"),
])
def test_unknown_devices_name_the_source_and_the_choices(monkeypatch, prefer, env, pattern):
    if env is None:
        monkeypatch.delenv("GPTEDU_DEVICE", raising=False)
    else:
        monkeypatch.setenv("GPTEDU_DEVICE", env)
    with pytest.raises(ValueError, match=pattern):
        pick_device(prefer)


def test_pick_device_takes_a_torch_device():
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
