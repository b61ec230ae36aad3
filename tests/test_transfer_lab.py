"""gptedu.labs.transfer: GPT-1 Fig. 2 (left) from a sweep, and the lab that adds live runs to it.

The lab runs on a tiny 2-layer model with the shipped 84-character tokenizer (so sentiment keeps
enough reviews), a few dozen examples and 3 steps: seconds, not minutes.
"""
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection
from matplotlib.container import ErrorbarContainer

from gptedu.checkpoints import load_shipped
from gptedu.config import GPTConfig
from gptedu.model import GPT
from gptedu.tasks import FINETUNE_TASKS, finetune_examples
from gptedu.labs.transfer import NONE_X, OPENING_LR, OPENING_STEPS, transfer_figure, transfer_lab
from gptedu.experiments import finetune_sweep

torch.set_num_threads(int(os.environ.get("GPTEDU_THREADS", "1")))  # as the course runs

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(n_train=48, n_test=30, steps=3, batch_size=8)  # a run takes about a second


@pytest.fixture(scope="module")
def tok():
    return load_shipped()[1]


@pytest.fixture(scope="module")
def gpt(tok):
    torch.manual_seed(0)
    return GPT(GPTConfig.from_preset("tiny-gpt1", vocab_size=tok.vocab_size, block_size=64, n_layer=2, n_head=2,
                                     n_embd=32))


def _script_summarise():
    return finetune_sweep.summarise


ACCURACIES = {"k=0": [0.50, 0.54], "k=1": [0.56, 0.58], "k=2": [0.60, 0.66],
              "no_pretraining": [0.46, 0.50], "no_aux_lm": [0.57, 0.59]}


@pytest.fixture(scope="module")
def sweep():
    """A sweep of a 2-layer model in the results file's format (summary from the script's own summarise)."""
    rows = []
    for point, accs in ACCURACIES.items():
        k = None if point == "no_pretraining" else 2 if point == "no_aux_lm" else int(point[2:])
        for seed, acc in enumerate(accs):
            rows.append({"task": "sentiment", "point": point, "k": k, "seed": seed, "test_accuracy": acc,
                         "lambda_lm": 0.0 if point == "no_aux_lm" else 0.5})
    settings = {"n_train": 48, "n_test": 40, "steps": 3, "batch_size": 8, "lr": 3e-4, "data_seed": 1}
    return {"settings": settings, "rows": rows, "summary": _script_summarise()(rows)}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def star_xy(fig):
    """(x, y) of every star (a live run) on the figure."""
    return [(line.get_xdata()[0], line.get_ydata()[0]) for line in fig.axes[0].lines if line.get_marker() == "*"]


def legend_labels(fig):
    return [t.get_text() for t in fig.legends[0].get_texts()]


def png(lab):
    return lab.output.outputs[0]["data"]["image/png"]


def live(task="sentiment", k=1, pretrained=True, lambda_lm=0.5, steps=3, accuracy=0.6):
    return {"task": task, "k": k, "pretrained": pretrained, "lambda_lm": lambda_lm, "steps": steps, "seed": 0,
            "accuracy": accuracy, "seconds": 1.0}


# ------------------------------------------------------------------ the figure
def test_figure_draws_the_sweep_mean_sd_seeds_band_and_chance(sweep):
    fig = transfer_figure(sweep, n_layer=2)
    assert plt.gcf() is fig  # a pyplot figure: a notebook cell shows it with plt.show(), like every other plot
    ax = fig.axes[0]
    line, no_aux = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    x, y = line.lines[0].get_data()
    assert list(x) == [0, 1, 2]
    assert np.allclose(y, [np.mean(ACCURACIES[f"k={k}"]) for k in range(3)])
    sd = line.lines[2][0].get_segments()  # the error bars: mean - sd .. mean + sd
    assert np.allclose([s[1, 1] - s[0, 1] for s in sd], [2 * np.std(ACCURACIES[f"k={k}"], ddof=1) for k in range(3)],
                       atol=1e-3)  # the summary rounds to 4 decimals
    assert no_aux.lines[0].get_xdata()[0] > 2 and no_aux.lines[0].get_ydata()[0] == pytest.approx(0.58)
    dots = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    assert len(dots) == 8 and sorted(dots[:, 1]) == sorted(a for p, accs in ACCURACIES.items() if p != "no_pretraining"
                                                         for a in accs)
    (band,) = ax.patches
    sd = np.std(ACCURACIES["no_pretraining"], ddof=1)  # the no-pre-training band: mean ± sd
    assert np.allclose([band.get_y(), band.get_y() + band.get_height()], [0.48 - sd, 0.48 + sd], atol=1e-3)
    chance = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(chance) == 1 and chance[0].get_ydata()[0] == 0.5
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]
    assert "Rotten Tomatoes sentiment" in ax.get_title() and ax.get_xlabel().startswith("layers transferred")
    assert legend_labels(fig)[:4] == ["pretrained, λ=0.5, 2 seeds, 3 steps (mean ± sd)", "one seed's run",
                                      "no pre-training (mean ± sd)",
                                      "all layers, λ=0 (no auxiliary LM loss; mean ± sd)"]
    assert not star_xy(fig)


def test_figure_draws_live_runs_of_its_own_task_and_the_next_run(sweep):
    runs = [live(k=1, accuracy=0.61), live(k=1, steps=60, accuracy=0.63), live(k=None, pretrained=False, accuracy=0.52),
            live(k=2, lambda_lm=0.0, accuracy=0.55), live(task="next_line", k=2, accuracy=0.3)]
    fig = transfer_figure(sweep, live=runs, n_layer=2, next_run={"k": 2, "pretrained": True})
    ax = fig.axes[0]
    assert star_xy(fig) == [(1, 0.61), (1.1, 0.63), (NONE_X, 0.52), (2, 0.55)]  # the next_line run is not here
    colours = {line.get_color() for line in ax.lines if line.get_marker() == "*"}
    assert len(colours) == 3  # pretrained, random init, λ=0
    assert [t.get_text() for t in ax.texts] == ["3 steps", "60 steps", "3 steps", "3 steps"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "0", "1", "2"]
    marker = [line for line in ax.lines if line.get_label() == "next run"]
    assert len(marker) == 1 and list(marker[0].get_xdata()) == [2, 2]
    assert {"your runs (pretrained)", "your runs (random init)", "your runs (λ=0)",
            "next run"} <= set(legend_labels(fig))

    other = transfer_figure(sweep, "next_line", live=runs, n_layer=2)
    assert star_xy(other) == [(2, 0.3)] and not other.axes[0].containers  # no sweep for this task
    assert [line.get_ydata()[0] for line in other.axes[0].lines if line.get_linestyle() == ":"] == [0.25]
    assert "The next line" in other.axes[0].get_title()
    empty = transfer_figure(None, "line_follows")
    assert any("No cached sweep" in t.get_text() for t in empty.axes[0].texts)
    with pytest.raises(ValueError, match="unknown task 'summaries'"):
        transfer_figure(sweep, "summaries")


def test_the_shipped_sweep_draws():
    path = ROOT / "data" / "results" / "gpt1_finetune_sweep.json"
    if not path.exists():
        pytest.skip("no shipped sweep")
    shipped = json.loads(path.read_text())
    fig = transfer_figure(shipped)
    ks = sorted(int(p[2:]) for p in shipped["summary"] if p.startswith("k="))
    line = next(c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer))
    assert list(line.lines[0].get_xdata()) == ks
    assert np.allclose(line.lines[0].get_ydata(), [shipped["summary"][f"k={k}"]["mean"] for k in ks])


# ------------------------------------------------------------------ the lab: controls and redraws
def test_lab_has_every_control_and_lists_every_task(gpt, tok, sweep):
    lab = transfer_lab(gpt, tok, sweep, **SMALL)
    assert [value for _, value in lab.task.options] == list(FINETUNE_TASKS)
    assert [label for label, _ in lab.task.options] == [t.title for t in FINETUNE_TASKS.values()]
    assert (lab.layers.min, lab.layers.max, lab.layers.value) == (0, 2, 2)
    assert lab.lambda_lm.value == 0.5 and lab.steps.value == 3 and lab.seed.value == 0
    assert lab.learning_rate.value == 1e-3 and [v for _, v in lab.learning_rate.options] == [1e-4, 3e-4, 1e-3, 3e-3]

    def walk(widget):
        yield widget
        for child in getattr(widget, "children", ()):
            yield from walk(child)

    classes = [c for w in walk(lab) for c in w._dom_classes]
    for name in ("task", "layers", "start", "lambda", "steps", "lr", "seed", "finetune", "progress", "progress-label",
                 "status", "figure"):
        assert classes.count(f"gptedu-{name}") == 1, name
    assert repr(lab) == "TransferLab('sentiment', next run: k=2, λ=0.5, lr 0.001, 3 steps, seed 0; runs done: 0)"
    assert "cached sweep" in lab.status.value and "40 reviews" in lab.status.value


def test_the_lab_opens_on_a_run_that_learns(gpt, tok):
    """All layers, OPENING_STEPS at OPENING_LR: chapter 06 runs it on the shipped model and checks it leaves chance;
    the sweep's lr (3e-4) stays at chance in a run this short."""
    assert (OPENING_STEPS, OPENING_LR) == (150, 1e-3)
    lab = transfer_lab(gpt, tok)
    assert lab.settings == {"task": "sentiment", "k": 2, "pretrained": True, "lambda_lm": 0.5, "lr": OPENING_LR,
                            "steps": OPENING_STEPS, "seed": 0}
    assert (lab.steps.value - lab.steps.min) % lab.steps.step == 0  # on the slider's grid: the browser keeps it
    assert repr(lab) == "TransferLab('sentiment', next run: k=2, λ=0.5, lr 0.001, 150 steps, seed 0; runs done: 0)"


def test_changing_task_k_or_start_redraws_at_once(gpt, tok, sweep):
    open_before = plt.get_fignums()
    lab = transfer_lab(gpt, tok, sweep, **SMALL)
    first = png(lab)
    lab.layers.value = 0
    assert png(lab) != first
    assert list(next(l for l in lab.figure.axes[0].lines if l.get_label() == "next run").get_xdata()) == [0, 0]
    lab.start.value = "random"
    assert lab.layers.disabled and lab.settings["k"] is None and not lab.settings["pretrained"]
    assert "none" in [t.get_text() for t in lab.figure.axes[0].get_xticklabels()]
    lab.start.value = "pretrained"
    assert not lab.layers.disabled and lab.settings["k"] == 0
    before = png(lab)
    lab.task.value = "next_line"
    assert png(lab) != before and "The next line" in lab.figure.axes[0].get_title()
    assert "Only Rotten Tomatoes sentiment has a cached sweep" in lab.status.value
    assert not lab.figure.axes[0].containers
    assert plt.get_fignums() == open_before  # drawn into the widget only: nothing left for the notebook to show


# ------------------------------------------------------------------ the lab: fine-tuning
def test_run_adds_a_point_moves_the_progress_bar_and_draws_a_star(gpt, tok, sweep):
    lab = transfer_lab(gpt, tok, sweep, **SMALL)
    lab.layers.value = 1
    seen = []
    lab.progress.observe(lambda change: seen.append(change.new), names="value")
    point = lab.run()
    assert point is lab.points[-1] and len(lab.points) == 1
    assert {k: point[k] for k in ("task", "k", "pretrained", "lambda_lm", "lr", "steps", "seed")} == {
        "task": "sentiment", "k": 1, "pretrained": True, "lambda_lm": 0.5, "lr": 1e-3, "steps": 3, "seed": 0}
    assert 0 <= point["accuracy"] <= 1 and point["seconds"] >= 0
    assert point["n_test"] == 40  # the sweep's test set, not the lab's n_test=30
    assert seen[-3:] == [1, 2, 3] and lab.progress.value == lab.progress.max == 3
    assert lab.progress_label.value.startswith("step 3/3 · task loss ")
    assert star_xy(lab.figure) == [(1, pytest.approx(point["accuracy"]))]
    assert f"k=1, λ=0.5, lr 0.001, 3 steps, seed 0: test accuracy {point['accuracy']:.3f} on 40 reviews" in lab.status.value
    assert lab.error is None and not lab.button.disabled
    assert repr(lab).endswith("runs done: 1)")


def test_the_same_settings_and_seed_give_the_same_run(gpt, tok):
    lab = transfer_lab(gpt, tok, None, **SMALL)
    keys = ("accuracy", "final_task_loss", "final_lm_loss")
    a, b = lab.run(), lab.run()
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    lab.seed.value = 1
    c = lab.run()
    assert (c["final_task_loss"], c["final_lm_loss"]) != (a["final_task_loss"], a["final_lm_loss"])
    lab.seed.value, lab.learning_rate.value = 0, 3e-3  # the picked learning rate is the one used
    d = lab.run()
    assert d["lr"] == 3e-3 and (d["final_task_loss"], d["final_lm_loss"]) != (a["final_task_loss"], a["final_lm_loss"])
    assert len(lab.points) == 4 and len(star_xy(lab.figure)) == 4
    assert "3 steps, lr 0.003" in [t.get_text() for t in lab.figure.axes[0].texts]


def test_button_runs_random_start_and_lambda_zero(gpt, tok):
    lab = transfer_lab(gpt, tok, None, **SMALL)
    lab.start.value = "random"
    lab.button.click()  # what a click in the browser does
    lab.start.value = "pretrained"
    lab.lambda_lm.value = 0.0
    lab.button.click()
    (random_run, no_aux) = lab.points
    assert random_run["k"] is None and not random_run["pretrained"] and no_aux["lambda_lm"] == 0.0
    assert "k=2, λ=0, lr 0.001" in lab.status.value
    assert [x for x, _ in star_xy(lab.figure)] == [NONE_X, 2]


def test_the_sweeps_task_uses_the_sweeps_examples_and_other_tasks_the_labs(gpt, tok, sweep):
    lab = transfer_lab(gpt, tok, sweep, **SMALL)
    train, test = lab.examples("sentiment")
    assert test == finetune_examples("sentiment", 40, "test", 1, tok, 64)
    assert train == finetune_examples("sentiment", 48, "train", 1, tok, 64)
    assert lab.examples("sentiment") is lab.examples("sentiment")  # built once
    _, test = lab.examples("line_follows")
    assert test == finetune_examples("line_follows", 30, "test", 0)


def test_bad_settings_are_shown_in_the_status_not_raised(gpt, tok):
    lab = transfer_lab(gpt, tok, None, **SMALL)
    lab.steps.min, lab.steps.value = 0, 0
    lab.button.click()  # must not raise
    assert lab.points == [] and not lab.button.disabled
    assert lab.error == "ValueError: steps=0 must be a positive integer."
    assert "color:#b00020" in lab.status.value and "steps=0 must be a positive integer" in lab.status.value

    too_many = transfer_lab(gpt, tok, None, **{**SMALL, "n_train": 100_000})
    assert too_many.run() is None and not too_many.button.disabled
    assert too_many.error.startswith("ValueError: asked for 50000 rotten reviews") and "ask for fewer" in too_many.error
    too_many.n_train = 48  # fixed: the next run works and clears the error
    assert too_many.run() is not None and too_many.error is None and "#b00020" not in too_many.status.value
    with pytest.raises(ValueError, match="unknown task"):
        transfer_lab(gpt, tok, task="summaries")
