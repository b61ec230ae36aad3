"""GPT-1 Figure 2 (left), live: how many pretrained layers does fine-tuning need?

GPT-1 transferred the embeddings and the first k of its 12 pretrained blocks, initialised the rest
afresh, fine-tuned, and found that every transferred layer helps. At laptop scale:

- `transfer_figure(sweep)` draws the cached sweep (gptedu.experiments.finetune_sweep: the shipped 6-layer
  char model on Rotten Tomatoes sentiment, several seeds per point, plus Table 5's "no pre-training"
  and "no auxiliary LM" runs) as test accuracy against k;
- `transfer_lab(gpt, tokenizer, sweep)` lets a learner add points: pick k (or a random start), λ,
  the steps and a seed, press Fine-tune, and a star lands on the same figure.

Stable CSS classes for browser tests: gptedu-task, gptedu-layers, gptedu-start, gptedu-lambda,
gptedu-steps, gptedu-lr, gptedu-seed, gptedu-finetune, gptedu-progress, gptedu-progress-label, gptedu-status,
gptedu-figure.
"""
from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..finetune import GPTClassifier, finetune, transfer
from ..tasks import FINETUNE_TASKS, finetune_examples
from .common import (ERROR_COLOUR, FONT_PX, MAX_SEED, check_model, check_positive_int, check_seed,
                     check_tokenizer, show_figure)

GPT1_LAMBDA = 0.5  # GPT-1's weight on the auxiliary LM loss (section 3.2)
NONE_X = -1.0  # where a run with nothing transferred (random init) sits: left of k=0, tick "none"
SWEEP_COLOUR, NO_AUX_COLOUR, NO_PRETRAINING_COLOUR = "#1f77b4", "#ff7f0e", "#7f7f7f"
LIVE_COLOURS = {"pretrained": "#d62728", "λ=0": NO_AUX_COLOUR, "random init": "#9467bd"}
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3)  # the lab's choices, plus the lr it is given
# The lab opens on a run that learns: all layers, OPENING_STEPS steps at OPENING_LR (k=6, seed 0 on the shipped
# model: see chapter 06, which runs it). At the sweep's lr (3e-4) a short run stays at chance.
OPENING_STEPS, OPENING_LR = 150, 1e-3
UNITS = {"sentiment": "reviews"}  # what a test example is called in the status; "test examples" otherwise


# ====================================================================== checks on what the lab is given
def check_task(task: Any) -> None:
    """One of FINETUNE_TASKS' names, or a ValueError that lists them."""
    if not isinstance(task, str) or task not in FINETUNE_TASKS:  # a list is named, not "unhashable type"
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(map(repr, FINETUNE_TASKS))}.")


def check_sweep(sweep: Any) -> None:
    """None, or the results dict of gptedu.experiments.finetune_sweep (json.loads of its file, not the file's path)."""
    if sweep is None:
        return
    if not isinstance(sweep, dict):
        hint = (" Read the file first: sweep = json.loads(Path(path).read_text())."
                if isinstance(sweep, (str, Path)) else "")
        raise TypeError(f"sweep must be the dict gptedu.experiments.finetune_sweep writes as JSON (or None); "
                        f"got {type(sweep).__name__} {str(sweep)[:60]!r}.{hint}")
    rows = sweep.get("rows", [])
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError("sweep['rows'] must be a list of runs (dicts), as gptedu.experiments.finetune_sweep "
                         "writes them.")
    lacking = [key for key in ("settings", "summary") if rows and key not in sweep]
    if lacking:
        raise ValueError(f"sweep has rows but lacks {' and '.join(map(repr, lacking))}: pass the whole JSON that "
                         "gptedu.experiments.finetune_sweep writes.")


def _check_number(value: Any, name: str, low: float = 0.0) -> None:
    """A real number > low (a bool is not one), or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value > low \
            or not math.isfinite(value):  # inf is no learning rate: the run only turns to NaN
        raise ValueError(f"{name}={value!r} must be a number > {low:g} (and finite).")


# ====================================================================== the figure
def sweep_runs(sweep: dict | None, task: str) -> dict[str, list[dict]]:
    """The sweep's runs of `task`, by point ("k=0", ..., "no_pretraining", "no_aux_lm"); {} if it has none."""
    runs: dict[str, list[dict]] = {}
    for row in (sweep or {}).get("rows", []):
        if row.get("task") == task:
            runs.setdefault(row["point"], []).append(row)
    return runs


def live_kind(point: dict) -> str:
    """Which colour a live run gets: "pretrained", "λ=0" (no auxiliary LM loss) or "random init"."""
    if not point["pretrained"]:
        return "random init"
    return "λ=0" if point["lambda_lm"] == 0 else "pretrained"


def _x(k: int | None, pretrained: bool) -> float:
    return float(k) if pretrained else NONE_X


def _seed_dots(ax: Any, x: float, runs: list[dict], colour: str, label: str | None) -> list[float]:
    """Each seed's run as a small faint dot, spread a little sideways so equal results stay visible."""
    accs = [row["test_accuracy"] for row in runs]
    xs = x + (np.linspace(-0.12, 0.12, len(accs)) if len(accs) > 1 else np.zeros(1))
    ax.scatter(xs, accs, s=28, color=colour, alpha=0.45, linewidths=0, zorder=3, label=label)
    return accs


def _draw_sweep(ax: Any, sweep: dict, runs: dict[str, list[dict]], n_layer: int) -> list[float]:
    """Mean ± sd per k (a line), the seeds as dots, no pre-training as a band, λ=0 as a diamond; returns
    every accuracy drawn (for the y range)."""
    summary, steps = sweep["summary"], sweep["settings"]["steps"]
    drawn: list[float] = []
    ks = sorted(int(name[2:]) for name in runs if name.startswith("k="))
    if ks:
        stats = [summary[f"k={k}"] for k in ks]
        seeds = sorted({s["n"] for s in stats})
        n = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"
        lam = runs[f"k={ks[0]}"][0]["lambda_lm"]
        ax.errorbar(ks, [s["mean"] for s in stats], yerr=[s["std"] for s in stats], fmt="o-", color=SWEEP_COLOUR,
                    lw=2.5, ms=9, capsize=6, capthick=2, zorder=4,
                    label=f"pretrained, λ={lam:g}, {n} seeds, {steps} steps (mean ± sd)")
        for i, k in enumerate(ks):
            drawn += _seed_dots(ax, k, runs[f"k={k}"], SWEEP_COLOUR, "one seed's run" if i == 0 else None)
        drawn += [s["mean"] + sign * s["std"] for s in stats for sign in (-1, 1)]
    if "no_pretraining" in runs:
        s = summary["no_pretraining"]
        ax.axhspan(s["mean"] - s["std"], s["mean"] + s["std"], color=NO_PRETRAINING_COLOUR, alpha=0.18, lw=0,
                   label="no pre-training (mean ± sd)")
        ax.axhline(s["mean"], color=NO_PRETRAINING_COLOUR, lw=2, zorder=2)
        drawn += [s["mean"] - s["std"], s["mean"] + s["std"]]
    if "no_aux_lm" in runs:
        s, x = summary["no_aux_lm"], n_layer + 0.3  # beside k=n_layer, which is the same model with λ>0
        ax.errorbar([x], [s["mean"]], yerr=[s["std"]], fmt="D", color=NO_AUX_COLOUR, ms=10, capsize=6, capthick=2,
                    zorder=4, label="all layers, λ=0 (no auxiliary LM loss; mean ± sd)")
        drawn += _seed_dots(ax, x, runs["no_aux_lm"], NO_AUX_COLOUR, None)
        drawn += [s["mean"] - s["std"], s["mean"] + s["std"]]
    return drawn


def _draw_live(ax: Any, live: Sequence[dict]) -> None:
    """Each live run as a big star; repeated runs at the same x step a little to the right."""
    labelled, at_x = set(), {}
    for point in live:
        kind, x = live_kind(point), _x(point["k"], point["pretrained"])
        x_shown = x + 0.1 * at_x.get(x, 0)
        at_x[x] = at_x.get(x, 0) + 1
        label = None if kind in labelled else f"your runs ({kind})"
        labelled.add(kind)
        ax.plot([x_shown], [point["accuracy"]], marker="*", ms=24, color=LIVE_COLOURS[kind], mec="black", mew=1,
                ls="none", zorder=6, label=label)
        note = f"{point['steps']} steps" + (f", lr {point['lr']:g}" if "lr" in point else "")
        if point["lambda_lm"] not in (0, GPT1_LAMBDA):
            note += f", λ={point['lambda_lm']:g}"
        ax.annotate(note, (x_shown, point["accuracy"]), xytext=(12, 8), textcoords="offset points",
                    fontsize=12, color=LIVE_COLOURS[kind], zorder=6)


def transfer_figure(sweep: dict | None, task: str = "sentiment", live: Sequence[dict] = (), n_layer: int = 6,
                    next_run: dict | None = None, dpi: float = 72) -> Figure:
    """GPT-1 Fig. 2 (left): test accuracy against the number of pretrained layers transferred.

    From `sweep` (the JSON of gptedu.experiments.finetune_sweep; used only if its rows are of `task`): mean ± sd
    across seeds at each k, each seed's run as a faint dot, "no pre-training" as a band, "all layers,
    λ=0" as a diamond. `live`: runs as TransferLab.points makes them ({task, k, pretrained, lambda_lm,
    steps, seed, accuracy, ...}), drawn as stars (those of `task` only); a run with nothing transferred
    sits at "none", left of k=0. `next_run` ({k, pretrained}) marks where the next run will land.
    A pyplot figure, like the course's other plots: a notebook cell shows it with plt.show().
    """
    check_task(task)
    check_sweep(sweep)
    check_positive_int(n_layer, "n_layer")
    if isinstance(live, (str, dict)) or not all(isinstance(p, dict) for p in live):
        raise TypeError("live must be a list of runs (dicts, as TransferLab.points holds them).")
    info = FINETUNE_TASKS[task]
    live = [p for p in live if p["task"] == task]
    runs = sweep_runs(sweep, task)
    fig = plt.figure(figsize=(11, 6.6), dpi=dpi, layout="constrained")
    ax = fig.subplots()
    drawn = _draw_sweep(ax, sweep, runs, n_layer) if runs else []
    ax.axhline(info.chance, color="black", ls=":", lw=2, label=f"chance ({info.chance:g})")
    _draw_live(ax, live)
    drawn += [p["accuracy"] for p in live] + [info.chance]
    if next_run is not None:
        ax.axvline(_x(next_run["k"], next_run["pretrained"]), color=LIVE_COLOURS["pretrained"], alpha=0.15, lw=14,
                   zorder=1, label="next run")
    if not runs and not live:
        ax.text(0.5, 0.6, "No cached sweep for this task: fine-tune to add points.", transform=ax.transAxes,
                ha="center", fontsize=15, color="#555")

    show_none = any(not p["pretrained"] for p in live) or (next_run is not None and not next_run["pretrained"])
    ticks = ([NONE_X] if show_none else []) + list(range(n_layer + 1))
    ax.set_xticks(ticks, (["none"] if show_none else []) + [str(k) for k in range(n_layer + 1)])
    ax.set_xlim((NONE_X if show_none else 0) - 0.5, n_layer + 0.6)
    low, high = min(min(drawn), info.chance - 0.05) - 0.03, max(max(drawn), info.chance + 0.1) + 0.04
    ax.set_ylim(max(0.0, low), min(1.0, high))
    ax.set_xlabel("layers transferred (0 = embeddings only)", fontsize=15)
    ax.set_ylabel("test accuracy", fontsize=15)
    ax.tick_params(labelsize=13)
    ax.grid(alpha=0.3)
    ax.set_title(f"GPT-1 Fig. 2 (left), laptop scale: {info.title}", fontsize=16)
    fig.legend(*_legend_order(ax), loc="outside lower center", ncols=2, fontsize=12, frameon=False, markerscale=0.7)
    return fig


def _legend_order(ax: Any) -> tuple[list, list[str]]:
    """The legend's entries: the sweep first, then chance, then the live runs and the next-run marker."""
    handles, labels = ax.get_legend_handles_labels()
    first = ("pretrained", "one seed", "no pre-training", "all layers", "chance", "your runs", "next run")
    rank = [next((i for i, start in enumerate(first) if label.startswith(start)), len(first)) for label in labels]
    order = sorted(range(len(labels)), key=lambda i: (rank[i], i))
    return [handles[i] for i in order], [labels[i] for i in order]


# ====================================================================== the lab
def describe_run(point: dict) -> str:
    """A run's settings in words: "k=4, λ=0.5, lr 0.0003, 100 steps, seed 0" (or "no pre-training, ...")."""
    start = f"k={point['k']}" if point["pretrained"] else "no pre-training"
    lr = f", lr {point['lr']:g}" if "lr" in point else ""
    return f"{start}, λ={point['lambda_lm']:g}{lr}, {point['steps']} steps, seed {point['seed']}"


class TransferLab(widgets.VBox):
    """Fine-tune after transferring k pretrained layers, and see the run land on Fig. 2. See `transfer_lab`."""

    def __init__(self, gpt: Any, tokenizer: Any, sweep: dict | None = None, *, task: str = "sentiment",
                 n_train: int = 2000, n_test: int = 500, steps: int = OPENING_STEPS, batch_size: int = 16,
                 lr: float = OPENING_LR, seed: int = 0):
        check_task(task)
        check_model(gpt, "gpt")
        check_tokenizer(tokenizer)
        check_sweep(sweep)
        for name, value in (("n_train", n_train), ("n_test", n_test), ("steps", steps), ("batch_size", batch_size)):
            check_positive_int(value, name)
        _check_number(lr, "lr")
        check_seed(seed)
        self.gpt, self.tokenizer, self.sweep = gpt, tokenizer, sweep
        self.n_train, self.n_test, self.batch_size = n_train, n_test, batch_size
        self.n_layer = gpt.config.n_layer
        self.points: list[dict] = []  # every finished run, in order
        self.figure: Figure | None = None
        self.error: str | None = None  # the last run's error, as "TypeName: message"
        self._examples: dict[tuple, tuple[list, list]] = {}
        self._note = ""  # the status's second line: the last run's result, or what is happening now

        wide = {"description_width": "initial"}
        self.task = widgets.Dropdown(options=[(t.title, t.name) for t in FINETUNE_TASKS.values()], value=task,
                                     description="task", style=wide, layout=widgets.Layout(width="520px"))
        self.start = widgets.ToggleButtons(options=[("pretrained", "pretrained"),
                                                    ("random: no pre-training", "random")],
                                           value="pretrained", description="start from",
                                           style={**wide, "button_width": "auto"})
        self.layers = widgets.IntSlider(value=self.n_layer, min=0, max=self.n_layer, description="layers k",
                                        continuous_update=False, style=wide)
        self.lambda_lm = widgets.FloatSlider(value=GPT1_LAMBDA, min=0.0, max=1.0, step=0.1, description="λ (LM loss)",
                                             continuous_update=False, style=wide)
        self.steps = widgets.IntSlider(value=steps, min=min(20, steps), max=max(300, steps), step=10,
                                       description="steps", continuous_update=False, style=wide)
        # Short runs learn faster with a larger step: the lab opens on OPENING_LR, not the sweep's 3e-4.
        self.learning_rate = widgets.Dropdown(options=[(f"{v:g}", v) for v in sorted({*LEARNING_RATES, lr})],
                                              value=lr, description="learning rate", style=wide,
                                              layout=widgets.Layout(width="220px"))
        self.seed = widgets.BoundedIntText(value=seed, min=0, max=MAX_SEED, description="seed", style=wide,
                                           layout=widgets.Layout(width="150px"))
        self.button = widgets.Button(description="Fine-tune", button_style="primary", icon="play",
                                     tooltip="fine-tune with these settings and add the run to the figure")
        self.progress = widgets.IntProgress(value=0, min=0, max=steps)
        self.progress_label = widgets.Label("")
        self.status = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(width="100%"))
        for widget, name in ((self.task, "task"), (self.start, "start"), (self.layers, "layers"),
                             (self.lambda_lm, "lambda"), (self.steps, "steps"), (self.learning_rate, "lr"),
                             (self.seed, "seed"),
                             (self.button, "finetune"), (self.progress, "progress"),
                             (self.progress_label, "progress-label"), (self.status, "status"),
                             (self.output, "figure")):
            widget.add_class(f"gptedu-{name}")
        super().__init__([self.task, widgets.HBox([self.start, self.layers]),
                          widgets.HBox([self.lambda_lm, self.steps, self.learning_rate, self.seed]),
                          widgets.HBox([self.button, self.progress, self.progress_label]), self.status, self.output])
        for widget in (self.task, self.start, self.layers):
            widget.observe(self.redraw, names="value")
        self.button.on_click(lambda _: self.run())
        self.redraw()

    # ------------------------------------------------------------------ what the controls say
    @property
    def settings(self) -> dict:
        """The next run, as the controls set it: {task, k, pretrained, lambda_lm, lr, steps, seed}."""
        pretrained = self.start.value == "pretrained"
        return {"task": self.task.value, "k": self.layers.value if pretrained else None, "pretrained": pretrained,
                "lambda_lm": round(self.lambda_lm.value, 3),  # the slider's 0.1 steps, without float noise
                "lr": self.learning_rate.value, "steps": self.steps.value, "seed": self.seed.value}

    def _sweep_matches(self, task: str) -> bool:
        return bool(sweep_runs(self.sweep, task))

    def examples(self, task: str) -> tuple[list, list]:
        """The (train, test) examples of `task`, built once. For the sweep's own task they are the
        sweep's (its data_seed and n_test), so a live run's accuracy compares with the sweep's."""
        n_test, data_seed = self.n_test, 0
        if self._sweep_matches(task):
            n_test, data_seed = self.sweep["settings"]["n_test"], self.sweep["settings"]["data_seed"]
        key = (task, self.n_train, n_test, data_seed)
        if key not in self._examples:
            block = self.gpt.config.block_size
            self._examples[key] = tuple(finetune_examples(task, n, split, data_seed, self.tokenizer, block)
                                        for n, split in ((self.n_train, "train"), (n_test, "test")))
        return self._examples[key]

    # ------------------------------------------------------------------ drawing
    def redraw(self, change: Any = None) -> None:
        """Redraw the figure and the status (called when the task, k or the start changes)."""
        self.layers.disabled = self.start.value == "random"  # nothing is transferred: k means nothing
        s = self.settings
        self.figure = transfer_figure(self.sweep, s["task"], self.points, self.n_layer,
                                      next_run={"k": s["k"], "pretrained": s["pretrained"]})
        show_figure(self.output, self.figure, f"<GPT-1 Fig. 2 (left): {s['task']}, {len(self.points)} live runs>")
        plt.close(self.figure)  # drawn into the widget only, not again by the notebook at the end of a cell
        self._show_status()

    def _show_status(self) -> None:
        task = self.task.value
        if self._sweep_matches(task):
            settings = self.sweep["settings"]
            about = (f"Dots, line and band: the cached sweep ({settings['steps']} steps per run). Stars: your runs, "
                     f"tested on the same {settings['n_test']} {UNITS.get(task, 'test examples')}.")
        else:
            tasks = {row.get("task") for row in (self.sweep or {}).get("rows", [])} & set(FINETUNE_TASKS)
            which = (f"Only {' and '.join(FINETUNE_TASKS[t].title for t in sorted(tasks))} has a cached sweep"
                     if tasks else "No cached sweep")
            about = f"{which}: for this task the figure shows your runs only. Try a pretrained and a random start."
        self.status.value = (f'<div style="font-size:{FONT_PX * 0.8:.0f}px;line-height:1.5">'
                             f"{html.escape(about)}<br>{self._note}</div>")

    def _on_step(self, done: int, losses: dict) -> None:
        self.progress.value = done
        self.progress_label.value = (f"step {done}/{self.progress.max} · task loss {losses['task_loss']:.2f} · "
                                     f"LM loss {losses['lm_loss']:.2f}")

    # ------------------------------------------------------------------ fine-tuning
    def run(self) -> dict | None:
        """Fine-tune once with the controls' settings; add the run to `points` and the figure, and return it.

        Returns None if the run failed: the status shows why in red (and `error` holds it).
        The Fine-tune button calls this; it is disabled while a run lasts.
        """
        s = self.settings
        self.button.disabled, self.error = True, None
        try:
            point = self._finetune(s)
        except Exception as error:  # shown to the learner, not raised into the widget's callback
            self.error = f"{type(error).__name__}: {error}"
            self._note = f'<span style="color:{ERROR_COLOUR}">{html.escape(self.error)}</span>'
            self._show_status()
            return None
        finally:
            self.button.disabled = False
        self.points.append(point)
        unit = UNITS.get(s["task"], "test examples")
        self._note = html.escape(f"{describe_run(point)}: test accuracy {point['accuracy']:.3f} on "
                                 f"{point['n_test']} {unit} (took {point['seconds']:.0f} s)")
        self.redraw()
        return point

    def _finetune(self, s: dict) -> dict:
        self._note = html.escape(f"fine-tuning: {describe_run(s)} ...")
        self._show_status()
        self.progress.max, self.progress.value, self.progress_label.value = max(1, s["steps"]), 0, ""
        started = time.perf_counter()
        train, test = self.examples(s["task"])
        seed = s["seed"]
        base = (transfer(self.gpt, s["k"], seed=seed) if s["pretrained"]
                else transfer(self.gpt, pretrained=False, seed=seed))
        model = GPTClassifier(base, self.tokenizer, FINETUNE_TASKS[s["task"]].form, seed=seed)
        model.to(next(self.gpt.parameters()).device)
        result = finetune(model, train, test, steps=s["steps"], batch_size=self.batch_size, lr=s["lr"],
                          lambda_lm=s["lambda_lm"], seed=seed, progress=False, on_step=self._on_step)
        last = result.history[-1]
        return {**s, "accuracy": result.accuracy, "seconds": round(time.perf_counter() - started, 1),
                "n_test": len(test), "final_task_loss": last["task_loss"], "final_lm_loss": last["lm_loss"]}

    def __repr__(self) -> str:
        next_run = describe_run(self.settings)
        return f"TransferLab({self.task.value!r}, next run: {next_run}; runs done: {len(self.points)})"


def transfer_lab(gpt: Any, tokenizer: Any, sweep: dict | None = None, *, task: str = "sentiment",
                 n_train: int = 2000, n_test: int = 500, steps: int = OPENING_STEPS, batch_size: int = 16,
                 lr: float = OPENING_LR, seed: int = 0) -> TransferLab:
    """GPT-1 Fig. 2 (left) to play with: transfer k pretrained layers, fine-tune, see where the run lands.

    Shows `transfer_figure` for the task: the cached `sweep` (if it is of this task) and your own runs
    as stars. Pick the task, "start from" pretrained (transfer the embeddings and the first k blocks
    of `gpt`; the rest start random) or random (no pre-training), λ (the weight of the auxiliary LM
    loss; 0 turns it off), the steps and a seed, then press Fine-tune: the progress bar follows the
    steps, and the run's test accuracy lands on the figure. The same settings and seed give the same
    accuracy (at a fixed torch thread count). For the sweep's task, runs use the sweep's test set
    (its n_test and data seed) so the stars compare with its dots; n_train and batch_size hold for
    every run; `steps` and `lr` are where the steps slider and the learning-rate picker start: by default
    OPENING_STEPS at OPENING_LR, a run that learns (at the sweep's lr, 3e-4, a short run stays at chance).
    Drive it from code: `lab.layers.value = 2`, `lab.start.value = "random"`, `lab.lambda_lm.value = 0.0`,
    `lab.steps.value = 100`, `lab.learning_rate.value = 1e-3`, `lab.seed.value = 1`,
    `lab.task.value = "next_line"`, then `point = lab.run()` (None if it failed: `lab.error` says why); `lab.points`
    lists every run, `lab.figure` is what is shown. Works offline: ipywidgets and matplotlib only.
    """
    return TransferLab(gpt, tokenizer, sweep, task=task, n_train=n_train, n_test=n_test, steps=steps,
                       batch_size=batch_size, lr=lr, seed=seed)
