"""Chapter 07's depth lab: post-LN (GPT-1) or pre-LN (GPT-2), plain or 1/√(2N) residual init, at depth.

Xiong et al. (2020): a post-LN Transformer needs a learning-rate warmup (or a small learning rate),
a pre-LN one does not. gptedu.experiments.depth_sweep found where that shows on a CPU (12 layers x 64 wide,
width-matched init, Adam beta2 0.999: at lr 3e-3 post-LN without warmup stalls at the unigram loss)
and ships its grid in data/results/gpt2_depth_sweep.json. Here a learner runs cells of that grid, or
any other stack, and compares:

- `RunSettings`: one run's settings, checked (a ValueError names a bad one);
- `build_model(settings, vocab_size)`: the GPT the sweep trains, with the lab's three switches;
- `init_grad_norms(settings)`: per block, at initialisation, the gradient norm of its MLP's first weight
  `mlp.c_fc` (Xiong et al.'s W^1, chapter 07 section 2's headline) and of all its parameters together (one
  backward pass on one fixed batch, the sweep's). The two disagree (chapter 07 shows why): the lab draws
  either (`GRAD_WEIGHTS`), `mlp.c_fc` first;
- `train_run(settings, on_step=..., should_stop=...)`: one short run as the sweep trains it (gptedu's
  Trainer, AdamW, warmup then cosine to lr/10, no gradient clipping); returns its loss curve, and
  never raises for a diverged or stopped run (its record says so);
- `depth_figure(runs, grads, sweep)`: the runs' loss curves over the shipped grid's, and the
  per-layer gradient norms at init (of `mlp.c_fc` or of whole blocks);
- `depth_lab()`: the widget. Pick the layers, the norm, the residual init, lr, warmup and steps, and
  which weights' gradient to draw, press Train: a progress bar follows the steps, Stop ends the run
  after the current step, and the run's curve joins the others on the plot.

The data, the model's width-matched init, the eval batches and the "stalled" rule are the sweep's:
gptedu.experiments.depth_sweep is imported (`sweep_script()`), not copied, so a lab run and a sweep run with
the same settings are the same run.

Stable CSS classes for browser tests: gptedu-layers, gptedu-norm, gptedu-residual-init, gptedu-grad-weights,
gptedu-lr, gptedu-warmup, gptedu-steps, gptedu-seed, gptedu-show-grid, gptedu-train, gptedu-stop, gptedu-clear,
gptedu-progress, gptedu-progress-label, gptedu-status, gptedu-figure.

One module, though long: it is one lab, and the plain functions above the widget are its logic (tests check
them without a browser); they share the lab's settings and the sweep's module, and nothing else uses them.
"""
from __future__ import annotations

import dataclasses
import html
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from ..config import GPTConfig
from ..data import DATA_DIR, get_batch
from ..experiments import depth_sweep
from ..model import GPT
from ..train import TrainConfig, Trainer, TrainingDiverged
from ..checks import require_int
from .common import ERROR_COLOUR, FONT_PX, MAX_SEED, check_positive_int, check_seed, show_figure

SHIPPED_SWEEP = DATA_DIR / "results" / "gpt2_depth_sweep.json"
NORMS = {"post": "post-LN (GPT-1)", "pre": "pre-LN (GPT-2)"}
LEARNING_RATES = (3e-4, 1e-3, 3e-3, 6e-3, 1e-2)  # the picker's choices (plus the lab's own lr)
WARMUPS = (0, 25, 50, 100)
MAX_LAYERS = 24
MAX_STEPS = 250  # the shipped grid's run length
RUN_COLOURS = ("#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
GRID_COLOURS = {"post": "#f5a35c", "pre": "#7fb0dc"}
# Whose gradient norm the right panel draws, per layer at init (chapter 07 section 2 measures both):
# the MLP's first weight (Xiong et al.'s W^1), or all of a block's parameters as one vector.
GRAD_WEIGHTS = {"c_fc": "mlp.c_fc weight", "block": "whole block"}


# ====================================================================== the sweep, imported
def sweep_script() -> ModuleType:
    """gptedu.experiments.depth_sweep, the module the lab trains with (kept as a function for older callers).

    The lab uses its data (load_data), its eval batches (fixed_losses, EVAL_SEED), its curve
    (_windows, CURVE_POINTS) and its "stalled" rule (is_stalled), so lab runs are the sweep's runs.
    """
    return depth_sweep


def load_data() -> dict:
    """The sweep's data: {train, val (token tensors), vocab_size, unigram_loss}; built once (about 2 s)."""
    return sweep_script().load_data()


def load_shipped_sweep() -> dict | None:
    """data/results/gpt2_depth_sweep.json as a dict, or None if it is not there."""
    return json.loads(SHIPPED_SWEEP.read_text()) if SHIPPED_SWEEP.exists() else None


# ====================================================================== one run's settings
@dataclass(frozen=True)
class RunSettings:
    """One run of the lab. The defaults are a cell of the shipped grid (post-LN, lr 3e-3, no warmup), shortened
    from 250 steps to 50: enough to see it stall at the unigram loss where pre-LN trains."""

    n_layer: int = 12
    norm: str = "post"  # "post": GPT-1's x = LN(x + f(x)), no final LN; "pre": GPT-2's x = x + f(LN(x)) + final LN
    residual_init: bool = False  # GPT-2's std 0.02/sqrt(2 * n_layer) for the residual projections
    lr: float = 3e-3
    warmup: int = 0
    steps: int = 50
    seed: int = 0
    n_embd: int = 64
    batch_size: int = 16
    block_size: int = 128
    beta2: float = 0.999
    init: str = "width"  # the sweep's make_model: "width" scales every matrix by sqrt(768 / n_embd); "gpt": std 0.02

    def __post_init__(self) -> None:
        for name in ("n_layer", "steps", "n_embd", "batch_size", "block_size"):
            check_positive_int(getattr(self, name), name)
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, (int, np.integer)) or self.warmup < 0:
            raise ValueError(f"warmup={self.warmup!r} must be a whole number >= 0.")
        check_seed(self.seed)  # the lab's seed box: 0 to 1,000,000
        if not isinstance(self.norm, str) or self.norm not in NORMS:
            raise ValueError(f"norm={self.norm!r} must be 'pre' or 'post'.")
        if not isinstance(self.residual_init, (bool, np.bool_)):
            raise ValueError(f"residual_init={self.residual_init!r} must be True or False.")
        if self.init not in ("width", "gpt"):
            raise ValueError(f"init={self.init!r} must be 'width' or 'gpt'.")
        for name, value, high in (("lr", self.lr, math.inf), ("beta2", self.beta2, 1.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not 0 < value < high:
                raise ValueError(f"{name}={value!r} must be a number > 0" + (f" and < {high:g}." if high < math.inf
                                                                               else " (and finite), e.g. 3e-3."))
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} does not split into {self.n_head} heads (the sweep's heads of "
                             f"32 each): pick a multiple of 32, e.g. 64.")
        if self.warmup > self.steps:
            raise ValueError(f"warmup={self.warmup} is longer than the run (steps={self.steps}): the learning rate "
                             f"would never reach {self.lr:g}. Pick a shorter warmup or more steps.")

    @property
    def n_head(self) -> int:
        return max(1, self.n_embd // 32)  # the sweep's heads of 32

    @property
    def stack(self) -> str:
        """The model in words: "12 layers, post-LN, plain init"."""
        init = "residual init 1/√(2N)" if self.residual_init else "plain init"
        return f"{self.n_layer} layer{'s' * (self.n_layer != 1)}, {self.norm}-LN, {init}"

    def describe(self) -> str:
        """"12 layers, post-LN, plain init, lr 0.003, warmup 0, 50 steps, seed 0"."""
        return f"{self.stack}, lr {self.lr:g}, warmup {self.warmup}, {self.steps} steps, seed {self.seed}"

    def model_key(self) -> tuple:
        """What fixes the model at initialisation (and so its gradient norms there)."""
        return (self.n_layer, self.norm, self.residual_init, self.seed, self.n_embd, self.init)


def model_config(s: RunSettings, vocab_size: int) -> GPTConfig:
    """The sweep's config (the course's tiny presets at the lab's shape, dropout 0) with the lab's switches."""
    return GPTConfig.from_preset("tiny-gpt1" if s.norm == "post" else "tiny", vocab_size=vocab_size,
                                 n_layer=s.n_layer, n_embd=s.n_embd, n_head=s.n_head, block_size=s.block_size,
                                 dropout=0.0, residual_scale_init=bool(s.residual_init))


def build_model(s: RunSettings, vocab_size: int) -> GPT:
    """A fresh GPT as depth_sweep.make_model builds it, but with norm and residual init chosen apart.

    (make_model ties residual init to the norm, as GPT-1 and GPT-2 did; for those two stacks this
    model is the same, weight for weight.) The caller's global torch RNG is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s.seed)
        model = GPT(model_config(s, vocab_size))
    if s.init == "width":  # the sweep's width-matched init: std * sqrt(width) as GPT-1/2 small have at 768
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.mul_(math.sqrt(768 / s.n_embd))
    return model


def _grad_norms(model: GPT) -> dict[str, list[float]]:
    """After a backward pass, per block: {"c_fc": the norm of mlp.c_fc.weight's gradient, "block": the norm
    of the gradient of all the block's parameters as one vector}."""
    return {"c_fc": [block.mlp.c_fc.weight.grad.norm().item() for block in model.h],
            "block": [torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad)
                                                            for p in block.parameters()])).item()
                      for block in model.h]}


def init_grad_norms(s: RunSettings, data: dict | None = None) -> dict[str, list[float]]:
    """Per block, gradient norms at initialisation: {"c_fc": [...], "block": [...]} (see GRAD_WEIGHTS), from
    one forward and backward pass on the sweep's fixed batch (generator seed EVAL_SEED, the run's batch and
    block size). Deterministic.

    They disagree: with GPT-2's residual init, pre-LN's c_fc gradient shrinks with depth while its blocks'
    do not (a block's gradient is mostly its residual projections', which the init does not shrink);
    chapter 07 section 2 measures why.
    """
    data = data or load_data()
    x, y = get_batch(data["train"], s.batch_size, s.block_size,
                     generator=torch.Generator().manual_seed(sweep_script().EVAL_SEED))
    model = build_model(s, data["vocab_size"])
    model(x, y)[1].backward()
    return _grad_norms(model)


# ====================================================================== one run
class _Stopped(Exception):
    """Raised between two steps when should_stop() says so; train_run catches it."""


def train_config(s: RunSettings) -> TrainConfig:
    """The sweep's TrainConfig: AdamW (0.9, beta2), warmup then cosine to lr/10, no clipping, eval only at the ends."""
    return TrainConfig(max_iters=s.steps, batch_size=s.batch_size, learning_rate=s.lr, min_lr=s.lr / 10,
                       warmup_iters=s.warmup, weight_decay=0.1, betas=(0.9, s.beta2), grad_clip=0,
                       eval_interval=s.steps, eval_iters=1, seed=s.seed, device="cpu", progress=False)


def train_run(s: RunSettings, data: dict | None = None, on_step: Callable[[int, float], Any] | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict:
    """Train a fresh model with settings `s` as gptedu.experiments.depth_sweep does; return the run's record.

    on_step(steps_done, loss) is called after every optimizer step; should_stop() is asked after every
    step, and True ends the run there. The record: settings (a dict), label, status ("finished",
    "stopped" or "diverged"), message (why it stopped or diverged, else None), losses (the training
    loss of every step), curve (the sweep's: CURVE_POINTS window means, [{step, value}]), steps_done,
    initial_loss, final_loss (mean of the last 10 steps), final_val_loss (finished runs: the sweep's 10
    fixed batches of the held-out plays; else None), stalled (the sweep's rule: stuck at the unigram
    loss, or not learning since step 50; the second part only for runs of 100 steps or more, as a
    shorter run has too few steps after step 50 to judge), unigram_loss, seconds. A diverged run (TrainingDiverged) is
    a result, not an error: its record says so and keeps its curve up to there.
    """
    script = sweep_script()
    data = data or load_data()
    started = time.perf_counter()
    model = build_model(s, data["vocab_size"])
    trainer = Trainer(model, data["train"], data["val"], train_config(s))
    losses: list[float] = []

    def record_loss(module, inputs, output):  # training steps only (the trainer's estimates run in eval mode)
        if module.training and output[1] is not None:
            losses.append(output[1].item())

    def after_step(optimizer, args, kwargs):
        if on_step is not None:
            on_step(len(losses), losses[-1])
        if should_stop is not None and should_stop() and len(losses) < s.steps:
            raise _Stopped(f"stopped after step {len(losses)} of {s.steps}")

    hooks = [model.register_forward_hook(record_loss), trainer.optimizer.register_step_post_hook(after_step)]
    status, message = "finished", None
    try:
        trainer.fit()
    except _Stopped as stop:
        status, message = "stopped", str(stop)
    except TrainingDiverged as err:
        status, message = "diverged", str(err)
    finally:
        for hook in hooks:
            hook.remove()

    finite = [v for v in losses if math.isfinite(v)]
    final_loss = float(np.mean(finite[-10:])) if finite else float("nan")
    final_val, stalled = None, False
    if status == "finished":
        final_val = script.fixed_losses(model, data, s.batch_size, s.block_size)["val"]
        at_50 = float(np.mean(losses[40:50])) if len(losses) >= 100 else math.inf  # inf: the unigram test alone
        stalled = bool(script.is_stalled(final_val, data["unigram_loss"], final_loss, at_50))
    return {"settings": dataclasses.asdict(s), "label": s.describe(), "status": status, "message": message,
            "losses": losses, "curve": script._windows(losses, script.CURVE_POINTS, script._fmean),
            "steps_done": len(losses), "initial_loss": losses[0] if losses else float("nan"),
            "final_loss": final_loss, "final_val_loss": final_val, "stalled": stalled,
            "unigram_loss": data["unigram_loss"], "seconds": time.perf_counter() - started}


def run_label(i: int, run: dict) -> str:
    """A run's legend entry: "1. 12 layers, post-LN, plain init, lr 0.003, warmup 0, 50 steps: 3.36, stalled"."""
    s = RunSettings(**run["settings"])
    what = f"{s.stack}, lr {s.lr:g}, warmup {s.warmup}, {s.steps} steps" + (f", seed {s.seed}" if s.seed else "")
    if run["status"] != "finished":
        outcome = f"{run['status']} at step {run['steps_done']}"
    else:
        outcome = f"{run['final_loss']:.2f}" + (", stalled" if run["stalled"] else "")
    return f"{i}. {what}: {outcome}"


def describe_result(run: dict) -> str:
    """A run's outcome in words: "final loss 2.61 (held-out 2.70)", "stalled at the unigram loss ...", ..."""
    if run["status"] == "diverged":
        return f"diverged at step {run['steps_done']}"
    if run["status"] == "stopped":
        return f"stopped at step {run['steps_done']}, loss {run['final_loss']:.2f}"
    text = f"final loss {run['final_loss']:.2f} (held-out plays {run['final_val_loss']:.2f})"
    return text + (f", stalled: the unigram loss is {run['unigram_loss']:.2f}" if run["stalled"] else "")


# ====================================================================== the shipped grid
def grid_curves(sweep: dict | None, s: RunSettings) -> list[dict]:
    """The shipped grid's cells at s.lr that were trained as `s` trains (same width, batch, block, beta2,
    init): per (norm, warmup), the mean loss curve over seeds.
    Returns [{norm, warmup, n_layer, steps, seeds, steps_x, values}], post-LN first."""
    cells: dict[tuple, list[dict]] = {}
    for row in (sweep or {}).get("rows", []):
        if row.get("grid") != "final" or not math.isclose(row["lr"], s.lr) or not all(
                row.get(k) == v for k, v in (("n_embd", s.n_embd), ("batch", s.batch_size), ("block", s.block_size),
                                             ("beta2", s.beta2), ("init", s.init))):
            continue
        cells.setdefault((row["norm"], row["warmup"], row["n_layer"], row["steps"]), []).append(row)
    out = []
    for (norm, warmup, n_layer, steps), rows in sorted(cells.items(), key=lambda kv: (kv[0][0] != "post",) + kv[0][1:]):
        curves = [[float(p["value"]) for p in row["loss_curve"]] for row in rows]
        n = min(map(len, curves))
        values = [float(np.mean([c[i] for c in curves if math.isfinite(c[i])] or [np.nan])) for i in range(n)]
        out.append({"norm": norm, "warmup": warmup, "n_layer": n_layer, "steps": steps, "seeds": len(rows),
                    "steps_x": [p["step"] for p in rows[0]["loss_curve"][:n]], "values": values})
    return out


def grid_lrs(sweep: dict | None) -> list[float]:
    """The learning rates of the shipped grid's final cells."""
    return sorted({row["lr"] for row in (sweep or {}).get("rows", []) if row.get("grid") == "final"})


# ====================================================================== the figure
def depth_figure(runs: Sequence[dict] = (), grads: Sequence[float] | None = None, next_run: RunSettings | None = None,
                 sweep: dict | None = None, unigram: float | None = None, dpi: float = 72,
                 weights: str = "c_fc") -> Figure:
    """Left: the training loss of each run (`train_run` records), over the shipped grid's cells at
    next_run's lr (faint, dashed: no warmup, dotted: warmup), with the unigram loss. Right: the gradient
    norm per layer at initialisation of `weights` ("c_fc" or "block", GRAD_WEIGHTS) for each run's stack
    (its record's "grad_norms", init_grad_norms' dict) and (black) `grads`, next_run's stack (a list,
    already of `weights`).

    A matplotlib Figure not registered with pyplot (the lab draws from a background thread);
    display(fig) shows it in a notebook.
    """
    if weights not in GRAD_WEIGHTS:
        raise ValueError(f"weights={weights!r} must be one of {sorted(GRAD_WEIGHTS)}.")
    cells = grid_curves(sweep, next_run) if next_run is not None else []
    entries = len(cells) + len(runs) + (unigram is not None)  # the loss panel's legend, in two columns below
    fig = Figure(figsize=(15, 5.2 + 0.32 * math.ceil(entries / 2)), dpi=dpi, layout="constrained")
    loss_ax, grad_ax = fig.subplots(1, 2, width_ratios=[1.5, 1])
    drawn: list[float] = []
    for cell in cells:
        loss_ax.plot(cell["steps_x"], cell["values"], ls="--" if cell["warmup"] == 0 else ":", lw=2.2,
                     color=GRID_COLOURS[cell["norm"]], zorder=2,
                     label=f"shipped: {cell['norm']}-LN, warmup {cell['warmup']} ({cell['n_layer']} layers, "
                           f"{cell['steps']} steps, {cell['seeds']} seeds)")
        drawn += cell["values"]
    for i, run in enumerate(runs):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        steps, values = [p["step"] for p in run["curve"]], [float(p["value"]) for p in run["curve"]]
        loss_ax.plot(steps, values, "o-", ms=4, lw=2.8, color=colour, zorder=4,
                     label=run_label(i + 1, run))
        drawn += values
        run_grads = run.get("grad_norms")
        if isinstance(run_grads, dict):
            run_grads = run_grads.get(weights)
        if run_grads:
            grad_ax.plot(range(1, len(run_grads) + 1), run_grads, "o-", ms=4, lw=1.8, alpha=0.75,
                         color=colour, label=f"{i + 1}. {RunSettings(**run['settings']).stack}")
    if unigram is not None:
        loss_ax.axhline(unigram, color="black", ls=":", lw=1.5, zorder=3,
                        label=f"unigram loss {unigram:.2f} (character frequencies only)")
        drawn.append(unigram)
    if not runs:
        loss_ax.text(0.5, 0.93, "Press Train: your runs appear here.", transform=loss_ax.transAxes, ha="center",
                     fontsize=15, color="#555")
    finite = [v for v in drawn if math.isfinite(v)]
    if finite:
        loss_ax.set_ylim(min(finite) - 0.1, min(max(finite), 5.0) + 0.1)
    loss_ax.set_xlabel("optimizer step", fontsize=14)
    loss_ax.set_ylabel("training loss (nats per character)", fontsize=14)
    loss_ax.set_title("Training loss (each point: the mean of 1/20 of a run)", fontsize=15)
    if entries:
        fig.legend(*loss_ax.get_legend_handles_labels(), loc="outside lower left", ncols=2, fontsize=10.5,
                   frameon=False)

    if grads is not None and next_run is not None:
        grad_ax.plot(range(1, len(grads) + 1), grads, "s-", ms=6, lw=3, color="black", zorder=5,
                     label=f"next run: {next_run.stack}")
    grad_ax.set_yscale("log")
    grad_ax.set_xlabel("layer (block)", fontsize=14)
    grad_ax.set_ylabel("gradient norm of " + ("each block's mlp.c_fc weight" if weights == "c_fc"
                                              else "all of each block's parameters"), fontsize=14)
    grad_ax.set_title(f"Gradient norm per layer at init: {GRAD_WEIGHTS[weights]}", fontsize=15)
    if grad_ax.get_legend_handles_labels()[0]:
        grad_ax.legend(fontsize=10)
    for ax in (loss_ax, grad_ax):
        ax.tick_params(labelsize=12)
        ax.grid(alpha=0.3)
    return fig


# ====================================================================== the lab
class DepthLab(widgets.VBox):
    """Train post-LN / pre-LN stacks at depth and compare their loss curves. See `depth_lab`."""

    def __init__(self, sweep: dict | None = None, settings: RunSettings = RunSettings()):
        if sweep is not None and not (isinstance(sweep, dict) and isinstance(sweep.get("rows", []), list)):
            raise TypeError(f"sweep must be the dict gptedu.experiments.depth_sweep writes as JSON, 'shipped' or None; "
                            f"got {type(sweep).__name__}.")
        check_seed(settings.seed)  # the seed box would silently move it to its end
        # The layers slider's range: a deeper stack is refused, not built (10**7 layers never finish building).
        require_int("n_layer", settings.n_layer, 1, maximum=MAX_LAYERS, hint=" (the lab's layers slider)")
        self.sweep = sweep
        self.fixed = settings  # what the lab's controls do not change: width, batch, block, beta2, init
        self.data = load_data()
        self.runs: list[dict] = []
        self.figure: Figure | None = None
        self.error: str | None = None  # the last error, as "TypeName: message"
        self._grads: dict[tuple, dict[str, list[float]]] = {}
        self._note = ""
        self._stale_error = False  # the status shows an error the controls caused
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        wide = {"description_width": "initial"}
        s = settings
        self.layers = widgets.IntSlider(value=s.n_layer, min=1, max=MAX_LAYERS, description="layers",
                                        continuous_update=False, style=wide)
        self.norm = widgets.ToggleButtons(options=[(label, value) for value, label in NORMS.items()], value=s.norm,
                                          description="LayerNorm", style={**wide, "button_width": "auto"})
        self.residual_init = widgets.Checkbox(value=s.residual_init, description="residual init 1/√(2N) (GPT-2)",
                                              style=wide, indent=False)
        self.grad_weights = widgets.ToggleButtons(options=[(label, value) for value, label in GRAD_WEIGHTS.items()],
                                                  value="c_fc", description="gradient of",
                                                  tooltips=["the MLP's first weight (Xiong et al.'s W¹), as "
                                                            "chapter 07 section 2", "all of each block's parameters"],
                                                  style={**wide, "button_width": "auto"})
        self.learning_rate = widgets.Dropdown(options=[(f"{v:g}", v) for v in sorted({*LEARNING_RATES, s.lr})],
                                              value=s.lr, description="learning rate", style=wide,
                                              layout=widgets.Layout(width="220px"))
        self.warmup = widgets.Dropdown(options=sorted({*WARMUPS, s.warmup}), value=s.warmup,
                                       description="warmup steps", style=wide, layout=widgets.Layout(width="200px"))
        self.steps = widgets.IntSlider(value=s.steps, min=min(10, s.steps), max=max(MAX_STEPS, s.steps), step=10,
                                       description="steps", continuous_update=False, style=wide)
        self.seed = widgets.BoundedIntText(value=s.seed, min=0, max=MAX_SEED, description="seed", style=wide,
                                           layout=widgets.Layout(width="150px"))
        self.show_grid = widgets.Checkbox(value=sweep is not None, description="show the shipped grid", indent=False,
                                          disabled=sweep is None, style=wide)
        self.button = widgets.Button(description="Train", button_style="primary", icon="play",
                                     tooltip="train a fresh model with these settings and add its curve")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True,
                                          tooltip="end the run after the current step")
        self.clear_button = widgets.Button(description="Clear runs", icon="trash", tooltip="remove your runs")
        self.progress = widgets.IntProgress(value=0, min=0, max=s.steps)
        self.progress_label = widgets.Label("")
        self.status = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(width="100%"))
        self.controls = (self.layers, self.norm, self.residual_init, self.grad_weights, self.learning_rate, self.warmup,
                         self.steps, self.seed, self.show_grid, self.clear_button)
        for widget, name in ((self.layers, "layers"), (self.norm, "norm"), (self.residual_init, "residual-init"),
                             (self.grad_weights, "grad-weights"),
                             (self.learning_rate, "lr"), (self.warmup, "warmup"), (self.steps, "steps"),
                             (self.seed, "seed"), (self.show_grid, "show-grid"), (self.button, "train"),
                             (self.stop_button, "stop"), (self.clear_button, "clear"), (self.progress, "progress"),
                             (self.progress_label, "progress-label"), (self.status, "status"),
                             (self.output, "figure")):
            widget.add_class(f"gptedu-{name}")
        super().__init__([widgets.HBox([self.layers, self.norm, self.residual_init, self.grad_weights]),
                          widgets.HBox([self.learning_rate, self.warmup, self.steps, self.seed, self.show_grid]),
                          widgets.HBox([self.button, self.stop_button, self.progress, self.progress_label,
                                        self.clear_button]),
                          self.status, self.output])
        for widget in (self.layers, self.norm, self.residual_init, self.grad_weights, self.learning_rate, self.warmup,
                       self.steps, self.seed, self.show_grid):
            widget.observe(self.redraw, names="value")
        self.button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.clear())
        self.redraw()

    # ------------------------------------------------------------------ what the controls say
    @property
    def settings(self) -> RunSettings:
        """The next run, as the controls set it (a ValueError if they make no sense)."""
        return dataclasses.replace(self.fixed, n_layer=self.layers.value, norm=self.norm.value,
                                   residual_init=self.residual_init.value, lr=self.learning_rate.value,
                                   warmup=self.warmup.value, steps=self.steps.value, seed=self.seed.value)

    def grads(self, s: RunSettings) -> dict[str, list[float]]:
        """init_grad_norms(s): {"c_fc": [...], "block": [...]}, computed once per model."""
        key = s.model_key() + (s.batch_size, s.block_size)
        if key not in self._grads:
            self._grads[key] = init_grad_norms(s, self.data)
        return self._grads[key]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ drawing
    def redraw(self, change: Any = None) -> None:
        """Redraw the figure and the status for the controls' settings (errors go to the status)."""
        try:
            s = self.settings
            grads = self.grads(s)
        except Exception as error:  # shown to the learner, not raised into the widget's callback
            self._fail(error)
            self._stale_error = True
            return
        if self._stale_error:  # the controls make sense again: the error they caused is gone
            self.error, self._note, self._stale_error = None, "", False
        self.figure = depth_figure(self.runs, grads[self.grad_weights.value], s,
                                   self.sweep if self.show_grid.value else None, self.data["unigram_loss"],
                                   weights=self.grad_weights.value)
        show_figure(self.output, self.figure, f"<depth lab: {len(self.runs)} runs; next: {s.stack}>")
        self._show_status()

    def _about(self) -> str:
        lrs = grid_lrs(self.sweep)
        if self.sweep is None or not lrs:
            return "No shipped grid: the plot shows your runs only."
        if not self.show_grid.value:
            return "The shipped grid is hidden (tick “show the shipped grid”)."
        if not grid_curves(self.sweep, self.settings):
            return (f"The shipped grid (12 layers) has lr {', '.join(f'{v:g}' for v in lrs)} only: pick one of those "
                    "to see its curves behind yours.")
        return ("Faint lines: the shipped grid at this learning rate (dashed: no warmup; dotted: warmup). "
                "Bold lines: your runs.")

    def _show_status(self) -> None:
        try:
            about = html.escape(self._about())
        except ValueError:
            about = ""
        self.status.value = (f'<div style="font-size:{FONT_PX * 0.8:.0f}px;line-height:1.5">{about}<br>'
                             f"{self._note}</div>")

    def _fail(self, error: BaseException) -> None:
        self.error = f"{type(error).__name__}: {error}"
        self._note = f'<span style="color:{ERROR_COLOUR}">{html.escape(self.error)}</span>'
        self._show_status()

    def _on_step(self, done: int, loss: float) -> None:
        self.progress.value = done
        self.progress_label.value = f"step {done}/{self.progress.max} · loss {loss:.2f}"

    # ------------------------------------------------------------------ training
    def start(self) -> None:
        """What Train does: run() in a background thread, so the kernel stays free to hear Stop."""
        if self.running:
            return
        self._set_running(True)
        self._stop.clear()  # here, not in the thread: a Stop pressed at once still counts
        self._thread = threading.Thread(target=self._run_then_release, name="gptedu-depth-lab", daemon=True)
        self._thread.start()

    def _run_then_release(self) -> None:
        try:
            self._run()
        finally:
            self._set_running(False)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a run started by Train to end; True if none is running now."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def stop(self) -> None:
        """What Stop does: end the current run after its current step (its curve so far is kept)."""
        self._stop.set()

    def clear(self) -> None:
        """Remove every run from the plot."""
        self.runs.clear()
        self._note = ""
        self.redraw()

    def _set_running(self, running: bool) -> None:
        for widget in (*self.controls, self.button):
            widget.disabled = running
        self.show_grid.disabled = running or self.sweep is None
        self.stop_button.disabled = not running

    def run(self) -> dict | None:
        """Train once with the controls' settings; add the run to `runs` and the plot, and return its record.

        A diverged or stopped run is added too (the status says what happened). Returns None if the
        run could not start or failed: the status shows why in red (and `error` holds it).
        """
        self._stop.clear()
        return self._run()

    def _run(self) -> dict | None:
        self.error = None
        try:
            s = self.settings
            self._note = html.escape(f"training: {s.describe()} ...")
            self._show_status()
            self.progress.max, self.progress.value, self.progress_label.value = s.steps, 0, ""
            grads = self.grads(s)
            run = train_run(s, self.data, on_step=self._on_step, should_stop=self._stop.is_set)
        except Exception as error:  # shown to the learner, not raised into the widget's callback
            self._fail(error)
            return None
        run["grad_norms"] = grads
        self.runs.append(run)
        text = f"{len(self.runs)}. {s.describe()}: {describe_result(run)} (took {run['seconds']:.0f} s)"
        self._note = html.escape(text)
        if run["status"] == "diverged":
            self.error = f"TrainingDiverged: {run['message']}"
            self._note += f'<br><span style="color:{ERROR_COLOUR}">{html.escape(self.error)}</span>'
        try:
            self.redraw()
        except Exception as error:
            self._fail(error)
        return run

    def __repr__(self) -> str:
        try:
            next_run = self.settings.describe()
        except ValueError as error:
            next_run = f"invalid ({error})"
        return f"DepthLab(next run: {next_run}; runs done: {len(self.runs)})"


def depth_lab(sweep: dict | str | None = "shipped", *, n_layer: int = 12, norm: str = "post",
              residual_init: bool = False, lr: float = 3e-3, warmup: int = 0, steps: int = 50, seed: int = 0,
              n_embd: int = 64, batch_size: int = 16, block_size: int = 128) -> DepthLab:
    """Post-LN vs pre-LN at depth, to play with: pick a stack and an lr schedule, press Train, compare curves.

    Controls: layers (1-24), LayerNorm position (post-LN as GPT-1, pre-LN as GPT-2), residual init
    1/√(2N) on or off, learning rate, warmup steps, steps, seed. Train trains a fresh model on the
    shipped Shakespeare exactly as gptedu.experiments.depth_sweep does (width-matched init, AdamW beta2 0.999,
    no clipping) in the background: the progress bar follows the steps, Stop ends the run after the
    current step, and the run's loss curve joins the earlier ones on the left, its stack's gradient
    norms per layer at initialisation on the right (black: the stack the controls pick now); "gradient
    of" picks whose: each block's mlp.c_fc weight (chapter 07 section 2's headline, the default) or all
    of each block's parameters. Behind them, `sweep` ("shipped": data/results/gpt2_depth_sweep.json;
    or its dict; or None) shows the shipped grid's curves at the chosen learning rate. Errors (a
    diverged run, bad settings) show in the status, in red.

    The defaults are the grid's post-LN cell without warmup at lr 3e-3, 50 steps instead of 250 (one
    click: 35 s of CPU on the course's 2-core machine, 37-72 s of wall time while other jobs ran; about
    15 s at the sweep's bench speed of 256 ms/step): it stalls at the unigram loss (3.36 after 50
    steps; pre-LN with residual init: 2.85).
    Switch to pre-LN, or add a warmup, and train again. More steps cost time in proportion.
    Drive it from code: `lab.norm.value = "pre"`, `lab.layers.value = 6`, `lab.warmup.value = 100`,
    then `run = lab.run()` (in this thread; Train runs it in another); `lab.runs` holds every record.
    """
    if isinstance(sweep, str):
        if sweep != "shipped":
            raise ValueError(f"sweep={sweep!r}: pass 'shipped', the sweep's dict (json.loads of its file) or None.")
        sweep = load_shipped_sweep()
    settings = RunSettings(n_layer=n_layer, norm=norm, residual_init=residual_init, lr=lr, warmup=warmup,
                           steps=steps, seed=seed, n_embd=n_embd, batch_size=batch_size, block_size=block_size)
    return DepthLab(sweep, settings)
