"""The attention explorer (chapter 03): pick a layer and a head, see who attends to whom.

The logic lives in pure functions (`head_weights`, `attention_lines`, `attention_figure`) that the
tests check without a browser; the app keeps what it shows on the object (`.weights`, `.figure`).

Stable CSS classes for browser tests: gptedu-prompt, gptedu-layer, gptedu-head, gptedu-query,
gptedu-status, gptedu-figure.
"""
from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from .common import check_model, check_positive_int, check_str, check_tokenizer, show_figure
from .tokens import token_label, token_spans

DEFAULT_PROMPT = "To be, or not to be, that is the question:"


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


def layer_band(model: Any, layer: int) -> int | None:
    """The band width of `layer` (GPT-3's locally banded layers, chapter 09), or None if it is dense."""
    return model.config.layer_window(layer)


def layer_name(model: Any, layer: int) -> str:
    """'layer 3', or 'layer 3 (banded, window 16)' for a banded layer."""
    window = layer_band(model, layer)
    return f"layer {layer}" if window is None else f"layer {layer} (banded, window {window})"


def _norm(weights: np.ndarray) -> PowerNorm:
    """Square-root colour scale: small weights stay visible next to the 1.0 of the first query."""
    return PowerNorm(gamma=0.5, vmin=0.0, vmax=max(float(weights.max()), 1e-6))


def _band_edge(ax: Any, T: int, window: int) -> None:
    """Dashed lines along the band's edges: query i sees keys i - window + 1 .. i."""
    rows = np.arange(T)
    ax.plot(rows - window + 0.5, rows, ls="--", color="#d95f02", lw=1.2)
    ax.plot(rows + 0.5, rows, ls="--", color="#d95f02", lw=1.2)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(T - 0.5, -0.5)


def _heatmap(ax: Any, weights: np.ndarray, labels: list[str], query: int | None, fontsize: float,
             window: int | None = None) -> Any:
    image = ax.imshow(weights, cmap="Blues", norm=_norm(weights), aspect="auto")  # rows line up with the lines
    if window is not None and window < len(labels):
        _band_edge(ax, len(labels), window)
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
                     per_head: np.ndarray | None = None, dpi: float = 72, window: int | None = None) -> Figure:
    """The explorer's picture: heatmap and token-to-token lines of `weights` (T, T), or, given
    `per_head` (n_head, T, T), one small heatmap per head; `window` draws a banded layer's band edges.
    A plain matplotlib Figure (not pyplot),
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
            if window is not None and window < T:
                _band_edge(ax, T, window)
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
    image = _heatmap(heat_ax, weights, labels, query, fontsize, window)
    fig.colorbar(image, ax=heat_ax, shrink=0.7, label="attention weight")
    _line_diagram(line_ax, weights, labels, query, fontsize)
    fig.suptitle(title, fontsize=15)
    return fig



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
        window, where = layer_band(self.model, layer), layer_name(self.model, layer)
        if head == "all":
            self.weights = np.stack([head_weights(self.maps, layer, h) for h in range(self.maps.size(2))])
            self.figure = attention_figure(self.weights[0], self.labels, f"{where}, every head",
                                           per_head=self.weights, window=window)
        else:
            self.weights = head_weights(self.maps, layer, head)
            name = "mean of heads" if head == "mean" else f"head {head}"
            self.figure = attention_figure(self.weights, self.labels, f"{where}, {name}", query=query, window=window)
        note = f" (the first {self.cropped} cut: the explorer shows at most {self.max_tokens})" if self.cropped else ""
        focus = ""
        if query is not None and head != "all":
            j = int(np.argmax(self.weights[query]))
            focus = (f" · query {query} {html.escape(repr(self.labels[query]))} attends most to key {j} "
                     f"{html.escape(repr(self.labels[j]))} ({self.weights[query, j]:.2f})")
        band = "" if window is None else (f" · layer {layer} is banded (GPT-3's locally banded attention): "
                                          f"each query sees only itself and the {window - 1} tokens before it, "
                                          f"between the dashed lines")
        self.status.value = (f'<span style="font-size:16px">{T} tokens{note} · each row of the heatmap sums to 1: '
                             f"how one query shares its attention over itself and the tokens before it{focus}{band}</span>")
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
