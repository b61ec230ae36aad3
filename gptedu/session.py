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
from dataclasses import dataclass

import numpy as np
import torch

from .device import pick_device

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
    seed: int
    threads: int
    device: torch.device

    def __repr__(self) -> str:
        return (f"gptedu ready: torch {torch.__version__.split('+')[0]}, device {self.device.type}, "
                f"{self.threads} thread{'s' if self.threads != 1 else ''}, seed {self.seed}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(seed: int = 0, threads: int | None = None, device: str | None = None) -> Session:
    """Seed, fix the thread count, quiet the noise, style the plots; returns what was set."""
    threads = threads or int(os.environ.get("GPTEDU_THREADS", "1"))
    torch.set_num_threads(threads)
    seed_everything(seed)
    for action, message in QUIET:
        warnings.filterwarnings(action, message=message)
    import matplotlib

    matplotlib.rcParams.update(PLOT_STYLE)
    return Session(seed=seed, threads=threads, device=pick_device(device))
