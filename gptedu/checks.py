"""Expected-result bands: a number the learner sees, with the range it should fall in.

    >>> expect(1.52, 1.3, 1.7, "validation loss", unit="nats/char")
    validation loss: 1.52 nats/char (expected 1.3–1.7) ✓

A value outside its band raises, so a notebook that stops teaching what it says
fails its test instead of quietly showing a wrong number.
"""
from __future__ import annotations


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
