"""The one call every notebook's first cell makes: `gptedu.setup()`.

It makes a notebook's run repeatable and its output clean:
- seeds Python, NumPy and torch;
- fixes torch's thread count (GPTEDU_THREADS, default 1). Same thread count
  => bit-identical results on a CPU; 1 vs 2 threads differ in the last bits, and
  the committed notebook outputs were made with 1 (the test command uses 1 too);
- silences warnings that would land in stderr and fail nbval without teaching anything;
- sets a plot style readable on a laptop and on a projector.
"""
from __future__ import annotations

import os
import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from .config import require_int
from .device import available_device, pick_device, set_session_device

# Warnings that are noise for a learner: tqdm.auto falls back to a text bar, with this
# warning, in frontends that cannot show widgets.
QUIET = [
    ("ignore", r".*IProgress not found.*"),
]

PLOT_STYLE = {
    "figure.figsize": (7.0, 3.6),
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 11,
    "axes.titlesize": 12,
    "legend.frameon": False,
}


@dataclass(frozen=True)
class Session:
    """What setup() fixed. `device` is where the chapters compute: the CPU, unless asked otherwise.

    The chapters' training cells run on the CPU so that a learner's outputs match the committed
    ones (a GPU gives other last bits, and these models are small): setup() makes its device the
    default of `gptedu.device.pick_device()`, which the Trainer and the loaders use when given none.
    `accelerator` names a GPU that was found but is not used unless asked (`setup(device="cuda")` or
    GPTEDU_DEVICE=cuda: then the package's defaults use it; the chapters' own cells are written for
    the CPU and are not tested on a GPU).
    """
    seed: int
    threads: int
    device: torch.device
    accelerator: str | None = None

    def __repr__(self) -> str:
        unused = (f" ({self.accelerator} found, not used: the chapters compute on the CPU so that your outputs "
                  f"match the committed ones)" if self.accelerator and self.device.type == "cpu" else "")
        return (f"gptedu ready: torch {torch.__version__.split('+')[0]}, device {self.device.type}{unused}, "
                f"{self.threads} thread{'s' if self.threads != 1 else ''}, seed {self.seed}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def threads_from_env(default: int | None = 1) -> int | None:
    """$GPTEDU_THREADS as a positive int; `default` when it is unset or empty."""
    raw = os.environ.get("GPTEDU_THREADS", "").strip()
    if not raw:
        return default
    if not (raw.isdigit() and int(raw) > 0):
        raise ValueError(f"GPTEDU_THREADS={raw!r} must be a positive integer, the number of torch threads "
                         f"(e.g. GPTEDU_THREADS=1, the course's setting), or unset.")
    return int(raw)


def setup(seed: int = 0, threads: int | None = None, device: str | None = None) -> Session:
    """Seed, fix the thread count, quiet the noise, style the plots; returns what was set.

    threads: torch's thread count; None means $GPTEDU_THREADS, or 1.
    device: where the chapters compute; None means the CPU (or $GPTEDU_DEVICE when set), even when a
    GPU is present: the committed outputs were made on a CPU. The session names a GPU it found.
    """
    if threads is None:
        threads = threads_from_env()
    else:
        threads = require_int("threads", threads, hint=" (or None: $GPTEDU_THREADS, else 1)")
    seed = require_int("seed", seed, minimum=0)
    if seed >= 2**32:  # NumPy's limit
        raise ValueError(f"seed={seed} must be below 2**32 (NumPy's limit), e.g. seed=0.")
    found = available_device()  # what the machine offers
    device = pick_device(device) if device is not None else (
        pick_device(os.environ["GPTEDU_DEVICE"]) if os.environ.get("GPTEDU_DEVICE") else torch.device("cpu"))
    accelerator = found.type if found.type != "cpu" else None
    set_session_device(device)  # the Trainer, checkpoint and family loaders compute here unless told otherwise
    torch.set_num_threads(threads)
    seed_everything(seed)
    for action, message in QUIET:
        warnings.filterwarnings(action, message=message)
    import matplotlib

    matplotlib.rcParams.update(PLOT_STYLE)
    return Session(seed=seed, threads=threads, device=device, accelerator=accelerator)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block on n torch threads, then put the previous count back (a benchmark's --threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
