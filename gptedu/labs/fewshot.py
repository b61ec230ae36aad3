"""The few-shot lab (chapter 10): K examples in the prompt, no gradient update, and GPT-3 Fig. 1.2 point by point.

Pick a task, K (the number of demonstrations), a family size, a seed (which demonstrations, and
their order) and whether the prompt opens with the task's description. The lab shows the prompt
as the evaluation renders it (gptedu.subtask_corpus.render_prompt), coloured: description,
demonstrations, query, and the right answer after it; the model's greedy answer; and the
probability the model gives each candidate answer (the right one, its own answer, the labels the
demonstrations show for the mapping, the input itself for a word task). Score runs N held-out
queries at these settings (gptedu.evaluation's instances; seed 0 are the first N of the shipped
evaluation's), with a progress bar, and adds a point with its 95% Wilson interval to the Fig. 1.2
plot, over the shipped curves of data/results/family_eval.json for that task.

Errors show in red in the status: a prompt longer than the model's context (the evaluation crops it
from the left, as the shipped K = 16 random-insertion points were: the lab shows the cropped part
struck through), or a K whose demonstrations cannot fit the context at all (nothing is run).

The logic lives in plain functions (`LabSettings`, `draw_example`, `prompt_segments`, `prompt_html`,
`greedy_answer`, `candidate_probs`, `check_fits`, `score`, `shipped_curves`, `copier_ceiling`,
`fig12_figure`) that tests check without a browser; the app keeps what it shows on the object
(`.example`, `.answer`, `.probs`, `.points`, `.error`), so a cell can drive it
(`lab.k.value = 4; lab.score_now()`).

Stable CSS classes for browser tests: gptedu-task, gptedu-k, gptedu-size, gptedu-seed, gptedu-description,
gptedu-n, gptedu-score, gptedu-progress, gptedu-progress-label, gptedu-prompt, gptedu-answer, gptedu-status,
gptedu-figure.

One module, though long: it is one lab, and its plain functions are the widget's logic (tests check them
without a browser); nothing outside the lab uses them.
"""
from __future__ import annotations

import html
import json
import math
import random
from dataclasses import dataclass
from typing import Any, Callable

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from .. import evaluation
from ..data import DATA_DIR
from ..evaluation import KS, wilson_interval
from ..family import family_members, load_family
from ..fewshot import choice_logprobs
from ..subtask_corpus import (ARROW, DESCRIPTIONS, TASKS, evaluation_words, mapping_pairs, render_answer,
                              render_line, render_prompt, word_pairs)
from .common import ERROR_COLOUR, FONT_PX, MAX_SEED, check_positive_int, check_seed, show_figure

SHIPPED_EVAL = DATA_DIR / "results" / "family_eval.json"
TASK_NAMES = {"insertion": "random insertion (GPT-3 Fig. 1.2)", "mapping": "mapping (word → fresh label)",
              "cycle": "cycled letters", "anagram1": "anagram A1", "anagram2": "anagram A2",
              "reversed": "reversed words"}
MAX_K = 32  # the slider's end: past what fits, so the error shows
N_CHOICES = (20, 50, 100, 200)
MAX_ANSWER = 12  # greedy answer: at most this many characters before the newline
ROLE_COLOURS = {"description": "#6a3d9a", "demo": "#1f5fa8", "query": "#b35900", "answer": "#1a7f37",
                "cropped": "#9a9a9a"}
SIZE_COLOURS = {"13k": "#b5d629", "38k": "#2fb47c", "113k": "#21918c", "389k": "#3b528b", "1.4m": "#440154"}  # viridis, as in chapter 10


# ====================================================================== one example
@dataclass(frozen=True)
class LabSettings:
    """What the lab's controls set (checked: a ValueError names a bad value)."""
    task: str = "insertion"
    k: int = 4
    size: str = "1.4m"
    seed: int = 0
    description: bool = False
    n: int = 50  # queries per Score

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task={self.task!r}: choose one of {', '.join(TASKS)}.")
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or not 0 <= self.k <= 10 * MAX_K:
            raise ValueError(f"k={self.k!r} must be a whole number from 0 (zero-shot) to {10 * MAX_K}.")
        check_seed(self.seed)  # the seed box would silently move it to its end
        if not isinstance(self.description, (bool, np.bool_)):
            raise ValueError(f"description={self.description!r} must be True or False.")
        check_positive_int(self.n, "n")
        if not isinstance(self.size, str):
            raise ValueError(f"size={self.size!r} must be a family size's name, e.g. '1.4m'.")

    @property
    def key(self) -> str:
        """The shipped evaluation's key: "size/task/K/desc|nodesc"."""
        return f"{self.size}/{self.task}/{self.k}/{'desc' if self.description else 'nodesc'}"


@dataclass(frozen=True)
class Example:
    """One prompt: demonstrations (input, output), the query and its right output."""
    task: str
    examples: tuple[tuple[str, str], ...]
    query: str
    target: str
    description: bool

    @property
    def prompt(self) -> str:
        return render_prompt(self.task, self.examples, self.query, self.description)

    @property
    def answer(self) -> str:
        return render_answer(self.target)


def draw_example(task: str, k: int, seed: int = 0, description: bool = False) -> Example:
    """K demonstrations and a query, drawn as the evaluation draws them (held-out words; for the mapping, a
    fresh mapping of 5 words), but seeded by the lab's seed: another seed, other demonstrations in another order."""
    s = LabSettings(task=task, k=k, seed=seed, description=description)
    rng = random.Random(f"lab/{s.task}/{s.k}/{s.seed}")
    if task == "mapping":
        pairs = mapping_pairs(evaluation_words(), evaluation.MAPPING_WORDS, k + 1, rng)
    else:
        pairs = word_pairs(task, evaluation_words(), k + 1, rng)
    *examples, (query, target) = pairs
    return Example(task, tuple(examples), query, target, bool(description))


def prompt_segments(ex: Example) -> list[tuple[str, str]]:
    """(text, role) pieces whose texts join to prompt + answer + newline; roles: description, demo, query, answer."""
    out = [(DESCRIPTIONS[ex.task] + "\n", "description")] if ex.description else []
    out += [(render_line(s, t), "demo") for s, t in ex.examples]
    out += [(ex.query + ARROW.rstrip(), "query"), (ex.answer + "\n", "answer")]
    return out


def prompt_tokens(tokenizer: Any, ex: Example) -> int:
    return len(tokenizer.encode(ex.prompt))


def kept_characters(tokenizer: Any, ex: Example, block_size: int) -> int:
    """How many prompt tokens the model sees: the evaluation crops the prompt from the left so that prompt,
    answer and newline fit the context (gptedu.evaluation.exact_match_scores)."""
    return min(prompt_tokens(tokenizer, ex), block_size - len(tokenizer.encode(ex.answer + "\n")) + 1)


def visible_demonstrations(tokenizer: Any, ex: Example, block_size: int) -> int:
    """How many of the K demonstration lines are left whole after that cropping."""
    cut = prompt_tokens(tokenizer, ex) - kept_characters(tokenizer, ex, block_size)
    start = len(tokenizer.encode(DESCRIPTIONS[ex.task] + "\n")) if ex.description else 0
    visible = 0
    for s, t in ex.examples:
        visible += start >= cut
        start += len(tokenizer.encode(render_line(s, t)))
    return visible


class DoesNotFit(ValueError):
    """K demonstrations of the task cannot fit the model's context: most of them would be cropped away."""


def check_fits(tokenizer: Any, ex: Example, block_size: int) -> None:
    """A prompt longer than the context is cropped from the left, as the evaluation crops it (the shipped K = 16
    random-insertion points were); but if fewer than half of the K demonstrations are left, K means nothing
    any more: DoesNotFit, saying which K would fit."""
    k = len(ex.examples)
    visible = visible_demonstrations(tokenizer, ex, block_size)
    if k and visible < k / 2:
        line = sum(len(render_line(s, t)) for s, t in ex.examples) / k
        room = block_size - len(ex.query + ARROW.rstrip() + ex.answer + "\n") + 1
        room -= len(DESCRIPTIONS[ex.task]) + 1 if ex.description else 0
        raise DoesNotFit(f"K={k} is too large: these {k} {TASK_NAMES.get(ex.task, ex.task)} lines take "
                         f"{round(line * k)} characters and the model sees {block_size}, so only {visible} of them "
                         f"would be left after cropping. About K ≤ {int(room // line)} fits.")


# ====================================================================== the model on one example
@torch.no_grad()
def greedy_answer(model: torch.nn.Module, tokenizer: Any, prompt: str, max_chars: int = MAX_ANSWER) -> str:
    """The model's greedy continuation of the prompt up to its first newline (at most max_chars characters),
    the prompt cropped from the left to fit the context, as the evaluation does. Exact match: it is
    render_answer(target), a space and the output."""
    model.eval()
    ids = tokenizer.encode(prompt)
    block = model.config.block_size
    out: list[int] = []
    for _ in range(max_chars + 1):
        x = torch.tensor([(ids + out)[-block:]])
        nxt = int(model(x)[0][0, -1].argmax())
        if tokenizer.decode([nxt]) == "\n":
            break
        out.append(nxt)
    return tokenizer.decode(out)


def candidates(ex: Example, model_answer: str | None = None) -> list[str]:
    """The outputs whose probability the lab shows: the right one, the model's own (its greedy continuation
    without the leading space), for the mapping every label
    the demonstrations show, for a word task the query as it stands (copying the input)."""
    out = [ex.target]
    if model_answer is not None:
        out.append(model_answer.removeprefix(" "))
    if ex.task == "mapping":
        out += sorted({t for _, t in ex.examples})
    else:
        out.append(ex.query)
    seen: list[str] = []
    for c in out:
        if c and c not in seen:
            seen.append(c)
    return seen


def candidate_probs(model: torch.nn.Module, tokenizer: Any, ex: Example, cands: list[str]) -> list[float]:
    """P(" candidate\\n" | prompt) for each candidate: the probability that greedy-or-sampled decoding writes
    exactly that answer and ends the line."""
    total = choice_logprobs(model, tokenizer, ex.prompt, [render_answer(c) + "\n" for c in cands], normalize=False)
    return [math.exp(v) for v in total.tolist()]


def prompt_html(ex: Example, block_size: int | None = None, tokenizer: Any = None) -> str:
    """The prompt coloured by role (description, demonstrations, query, right answer); with block_size, the
    characters the model cannot see (more than block_size before the answer) struck through in grey."""
    segments = prompt_segments(ex)
    cut = 0
    if block_size is not None and tokenizer is not None:
        n_prompt = len(tokenizer.encode(ex.prompt))
        cut = max(0, n_prompt - (block_size - len(tokenizer.encode(ex.answer + "\n")) + 1))
    parts, pos = [], 0
    for text, role in segments:
        for i, ch in enumerate(text):
            hidden = pos + i < cut
            colour = ROLE_COLOURS["cropped" if hidden else role]
            style = f"color:{colour}" + (";text-decoration:line-through" if hidden else "") + \
                (";font-weight:bold" if role in ("query", "answer") and not hidden else "")
            parts.append((style, ch))
        pos += len(text)
    # merge runs of one style
    out, run_style, run = [], None, []
    for style, ch in parts + [(None, "")]:
        if style != run_style and run:
            out.append(f'<span style="{run_style}">{html.escape("".join(run))}</span>')
            run = []
        run_style = style
        run.append(ch)
    legend = " · ".join(f'<span style="color:{ROLE_COLOURS[r]}">{name}</span>' for r, name in
                        (("description", "description"), ("demo", "demonstrations"), ("query", "query"),
                         ("answer", "right answer"), ("cropped", "cropped: beyond the context")))
    return (f'<div style="font-size:{FONT_PX * 0.8:.0f}px">{legend}</div>'
            f'<pre style="font-size:{FONT_PX * 0.8:.0f}px;line-height:1.3;margin:4px 0;white-space:pre-wrap">'
            f'{"".join(out)}</pre>')


# ====================================================================== scoring N queries
def score(model: torch.nn.Module, tokenizer: Any, s: LabSettings,
          on_progress: Callable[[int, int], Any] | None = None, batch: int = 10) -> dict:
    """Exact-match accuracy on the first s.n of gptedu.evaluation's instances at (task, K, description), seed
    s.seed (0: the shipped evaluation's), in batches of `batch` with on_progress(done, n) after each.
    Returns {correct, n, accuracy, ci95, cropped (prompts longer than the context, cropped from the left)}."""
    items = evaluation.instances(s.task, s.k, s.n, s.description, s.seed)
    block = model.config.block_size
    cropped = sum(len(tokenizer.encode(i.prompt)) + len(tokenizer.encode(i.answer + "\n")) - 1 > block for i in items)
    right = 0
    for lo in range(0, len(items), batch):
        correct, _ = evaluation.exact_match_scores(model, tokenizer, items[lo:lo + batch])
        right += sum(correct)
        if on_progress is not None:
            on_progress(min(lo + batch, len(items)), len(items))
    return {"correct": right, "n": len(items), "accuracy": right / len(items),
            "ci95": list(wilson_interval(right, len(items))), "cropped": cropped}


# ====================================================================== the Fig. 1.2 plot
def load_shipped_eval() -> dict | None:
    """data/results/family_eval.json's entries, or None if it is not there."""
    return json.loads(SHIPPED_EVAL.read_text())["entries"] if SHIPPED_EVAL.exists() else None


def shipped_curves(entries: dict | None, task: str, description: bool) -> dict[str, dict]:
    """{size: {"k": [...], "accuracy": [...], "low": [...], "high": [...]}} of the shipped evaluation."""
    out: dict[str, dict] = {}
    for size in family_members():
        ks, acc, low, high = [], [], [], []
        for k in KS:
            e = (entries or {}).get(f"{size}/{task}/{k}/{'desc' if description else 'nodesc'}")
            if e is None:
                continue
            lo, hi = wilson_interval(e["correct"], e["n"])
            ks.append(k), acc.append(e["accuracy"]), low.append(lo), high.append(hi)
        if ks:
            out[size] = {"k": ks, "accuracy": acc, "low": low, "high": high}
    return out


def copier_ceiling(k: int, n: int = 200, seed: int = 0) -> float:
    """The mapping's exact-match accuracy for a perfect copier at K: the share of the evaluation's instances whose
    query word appears among the demonstrations (otherwise nothing in the prompt tells its fresh label)."""
    if k == 0:
        return 0.0
    hits = 0
    for inst in evaluation.instances("mapping", k, n, seed=seed):
        lines = inst.prompt.split("\n")
        query = lines[-1][:-len(ARROW.rstrip())]
        hits += any(line.split(ARROW)[0] == query for line in lines[:-1])
    return hits / n


def x_of(k: float) -> float:
    """Where K sits on the plot's x axis: log2(K + 1), so K = 0 shows."""
    return math.log2(k + 1)


def fig12_figure(entries: dict | None, task: str, description: bool, points: dict | None = None,
                 ceiling: list[float] | None = None, dpi: float = 72) -> Figure:
    """Accuracy vs K per family size (shipped, with 95% Wilson intervals), the lab's points as stars, and for the
    mapping a perfect copier's ceiling. points: {(size, task, k, description): score dict}."""
    fig = Figure(figsize=(10.5, 4.6), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    for size, c in shipped_curves(entries, task, description).items():
        x = [x_of(k) for k in c["k"]]
        err = [np.subtract(c["accuracy"], c["low"]), np.subtract(c["high"], c["accuracy"])]
        ax.errorbar(x, c["accuracy"], yerr=err, fmt="o-", ms=4, lw=2, capsize=3, alpha=0.55,
                    color=SIZE_COLOURS.get(size, "grey"), label=f"{size} (shipped, n=200)")
    if ceiling is not None:
        ax.plot([x_of(k) for k in KS], ceiling, "k--", lw=1.5, label="perfect copier")
    for (size, t, k, desc), r in (points or {}).items():
        if t != task or desc != description:
            continue
        lo, hi = r["ci95"]
        ax.errorbar([x_of(k)], [r["accuracy"]], yerr=[[r["accuracy"] - lo], [hi - r["accuracy"]]], fmt="*", ms=16,
                    capsize=4, color=SIZE_COLOURS.get(size, "red"), markeredgecolor="#d62728", ecolor="#d62728",
                    zorder=5)
    if points:
        ax.plot([], [], "*", ms=14, color="white", markeredgecolor="#d62728", label="your scores (★)")
    ticks = sorted({*KS, *(k for (_, t, k, d) in (points or {}) if t == task and d == description)})
    ax.set_xticks([x_of(k) for k in ticks], [str(k) for k in ticks])
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("K, demonstrations in the prompt", fontsize=14)
    ax.set_ylabel("exact-match accuracy", fontsize=14)
    ax.set_title(f"{TASK_NAMES.get(task, task)}, {'with' if description else 'without'} description", fontsize=15)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(*ax.get_legend_handles_labels(), fontsize=10, loc="outside right upper")
    return fig


# ====================================================================== the lab
class FewShotLab(widgets.VBox):
    """K demonstrations in the prompt, a family model's answer, and Fig. 1.2 point by point. See `fewshot_lab`."""

    def __init__(self, settings: LabSettings, entries: dict | None):
        self.entries = entries
        self.models: dict[str, tuple] = {}
        self.example: Example | None = None
        self.answer: str | None = None
        self.probs: dict[str, float] = {}
        self.points: dict[tuple, dict] = {}
        self.last_score: dict | None = None
        self.error: str | None = None
        self.figure: Figure | None = None
        self._ceiling: list[float] | None = None
        wide = {"description_width": "initial"}
        members = family_members()
        if settings.size not in members:
            raise ValueError(f"size={settings.size!r} is not a shipped family member; shipped: {', '.join(members)}.")
        self.task = widgets.Dropdown(options=[(TASK_NAMES[t], t) for t in TASKS], value=settings.task,
                                     description="task", style=wide, layout=widgets.Layout(width="330px"))
        self.k = widgets.IntSlider(value=settings.k, min=0, max=max(MAX_K, settings.k), description="K",
                                   continuous_update=False, style=wide)
        self.size = widgets.Dropdown(options=members, value=settings.size, description="model", style=wide,
                                     layout=widgets.Layout(width="160px"))
        self.seed = widgets.BoundedIntText(value=settings.seed, min=0, max=MAX_SEED, description="seed", style=wide,
                                           layout=widgets.Layout(width="140px"))
        self.description = widgets.Checkbox(value=settings.description, description="with description",
                                            indent=False, style=wide)
        self.n = widgets.Dropdown(options=sorted({*N_CHOICES, settings.n}), value=settings.n, description="queries",
                                  style=wide, layout=widgets.Layout(width="150px"))
        self.button = widgets.Button(description="Score", button_style="primary", icon="check",
                                     tooltip="run N held-out queries at these settings; add a point to the plot")
        self.progress = widgets.IntProgress(value=0, min=0, max=settings.n)
        self.progress_label = widgets.Label("")
        self.prompt_view = widgets.HTML()
        self.answer_view = widgets.HTML()
        self.status = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(width="100%"))
        for widget, name in ((self.task, "task"), (self.k, "k"), (self.size, "size"), (self.seed, "seed"),
                             (self.description, "description"), (self.n, "n"), (self.button, "score"),
                             (self.progress, "progress"), (self.progress_label, "progress-label"),
                             (self.prompt_view, "prompt"), (self.answer_view, "answer"), (self.status, "status"),
                             (self.output, "figure")):
            widget.add_class(f"gptedu-{name}")
        super().__init__([widgets.HBox([self.task, self.k, self.size]),
                          widgets.HBox([self.seed, self.description, self.n, self.button, self.progress,
                                        self.progress_label]),
                          self.status, self.prompt_view, self.answer_view, self.output])
        for widget in (self.task, self.k, self.size, self.seed, self.description):
            widget.observe(self.refresh, names="value")
        for widget in (self.task, self.description):
            widget.observe(self._redraw_plot, names="value")
        self.button.on_click(lambda _: self.score_now())
        self.refresh()
        self._redraw_plot()

    # ------------------------------------------------------------------ what the controls say
    @property
    def settings(self) -> LabSettings:
        return LabSettings(task=self.task.value, k=self.k.value, size=self.size.value, seed=self.seed.value,
                           description=self.description.value, n=self.n.value)

    def loaded(self, size: str) -> tuple:
        if size not in self.models:
            self.models[size] = load_family(size)
        return self.models[size]

    # ------------------------------------------------------------------ one example
    def refresh(self, change: Any = None) -> None:
        """Draw the example for the controls' settings, the model's answer and the candidates' probabilities."""
        self.error, self.answer, self.probs = None, None, {}
        try:
            s = self.settings
            model, tok = self.loaded(s.size)
            block = model.config.block_size
            ex = self.example = draw_example(s.task, s.k, s.seed, s.description)
            self.prompt_view.value = prompt_html(ex, block, tok)
            check_fits(tok, ex, block)
            n_tokens = prompt_tokens(tok, ex) + len(tok.encode(ex.answer + "\n")) - 1
            self.answer = greedy_answer(model, tok, ex.prompt)
            cands = candidates(ex, self.answer)
            self.probs = dict(zip(cands, candidate_probs(model, tok, ex, cands)))
            self._show_answer(ex)
            if n_tokens > block:
                self.error = (f"PromptTooLong: this prompt and its answer are {n_tokens} characters; the {s.size} model "
                              f"sees {block}. The first {n_tokens - block} are cropped from the left (struck through), "
                              f"as the evaluation crops them: the model sees "
                              f"{visible_demonstrations(tok, ex, block)} of the {s.k} demonstrations.")
        except Exception as error:  # shown to the learner, not raised into the widget's callback
            self.error = f"{type(error).__name__}: {error}"
            self.answer_view.value = ""
            if not isinstance(error, DoesNotFit):
                self.prompt_view.value = ""
        self._show_status()

    def _show_answer(self, ex: Example) -> None:
        right = self.answer == ex.answer  # exact match: a space, the output, then the newline greedy stopped at
        mark = ('<span style="color:#1a7f37">✓ right</span>' if right else
                f'<span style="color:{ERROR_COLOUR}">✗ wrong (right: {html.escape(ex.target)})</span>')
        rows = "".join(
            f"<tr><td style='padding-right:12px;font-family:monospace'>{html.escape(c)}</td>"
            f"<td style='padding-right:8px'>{p:.3f}</td><td><div style='background:"
            f"{'#1a7f37' if c == ex.target else '#1f5fa8'};height:12px;width:{max(1, round(200 * p))}px'></div></td>"
            f"<td style='padding-left:6px;color:#555'>{'right answer' if c == ex.target else ''}"
            f"{' · model' if render_answer(c) == self.answer else ''}</td></tr>"
            for c, p in sorted(self.probs.items(), key=lambda kv: -kv[1]))
        self.answer_view.value = (
            f'<div style="font-size:{FONT_PX * 0.8:.0f}px">model\'s answer (greedy): '
            f'<b style="font-family:monospace">{html.escape(repr(self.answer))}</b> {mark}</div>'
            f'<div style="font-size:{FONT_PX * 0.65:.0f}px;margin-top:4px">P(answer and newline | prompt) '
            f'for some candidates:</div><table style="font-size:{FONT_PX * 0.7:.0f}px">{rows}</table>')

    def _show_status(self, note: str = "") -> None:
        parts = []
        if self.error:
            parts.append(f'<span style="color:{ERROR_COLOUR}">{html.escape(self.error)}</span>')
        if note:
            parts.append(html.escape(note))
        self.status.value = f'<div style="font-size:{FONT_PX * 0.8:.0f}px;line-height:1.4">{"<br>".join(parts)}</div>'

    # ------------------------------------------------------------------ scoring
    def _on_progress(self, done: int, n: int) -> None:
        self.progress.max, self.progress.value = n, done
        self.progress_label.value = f"{done}/{n} queries"

    def score_now(self) -> dict | None:
        """What Score does: run N held-out queries, add the point to the plot; returns the score (None on error)."""
        self.button.disabled = True
        try:
            s = self.settings
            model, tok = self.loaded(s.size)
            check_fits(tok, draw_example(s.task, s.k, s.seed, s.description), model.config.block_size)
            self._on_progress(0, s.n)
            r = score(model, tok, s, on_progress=self._on_progress)
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"
            self._show_status()
            return None
        finally:
            self.button.disabled = False
        self.points[(s.size, s.task, s.k, s.description)] = r
        self.last_score = r
        shipped = (self.entries or {}).get(s.key)
        note = (f"{s.size}, {s.task}, K={s.k}, {'with' if s.description else 'no'} description: "
                f"{r['correct']}/{r['n']} right = {r['accuracy']:.2f} (95% interval {r['ci95'][0]:.2f}-"
                f"{r['ci95'][1]:.2f})")
        if shipped is not None:
            note += f"; shipped (n={shipped['n']}): {shipped['accuracy']:.2f}"
        if r["cropped"]:
            note += f"; {r['cropped']} of the prompts were longer than the context and cropped from the left"
        self._show_status(note)
        self._redraw_plot()
        return r

    def _redraw_plot(self, change: Any = None) -> None:
        task, desc = self.task.value, self.description.value
        if task == "mapping" and self._ceiling is None:
            self._ceiling = [copier_ceiling(k) for k in KS]
        self.figure = fig12_figure(self.entries, task, desc, self.points,
                                   self._ceiling if task == "mapping" else None)
        show_figure(self.output, self.figure, f"<Fig. 1.2: {task}, {len(self.points)} points of yours>")

    def __repr__(self) -> str:
        try:
            s = self.settings
            now = f"{s.size}, {s.task}, K={s.k}, seed {s.seed}, {'with' if s.description else 'no'} description"
        except ValueError as error:
            now = f"invalid ({error})"
        return f"FewShotLab({now}; points scored: {len(self.points)})"


def fewshot_lab(task: str = "insertion", k: int = 1, size: str = "38k", seed: int = 0, description: bool = False,
                n: int = 50, entries: dict | str | None = "shipped") -> FewShotLab:
    """GPT-3's in-context learning on the course's family: pick a task, K, a size, a seed and the description.

    The prompt shows coloured (description, demonstrations, query, right answer), with the model's greedy
    answer and the probability of each candidate answer. Score runs `n` held-out queries (the shipped
    evaluation's for seed 0) with a progress bar and puts a star on the Fig. 1.2 plot, over the shipped
    curves (`entries`: "shipped" reads data/results/family_eval.json; or its entries dict; or None).
    Errors (a prompt longer than the context, a K that cannot fit) show in red in the status.
    Drive it from code: `lab.k.value = 8; lab.size.value = "113k"; r = lab.score_now()`.
    """
    if isinstance(entries, str):
        if entries != "shipped":
            raise ValueError(f"entries={entries!r}: pass 'shipped', the evaluation's entries dict, or None.")
        entries = load_shipped_eval()
    elif entries is not None and not isinstance(entries, dict):
        raise TypeError(f"entries must be 'shipped', a dict or None; got {type(entries).__name__}.")
    return FewShotLab(LabSettings(task=task, k=k, size=size, seed=seed, description=description, n=n), entries)
