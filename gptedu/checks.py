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

The `require_*` functions check a function's arguments, in the few shapes they take everywhere
in the package (a whole number in a range, a number in a range, a probability, a real bool, one
of a few names), so every module's messages read alike: the argument's name, the value given,
and what is allowed.

    >>> require_int("n_layer", 0)
    ValueError: n_layer=0 must be a positive integer.
    >>> require_range("temperature", 0, 0.1, 2.0)
    ValueError: temperature=0 must be a number from 0.1 to 2.

`check_output_file` / `check_output_folder` check, before a run starts, that its results can be
written where they should go, so a bad path fails in a second instead of after the run.
"""
from __future__ import annotations

import difflib
import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np
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


# ---------------------------------------------------------------- argument checks
def is_int(value: Any) -> bool:
    """A whole number: int or NumPy integer, but not a bool (True is not a count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A real number (int, float, NumPy scalar), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _g(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def require_int(name: str, value: Any, minimum: int | None = 1, hint: str = "", maximum: int | None = None) -> int:
    """value as a plain int if it is a whole number >= minimum (and <= maximum; NumPy integers too;
    bools, floats and strings are refused); else a ValueError naming `name`, the value and the range.
    minimum=None: no lower bound."""
    if is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return int(value)
    if maximum is not None:
        want = (f"a whole number from {_g(minimum)} to {_g(maximum)}" if minimum is not None
                else f"a whole number <= {_g(maximum)}")
    else:
        want = ("an integer" if minimum is None else "a positive integer" if minimum == 1
                else f"an integer >= {_g(minimum)}")
    raise ValueError(f"{name}={value!r} must be {want}{hint}.")


def require_number(name: str, value: Any, *, positive: bool = False, hint: str = "") -> Any:
    """value unchanged if it is a finite real number >= 0 (> 0 with positive=True); else a ValueError
    naming `name` and the value. NaN and infinity are refused: they only turn a run into NaNs."""
    if is_real(value) and math.isfinite(value) and (value > 0 if positive else value >= 0):
        return value
    raise ValueError(f"{name}={value!r} must be a finite number {'> 0' if positive else '>= 0'}{hint}.")


def require_range(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
                  high_open: bool = False, hint: str = "") -> float:
    """value as a float if it is a real number in the range (NaN never is), else a ValueError that gives
    the range: [low, high] by default; low_open / high_open leave an end out, e.g. (0, 1]."""
    if is_real(value) and not math.isnan(value) and (low < value if low_open else low <= value) \
            and (value < high if high_open else value <= high):
        return float(value)
    if not (low_open or high_open):
        want = f"a number from {_g(low)} to {_g(high)}"
    else:
        want = f"a number in {'(' if low_open else '['}{_g(low)}, {_g(high)}{')' if high_open else ']'}"
    raise ValueError(f"{name}={value!r} must be {want}{hint}.")


def require_probability(name: str, value: Any, *, hint: str = "") -> float:
    """A probability: a number in [0, 1], or a ValueError naming the argument."""
    return require_range(name, value, 0.0, 1.0, hint=hint)


def require_bool(name: str, value: Any) -> bool:
    """value as a plain bool (NumPy bools too); a string such as "no" is refused, not read as True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name}={value!r} must be True or False.")


def require_choice(name: str, value: Any, choices: Iterable[Any], hint: str = "") -> Any:
    """value if it is one of `choices` (a str is never taken apart), else a ValueError that lists them
    and, for a near miss, suggests the closest."""
    choices = list(choices)
    try:
        if value in choices:
            return value
    except TypeError:  # an unhashable or uncomparable value is no choice
        pass
    names = [c for c in choices if isinstance(c, str)]
    close = difflib.get_close_matches(value, names, n=1) if isinstance(value, str) else []
    suggest = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}.{suggest}{hint}")


def require_str(name: str, value: Any, *, empty: bool = False) -> str:
    """value if it is a str (and not empty unless empty=True), else a TypeError or ValueError naming it."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str; got {type(value).__name__} {_short(value)}.")
    if not value and not empty:
        raise ValueError(f"{name} is empty: give at least one character.")
    return value


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 4] + " ..."


# ---------------------------------------------------------------- where results go
def check_output_folder(path: Any, name: str = "out") -> Path:
    """Make sure results can be written in folder `path` before a run starts: it is created if
    missing, and a test file is written in it and removed. Raises a ValueError naming `name` when
    something in the way is a file, or when the folder cannot be made or written; returns the Path."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{name}={path!r} must be a folder path (a non-empty str or Path).")
    path = Path(path)
    _writable_folder(path, f"{name}={str(path)!r}")
    return path


def check_output_file(path: Any, name: str = "out") -> Path:
    """Make sure a result file can be written at `path` before a run starts: it must not be a folder,
    and its folder must exist or be creatable, and be writable. An existing file is left as it is."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{name}={path!r} must be a file path (a non-empty str or Path).")
    path = Path(path)
    given = f"{name}={str(path)!r}"
    if path.is_dir():
        raise ValueError(f"{given} is a folder; give a file name inside it, e.g. "
                         f"{str(path / 'results.json')!r}. Nothing was run.")
    _writable_folder(path.parent, given)
    return path


def _writable_folder(folder: Path, given: str) -> None:
    for where in (folder, *folder.parents):  # the first one that exists must be a folder
        if where.exists() or where.is_symlink():
            if not where.is_dir():
                raise ValueError(f"{given}: {str(where)!r} is a file, not a folder, so nothing can be written "
                                 f"there. Pick another path. Nothing was run.")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gptedu-write-check-"):
            pass
    except OSError as error:
        raise ValueError(f"{given}: the folder {str(folder)!r} cannot be written ({error.strerror or error}). "
                         f"Pick a folder you can write to. Nothing was run.") from None
