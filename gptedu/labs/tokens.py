"""The tokenizer playground (chapter 01): type text, pick a tokenizer, see its tokens as coloured spans.

The logic lives in pure functions (`token_spans`, `tokens_html`, `token_stats`) that the tests check
without a browser; the app only wires widgets to them and keeps what it shows on the object
(`.spans`), so a notebook cell can drive it (`app.text.value = "..."`) and assert on the numbers.

Stable CSS classes for browser tests: gptedu-text, gptedu-tokenizer-choice, gptedu-show-ids,
gptedu-stats, gptedu-tokens.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Mapping

import ipywidgets as widgets

from .common import FONT_PX, _short, check_str, check_tokenizer

# Pastel backgrounds, dark enough to see on a projector, light enough to read black text on.
PALETTE = ("#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#ffc6ff", "#fdffb6", "#a0c4ff", "#ffadad")

DEFAULT_TEXT = ("To be, or not to be, that is the question:\n"
                "Whether 'tis nobler in the mind to suffer\n"
                "The slings and arrows of outrageous fortune.")


@dataclass(frozen=True)
class TokenSpan:
    """One token of a text: its id, its bytes, and how to show it."""
    id: int
    bytes: bytes
    text: str  # the bytes as text; bytes that are only part of a character show as \\xNN


def token_bytes(tokenizer: Any, token_id: int) -> bytes:
    """The bytes one token stands for, for any of the course's tokenizers (or a tiktoken Encoding)."""
    if hasattr(tokenizer, "decode_single_token_bytes"):  # tiktoken.Encoding
        return tokenizer.decode_single_token_bytes(token_id)
    if hasattr(tokenizer, "vocab") and isinstance(tokenizer.vocab, dict):  # BPETokenizer: id -> bytes
        return tokenizer.vocab[token_id]
    return tokenizer.decode([token_id]).encode("utf-8")  # CharTokenizer and anything with decode()


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of `text`; special tokens such as <|endoftext|> typed in the text become their one id."""
    try:
        return tokenizer.encode(text, allowed_special="all")
    except TypeError:  # CharTokenizer.encode takes only the text
        return tokenizer.encode(text)


def token_spans(tokenizer: Any, text: str) -> list[TokenSpan]:
    """Cut `text` into tokens: [TokenSpan(id, bytes, text), ...]; joining the bytes gives back the text.

    A token that holds only part of a multi-byte character (GPT-2 splits many emoji this way) cannot
    be shown as a character on its own; its text shows the bytes instead, e.g. '\\xf0\\x9f\\x98'.
    Raises what the tokenizer raises, e.g. UnknownCharacterError for a character tokenizer.
    """
    spans = []
    for token_id in encode(tokenizer, text):
        raw = token_bytes(tokenizer, token_id)
        spans.append(TokenSpan(token_id, raw, raw.decode("utf-8", errors="backslashreplace")))
    return spans


def token_label(span: TokenSpan) -> str:
    """A token as a short visible label (for axis ticks): space -> '␣', newline -> '↵', tab -> '⇥'."""
    return span.text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥")


def token_stats(text: str, spans: list[TokenSpan]) -> dict[str, float]:
    """Characters, UTF-8 bytes, tokens and characters per token (0 for an empty text)."""
    n = len(spans)
    return {"characters": len(text), "bytes": len(text.encode("utf-8")), "tokens": n,
            "chars_per_token": len(text) / n if n else 0.0}


def _span_html(span: TokenSpan, index: int, show_ids: bool) -> str:
    colour = PALETTE[index % len(PALETTE)]
    shown = html.escape(span.text).replace("\n", "↵").replace("\t", "⇥")
    title = html.escape(f"token {index}: id {span.id}, bytes {span.bytes!r}", quote=True)
    style = f"background:{colour};border-radius:3px;padding:1px 0;margin:0 1px 0 0"
    if show_ids:
        cell = (f'<span class="gptedu-token" title="{title}" style="{style};display:inline-block;'
                f'text-align:center;vertical-align:top;margin:0 3px 4px 0;padding:1px 2px">{shown}<br>'
                f'<span style="font-size:{FONT_PX * 0.6:.0f}px;color:#444">{span.id}</span></span>')
    else:
        cell = f'<span class="gptedu-token" title="{title}" style="{style}">{shown}</span>'
    return cell + ("<br>" if span.text.endswith("\n") else "")


def tokens_html(tokenizer: Any, text: str, show_ids: bool = False) -> str:
    """The tokens of `text` as coloured HTML spans (id and bytes on hover; under each token if show_ids).

    If the tokenizer cannot encode the text (a character it has never seen), the HTML says why instead.
    """
    box = (f'<div style="font-family:monospace;font-size:{FONT_PX}px;line-height:1.7;'
           'white-space:pre-wrap;word-break:break-all">')
    try:
        spans = token_spans(tokenizer, text)
    except ValueError as error:
        return (box + f'<span class="gptedu-error" style="color:#b00020;font-family:sans-serif;'
                f'font-size:{FONT_PX * 0.8:.0f}px;word-break:normal">'
                + html.escape(f"{type(error).__name__}: {error}") + "</span></div>")
    return box + "".join(_span_html(s, i, show_ids) for i, s in enumerate(spans)) + "</div>"


def stats_html(stats: Mapping[str, float]) -> str:
    return (f'<div style="font-size:{FONT_PX * 0.8:.0f}px">{stats["characters"]:,} characters · '
            f'{stats["bytes"]:,} bytes · <b>{stats["tokens"]:,} tokens</b> · '
            f'{stats["chars_per_token"]:.2f} characters per token</div>')


class TokenizerPlayground(widgets.VBox):
    """Type text, choose a tokenizer, see the tokens. See `tokenizer_playground`."""

    def __init__(self, tokenizers: Mapping[str, Any], text: str = DEFAULT_TEXT, choice: str | None = None):
        if not isinstance(tokenizers, Mapping):
            raise TypeError(f"tokenizers must map names to tokenizers, e.g. {{'GPT-2': gpt2_encoding()}}; "
                            f"got {type(tokenizers).__name__} {_short(tokenizers)}.")
        if not tokenizers:
            raise ValueError("Give at least one tokenizer, e.g. {'GPT-2': gptedu.tokenizers.gpt2_encoding()}.")
        for key, tokenizer in tokenizers.items():
            check_str(key, "each name in tokenizers")
            check_tokenizer(tokenizer, f"tokenizers[{key!r}]")
        check_str(text, "text")
        self.tokenizers = dict(tokenizers)
        if choice is not None and (not isinstance(choice, str) or choice not in self.tokenizers):
            raise ValueError(f"choice={choice!r} is not one of {list(self.tokenizers)}.")
        self.choice = widgets.ToggleButtons(options=list(self.tokenizers), value=choice or next(iter(self.tokenizers)),
                                            description="tokenizer", style={"button_width": "auto"})
        self.text = widgets.Textarea(value=text, description="text", rows=4,
                                     layout=widgets.Layout(width="95%"), style={"font_size": f"{FONT_PX * 0.8:.0f}px"})
        self.show_ids = widgets.Checkbox(value=False, description="show token ids", indent=False)
        self.stats = widgets.HTML()
        self.view = widgets.HTML(layout=widgets.Layout(width="95%"))
        for widget, name in ((self.choice, "tokenizer-choice"), (self.text, "text"), (self.show_ids, "show-ids"),
                             (self.stats, "stats"), (self.view, "tokens")):
            widget.add_class(f"gptedu-{name}")
        self.spans: list[TokenSpan] = []
        self.error: str | None = None
        super().__init__([self.choice, self.text, self.show_ids, self.stats, self.view])
        for widget in (self.choice, self.text, self.show_ids):
            widget.observe(self.update, names="value")
        self.update()

    @property
    def tokenizer(self) -> Any:
        return self.tokenizers[self.choice.value]

    @property
    def stats_values(self) -> dict[str, float]:
        """The numbers the counts line shows, for the current text and tokenizer."""
        return token_stats(self.text.value, self.spans)

    def update(self, change: Any = None) -> None:
        """Re-tokenize and redraw (called whenever the text, the tokenizer or the checkbox changes)."""
        text = self.text.value
        try:
            self.spans, self.error = token_spans(self.tokenizer, text), None
        except ValueError as error:
            self.spans, self.error = [], f"{type(error).__name__}: {error}"
        self.view.value = tokens_html(self.tokenizer, text, self.show_ids.value)
        self.stats.value = stats_html(self.stats_values) if self.error is None else (
            f'<div style="font-size:{FONT_PX * 0.8:.0f}px;color:#b00020">'
            f"the {html.escape(self.choice.value)} tokenizer cannot encode this text</div>")

    def __repr__(self) -> str:
        return f"TokenizerPlayground(tokenizers={list(self.tokenizers)}, choice={self.choice.value!r})"


def tokenizer_playground(text: str = DEFAULT_TEXT, bpe: Any = None,
                         tokenizers: Mapping[str, Any] | None = None, choice: str | None = None) -> TokenizerPlayground:
    """A text box and a tokenizer switch; shows the tokens as coloured spans with their counts.

    By default the switch offers "characters" (a CharTokenizer on the Shakespeare corpus), "our BPE"
    (when `bpe` is given, e.g. one trained in chapter 01) and "GPT-2" (tiktoken, built offline).
    Pass `tokenizers={"name": tokenizer, ...}` to choose your own. Hover over a token for its id and
    bytes, or tick "show token ids". Drive it from code: `app.text.value = "..."`,
    `app.choice.value = "GPT-2"`, then read `app.spans` and `app.stats_values`.
    """
    check_str(text, "text")
    if bpe is not None:
        check_tokenizer(bpe, "bpe")
    if tokenizers is None:
        from ..data import load_shakespeare
        from ..tokenizers import CharTokenizer, gpt2_encoding

        tokenizers = {"characters": CharTokenizer.from_text(load_shakespeare())}
        if bpe is not None:
            tokenizers["our BPE"] = bpe
        tokenizers["GPT-2"] = gpt2_encoding()
    return TokenizerPlayground(tokenizers, text=text, choice=choice)

