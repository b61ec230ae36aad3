"""Pick where tensors live: CUDA, then Apple's MPS, then the CPU.

Override with an argument (`pick_device("cpu")`) or the environment variable
GPTEDU_DEVICE=cpu|cuda|mps. After `gptedu.setup()` (every chapter's first cell), the device
it chose (the CPU unless asked otherwise) is what `pick_device()` returns when nothing else is
asked, so the package's defaults (the Trainer, checkpoint and family loaders) compute where the
session says. MPS caveats: some ops fall back to the CPU, and results differ from the CPU's in the
last bits, so the committed notebook outputs (made on the CPU) will not match exactly there.
"""
from __future__ import annotations

import os

import torch

CHOICES = ("cuda", "mps", "cpu")

_session_device: torch.device | None = None  # set by gptedu.setup(); None before any setup


def set_session_device(device: torch.device | None) -> None:
    """Where pick_device() points when neither an argument nor $GPTEDU_DEVICE says (gptedu.setup() sets it)."""
    global _session_device
    _session_device = device


def _available(name: str) -> bool:
    if name == "cuda":
        return torch.cuda.is_available()
    if name == "mps":
        backend = getattr(torch.backends, "mps", None)
        return bool(backend and backend.is_available())
    return name == "cpu"


def available_device() -> torch.device:
    """The first available of cuda, mps, cpu: what this machine offers, whatever was asked."""
    return torch.device(next(name for name in CHOICES if _available(name)))


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to use: `prefer`, else $GPTEDU_DEVICE, else gptedu.setup()'s device, else the first
    available of cuda, mps, cpu."""
    if isinstance(prefer, torch.device):
        prefer = str(prefer)
    if prefer is not None and not isinstance(prefer, str):
        raise ValueError(f"device={prefer!r} must be a device name, one of {', '.join(CHOICES)} "
                         f"(e.g. 'cuda:1' for a second GPU), or None to pick automatically.")
    source = f"device={prefer!r}" if prefer else f"GPTEDU_DEVICE={os.environ.get('GPTEDU_DEVICE')!r}"
    choice = prefer or os.environ.get("GPTEDU_DEVICE") or None
    if choice is None:
        return _session_device if _session_device is not None else available_device()
    kind, _, index = choice.partition(":")
    if kind not in CHOICES or (index and not index.isdigit()):
        raise ValueError(f"Unknown device: {source}. Choose one of {', '.join(CHOICES)}, optionally with "
                         f"a number such as 'cuda:1' (or unset GPTEDU_DEVICE to pick automatically).")
    if not _available(kind):
        found = ", ".join(name for name in CHOICES if _available(name))
        raise RuntimeError(f"{source} is not available on this machine; available: {found}. "
                           f"Pass one of those, or unset GPTEDU_DEVICE to pick automatically.")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise RuntimeError(f"{source} does not exist: this machine has "
                           f"{torch.cuda.device_count()} GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}.")
    return torch.device(choice)


def describe_device(device: torch.device | None = None) -> str:
    """One line for a notebook: which device, and what it is."""
    device = device or pick_device()
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "mps: Apple GPU (results may differ from the CPU in the last bits)"
    return f"cpu: {torch.get_num_threads()} torch thread(s)"
