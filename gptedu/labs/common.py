"""What every lab shares: checks on the arguments an app is built with, and how a figure gets into a widget.

An app built with nonsense arguments says so at once, naming the argument, instead of failing
later inside a widget callback. (Inside the apps, errors show in red in the status.)
"""
from __future__ import annotations

import base64
import io
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..checks import is_int, require_int

FONT_PX = 20  # text in the apps: readable from the back of a classroom
ERROR_COLOUR = "#b00020"  # an error in an app's status
MAX_SEED = 10**6  # every lab's seed box: 0 to this


# An app built with nonsense arguments says so at once, naming the argument, instead of failing
# later inside a widget callback. (Inside the apps, errors show in red in the status.)
def check_tokenizer(tokenizer: Any, name: str = "tokenizer") -> None:
    """A tokenizer is anything with encode(text) -> ids and decode(ids) -> text: ours, or a tiktoken Encoding."""
    if isinstance(tokenizer, (str, bytes)) or not all(callable(getattr(tokenizer, method, None))
                                                      for method in ("encode", "decode")):
        raise TypeError(f"{name} must be a tokenizer (with encode and decode methods), e.g. "
                        f"gptedu.tokenizers.gpt2_encoding() or CharTokenizer.from_text(text); "
                        f"got {type(tokenizer).__name__} {_short(tokenizer)}.")


def check_model(model: Any, name: str = "model") -> None:
    """A model for the apps: one of our GPTs (a config with n_layer, n_head, block_size, and parameters)."""
    config = getattr(model, "config", None)
    if not all(hasattr(config, field) for field in ("n_layer", "n_head", "block_size")) or \
            not callable(getattr(model, "parameters", None)):
        raise TypeError(f"{name} must be a gptedu GPT (e.g. GPT(config) or load_shipped()[0]); "
                        f"got {type(model).__name__} {_short(model)}.")


def check_positive_int(value: Any, name: str) -> None:
    """A whole number >= 1 (a bool is not one), or a ValueError naming the argument (gptedu.checks words
    it for the package's own arguments; a lab says "whole number")."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive whole number.")


def check_seed(seed: Any) -> int:
    """A seed the labs' seed boxes can show: a whole number from 0 to MAX_SEED, or a ValueError that gives the
    range (a BoundedIntText would silently move it to the nearest end)."""
    return require_int("seed", seed, 0, maximum=MAX_SEED, hint=" (the lab's seed box)")


def check_str(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str; got {type(value).__name__} {_short(value)}.")


def _short(value: Any, width: int = 60) -> str:
    """repr(value), cut to `width` characters for an error message."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 4] + " ..."



def figure_png(fig: Figure, dpi: float | None = None) -> bytes:
    """The figure as PNG bytes (at the figure's own dpi unless given)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or fig.dpi)
    return buffer.getvalue()


def show_figure(output: widgets.Output, fig: Figure, label: str) -> None:
    """Put a figure into an Output widget as a PNG.

    Setting `output.outputs` directly (rather than drawing inside `with output:`) keeps the
    picture in the widget under every runner: without a browser (nbval), output captured
    by `with output:` would leak into the cell's own outputs.
    """
    png = base64.b64encode(figure_png(fig)).decode("ascii")
    output.outputs = ({"output_type": "display_data", "metadata": {},
                       "data": {"image/png": png, "text/plain": label}},)

