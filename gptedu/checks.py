"""Expected-result bands: a number the learner sees, with the range it should fall in.

    >>> expect(1.52, 1.3, 1.7, "validation loss", unit="nats/char")
    validation loss: 1.52 nats/char (expected 1.3–1.7) ✓

A value outside its band raises, so a notebook that stops teaching what it says
fails its test instead of quietly showing a wrong number.

`expect_close` does the same for "these two tensors are equal": it prints the
tolerance that was met, never the gap itself, because the gap (2e-6 on one CPU,
3e-6 on another) depends on which vectorised kernels the machine's math library
picks, while the bound does not. A notebook's committed output must read the
same on every CPU.
"""
from __future__ import annotations

import torch


class OutOfBand(AssertionError):
    """A number fell outside the range the chapter promises."""


def expect(value: float, low: float, high: float, what: str, unit: str = "", digits: int = 2) -> None:
    """Print `what: value (expected low–high)` and raise OutOfBand if value is outside [low, high]."""
    unit = f" {unit}" if unit else ""
    shown = f"{what}: {value:.{digits}f}{unit} (expected {low:.{digits}f}–{high:.{digits}f})"
    if not low <= value <= high:
        raise OutOfBand(f"{shown}: outside the expected range. If you changed a setting above, that may be "
                        f"why; otherwise rerun the notebook from the top (Kernel > Restart and Run All).")
    print(shown, "✓")


def expect_close(actual, expected, atol: float, what: str) -> None:
    """Print `what: max |difference| < atol ✓`; raise OutOfBand if the shapes differ or any gap is >= atol.

    `actual` and `expected` are tensors or arrays; NaN anywhere counts as a failure.
    """
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    if actual.shape != expected.shape:
        raise OutOfBand(f"{what}: shapes differ, {tuple(actual.shape)} vs {tuple(expected.shape)}.")
    gap = (actual.double() - expected.double()).abs().max().item() if actual.numel() else 0.0
    if not gap < atol:  # `not <` so that NaN fails too
        raise OutOfBand(f"{what}: max |difference| is {gap:.2e}, not below {atol:.0e}. If you changed a setting "
                        f"above, that may be why; otherwise rerun the notebook from the top.")
    print(f"{what}: max |difference| < {atol:.0e} ✓")
