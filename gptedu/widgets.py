"""The course's interactive apps: ipywidgets + matplotlib only (no CDN, no JavaScript of ours), so they
work offline and in any Jupyter frontend that renders ipywidgets.

- `tokenizer_playground(text)`: chapter 01. Type text, pick a tokenizer, see its tokens as coloured spans.
- `attention_explorer(model, tokenizer, prompt)`: chapter 03. Pick a layer and a head, see who attends to whom.
- `gptedu.transfer_lab.transfer_lab(gpt, tokenizer, sweep)`: chapter 06. Transfer k layers, fine-tune live,
  see the run land on GPT-1 Fig. 2 (left). It lives in its own module and reuses `show_figure` from here.

Each app is thin: the logic lives in pure functions (`token_spans`, `tokens_html`, `head_weights`,
`attention_lines`) that the tests check without a browser, and the app only wires widgets to them.
Both apps keep what they show on the object (`.spans`, `.weights`, `.figure`), so a notebook cell can
drive the app (`app.text.value = "..."`) and assert on the numbers instead of the pixels.

Stable CSS classes for browser tests: gptedu-text, gptedu-tokenizer-choice, gptedu-show-ids,
gptedu-stats, gptedu-tokens (playground); gptedu-prompt, gptedu-layer, gptedu-head, gptedu-query,
gptedu-status, gptedu-figure (explorer).
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import Any, Mapping

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

# Pastel backgrounds, dark enough to see on a projector, light enough to read black text on.
PALETTE = ("#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#ffc6ff", "#fdffb6", "#a0c4ff", "#ffadad")
FONT_PX = 20  # token text in the playground: readable from the back of a classroom

DEFAULT_TEXT = ("To be, or not to be, that is the question:\n"
                "Whether 'tis nobler in the mind to suffer\n"
                "The slings and arrows of outrageous fortune.")
DEFAULT_PROMPT = "To be, or not to be, that is the question:"


# ====================================================================== checks on what an app is given
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
    """A whole number >= 1 (a bool is not one), or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive whole number.")


def check_str(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str; got {type(value).__name__} {_short(value)}.")


def _short(value: Any, width: int = 60) -> str:
    """repr(value), cut to `width` characters for an error message."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 4] + " ..."


# ====================================================================== tokens
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
        if choice is not None and choice not in self.tokenizers:
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
        from .data import load_shakespeare
        from .tokenizers import CharTokenizer, gpt2_encoding

        tokenizers = {"characters": CharTokenizer.from_text(load_shakespeare())}
        if bpe is not None:
            tokenizers["our BPE"] = bpe
        tokenizers["GPT-2"] = gpt2_encoding()
    return TokenizerPlayground(tokenizers, text=text, choice=choice)


# ====================================================================== attention
def head_weights(maps: torch.Tensor | np.ndarray, layer: int, head: int | str) -> np.ndarray:
    """The (T, T) attention of one layer for one sequence: one head (an int) or "mean" over heads.

    `maps` is model.attention_maps(idx) for a batch of one: (n_layer, 1, n_head, T, T).
    Row i is query i's attention over the keys j <= i; each row sums to 1.
    """
    maps = torch.as_tensor(maps)
    if maps.dim() != 5 or maps.size(1) != 1:
        raise ValueError(f"Expected model.attention_maps(idx) of one sequence, (n_layer, 1, n_head, T, T); "
                         f"got shape {tuple(maps.shape)}.")
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < maps.size(0):
        raise ValueError(f"layer={layer} is out of range: this model has layers 0..{maps.size(0) - 1}.")
    per_head = maps[layer, 0]
    if head == "mean":
        return per_head.mean(0).double().numpy()
    if not isinstance(head, (int, np.integer)) or not 0 <= head < per_head.size(0):
        raise ValueError(f"head={head!r} must be 'mean' or a head number 0..{per_head.size(0) - 1}.")
    return per_head[head].double().numpy()


def attention_lines(weights: np.ndarray, threshold: float = 0.02,
                    query: int | None = None) -> list[tuple[int, int, float]]:
    """The lines of the token-to-token diagram: (query i, key j, weight) for each weight >= threshold
    (and > 0: a masked key gets no line).

    Only one query's lines if `query` is given. Sorted by weight, lightest first, so the strongest
    lines are drawn on top.
    """
    weights = np.asarray(weights)
    rows = range(weights.shape[0]) if query is None else [query]
    lines = [(i, j, float(weights[i, j])) for i in rows for j in range(weights.shape[1])
             if weights[i, j] > 0 and weights[i, j] >= threshold]
    return sorted(lines, key=lambda line: (line[2], line[0], line[1]))


def _norm(weights: np.ndarray) -> PowerNorm:
    """Square-root colour scale: small weights stay visible next to the 1.0 of the first query."""
    return PowerNorm(gamma=0.5, vmin=0.0, vmax=max(float(weights.max()), 1e-6))


def _heatmap(ax: Any, weights: np.ndarray, labels: list[str], query: int | None, fontsize: float) -> Any:
    image = ax.imshow(weights, cmap="Blues", norm=_norm(weights), aspect="auto")  # rows line up with the lines
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, fontsize=fontsize, rotation=0)
    ax.set_yticks(ticks, labels, fontsize=fontsize)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.grid(False)
    if query is not None:
        ax.axhline(query - 0.5, color="#d62728", lw=1.5)
        ax.axhline(query + 0.5, color="#d62728", lw=1.5)
    return image


def _line_diagram(ax: Any, weights: np.ndarray, labels: list[str], query: int | None, fontsize: float) -> None:
    T = len(labels)
    lines = attention_lines(weights, threshold=0.0 if query is not None else 0.02, query=query)
    segments = [[(0.0, -i), (1.0, -j)] for i, j, _ in lines]
    peak = max((w for _, _, w in lines), default=1.0) or 1.0
    colours = [(0.12, 0.35, 0.75, min(1.0, 0.08 + 0.92 * w / peak)) for _, _, w in lines]
    widths = [0.4 + 2.6 * w / peak for _, _, w in lines]
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=widths))
    for i, label in enumerate(labels):
        bold = "bold" if i == query else "normal"
        ax.text(-0.04, -i, label, ha="right", va="center", fontsize=fontsize, family="monospace", weight=bold)
        ax.text(1.04, -i, label, ha="left", va="center", fontsize=fontsize, family="monospace")
    ax.set_xlim(-0.3, 1.3)
    ax.set_ylim(-T + 0.3, 0.7)
    ax.axis("off")
    ax.set_title("query  →  key", fontsize=fontsize + 2)


def attention_figure(weights: np.ndarray, labels: list[str], title: str = "", query: int | None = None,
                     per_head: np.ndarray | None = None, dpi: float = 72) -> Figure:
    """The explorer's picture: heatmap and token-to-token lines of `weights` (T, T), or, given
    `per_head` (n_head, T, T), one small heatmap per head. A plain matplotlib Figure (not pyplot),
    so it is never shown twice by the notebook's inline backend; a notebook cell shows it by returning it."""
    T = len(labels)
    if per_head is not None:
        n = len(per_head)
        cols = min(n, 4)
        rows = -(-n // cols)
        fig = Figure(figsize=(3.2 * cols, 3.2 * rows + 0.4), dpi=dpi, layout="constrained")
        for h, ax in enumerate(fig.subplots(rows, cols, squeeze=False).flat):
            if h >= n:
                ax.axis("off")
                continue
            ax.imshow(per_head[h], cmap="Blues", norm=_norm(per_head[h]))
            ax.set_title(f"head {h}", fontsize=14)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        fig.suptitle(title, fontsize=15)
        return fig
    height = min(11.0, max(4.5, 0.19 * T + 1.4))  # inches: about 0.19 per token, so labels do not overlap
    fontsize = min(13.0, max(6.0, 0.72 * (height - 1.4) * 72 / T))  # points: fits one row
    fig = Figure(figsize=(13, height), dpi=dpi, layout="constrained")
    heat_ax, line_ax = fig.subplots(1, 2, width_ratios=[1.2, 1])
    image = _heatmap(heat_ax, weights, labels, query, fontsize)
    fig.colorbar(image, ax=heat_ax, shrink=0.7, label="attention weight")
    _line_diagram(line_ax, weights, labels, query, fontsize)
    fig.suptitle(title, fontsize=15)
    return fig


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


class AttentionExplorer(widgets.VBox):
    """A prompt box, layer and head pickers, and the attention they select. See `attention_explorer`."""

    def __init__(self, model: Any, tokenizer: Any, prompt: str = DEFAULT_PROMPT, layer: int = 0,
                 head: int | str = 0, max_tokens: int = 64):
        check_model(model)
        check_tokenizer(tokenizer)
        check_str(prompt, "prompt")
        check_positive_int(max_tokens, "max_tokens")
        n_layer, n_head = model.config.n_layer, model.config.n_head
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < n_layer:
            raise ValueError(f"layer={layer!r} is out of range: this model has layers 0..{n_layer - 1}.")
        if head not in ("mean", "all") and (isinstance(head, bool) or not isinstance(head, (int, np.integer))
                                            or not 0 <= head < n_head):
            raise ValueError(f"head={head!r} must be a head number 0..{n_head - 1}, 'mean' or 'all'.")
        self.model, self.tokenizer = model, tokenizer
        self.max_tokens = min(max_tokens, model.config.block_size)
        self.prompt = widgets.Text(value=prompt, description="prompt", continuous_update=False,
                                   layout=widgets.Layout(width="95%"), style={"font_size": "18px"})
        self.layer = widgets.IntSlider(value=layer, min=0, max=n_layer - 1, description="layer",
                                       continuous_update=False)
        head_options = [(f"head {h}", h) for h in range(n_head)] + [("mean of heads", "mean"),
                                                                    ("all heads (grid)", "all")]
        self.head = widgets.Dropdown(options=head_options, value=head, description="head")
        self.query = widgets.Dropdown(options=[("all queries", "all")], value="all", description="query")
        self.status = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(width="100%"))
        for widget, name in ((self.prompt, "prompt"), (self.layer, "layer"), (self.head, "head"),
                             (self.query, "query"), (self.status, "status"), (self.output, "figure")):
            widget.add_class(f"gptedu-{name}")
        self.maps: torch.Tensor | None = None  # (n_layer, 1, n_head, T, T) for the current prompt
        self.labels: list[str] = []
        self.weights: np.ndarray | None = None  # what the figure shows: (T, T), or (n_head, T, T) for "all"
        self.figure: Figure | None = None
        self.error: str | None = None
        self.cropped = 0  # tokens cut from the front of a prompt longer than max_tokens
        self._quiet = False  # True while the query list is rebuilt, so it does not redraw twice
        controls = widgets.HBox([self.layer, self.head, self.query])
        super().__init__([self.prompt, controls, self.status, self.output])
        self.prompt.observe(self._prompt_changed, names="value")
        for widget in (self.layer, self.head, self.query):
            widget.observe(self.update, names="value")
        self._prompt_changed()

    def _prompt_changed(self, change: Any = None) -> None:
        """Run the model once per prompt; the pickers then only choose what to draw."""
        try:
            spans = token_spans(self.tokenizer, self.prompt.value)
            if not spans:
                raise ValueError("The prompt is empty: type some text.")
        except ValueError as error:
            self.maps, self.labels, self.error = None, [], f"{type(error).__name__}: {error}"
        else:
            self.error, self.cropped = None, max(0, len(spans) - self.max_tokens)
            spans = spans[-self.max_tokens:]
            self.labels = [token_label(s) for s in spans]
            idx = torch.tensor([[s.id for s in spans]], device=next(self.model.parameters()).device)
            was_training = self.model.training
            self.model.eval()  # dropout off: the weights must not change from one redraw to the next
            self.maps = self.model.attention_maps(idx).cpu()
            self.model.train(was_training)
        options = [("all queries", "all")] + [(f"{i}: {label}", i) for i, label in enumerate(self.labels)]
        self._quiet = True
        try:
            self.query.options, self.query.value = options, "all"
        finally:
            self._quiet = False
        self.update()

    def update(self, change: Any = None) -> None:
        """Redraw for the current prompt, layer, head and query."""
        if self._quiet:
            return
        if self.maps is None:
            self.weights, self.figure = None, None
            self.status.value = f'<span style="color:#b00020;font-size:16px">{html.escape(self.error or "")}</span>'
            self.output.outputs = ()
            return
        layer, head = self.layer.value, self.head.value
        query = None if self.query.value == "all" else self.query.value
        T = len(self.labels)
        if head == "all":
            self.weights = np.stack([head_weights(self.maps, layer, h) for h in range(self.maps.size(2))])
            self.figure = attention_figure(self.weights[0], self.labels, f"layer {layer}, every head",
                                           per_head=self.weights)
        else:
            self.weights = head_weights(self.maps, layer, head)
            name = "mean of heads" if head == "mean" else f"head {head}"
            self.figure = attention_figure(self.weights, self.labels, f"layer {layer}, {name}", query=query)
        note = f" (the first {self.cropped} cut: the explorer shows at most {self.max_tokens})" if self.cropped else ""
        focus = ""
        if query is not None and head != "all":
            j = int(np.argmax(self.weights[query]))
            focus = (f" · query {query} {html.escape(repr(self.labels[query]))} attends most to key {j} "
                     f"{html.escape(repr(self.labels[j]))} ({self.weights[query, j]:.2f})")
        self.status.value = (f'<span style="font-size:16px">{T} tokens{note} · each row of the heatmap sums to 1: '
                             f"how one query shares its attention over itself and the tokens before it{focus}</span>")
        show_figure(self.output, self.figure, f"<attention: {self.figure.get_suptitle()}>")

    def __repr__(self) -> str:
        head = self.head.value if isinstance(self.head.value, str) else f"head {self.head.value}"
        return f"AttentionExplorer(layer {self.layer.value}, {head}, {len(self.labels)} tokens)"


def attention_explorer(model: Any, tokenizer: Any, prompt: str = DEFAULT_PROMPT, layer: int = 0,
                       head: int | str = 0, max_tokens: int = 64) -> AttentionExplorer:
    """Who attends to whom: type a prompt, pick a layer and a head ("mean of heads", "all heads (grid)").

    Shows `model.attention_maps` for the prompt as a heatmap (row = query, column = key) and as
    bertviz-style lines from each query (left) to the keys it attends to (right), thicker for more
    weight. Pick a query to see only its lines. The prompt box updates on Enter. Drive it from code:
    `app.prompt.value = "..."`, `app.layer.value = 2`, `app.head.value = "mean"` (or a head number, or
    "all"), `app.query.value = 5` (or "all"), then read
    `app.weights` (what the figure shows) and `app.labels` (the tokens). Works offline: ipywidgets
    and matplotlib only. Runs the model in eval mode (no dropout).
    """
    return AttentionExplorer(model, tokenizer, prompt=prompt, layer=layer, head=head, max_tokens=max_tokens)
