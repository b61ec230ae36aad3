"""Pick where tensors live: CUDA, then Apple's MPS, then the CPU.

Override with an argument (`pick_device("cpu")`) or the environment variable
GPTEDU_DEVICE=cpu|cuda|mps. MPS caveats: some ops fall back to the CPU, and
results differ from the CPU's in the last bits, so the committed notebook
outputs (made on the CPU) will not match exactly there.
"""
from __future__ import annotations

import os

import torch

CHOICES = ("cuda", "mps", "cpu")


def _available(name: str) -> bool:
    if name == "cuda":
        return torch.cuda.is_available()
    if name == "mps":
        backend = getattr(torch.backends, "mps", None)
        return bool(backend and backend.is_available())
    return name == "cpu"


def pick_device(prefer: str | None = None) -> torch.device:
    """The device to use: `prefer`, else $GPTEDU_DEVICE, else the first available of cuda, mps, cpu."""
    choice = prefer or os.environ.get("GPTEDU_DEVICE") or None
    if choice is None:
        return torch.device(next(name for name in CHOICES if _available(name)))
    kind = choice.split(":")[0]
    if kind not in CHOICES:
        raise ValueError(f"Unknown device {choice!r}: choose one of {', '.join(CHOICES)} "
                         f"(or unset GPTEDU_DEVICE to pick automatically).")
    if not _available(kind):
        found = ", ".join(name for name in CHOICES if _available(name))
        raise RuntimeError(f"Device {choice!r} is not available on this machine; available: {found}. "
                           f"Pass one of those, or unset GPTEDU_DEVICE to pick automatically.")
    return torch.device(choice)


def describe_device(device: torch.device | None = None) -> str:
    """One line for a notebook: which device, and what it is."""
    device = device or pick_device()
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "mps: Apple GPU (results may differ from the CPU in the last bits)"
    return f"cpu: {torch.get_num_threads()} torch thread(s)"
