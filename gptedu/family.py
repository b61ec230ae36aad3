"""The course's model family: five GPT-2/3-style sizes trained alike, as GPT-3 trained eight.

GPT-3 read its headline plots (Fig. 1.2 in-context learning vs K and size, Fig. 3.1 loss vs
compute) off one family trained the same way. This module defines ours at laptop scale:

    SIZES     five pre-LN character models, 13k to 1.4M non-embedding parameters (> 2 decades),
              shaped like GPT-3 Table 2.1: a fixed head size (16), depth and width growing
              together, a learning rate that falls with size (Table 2.1's trend)
    RECIPE    what every size shares: the corpus (gptedu.subtask_corpus), the same token
              budget, batch, context 256, AdamW, warmup + cosine, weight decay, seed

    >>> model, tokenizer = load_family("113k")     # a shipped member, checked like any checkpoint
    >>> train_size(SIZES["13k"], RECIPE, "runs/family")   # how gptedu.experiments.train_family makes one

Shipped members live in data/family/: `<name>.pt` (fp16 weights in gptedu's self-verifying
checkpoint format; loading upcasts to fp32), `<name>.json` (the training log: tokens, compute,
losses at log-spaced points) and `manifest.json` (each checkpoint's sha256, checked before loading).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from .checkpoints import CheckpointError, load_checkpoint, model_from, save_checkpoint
from .checks import check_output_folder, require_bool
from .device import pick_device
from .config import GPTConfig
from .data import HELD_OUT_PLAYS, load_shakespeare
from .model import GPT
from .rule_tasks import RuleCorpus, RuleStreamConfig
from .subtask_corpus import CorpusConfig, SubtaskCorpus, family_tokenizer
from .tokenizers import CharTokenizer

FAMILY_DIR = Path(os.environ.get("GPTEDU_FAMILY", Path(__file__).resolve().parents[1] / "data" / "family"))
HEAD_SIZE = 16
BLOCK_SIZE = 256  # K = 8 lines of the longest task (random insertion, 7-letter words); K = 16 mapping lines


@dataclass(frozen=True)
class FamilySize:
    """One member: its shape and peak learning rate (GPT-3 Table 2.1's columns)."""
    name: str
    n_layer: int
    n_embd: int
    learning_rate: float

    @property
    def n_head(self) -> int:
        return self.n_embd // HEAD_SIZE


def _lr(n_params: float) -> float:
    """Table 2.1's trend, smaller models higher: 3e-3 * (N / 113k) ** -0.2, two significant digits
    (3e-3 for 113k: the probe that first showed copying, data/results/family_probe.json "p4")."""
    return float(f"{3e-3 * (n_params / 113_184) ** -0.2:.2g}")


# name: (n_layer, n_embd); names are the non-embedding parameter counts, rounded
_SHAPES = {"13k": (1, 32, 12_768), "38k": (3, 32, 38_176), "113k": (4, 48, 113_184),
           "389k": (5, 80, 389_360), "1.4m": (7, 128, 1_388_160)}
SIZES: dict[str, FamilySize] = {name: FamilySize(name, L, d, _lr(n)) for name, (L, d, n) in _SHAPES.items()}


@dataclass(frozen=True)
class Recipe:
    """The training recipe every size shares (GPT-3: the same data and token budget for all)."""
    tokens: int = 8_000_000  # the token budget D, the same for every size
    batch_size: int = 8  # sequences per step: 8 x 256 = 2,048 tokens (3,906 steps: copying appears
    #                      after ~2,500 of them for 113k; batch 16 gave half the steps and too few)
    block_size: int = BLOCK_SIZE
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.1  # cosine decays to 10% of the peak (as GPT-3)
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    seed: int = 1337
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    corpus_seed: int = 0
    rules: RuleStreamConfig | None = None  # v2: gptedu.rule_tasks' stream instead of `corpus`
    log_points: int = 32  # loss estimates at log-spaced steps (plus step 0)
    eval_iters: int = 6  # batches per split in each loss estimate

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.block_size

    @property
    def steps(self) -> int:
        return max(1, round(self.tokens / self.tokens_per_step))


RECIPE = Recipe()

# ---------------------------------------------------------------- the second family (issue 26)
# v1 (above) trained on six fixed tasks, so its "in-context learning" is task recognition and
# copying. v2 trains on the rule stream: every rule episode draws a fresh parameter and its query
# word is never among its examples, so the answer has to be inferred. Context 512 (K = 16 lines of
# every task fit); the recipe is pilot r2's (data/results/rule_pilot.json), which passed the gate.
FAMILY_V2_DIR = Path(os.environ.get("GPTEDU_FAMILY_V2",
                                    Path(__file__).resolve().parents[1] / "data" / "family_v2"))
_SHAPES_V2 = {"6.6k": (2, 16, 6_592), "25k": (2, 32, 25_472), "85k": (3, 48, 84_912),
              "312k": (4, 80, 311_520), "793k": (4, 128, 793_344)}
SIZES_V2: dict[str, FamilySize] = {name: FamilySize(name, L, d, _lr(n)) for name, (L, d, n) in _SHAPES_V2.items()}
RECIPE_V2 = Recipe(block_size=512, log_points=24, eval_iters=4,
                   rules=RuleStreamConfig(rule_fraction=0.8, word_task_fraction=0.1))
FAMILIES = {"v1": (SIZES, RECIPE, FAMILY_DIR), "v2": (SIZES_V2, RECIPE_V2, FAMILY_V2_DIR)}
ALL_SIZES = {**SIZES, **SIZES_V2}


def config_for(size: FamilySize, recipe: Recipe = RECIPE) -> GPTConfig:
    """The GPTConfig of a size: pre-LN GPT-2/3 blocks, 1/sqrt(2N) residual init, tied embeddings."""
    return GPTConfig(vocab_size=family_tokenizer().vocab_size, block_size=recipe.block_size,
                     n_layer=size.n_layer, n_head=size.n_head, n_embd=size.n_embd,
                     norm="pre", residual_scale_init=True, gelu="tanh", dropout=0.0)


def log_spaced_steps(total: int, points: int) -> list[int]:
    """0 and about `points` distinct steps spaced evenly in log(step) up to total (always included)."""
    steps = {0, total}
    for i in range(points):
        steps.add(max(1, round(total ** (i / max(1, points - 1)))))
    return sorted(s for s in steps if s <= total)


def compute(config: GPTConfig, tokens: int) -> dict[str, float]:
    """Training compute in FLOPs (Kaplan et al. 2020): C = 6 N D plus the attention term
    6 n_layer n_ctx d_model D (the QK^T and AV products, which 6ND leaves out)."""
    n = GPT_nonembedding(config)
    attention = 6 * config.n_layer * config.block_size * config.n_embd * tokens
    return {"C_6ND": 6.0 * n * tokens, "C_attention": float(attention), "C_total": 6.0 * n * tokens + attention}


def GPT_nonembedding(config: GPTConfig) -> int:  # noqa: N802 (reads as N)
    from .model import count_params
    return count_params(config, non_embedding=True)


def encode(text: str) -> torch.Tensor:
    return torch.tensor(family_tokenizer().encode(text), dtype=torch.long)


def validation_tokens() -> torch.Tensor:
    """The held-out plays, encoded: the family's validation loss is measured on them."""
    return encode(load_shakespeare(list(HELD_OUT_PLAYS)))


def training_tokens(recipe: Recipe = RECIPE, n_chars: int | None = None) -> torch.Tensor:
    """The generated training stream (the corpus seeded with recipe.corpus_seed), encoded.

    Its length is the token budget (training samples random windows of it, as Trainer does);
    at least 1M characters so that a short run still draws from many episodes.
    """
    n = n_chars if n_chars is not None else max(recipe.tokens, 1_000_000)
    if recipe.rules is not None:
        return encode(RuleCorpus(recipe.corpus_seed, recipe.rules).stream(n))
    return encode(SubtaskCorpus(recipe.corpus_seed, recipe.corpus).stream(n))


def train_size(size: FamilySize, recipe: Recipe, out_dir: str | Path, *, progress: bool = True,
               device: str | None = None, train_data: torch.Tensor | None = None,
               val_data: torch.Tensor | None = None,
               on_point: Callable[[dict, GPT], None] | None = None, state_dir: str | Path | None = None) -> dict:
    """Train one size (resumable), write out_dir/<name>.pt (fp16 weights) and <name>.json (the log).

    The run stops at log-spaced steps to estimate the train and validation losses; the
    training state is saved at each (state_dir/<name>.state.pt), so a killed run resumes from
    the last point with the same batches (state_dir, default out_dir: the full training state,
    optimizer included, is not shipped). on_point(record, model) is called at each point (a probe
    of the model while it trains). Returns the log.
    """
    from .train import TrainConfig, Trainer

    # Both folders are made and test-written before the first step: the weights go to out_dir only at the
    # end, so an out_dir that cannot be written would otherwise lose the whole run.
    out_dir = check_output_folder(out_dir, "out_dir")
    state_dir = check_output_folder(state_dir, "state_dir") if state_dir is not None else out_dir
    state_path = state_dir / f"{size.name}.state.pt"
    final_path, log_path = out_dir / f"{size.name}.pt", out_dir / f"{size.name}.json"
    config = config_for(size, recipe)
    total = recipe.steps
    train_data = training_tokens(recipe) if train_data is None else train_data
    val_data = validation_tokens() if val_data is None else val_data
    torch.manual_seed(recipe.seed)
    model = GPT(config)
    cfg = TrainConfig(max_iters=0, batch_size=recipe.batch_size, learning_rate=size.learning_rate,
                      min_lr=size.learning_rate * recipe.min_lr_fraction,
                      warmup_iters=max(1, round(recipe.warmup_fraction * total)), lr_decay_iters=total,
                      weight_decay=recipe.weight_decay, betas=recipe.betas, grad_clip=recipe.grad_clip,
                      eval_interval=total + 1, eval_iters=recipe.eval_iters, checkpoint_path=state_path,
                      seed=recipe.seed, device=device, progress=False)
    trainer = Trainer(model, train_data, val_data, cfg,
                      extra={"tokenizer": {"kind": "char", "chars": family_tokenizer().chars}})
    if state_path.exists():
        trainer.load_state(state_path)
    seconds = _previous_seconds(log_path) if state_path.exists() else 0.0
    from tqdm.auto import tqdm
    bar = tqdm(total=total, initial=trainer.step, desc=size.name, unit="step", disable=not progress,
               dynamic_ncols=True)
    with bar:
        for point in log_spaced_steps(total, recipe.log_points):
            if point < trainer.step or (point == trainer.step and trainer.history
                                        and trainer.history[-1]["step"] == point):
                continue
            start = time.perf_counter()
            cfg.max_iters = point
            before = trainer.step
            trainer.fit()
            seconds += time.perf_counter() - start
            bar.update(trainer.step - before)
            rec = trainer.history[-1]
            bar.set_postfix(train=f"{rec['train_loss']:.3f}", val=f"{rec['val_loss']:.3f}", refresh=False)
            log = _log(size, recipe, config, trainer.history, seconds, trainer.device, done=False)
            _write_json(log_path, log)
            if on_point is not None:
                on_point(rec, trainer.model)
    log = _log(size, recipe, config, trainer.history, seconds, trainer.device, done=True)
    save_family_checkpoint(final_path, trainer.model, size, recipe)
    log["checkpoint_sha256"] = sha256_file(final_path)
    _write_json(log_path, log)
    return log


def _previous_seconds(log_path: Path) -> float:
    try:
        return float(json.loads(log_path.read_text())["seconds"])
    except (OSError, ValueError, KeyError):
        return 0.0


def _log(size: FamilySize, recipe: Recipe, config: GPTConfig, history: list[dict], seconds: float,
         device: torch.device, done: bool) -> dict:
    n = GPT_nonembedding(config)
    points = []
    for rec in history:
        c = compute(config, rec["tokens_seen"])
        points.append({"step": rec["step"], "tokens": rec["tokens_seen"], **c,
                       "train_loss": rec["train_loss"], "val_loss": rec["val_loss"], "lr": rec["lr"]})
    return {"name": size.name, "done": done, "n_params_nonembedding": n,
            "n_params": _count_all(config), "config": dataclasses.asdict(config),
            "size": dataclasses.asdict(size), "recipe": _plain(dataclasses.asdict(recipe)),
            "device": str(device), "torch_threads": torch.get_num_threads(), "seconds": round(seconds, 1),
            "points": points}


def _count_all(config: GPTConfig) -> int:
    from .model import count_params
    return count_params(config)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_family_checkpoint(path: str | Path, model: GPT, size: FamilySize, recipe: Recipe) -> Path:
    """The shipped form: fp16 weights (half the bytes; loading upcasts), config, tokenizer, recipe."""
    half = GPT(model.config)
    half.load_state_dict(model.state_dict())
    half = half.half()
    extra = {"tokenizer": {"kind": "char", "chars": family_tokenizer().chars}, "family": size.name,
             "size": dataclasses.asdict(size), "recipe": _plain(dataclasses.asdict(recipe))}
    return save_checkpoint(path, half, extra=extra)


# ---------------------------------------------------------------- loading
def manifest(folder: str | Path | None = None, *, missing_ok: bool = False) -> dict:
    """data/family/manifest.json: {name: {"file", "sha256", ...}} for every shipped member.

    A folder that does not exist or holds no manifest.json is not a family folder: CheckpointError,
    unless missing_ok=True (a folder a training run is about to fill), which gives {}. A damaged
    manifest always raises, naming the file and what is wrong with it.
    """
    missing_ok = require_bool("missing_ok", missing_ok)
    folder = _family_folder(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        if missing_ok and not path.exists() and (folder.is_dir() or not folder.exists()):
            return {}
        what = ("does not exist" if not folder.exists() else "is a file, not a folder" if not folder.is_dir()
                else "holds no manifest.json")
        raise CheckpointError(f"folder={str(folder)!r} {what}: it is not a family folder. The shipped family is "
                              f"in {FAMILY_DIR} (leave folder=None to use it); "
                              f"`python -m gptedu.experiments.train_family --out FOLDER` makes a new one.")
    fix = f"Restore it with `git checkout -- {path}` (the shipped one) or retrain the family into a new folder."
    try:
        shipped = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path} is damaged: it is not valid JSON ({error}). {fix}") from None
    if not isinstance(shipped, dict):
        raise CheckpointError(f"{path} is damaged: it holds a {type(shipped).__name__}, not a dict "
                              f"{{member name: {{'file', 'sha256', ...}}}}. {fix}")
    for name, entry in shipped.items():
        file, digest = (entry.get("file"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)
        if not (isinstance(file, str) and file and Path(file).name == file):
            raise CheckpointError(f"{path} is damaged: the entry {name!r} has no 'file' (a file name in "
                                  f"{folder}). {fix}")
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise CheckpointError(f"{path} is damaged: the entry {name!r} has no 'sha256' (64 hex digits). {fix}")
    return shipped


def _family_folder(folder: Any) -> Path:
    if folder is None or folder == "":
        return FAMILY_DIR
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a folder path (a str or Path) or None for the shipped family; "
                        f"got {type(folder).__name__}.")
    return Path(folder)


def family_members(folder: str | Path | None = None) -> list[str]:
    """Names of the shipped members, smallest first."""
    shipped = manifest(folder)
    return [name for name in ALL_SIZES if name in shipped]


def load_family(name: str, device: str | torch.device = "cpu", folder: str | Path | None = None
                ) -> tuple[GPT, CharTokenizer]:
    """A shipped family member in eval mode (fp32), with its tokenizer: `model, tok = load_family("13k")`.

    The file's sha256 is checked against data/family/manifest.json, then the checkpoint's own
    header sha256, then it is read with torch.load(weights_only=True) (gptedu.checkpoints).
    """
    if not isinstance(name, str) or name not in ALL_SIZES:
        raise ValueError(f"No family member named {name!r}; the sizes are {', '.join(SIZES)} (v1) and "
                         f"{', '.join(SIZES_V2)} (v2).")
    family = "v2" if name in SIZES_V2 else "v1"
    folder = FAMILY_V2_DIR if family == "v2" and folder in (None, "") else _family_folder(folder)
    device = pick_device(device)  # an unknown device name fails here, before anything is read
    shipped = manifest(folder)
    if name not in shipped:
        have = ", ".join(family_members(folder)) or "none yet"
        raise CheckpointError(f"Family member {name!r} is not shipped in {folder} (shipped: {have}). "
                              f"Train it with `python -m gptedu.experiments.train_family --family {family} --sizes {name}`.")
    path = folder / shipped[name]["file"]
    if not path.exists():
        raise CheckpointError(f"{path} is missing. Restore it with `git checkout -- {path}` or retrain it "
                              f"with `python -m gptedu.experiments.train_family --family {family} --sizes {name}`.")
    got = sha256_file(path)
    if got != shipped[name]["sha256"]:
        raise CheckpointError(f"{path} is not the shipped file (sha256 {got[:12]}..., manifest says "
                              f"{shipped[name]['sha256'][:12]}...): it was edited or corrupted. Restore it "
                              f"with `git checkout -- {path}` or retrain it.")
    ckpt = load_checkpoint(path)
    if ckpt.extra.get("family") != name:
        raise CheckpointError(f"{path} holds family member {ckpt.extra.get('family')!r}, not {name!r}.")
    model = model_from(ckpt).float().to(device).eval()
    return model, CharTokenizer(ckpt.extra["tokenizer"]["chars"])
