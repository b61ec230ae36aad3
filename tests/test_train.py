"""The training loop: schedule, optimizer groups, learning, determinism, exact resume, checkpoints."""
import math
import os

import pytest
import torch

from gptedu.checkpoints import load_checkpoint, load_model
from gptedu.config import GPTConfig
from gptedu.model import GPT
from gptedu.tokenizers import CharTokenizer
from gptedu.train import Trainer, TrainConfig, lr_at, main, make_optimizer, param_checksum

torch.set_num_threads(int(os.environ.get("GPTEDU_THREADS", "1")))

VOCAB, BLOCK = 65, 16


def small_model(seed: int = 0, dropout: float = 0.0) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=2, n_head=2, n_embd=32, dropout=dropout))


def token_data(n: int = 2000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    data = torch.randint(0, VOCAB, (n,), generator=gen)
    return data[: n * 9 // 10], data[n * 9 // 10:]


def quick(**overrides) -> TrainConfig:
    settings = dict(max_iters=12, batch_size=4, learning_rate=3e-3, min_lr=3e-4, warmup_iters=3,
                    eval_interval=4, eval_iters=2, progress=False, device="cpu")
    return TrainConfig(**{**settings, **overrides})


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


# ---------------------------------------------------------------- schedule and optimizer
def test_lr_warms_up_linearly_peaks_then_cosines_down_to_min_lr():
    cfg = TrainConfig(max_iters=110, learning_rate=1.0, min_lr=0.1, warmup_iters=10)
    warm = [lr_at(s, cfg) for s in range(10)]
    assert warm == pytest.approx([(s + 1) / 11 for s in range(10)])  # linear, never 0
    assert lr_at(10, cfg) == pytest.approx(1.0)  # the peak, right after warmup
    assert lr_at(60, cfg) == pytest.approx(0.55)  # halfway through the cosine: (peak + min) / 2
    decay = [lr_at(s, cfg) for s in range(10, 111)]
    assert all(a > b for a, b in zip(decay, decay[1:]))  # strictly decreasing
    assert lr_at(110, cfg) == pytest.approx(0.1) and lr_at(500, cfg) == 0.1
    short = TrainConfig(max_iters=110, learning_rate=1.0, min_lr=0.1, warmup_iters=10, lr_decay_iters=60)
    assert lr_at(35, short) == pytest.approx(0.55) and lr_at(80, short) == 0.1


def test_optimizer_decays_matrices_but_not_biases_or_layernorm():
    model = small_model()
    opt = make_optimizer(model, TrainConfig(weight_decay=0.1, betas=(0.9, 0.95)))
    name_of = {id(p): n for n, p in model.named_parameters()}
    decayed = {name_of[id(p)] for p in opt.param_groups[0]["params"]}
    plain = {name_of[id(p)] for p in opt.param_groups[1]["params"]}
    assert opt.param_groups[0]["weight_decay"] == 0.1 and opt.param_groups[1]["weight_decay"] == 0.0
    assert opt.param_groups[0]["betas"] == (0.9, 0.95)
    assert {"wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.1.mlp.c_fc.weight"} <= decayed
    assert {"h.0.attn.c_attn.bias", "h.0.ln_1.weight", "h.0.ln_1.bias", "ln_f.weight"} <= plain
    assert all(p.dim() >= 2 for p in opt.param_groups[0]["params"])
    assert all(p.dim() < 2 for p in opt.param_groups[1]["params"])
    assert len(decayed) + len(plain) == len(list(model.parameters()))  # tied lm_head counted once


def test_bad_train_config_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="min_lr"):
        TrainConfig(learning_rate=1e-3, min_lr=1e-2)
    with pytest.raises(ValueError, match="checkpoint_path"):
        TrainConfig(checkpoint_interval=10)


# ---------------------------------------------------------------- the loop
def test_tiny_model_overfits_a_small_batch():
    model = small_model()
    data = torch.arange(200) % 23 * 2 % VOCAB  # a fixed repeating pattern the model can memorise
    trainer = Trainer(model, data, data, quick(max_iters=120, batch_size=8, learning_rate=1e-2,
                                               min_lr=1e-3, warmup_iters=10, eval_interval=60))
    history = trainer.fit()
    assert history[0]["train_loss"] == pytest.approx(math.log(VOCAB), abs=0.3)  # chance at the start
    assert history[-1]["train_loss"] < 0.5  # memorised


def test_history_callbacks_and_progress_bar(capsys):
    seen = []
    trainer = Trainer(small_model(), *token_data(), quick(progress=True),
                      callbacks=[lambda t, record: seen.append((t.step, record))])
    history = trainer.fit()
    assert [r["step"] for r in history] == [0, 4, 8, 12]
    assert seen == [(r["step"], r) for r in history]
    assert history[-1]["tokens_seen"] == 12 * 4 * BLOCK
    assert history[1]["lr"] == pytest.approx(lr_at(4, trainer.cfg))
    assert all(set(r) == {"step", "train_loss", "val_loss", "lr", "tokens_seen"} for r in history)
    assert "loss=" in capsys.readouterr().err  # tqdm shows the loss


def test_eval_batches_are_fixed_so_estimates_compare():
    trainer = Trainer(small_model(), *token_data(), quick())
    assert trainer.estimate_loss() == trainer.estimate_loss()


def test_same_seed_gives_bit_identical_weights_and_leaves_global_rng_alone():
    runs = []
    for _ in range(2):
        model = small_model(dropout=0.1)
        torch.manual_seed(123)
        before = torch.get_rng_state()
        Trainer(model, *token_data(), quick()).fit()
        assert torch.equal(torch.get_rng_state(), before)  # the caller's RNG is untouched
        runs.append(weights(model))
    assert_same_weights(*runs)
    other = small_model(dropout=0.1)
    Trainer(other, *token_data(), quick(seed=7)).fit()
    assert not torch.equal(weights(other)["wte.weight"], runs[0]["wte.weight"])


class Crash(Exception):
    pass


def crash_at(step: int):
    def callback(trainer, record):
        if record["step"] == step:
            raise Crash
    return callback


def test_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    full = small_model(dropout=0.1)  # dropout: the random stream must be restored too
    full_trainer = Trainer(full, *token_data(), quick())
    full_trainer.fit()

    path = tmp_path / "ckpt.pt"
    crashed = Trainer(small_model(dropout=0.1), *token_data(),
                      quick(checkpoint_path=path, checkpoint_interval=6), callbacks=[crash_at(8)])
    with pytest.raises(Crash):  # the run dies at step 8, after its checkpoint at step 6
        crashed.fit()
    assert load_checkpoint(path).step == 6
    resumed_model = small_model(seed=99, dropout=0.1)  # another init: the checkpoint must overwrite it
    resumed = Trainer(resumed_model, *token_data(), quick())
    resumed.fit(resume_from=path)

    assert resumed.step == 12
    assert_same_weights(weights(resumed_model), weights(full))
    assert resumed.history == full_trainer.history


def test_fit_again_continues_where_it_stopped():
    once = small_model(dropout=0.1)
    Trainer(once, *token_data(), quick(lr_decay_iters=12)).fit()
    twice = small_model(dropout=0.1)
    trainer = Trainer(twice, *token_data(), quick(max_iters=5, lr_decay_iters=12))
    trainer.fit()
    trainer.cfg.max_iters = 12
    trainer.fit()
    assert_same_weights(weights(twice), weights(once))


def test_periodic_checkpoints_are_written_and_loadable(tmp_path):
    path = tmp_path / "run" / "ckpt.pt"
    saved_steps = []
    trainer = Trainer(small_model(), *token_data(), quick(checkpoint_path=path, checkpoint_interval=5),
                      extra={"note": "hello"})
    trainer.save = (lambda original: lambda p: (original(p), saved_steps.append(trainer.step)))(trainer.save)
    trainer.fit()
    assert saved_steps == [5, 10, 12]
    ckpt = load_checkpoint(path)
    assert ckpt.step == 12 and ckpt.optimizer["state"]
    assert ckpt.extra["note"] == "hello" and ckpt.extra["history"] == trainer.history
    assert ckpt.extra["train_config"]["checkpoint_path"] == str(path)
    assert_same_weights(load_model(path).state_dict(), trainer.model.state_dict())


def test_resume_refuses_a_weights_only_checkpoint(tmp_path):
    from gptedu.checkpoints import save_checkpoint
    model = small_model()
    save_checkpoint(tmp_path / "w.pt", model)
    with pytest.raises(ValueError, match="no training state"):
        Trainer(model, *token_data(), quick()).fit(resume_from=tmp_path / "w.pt")


def test_command_line_trains_a_char_model_and_saves_its_vocabulary(tmp_path, capsys):
    trainer = main(["--preset", "tiny", "--n-layer", "1", "--n-embd", "32", "--n-head", "2", "--block-size", "16",
                    "--plays", "phoenix_and_the_turtle", "--max-iters", "3", "--batch-size", "2",
                    "--eval-interval", "2", "--eval-iters", "1", "--warmup-iters", "1",
                    "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert "step      2: train" in out
    assert f"final params sha256 {param_checksum(trainer.model)}" in out
    ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    tokenizer = CharTokenizer(ckpt.extra["tokenizer"]["chars"])
    assert ckpt.step == 3 and tokenizer.vocab_size == ckpt.config.vocab_size
    assert tokenizer.decode(tokenizer.encode("The Phoenix")) == "The Phoenix"
    assert ckpt.config.n_layer == 1 and ckpt.config.block_size == 16
