"""The training loop: AdamW, warmup + cosine learning rate, clipping, eval, checkpoints.

In a notebook:

    trainer = Trainer(model, train_data, val_data, TrainConfig(max_iters=500))
    trainer.fit()                      # progress bar with the loss; trainer.history for plots
    trainer.fit(resume_from="ckpt.pt") # or continue a saved run exactly where it stopped

From a shell, a char-level model on the shipped Shakespeare (one process, or several with DDP):

    python -m gptedu.train --preset tiny --max-iters 2000 --out runs/tiny
    torchrun --nproc_per_node 2 -m gptedu.train --preset tiny --max-iters 2000 --out runs/tiny

Determinism: a run is fixed by its seed (and the torch thread count). The trainer keeps
its own random streams, one for batches and one for dropout, and saves both in each
checkpoint, so a resumed run equals an uninterrupted one bit for bit. It never changes
the caller's global torch RNG.

One module, though long: one idea, the training loop. The config, the schedule, the DDP helpers and the
command line (python -m gptedu.train) all exist for Trainer.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import math
import numbers
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .checkpoints import check_extra, check_fits, load_checkpoint, save_checkpoint
from .checks import check_output_file, check_output_folder, require_bool, require_int, require_number
from .data import get_batch
from .device import pick_device


@dataclass
class TrainConfig:
    max_iters: int = 2000  # optimizer steps in the whole run
    batch_size: int = 12  # sequences per step (per process under DDP)
    learning_rate: float = 1e-3  # peak, reached after warmup
    min_lr: float = 1e-4  # floor of the cosine decay
    warmup_iters: int = 100
    lr_decay_iters: int | None = None  # cosine ends here; None means max_iters
    weight_decay: float = 0.1  # on >= 2-D weights only, see make_optimizer
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off
    eval_interval: int = 250  # estimate train/val loss every this many steps (and at 0 and the end)
    eval_iters: int = 20  # batches per split in each estimate
    checkpoint_path: str | Path | None = None  # saved at the end of fit, and every checkpoint_interval
    checkpoint_interval: int | None = None
    seed: int = 1337  # batches and dropout; under DDP each rank uses seed + rank
    device: str | None = None  # None: pick_device(): $GPTEDU_DEVICE, else gptedu.setup()'s device, else cuda, mps, cpu
    progress: bool = True  # tqdm progress bar

    def __post_init__(self) -> None:
        self.validate()
        decay_iters, horizon = (self.max_iters, "max_iters") if self.lr_decay_iters is None \
            else (self.lr_decay_iters, "lr_decay_iters")
        if self.warmup_iters > decay_iters:  # well defined, and handy in smoke tests, but rarely meant
            warnings.warn(f"warmup_iters={self.warmup_iters} is longer than the decay horizon "
                          f"{horizon}={decay_iters}: the learning rate never reaches learning_rate="
                          f"{self.learning_rate:g}. For a real run, warm up for ~5-10% of the steps.", stacklevel=3)

    def validate(self) -> None:
        """Check every field; raise a ValueError that names it and says what to change.

        NumPy integers become ints. Trainer.fit calls this again, so a config edited after
        it was made is checked before it trains.
        """
        for name in ("max_iters", "warmup_iters"):
            setattr(self, name, require_int(name, getattr(self, name), minimum=0))
        for name in ("batch_size", "eval_interval", "eval_iters"):
            setattr(self, name, require_int(name, getattr(self, name)))
        if self.lr_decay_iters is not None:
            self.lr_decay_iters = require_int("lr_decay_iters", self.lr_decay_iters, hint=" (or None: max_iters)")
        self.seed = require_int("seed", self.seed, minimum=None)
        require_number("learning_rate", self.learning_rate, positive=True, hint=", e.g. 1e-3")
        require_number("min_lr", self.min_lr, hint=", e.g. learning_rate / 10")
        if not self.min_lr <= self.learning_rate:
            raise ValueError(f"Need 0 <= min_lr <= learning_rate; got min_lr={self.min_lr}, "
                             f"learning_rate={self.learning_rate}.")
        require_number("weight_decay", self.weight_decay, hint=" (0 turns decay off; 0.1 is usual)")
        if self.grad_clip is not None:
            require_number("grad_clip", self.grad_clip, hint=" (0 or None turns clipping off)")
        betas = tuple(self.betas) if isinstance(self.betas, (tuple, list)) else ()
        if len(betas) != 2 or not all(isinstance(b, numbers.Real) and not isinstance(b, bool) and 0 <= b < 1
                                      for b in betas):
            raise ValueError(f"betas={self.betas!r} must be two numbers in [0, 1), e.g. (0.9, 0.95).")
        self.betas = betas
        if self.checkpoint_path is not None and not isinstance(self.checkpoint_path, (str, os.PathLike)):
            raise ValueError(f"checkpoint_path={self.checkpoint_path!r} must be a file path (a str or Path) or None.")
        if self.checkpoint_interval is not None:
            self.checkpoint_interval = require_int("checkpoint_interval", self.checkpoint_interval,
                                                   hint=" (or None: save at the end only)")
            if self.checkpoint_path is None:
                raise ValueError("checkpoint_interval needs a checkpoint_path to save to.")
        self.progress = require_bool("progress", self.progress)


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite. Training stopped there, and no checkpoint was written
    from the broken weights: the last one saved is left as it was."""


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step `step` (0-based): linear warmup, then cosine down to min_lr.

    Warmup ramps (step + 1) / (warmup_iters + 1) of the peak, as nanoGPT does, so the very
    first step already moves; the peak is reached at step == warmup_iters.
    """
    decay_iters = cfg.max_iters if cfg.lr_decay_iters is None else cfg.lr_decay_iters
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    if step >= decay_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / (decay_iters - cfg.warmup_iters)  # 0 -> 1
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (Linear weights, embeddings) only.

    Decay pulls weights towards zero; on a bias or a LayerNorm gain that only fights the
    model, so 1-D parameters go in a group with weight_decay=0 (as in nanoGPT and GPT-2).
    Group 0 decays, group 1 does not.
    """
    params = [p for p in model.parameters() if p.requires_grad]  # a tied weight appears once
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=cfg.betas)


def param_checksum(model: nn.Module) -> str:
    """sha256 of every parameter's name and bytes: equal checksums mean bit-identical weights."""
    digest = hashlib.sha256()
    for name, p in sorted(_unwrap(model).named_parameters()):
        digest.update(name.encode())
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


# ---------------------------------------------------------------- DDP
@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Dist:
    """Join the process group torchrun describes (WORLD_SIZE > 1), or do nothing in one process.

    gloo on the CPU, nccl on CUDA (where each rank takes GPU number LOCAL_RANK).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Dist()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, local_rank, world_size)


# ---------------------------------------------------------------- the trainer
Callback = Callable[["Trainer", dict], None]


class Trainer:
    """Trains a GPT on 1-D token tensors; see the module docstring.

    history: one dict per loss estimate (at step 0, every eval_interval steps, and the end):
    step (optimizer steps done), train_loss and val_loss (nats per token), lr (the rate of
    the next step), tokens_seen (on all ranks together).
    callbacks: functions f(trainer, record) called after each loss estimate (on rank 0
    only), where record is the dict just appended to trainer.history.
    extra: a dict stored in every checkpoint's `extra` (e.g. the tokenizer's vocabulary); checked
    here, not at the first save, so a value a checkpoint cannot hold fails at once (check_extra).
    """

    def __init__(self, model: nn.Module, train_data: torch.Tensor, val_data: torch.Tensor,
                 cfg: TrainConfig | None = None, callbacks: Iterable[Callback] = (), *,
                 extra: dict | None = None):
        self.cfg = cfg if cfg is not None else TrainConfig()
        self.device = pick_device(self.cfg.device)
        self.dist = init_distributed(self.device)
        if self.device.type == "cuda" and self.dist.world_size > 1:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.model = model.to(self.device)
        self.block_size = model.config.block_size
        for name, data in (("train_data", train_data), ("val_data", val_data)):
            if data.dim() != 1 or data.dtype != torch.long:
                raise ValueError(f"{name} must be a 1-D tensor of token ids (dtype long); got shape "
                                 f"{tuple(data.shape)}, dtype {data.dtype}. Use torch.tensor(ids, dtype=torch.long).")
            _check_token_range(name, data, model.config.vocab_size)
        self.train_data, self.val_data = train_data, val_data
        self.callbacks = list(callbacks)
        self.extra = check_extra(extra)  # numpy scalars become numbers; a Path, an array... raise TypeError
        self.optimizer = make_optimizer(self.model, self.cfg)
        # DDP averages gradients across ranks in backward; it also copies rank 0's weights to all.
        self.ddp_model = DistributedDataParallel(
            self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
        ) if self.dist.world_size > 1 else self.model
        self.step = 0
        self.history: list[dict] = []
        self.last_loss: float | None = None  # training loss of the latest step
        self.data_generator = torch.Generator().manual_seed(self.cfg.seed + self.dist.rank)
        # Dropout's random stream; it becomes torch's global RNG only while fit() runs.
        self._rng_state = {"torch": torch.Generator().manual_seed(self.cfg.seed + self.dist.rank).get_state()}
        self._eval_batches: dict[str, list] | None = None
        self._saved_step: int | None = None

    # ------------------------------------------------------------ public API
    @property
    def tokens_seen(self) -> int:
        return self.step * self.cfg.batch_size * self.block_size * self.dist.world_size

    def fit(self, resume_from: str | Path | None = None) -> list[dict]:
        """Train until cfg.max_iters steps are done (continuing from self.step); returns history.

        Before the first step: the config is checked again, and where checkpoints go (a bad path fails
        now, not at the first save after the run); a resume checks the whole file before it loads it.
        """
        self.cfg.validate()  # again: it may have been edited since the trainer was made
        if self.cfg.checkpoint_path is not None and self.dist.is_main:
            check_output_file(self.cfg.checkpoint_path, "checkpoint_path")
        if resume_from is not None:
            self.load_state(resume_from)
        cfg = self.cfg
        bar = tqdm(total=cfg.max_iters, initial=self.step, desc="training", unit="step",
                   disable=not (cfg.progress and self.dist.is_main), dynamic_ncols=True)
        with bar, self._own_rng():
            self._eval_if_due(bar)  # step 0 (or a resumed step not yet evaluated)
            while self.step < cfg.max_iters:
                self.last_loss = self._train_step()
                if not math.isfinite(self.last_loss):
                    raise self._diverged(f"step {self.step + 1} gave a training loss of {self.last_loss}",
                                         lr_at(self.step, cfg))
                self.step += 1
                bar.update(1)
                bar.set_postfix(self._postfix(), refresh=False)
                self._eval_if_due(bar)
                if cfg.checkpoint_interval and self.step % cfg.checkpoint_interval == 0:
                    self._checkpoint()
            if cfg.checkpoint_path is not None and self._saved_step != self.step:
                self._checkpoint()
        return self.history

    @torch.no_grad()
    def estimate_loss(self) -> dict[str, float]:
        """Mean loss over cfg.eval_iters fixed batches of each split, in eval mode.

        The batches are drawn once from a generator seeded with cfg.seed, so estimates at
        different steps (and on different ranks) are computed on the same text.
        """
        if self._eval_batches is None:
            gen = torch.Generator().manual_seed(self.cfg.seed)
            self._eval_batches = {
                split: [get_batch(data, self.cfg.batch_size, self.block_size, generator=gen)
                        for _ in range(self.cfg.eval_iters)]
                for split, data in (("train", self.train_data), ("val", self.val_data))}
        was_training = self.model.training
        self.model.eval()
        try:
            out = {}
            for split, batches in self._eval_batches.items():
                losses = [self.model(x.to(self.device), y.to(self.device))[1].item() for x, y in batches]
                out[split] = sum(losses) / len(losses)
        finally:
            self.model.train(was_training)
        return out

    def save(self, path: str | Path) -> None:
        """Checkpoint everything a resume needs (weights, optimizer, step, history, random streams).

        Under DDP every rank must call this (the ranks' random streams are gathered);
        only rank 0 writes.
        """
        streams = {"data": self.data_generator.get_state(), **self._rng_state}
        if self.dist.world_size > 1:
            gathered: list = [None] * self.dist.world_size
            dist.all_gather_object(gathered, streams)
        else:
            gathered = [streams]
        if self.dist.is_main:
            extra = {**self.extra, "history": self.history, "rng": gathered,
                     "train_config": _plain(dataclasses.asdict(self.cfg))}
            save_checkpoint(path, self.model, step=self.step, optimizer=self.optimizer, extra=extra)
        self._saved_step = self.step

    def load_state(self, path: str | Path) -> None:
        """Restore a checkpoint written by save(): the run continues exactly where it stopped.

        Everything is checked before anything is loaded: a file that cannot resume this run (another
        model shape, weights only, a different optimizer) raises and leaves the model's weights,
        the optimizer and the step as they were.
        """
        ckpt = load_checkpoint(path)
        check_fits(self.model, ckpt, path)  # refuses a checkpoint of another model shape
        if ckpt.optimizer is None or not isinstance(ckpt.extra.get("rng"), list) \
                or not isinstance(ckpt.extra.get("history"), list):
            raise ValueError(f"{path} holds weights but no training state (optimizer, random streams): "
                             f"it was not written by Trainer.save, so a run cannot resume from it. "
                             f"Load its weights with gptedu.checkpoints.load_weights_into instead. "
                             f"Nothing was loaded: the model's weights are as they were.")
        _check_optimizer_state(self.optimizer, ckpt.optimizer, path)
        self.model.load_state_dict(ckpt.model)
        self.optimizer.load_state_dict(ckpt.optimizer)
        self.step = ckpt.step
        self.history = list(ckpt.extra["history"])
        streams = ckpt.extra["rng"]
        if len(streams) != self.dist.world_size:
            warnings.warn(f"{path} was saved by {len(streams)} process(es), this run has "
                          f"{self.dist.world_size}: batches will differ from an uninterrupted run.")
        if self.dist.rank < len(streams):  # else a new rank keeps the fresh streams of its seed
            mine = streams[self.dist.rank]
            self.data_generator.set_state(mine["data"])
            self._rng_state = {k: v for k, v in mine.items() if k != "data"}

    # ------------------------------------------------------------ the steps
    def _train_step(self) -> float:
        lr = lr_at(self.step, self.cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(self.train_data, self.cfg.batch_size, self.block_size,
                         generator=self.data_generator, device=self.device)
        _, loss = self.ddp_model(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip:  # 0 or None: no clipping
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        return loss.item()

    def _checkpoint(self) -> None:
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise self._diverged(f"the weights after step {self.step} hold NaN or infinite values",
                                 lr_at(self.step - 1, self.cfg))
        self._rng_state = self._current_rng()  # inside fit, the global RNG is the trainer's stream
        self.save(self.cfg.checkpoint_path)

    def _diverged(self, what: str, lr: float) -> TrainingDiverged:
        cfg = self.cfg
        kept = f" No checkpoint was written from them ({cfg.checkpoint_path} is left as it was)." \
            if cfg.checkpoint_path is not None else ""
        return TrainingDiverged(
            f"Training diverged: {what}, at learning rate {lr:.3g}. The model's weights are "
            f"no longer usable.{kept} Start again from a fresh model with a lower learning_rate (now "
            f"{cfg.learning_rate:g}) or a longer warmup (warmup_iters, now {cfg.warmup_iters})"
            + ("." if cfg.grad_clip else ", and clip gradients: grad_clip=1.0."))

    def _eval_if_due(self, bar: tqdm) -> None:
        due = self.step % self.cfg.eval_interval == 0 or self.step == self.cfg.max_iters
        if not due or (self.history and self.history[-1]["step"] == self.step):
            return
        losses = self.estimate_loss()
        record = {"step": self.step, "train_loss": losses["train"], "val_loss": losses["val"],
                  "lr": lr_at(self.step, self.cfg), "tokens_seen": self.tokens_seen}
        self.history.append(record)
        bar.set_postfix(self._postfix(), refresh=False)
        if self.dist.is_main:
            for callback in self.callbacks:
                callback(self, record)

    def _postfix(self) -> dict[str, str]:
        postfix = {} if self.last_loss is None else {"loss": f"{self.last_loss:.4f}"}
        if self.history:
            postfix["val"] = f"{self.history[-1]['val_loss']:.4f}"
        return postfix

    # ------------------------------------------------------------ random streams
    def _current_rng(self) -> dict:
        state = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    @contextlib.contextmanager
    def _own_rng(self) -> Iterator[None]:
        """Run with the trainer's dropout stream, then give the caller's global RNG back."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self._rng_state["torch"])
            if self.device.type == "cuda":
                if "cuda" in self._rng_state:
                    torch.cuda.set_rng_state(self._rng_state["cuda"], self.device)
                else:
                    torch.cuda.manual_seed(self.cfg.seed + self.dist.rank)
            try:
                yield
            finally:
                self._rng_state = self._current_rng()


def _check_optimizer_state(optimizer: torch.optim.Optimizer, state: dict, path: str | Path) -> None:
    """Refuse optimizer state whose parameter groups do not match this run's, before anything is loaded."""
    groups = state.get("param_groups") if isinstance(state, dict) else None
    mine = [len(g["params"]) for g in optimizer.param_groups]
    theirs = [len(g.get("params", ())) for g in groups] if isinstance(groups, list) else None
    if theirs != mine:
        raise ValueError(f"{path} holds optimizer state for parameter groups of sizes {theirs}, but this run's "
                         f"optimizer has {mine}: it was saved by a differently set-up run, so this run cannot "
                         f"resume from it. Nothing was loaded: the model's weights are as they were.")


def _check_token_range(name: str, data: torch.Tensor, vocab_size: int) -> None:
    """Refuse data with ids outside [0, vocab_size) before training, not as an IndexError mid-run."""
    if data.numel() == 0:
        return
    lo, hi = (int(v) for v in torch.aminmax(data))
    if hi >= vocab_size:
        raise ValueError(f"{name} holds token id {hi}, but the model's vocab_size is {vocab_size} (ids must be in "
                         f"[0, {vocab_size})). The tokenizer and the model disagree: build the model with "
                         f"vocab_size=tokenizer.vocab_size.")
    if lo < 0:
        raise ValueError(f"{name} holds the negative token id {lo}; ids must be in [0, {vocab_size}). "
                         f"Make the data with tokenizer.encode(text): a tokenizer never gives negative ids.")


def _plain(value):
    """Config values as types torch.load(weights_only=True) accepts (paths become strings)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return str(value) if isinstance(value, Path) else value


# ---------------------------------------------------------------- command line
MODEL_FLAGS = {"block_size": int, "n_layer": int, "n_head": int, "n_embd": int, "dropout": float}
TRAIN_FLAGS = {"max_iters": int, "batch_size": int, "learning_rate": float, "min_lr": float, "warmup_iters": int,
               "lr_decay_iters": int, "weight_decay": float, "grad_clip": float, "eval_interval": int,
               "eval_iters": int, "checkpoint_interval": int, "seed": int, "device": str}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gptedu.train",
        description="Train a character-level GPT on the shipped Shakespeare. "
                    "Runs unchanged under `torchrun --nproc_per_node N -m gptedu.train ...` (DDP).")
    p.add_argument("--preset", default="tiny", help="GPTConfig preset (default: tiny)")
    p.add_argument("--out", required=True, help="output folder; the checkpoint is OUT/ckpt.pt")
    p.add_argument("--plays", nargs="+", default=None,
                   help="works to train on, split by --val-fraction (default: gptedu.data.pretraining_plays(), "
                        "validated on the held-out plays)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="with --plays: the share kept for validation")
    for name, kind in MODEL_FLAGS.items():
        p.add_argument(_flag(name), type=kind, default=None, help="override the preset")
    defaults = TrainConfig()
    for name, kind in TRAIN_FLAGS.items():
        p.add_argument(_flag(name), type=kind, default=getattr(defaults, name), help=f"default: {getattr(defaults, name)}")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt if it exists")
    return p


def main(argv: list[str] | None = None) -> Trainer:
    from .config import GPTConfig
    from .data import HELD_OUT_PLAYS, load_shakespeare, pretraining_plays, train_val_split
    from .model import GPT
    from .session import threads_from_env
    from .tokenizers import CharTokenizer

    args = build_parser().parse_args(argv)
    threads = threads_from_env(default=None)  # a bad value stops here, saying what it should be
    if threads is not None:
        torch.set_num_threads(threads)
    out = check_output_folder(args.out, "--out")  # before the data is read and step 0: not at the final save
    ckpt_path = check_output_file(out / "ckpt.pt", "--out")

    if args.plays:  # the chosen works, the last val_fraction for validation
        train_text = load_shakespeare(args.plays)
        tokenizer = CharTokenizer.from_text(train_text)
        train_data, val_data = train_val_split(_encode(tokenizer, train_text), args.val_fraction)
    else:  # pretraining works; validation on plays pretraining never sees
        train_text, val_text = load_shakespeare(pretraining_plays()), load_shakespeare(list(HELD_OUT_PLAYS))
        tokenizer = CharTokenizer.from_text(train_text + val_text)
        train_data, val_data = _encode(tokenizer, train_text), _encode(tokenizer, val_text)

    overrides = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k) is not None}
    config = GPTConfig.from_preset(args.preset, **{**overrides, "vocab_size": tokenizer.vocab_size})
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = GPT(config)

    cfg = TrainConfig(**{k: getattr(args, k) for k in TRAIN_FLAGS},
                      checkpoint_path=ckpt_path, progress=not args.no_progress)
    # CharTokenizer(ckpt.extra["tokenizer"]["chars"]) rebuilds the tokenizer from the checkpoint.
    trainer = Trainer(model, train_data, val_data, cfg, callbacks=[print_losses],
                      extra={"tokenizer": {"kind": "char", "chars": tokenizer.chars}, "plays": args.plays})
    rank = trainer.dist
    tag = f"[rank {rank.rank}/{rank.world_size}]"
    if rank.is_main:
        print(f"{tag} {len(train_data):,} training + {len(val_data):,} validation characters, vocab {tokenizer.vocab_size}, "
              f"{sum(p.numel() for p in model.parameters()):,} parameters, device {trainer.device}", flush=True)
    print(f"{tag} initial params sha256 {param_checksum(trainer.model)}", flush=True)
    resume = ckpt_path if args.resume and ckpt_path.exists() else None
    trainer.fit(resume_from=resume)
    print(f"{tag} final params sha256 {param_checksum(trainer.model)}", flush=True)
    if rank.is_main:
        print(f"{tag} saved {ckpt_path}", flush=True)
    if rank.world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return trainer


def _encode(tokenizer, text: str) -> torch.Tensor:
    return torch.tensor(tokenizer.encode(text), dtype=torch.long)


def print_losses(trainer: Trainer, record: dict) -> None:
    """A callback: one line per loss estimate (tqdm.write keeps the progress bar intact)."""
    tqdm.write(f"step {record['step']:>6}: train {record['train_loss']:.4f}, val {record['val_loss']:.4f}, "
               f"lr {record['lr']:.2e}", file=sys.stdout)


if __name__ == "__main__":
    main()
