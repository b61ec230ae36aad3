"""Save and load models safely: config + weights in one file, its sha256 beside it.

A checkpoint `run.pt` is a plain dict of tensors and Python values, written
atomically (a crash mid-save never destroys the previous file) and read back
with `torch.load(weights_only=True)`, which cannot run code hidden in a file.
`run.pt.sha256` holds its hash in `sha256sum` format, so corruption is caught
before anything is unpickled.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .data import sha256_file

FORMAT = "gptedu-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted, or does not fit the model it is loaded into."""


@dataclass
class Checkpoint:
    config: Any  # GPTConfig
    model: dict[str, torch.Tensor]
    step: int = 0
    optimizer: dict | None = None
    extra: dict = field(default_factory=dict)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_checkpoint(path: str | Path, model: torch.nn.Module, *, step: int = 0,
                    optimizer: torch.optim.Optimizer | None = None, extra: dict | None = None) -> Path:
    """Write model.config + weights (+ optimizer state, step, extra info) to `path`, and its sha256 beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT,
        "config": dataclasses.asdict(model.config),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "step": int(step),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": dict(extra or {}),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        digest = sha256_file(Path(tmp))
        os.replace(tmp, path)  # atomic: the old file stays intact until the new one is complete
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _sidecar(path).write_text(f"{digest}  {path.name}\n")
    return path


def load_checkpoint(path: str | Path, *, verify: bool = True) -> Checkpoint:
    """Read a checkpoint written by save_checkpoint, checking its sha256 and structure first."""
    from .config import GPTConfig

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}. Check the path, or train one first "
                              f"(the notebook's RETRAIN flag or the script named in data/README.md).")
    if verify:
        sidecar = _sidecar(path)
        if not sidecar.exists():
            raise CheckpointError(f"{sidecar.name} is missing next to {path}, so the file cannot be verified. "
                                  f"Restore both files, or pass verify=False if you trust this file.")
        expected = sidecar.read_text().split()[0]
        if sha256_file(path) != expected:
            raise CheckpointError(f"{path} is corrupted or was changed after saving (its sha256 differs from "
                                  f"{sidecar.name}). Restore it (`git checkout -- {path}` for a shipped one) "
                                  f"or retrain it.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file; say what it is, not where torch failed
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: "
                              f"{str(err).splitlines()[0][:200]}). Restore or retrain it.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gptedu checkpoint (expected format {FORMAT!r}). "
                              f"For Hugging Face GPT-2 weights use GPT.from_pretrained(path).")
    known = {f.name for f in dataclasses.fields(GPTConfig)}
    unknown = set(state["config"]) - known
    if unknown:
        raise CheckpointError(f"{path} was saved with config fields this gptedu does not know: "
                              f"{sorted(unknown)}. It was made by a different version of the course.")
    return Checkpoint(config=GPTConfig(**state["config"]), model=state["model"], step=state["step"],
                      optimizer=state["optimizer"], extra=state["extra"])


def load_model(path: str | Path, device: str | torch.device = "cpu"):
    """A GPT built from a checkpoint's config, with its weights, in eval mode."""
    return model_from(load_checkpoint(path)).to(device).eval()


SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "checkpoints"


def load_shipped(name: str = "gpt1-char", device: str | torch.device = "cpu"):
    """A model that ships in data/checkpoints/, with its tokenizer: `model, tokenizer = load_shipped()`."""
    from .tokenizers import CharTokenizer

    path = SHIPPED_DIR / f"{name}.pt"
    if not path.exists():
        shipped = sorted(p.stem for p in SHIPPED_DIR.glob("*.pt")) if SHIPPED_DIR.exists() else []
        raise CheckpointError(f"No shipped checkpoint named {name!r}; shipped: {shipped or 'none'}. "
                              f"data/checkpoints/README.md says which script makes each one.")
    ckpt = load_checkpoint(path)
    model = model_from(ckpt).to(device).eval()
    info = ckpt.extra.get("tokenizer", {})
    if info.get("kind") != "char":
        raise CheckpointError(f"{path} does not record a character tokenizer; load it with load_model().")
    return model, CharTokenizer(info["chars"])


def model_from(ckpt: Checkpoint):
    """A GPT with a loaded checkpoint's config and weights."""
    from .model import GPT

    model = GPT(ckpt.config)
    model.load_state_dict(ckpt.model)
    return model


def load_weights_into(model: torch.nn.Module, path: str | Path) -> Checkpoint:
    """Load a checkpoint into an existing model, refusing if its config does not match."""
    ckpt = load_checkpoint(path)
    if ckpt.config != model.config:
        diff = {name: (getattr(ckpt.config, name), getattr(model.config, name))
                for name in dataclasses.asdict(ckpt.config)
                if getattr(ckpt.config, name) != getattr(model.config, name)}
        raise CheckpointError(f"{path} was saved from a different model: (checkpoint, this model) = {diff}. "
                              f"Build the model with load_model({str(path)!r}) instead.")
    model.load_state_dict(ckpt.model)
    return ckpt
