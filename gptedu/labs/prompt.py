"""The prompt lab (chapter 08): type a prompt, pick a model and a decoding rule, watch it write.

The continuation streams in as it is sampled, each token coloured by the probability the model
gave it (red: unlikely, green: likely; hover for the number). The bar chart shows the model's top
next-token candidates at the position the slider selects, the chosen one in black: before you
generate, the candidates right after the prompt. Task presets fill in chapter 08's zero-shot
prompts. Errors (an empty prompt, one longer than the context, a character the tokenizer never
saw) show in red in the status.

The logic lives in plain functions (`Decoding`, `check_prompt`, `candidates`, `stream`,
`continuation_html`, `candidates_figure`, `model_choices`, `task_presets`) that the tests check
without a browser; the app wires widgets to them and keeps what it shows on the object
(`.generation`, `.error`), so a notebook cell can drive it (`lab.prompt.value = ...; lab.generate()`).

Stable CSS classes for browser tests: gptedu-preset, gptedu-model, gptedu-prompt-text,
gptedu-decoding, gptedu-temperature, gptedu-top-k, gptedu-top-p, gptedu-length, gptedu-seed,
gptedu-generate, gptedu-status, gptedu-output, gptedu-position, gptedu-figure.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterator

import ipywidgets as widgets
import matplotlib
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from ..checkpoints import load_shipped
from ..checks import require_int, require_range, require_str
from ..family import family_members, load_family
from ..generate import generate_steps
from ..plots import show_char
from ..pretrained import local_gpt2_dir
from .common import ERROR_COLOUR, FONT_PX, MAX_SEED, check_model, check_seed, check_tokenizer, show_figure

MODES = {"greedy": "greedy", "temperature": "temperature", "top-k": "top-k", "top-p": "top-p (nucleus)"}
N_CANDIDATES = 10  # bars in the chart
STREAM_EVERY = 8  # redraw the output every this many tokens while generating
PROBABILITY_COLOURS = matplotlib.colormaps["RdYlGn"]
# The sliders' ranges: an argument outside them is refused, not clamped to the nearest end.
TEMPERATURES, TOP_KS, TOP_PS, LENGTHS, SEEDS = (0.1, 2.0), (1, 100), (0.05, 1.0), (1, 400), (0, MAX_SEED)

Loader = Callable[[], tuple[torch.nn.Module, Any]]


@dataclass(frozen=True)
class Decoding:
    """How the next token is picked: greedy, or sampled at a temperature, optionally top-k or top-p filtered."""
    mode: str = "top-k"
    temperature: float = 1.0
    top_k: int = 40  # GPT-2's samples: "top-k random sampling with k = 40"
    top_p: float = 0.9

    def __post_init__(self) -> None:
        if not isinstance(self.mode, str) or self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}: pick one of {', '.join(MODES)}.")

    def kwargs(self) -> dict[str, Any]:
        """The arguments for gptedu.generate.generate / generate_steps."""
        if self.mode == "greedy":
            return {"greedy": True}
        extra = {"top-k": {"top_k": self.top_k}, "top-p": {"top_p": self.top_p}}.get(self.mode, {})
        return {"temperature": self.temperature, **extra}

    def describe(self) -> str:
        if self.mode == "greedy":
            return "greedy (always the most likely token)"
        extra = {"top-k": f", top-k {self.top_k}", "top-p": f", top-p {self.top_p:g}"}.get(self.mode, "")
        return f"sampling at temperature {self.temperature:g}{extra}"


@dataclass
class Generation:
    """What the lab shows: the prompt's ids, the generated ids, and per generated position the
    probability of the chosen token and the top candidates [(id, p), ...] (model's distribution at T = 1).
    Before anything is generated, `top` holds one entry: the candidates right after the prompt."""
    prompt_ids: list[int]
    ids: list[int] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)
    top: list[list[tuple[int, float]]] = field(default_factory=list)


# ---------------------------------------------------------------- models and presets
def model_choices() -> dict[str, Loader]:
    """Every model the lab offers: the family's shipped sizes, chapter 05's GPT-1, OpenAI's GPT-2 if on disk."""
    choices: dict[str, Loader] = {f"family {name}": partial(load_family, name) for name in family_members()}
    choices["GPT-1 (chapter 05)"] = load_shipped
    folder = local_gpt2_dir()
    if folder is not None:
        choices["GPT-2 124M (OpenAI)"] = partial(_load_gpt2, folder)
    return choices


def _load_gpt2(folder) -> tuple[torch.nn.Module, Any]:
    from ..model import GPT
    from ..tokenizers import gpt2_encoding
    return GPT.from_pretrained(folder).eval(), gpt2_encoding()


def task_presets(chars: int = 180) -> dict[str, str]:
    """Zero-shot prompts of chapter 08's tasks, cut to their last `chars` characters at a line start
    (so they fit a 256-character context with room to write)."""
    from ..evaluation import instances  # the held-out instances the evaluation scores

    def prompt(task: str, k: int = 0, description: bool = False) -> str:
        text = instances(task, k, 1, description)[0].prompt
        if len(text) > chars:
            text = text[-chars:]
            text = text[text.index("\n") + 1:] if "\n" in text[:-1] else text
        return text

    return {"continue a play": "ROMEO.\nBut soft, what light through yonder window breaks?\n",
            "next speaker (zero-shot)": prompt("next_speaker"),
            "last word (zero-shot)": prompt("last_word"),
            "remove the symbols (described, 0 examples)": prompt("insertion", 0, True),
            "label the words (8 examples)": prompt("mapping", 8)}


# ---------------------------------------------------------------- the logic
def check_prompt(prompt: str, tokenizer: Any, block_size: int) -> list[int]:
    """The prompt's token ids, or a ValueError that says what to do (empty, unknown character, too long)."""
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("The prompt is empty: type something for the model to continue (a newline will do).")
    try:
        ids = tokenizer.encode(prompt)
    except ValueError as error:  # e.g. UnknownCharacterError: a character the model never saw
        raise ValueError(f"{error}") from None
    if len(ids) > block_size:
        raise ValueError(f"The prompt is {len(ids)} tokens, but this model reads at most {block_size} "
                         f"(its context): shorten it by {len(ids) - block_size} tokens, from the start.")
    return ids


def top_candidates(probs: torch.Tensor, n: int = N_CANDIDATES) -> list[tuple[int, float]]:
    """The n most likely next tokens [(id, probability), ...] from one position's probabilities (vocab,)."""
    values, ids = torch.topk(probs, min(n, probs.numel()))
    return [(int(i), float(p)) for i, p in zip(ids, values)]


@torch.no_grad()
def candidates(model: torch.nn.Module, ids: list[int], n: int = N_CANDIDATES) -> list[tuple[int, float]]:
    """The model's top next-token candidates after `ids` (one forward pass)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(torch.tensor([ids[-model.config.block_size:]], device=device))
    finally:
        model.train(was_training)
    return top_candidates(F.softmax(logits[0, -1].float(), dim=-1), n)


def stream(model: torch.nn.Module, ids: list[int], decoding: Decoding, max_new_tokens: int, seed: int = 0
           ) -> Iterator[tuple[int, float, list[tuple[int, float]]]]:
    """Generate token by token (gptedu.generate.generate_steps, with its KV cache): yields
    (token id, its probability under the model at T = 1, the top candidates at that position)."""
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    idx = torch.tensor([ids], device=device)
    for next_id, logits in generate_steps(model, idx, max_new_tokens, generator=generator, **decoding.kwargs()):
        token = int(next_id[0, 0])
        probs = F.softmax(logits[0].float(), dim=-1)
        yield token, float(probs[token]), top_candidates(probs)


def token_text(tokenizer: Any, token_id: int) -> str:
    """A token as text, whitespace made visible (a newline shows as ⏎ and still breaks the line)."""
    text = tokenizer.decode([token_id])
    return "".join(show_char(ch) if ch in " \t\r" else ch for ch in text) if text.strip() == "" else text


def probability_colour(p: float) -> str:
    """Background for a token the model gave probability p: red (unlikely) to green (likely), pale."""
    r, g, b, _ = PROBABILITY_COLOURS(0.15 + 0.7 * min(max(p, 0.0), 1.0))
    mix = lambda c: int(255 * (0.45 * c + 0.55))  # noqa: E731  (pale: black text stays readable)
    return f"#{mix(r):02x}{mix(g):02x}{mix(b):02x}"


def continuation_html(tokenizer: Any, gen: Generation, selected: int | None = None) -> str:
    """The prompt in grey, then each generated token on its probability colour (the selected one outlined)."""
    prompt = html.escape(tokenizer.decode(gen.prompt_ids))
    spans = []
    for i, (token, p) in enumerate(zip(gen.ids, gen.probs), start=1):
        text = html.escape(token_text(tokenizer, token)).replace("\n", "⏎<br>")
        outline = "outline:2px solid #000;" if i == selected else ""
        spans.append(f'<span class="gptedu-gen-token" title="token {i}: p = {p:.3f}" '
                     f'style="background:{probability_colour(p)};{outline}">{text}</span>')
    return (f'<div style="font-family:monospace;font-size:{FONT_PX * 0.8:.0f}px;white-space:pre-wrap;'
            f'line-height:1.6"><span style="color:#777">{prompt}</span>{"".join(spans)}</div>')


def candidates_figure(tokenizer: Any, top: list[tuple[int, float]], chosen: int | None, title: str) -> Figure:
    """Horizontal bars: the top candidates' probabilities, most likely on top; the chosen token in black."""
    fig = Figure(figsize=(6.4, 3.6), dpi=80)
    ax = fig.add_subplot()
    labels = [repr(tokenizer.decode([i]))[1:-1] or "?" for i, _ in top]
    colours = ["#222222" if i == chosen else "#7fb0dc" for i, _ in top]
    ax.barh(range(len(top))[::-1], [p for _, p in top], color=colours)
    ax.set_yticks(range(len(top))[::-1], labels, fontfamily="monospace")
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability (the model's, at temperature 1)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def check_settings(prompt: Any, decoding: Decoding, max_new_tokens: Any, seed: Any) -> None:
    """Refuse, naming the argument and the allowed range, a setting the lab's controls cannot show
    (ipywidgets would silently move it to the nearest end of its slider, or fail with a bare TraitError)."""
    require_str("prompt", prompt, empty=True)  # an empty prompt is shown in the lab's status instead
    require_range("temperature", decoding.temperature, *TEMPERATURES, hint=" (the lab's slider; greedy: mode='greedy')")
    require_int("top_k", decoding.top_k, TOP_KS[0], maximum=TOP_KS[1], hint=" (the lab's slider)")
    require_range("top_p", decoding.top_p, *TOP_PS, hint=" (the lab's slider)")
    require_int("max_new_tokens", max_new_tokens, LENGTHS[0], maximum=LENGTHS[1], hint=" (the lab's slider)")
    check_seed(seed)  # as every lab's seed box: 0 to 1,000,000


# ---------------------------------------------------------------- the app
class PromptLab(widgets.VBox):
    """Prompt, model and decoding in; a streamed, coloured continuation and the next-token chart out."""

    def __init__(self, choices: dict[str, Loader], presets: dict[str, str], model: str, prompt: str,
                 decoding: Decoding, max_new_tokens: int, seed: int):
        if not isinstance(model, str) or model not in choices:
            raise ValueError(f"model={model!r}: pick one of {', '.join(choices)}.")
        check_settings(prompt, decoding, max_new_tokens, seed)
        self.choices, self.presets = choices, presets
        self._loaded: dict[str, tuple[torch.nn.Module, Any]] = {}
        self.generation: Generation | None = None
        self.error: str | None = None
        wide = {"description_width": "initial"}
        self.preset = widgets.Dropdown(options=["(your own)", *presets], value="(your own)", description="task preset",
                                       style=wide)
        self.model = widgets.Dropdown(options=list(choices), value=model, description="model", style=wide)
        self.prompt = widgets.Textarea(value=prompt, description="prompt", style=wide,
                                       layout=widgets.Layout(width="95%", height="110px"))
        self.decoding = widgets.ToggleButtons(options=[(label, mode) for mode, label in MODES.items()],
                                              value=decoding.mode, style={"button_width": "auto"})
        self.temperature = widgets.FloatSlider(value=decoding.temperature, min=TEMPERATURES[0], max=TEMPERATURES[1],
                                               step=0.1, description="temperature", style=wide,
                                               continuous_update=False)
        self.top_k = widgets.IntSlider(value=decoding.top_k, min=TOP_KS[0], max=TOP_KS[1], description="top-k",
                                       style=wide, continuous_update=False)
        self.top_p = widgets.FloatSlider(value=decoding.top_p, min=TOP_PS[0], max=TOP_PS[1], step=0.05,
                                         description="top-p", style=wide, continuous_update=False)
        self.length = widgets.IntSlider(value=max_new_tokens, min=LENGTHS[0], max=LENGTHS[1], description="tokens",
                                        style=wide, continuous_update=False)
        self.seed = widgets.BoundedIntText(value=seed, min=SEEDS[0], max=SEEDS[1], description="seed", style=wide,
                                           layout=widgets.Layout(width="150px"))
        self.button = widgets.Button(description="Generate", button_style="primary", icon="play")
        self.status = widgets.HTML()
        self.output = widgets.HTML()
        self.position = widgets.IntSlider(value=1, min=1, max=1, description="token", style=wide,
                                          continuous_update=False)
        self.figure_out = widgets.Output()
        for widget, name in ((self.preset, "preset"), (self.model, "model"), (self.prompt, "prompt-text"),
                             (self.decoding, "decoding"), (self.temperature, "temperature"), (self.top_k, "top-k"),
                             (self.top_p, "top-p"), (self.length, "length"), (self.seed, "seed"),
                             (self.button, "generate"), (self.status, "status"), (self.output, "output"),
                             (self.position, "position"), (self.figure_out, "figure")):
            widget.add_class(f"gptedu-{name}")
        super().__init__([widgets.HBox([self.preset, self.model]), self.prompt, self.decoding,
                          widgets.HBox([self.temperature, self.top_k, self.top_p]),
                          widgets.HBox([self.length, self.seed, self.button]), self.status, self.output,
                          self.position, self.figure_out])
        self.preset.observe(self._use_preset, names="value")
        for widget in (self.model, self.prompt):
            widget.observe(lambda _: self.refresh(), names="value")
        for widget in (self.decoding, self.temperature, self.top_k, self.top_p):
            widget.observe(lambda _: self._show_status(), names="value")
        self.position.observe(lambda _: self._draw(), names="value")
        self.button.on_click(lambda _: self.generate())
        self.refresh()

    @property
    def settings(self) -> Decoding:
        return Decoding(self.decoding.value, self.temperature.value, self.top_k.value, self.top_p.value)

    def loaded(self) -> tuple[torch.nn.Module, Any]:
        """The picked model and its tokenizer (loaded once)."""
        name = self.model.value
        if name not in self._loaded:
            model, tokenizer = self.choices[name]()
            check_model(model)
            check_tokenizer(tokenizer)
            self._loaded[name] = (model, tokenizer)
        return self._loaded[name]

    def _use_preset(self, change: Any) -> None:
        if change["new"] in self.presets:
            self.prompt.value = self.presets[change["new"]]

    def refresh(self) -> None:
        """A new prompt or model: drop the old continuation, show the candidates right after the prompt."""
        try:
            model, tokenizer = self.loaded()
            ids = check_prompt(self.prompt.value, tokenizer, model.config.block_size)
            self.generation = Generation(ids, top=[candidates(model, ids)])
        except Exception as error:  # shown in the lab, not raised into the widget's callback
            return self._fail(error)
        self.error = None
        self._show_status()
        self._draw()

    def generate(self) -> Generation | None:
        """What Generate does: stream a continuation into the output; returns it (None after an error)."""
        try:
            model, tokenizer = self.loaded()
            ids = check_prompt(self.prompt.value, tokenizer, model.config.block_size)
            gen = Generation(ids)
            self.generation, self.error = gen, None
            self._show_status("generating ...")
            for i, (token, p, top) in enumerate(stream(model, ids, self.settings, self.length.value, self.seed.value)):
                gen.ids.append(token)
                gen.probs.append(p)
                gen.top.append(top)
                if (i + 1) % STREAM_EVERY == 0:
                    self.output.value = continuation_html(tokenizer, gen)
        except Exception as error:
            self._fail(error)
            return None
        self._show_status()
        self.position.max = len(gen.ids)
        self.position.value = 1
        self._draw()
        return gen

    def _draw(self) -> None:
        gen = self.generation
        if gen is None:
            return
        _, tokenizer = self.loaded()
        at = min(self.position.value, len(gen.top))
        chosen = gen.ids[at - 1] if gen.ids else None
        self.output.value = continuation_html(tokenizer, gen, at if gen.ids else None)
        where = (f"token {at} of {len(gen.ids)}: the model wrote {token_text(tokenizer, chosen)!r}" if gen.ids
                 else "the next token after the prompt")
        show_figure(self.figure_out, candidates_figure(tokenizer, gen.top[at - 1], chosen, where),
                    f"<top candidates: {where}>")

    def _show_status(self, note: str = "") -> None:
        written = (f"; {len(self.generation.ids)} tokens written, mean p = "
                   f"{sum(self.generation.probs) / len(self.generation.probs):.2f}"
                   if self.generation and self.generation.ids else "")
        text = html.escape(f"{self.model.value} · {self.settings.describe()}{written} {note}")
        self.status.value = f'<div style="font-size:{FONT_PX * 0.8:.0f}px">{text}</div>'

    def _fail(self, error: BaseException) -> None:
        self.error = f"{type(error).__name__}: {error}"
        self.generation = None
        self.output.value = ""
        self.status.value = f'<span style="color:{ERROR_COLOUR}">{html.escape(self.error)}</span>'

    def __repr__(self) -> str:
        return f"PromptLab(model {self.model.value!r}, {self.settings.describe()}, error={self.error!r})"


def prompt_lab(model: str = "family 1.4m", prompt: str = "ROMEO.\nBut soft, what light through yonder window breaks?\n",
               *, mode: str = "top-k", temperature: float = 1.0, top_k: int = 40, top_p: float = 0.9,
               max_new_tokens: int = 120, seed: int = 0) -> PromptLab:
    """Chapter 08's prompt lab: a prompt box, a model picker (every family size, GPT-1, GPT-2 if you have it),
    decoding controls, Generate (streams), tokens coloured by probability, the top candidates per token.

    Drive it from code: `lab.prompt.value = "..."`, `lab.decoding.value = "greedy"`, `gen = lab.generate()`.
    """
    choices = model_choices()
    return PromptLab(choices, task_presets(), model, prompt, Decoding(mode, temperature, top_k, top_p),
                     max_new_tokens, seed)
