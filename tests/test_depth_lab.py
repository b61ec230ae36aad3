"""gptedu.labs.depth: chapter 07's depth lab, its plain functions and its widget's callbacks.

Runs use 2-3 layers x 32 wide, batch 4, block 16 and a few steps: a run takes well under a second.
The shipped sweep's data is loaded once (a few seconds).
"""
import json
import math
import os

import pytest
import torch

from gptedu.labs import depth as D
from gptedu.labs.depth import RunSettings, depth_figure, depth_lab, grid_curves, init_grad_norms, train_run
from gptedu.train import TrainingDiverged

torch.set_num_threads(int(os.environ.get("GPTEDU_THREADS", "1")))  # as the course runs

TINY = dict(n_layer=2, n_embd=32, batch_size=4, block_size=16, steps=6)


@pytest.fixture(scope="module")
def data():
    return D.load_data()


@pytest.fixture(scope="module")
def script():
    return D.sweep_script()


def tiny(**kw):
    return RunSettings(**{**TINY, **kw})


def row(norm, lr, warmup, seed, values, **kw):
    """A row of the sweep's results file (only what the lab reads)."""
    return {"grid": "final", "norm": norm, "n_layer": 2, "n_embd": 32, "lr": lr, "warmup": warmup, "seed": seed,
            "steps": len(values), "batch": 4, "block": 16, "beta2": 0.999, "init": "width",
            "loss_curve": [{"step": i + 1, "value": v} for i, v in enumerate(values)], **kw}


@pytest.fixture(scope="module")
def sweep():
    rows = [row("post", 3e-3, 0, 0, [4.0, 3.4, 3.35]), row("post", 3e-3, 0, 1, [4.2, 3.2, 3.33]),
            row("pre", 3e-3, 0, 0, [4.0, 3.0, 2.6]), row("pre", 3e-3, 6, 0, [4.3, 3.1, 2.5]),
            row("pre", 1e-3, 0, 0, [4.1, 3.5, 3.0]),
            row("pre", 3e-3, 0, 0, [9.0, 9.0, 9.0], n_embd=64),  # another width: not comparable, not drawn
            {**row("pre", 3e-3, 0, 0, [9.0, 9.0, 9.0]), "grid": "search"}]  # the search stage: not drawn
    return {"rows": rows}


def png(lab):
    return lab.output.outputs[0]["data"]["image/png"]


def run_lines(fig):
    """The loss panel's bold lines (the runs), by label."""
    return {line.get_label(): line for line in fig.axes[0].lines if line.get_linewidth() > 2.5}


# ------------------------------------------------------------------ settings and the model
def test_settings_describe_and_refuse_bad_values():
    s = RunSettings()
    assert s.describe() == "12 layers, post-LN, plain init, lr 0.003, warmup 0, 50 steps, seed 0"
    assert (s.n_embd, s.n_head, s.batch_size, s.block_size, s.beta2, s.init) == (64, 2, 16, 128, 0.999, "width")
    assert tiny(n_layer=1, norm="pre", residual_init=True).stack == "1 layer, pre-LN, residual init 1/√(2N)"
    for bad, message in ((dict(n_layer=0), "n_layer=0 must be a positive whole number"),
                         (dict(norm="middle"), "norm='middle' must be 'pre' or 'post'"),
                         (dict(residual_init="yes"), "residual_init='yes' must be True or False"),
                         (dict(lr=0.0), "lr=0.0 must be a number > 0"), (dict(lr=math.nan), "lr=nan"),
                         (dict(warmup=-1), "warmup=-1 must be a whole number >= 0"),
                         (dict(warmup=10), "warmup=10 is longer than the run \\(steps=6\\)"),
                         (dict(n_embd=97), "n_embd=97 does not split into 3 heads"),
                         (dict(beta2=1.0), "beta2=1.0 must be a number > 0 and < 1"),
                         (dict(init="xavier"), "init='xavier' must be 'width' or 'gpt'")):
        with pytest.raises(ValueError, match=message):
            tiny(**bad)


def test_build_model_is_the_sweeps_model_with_the_switches_apart(script, data):
    for norm in ("post", "pre"):  # the sweep ties residual init to the norm (GPT-1 / GPT-2)
        ours = D.build_model(tiny(norm=norm, residual_init=norm == "pre", seed=3), data["vocab_size"])
        theirs = script.make_model(norm, 2, 32, 16, data["vocab_size"], 3, "width")
        assert ours.config == theirs.config
        assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))
    rng = torch.get_rng_state()
    plain = D.build_model(tiny(n_layer=3), data["vocab_size"])
    scaled = D.build_model(tiny(n_layer=3, residual_init=True), data["vocab_size"])
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's random stream is left alone
    assert plain.config.norm == scaled.config.norm == "post" and scaled.config.residual_scale_init
    assert isinstance(plain.ln_f, torch.nn.Identity)  # post-LN: no final LN, whatever the init
    std = lambda m: m.h[1].mlp.c_proj.weight.std().item()  # noqa: E731
    width = math.sqrt(768 / 32)
    assert std(plain) == pytest.approx(0.02 * width, rel=0.1)
    assert std(scaled) == pytest.approx(0.02 * width / math.sqrt(2 * 3), rel=0.1)


def test_init_grad_norms_are_the_sweeps_one_per_layer_and_deterministic(script, data):
    ours = init_grad_norms(tiny(n_layer=3, batch_size=2), data)
    assert set(ours) == set(D.GRAD_WEIGHTS) == {"c_fc", "block"}
    ref = script.init_grad_norms(shapes=((3, 32),), inits=("width",), seeds=(0,), batch=2, block=16)
    for norm, settings in (("post", tiny(n_layer=3, batch_size=2)),
                           ("pre", tiny(n_layer=3, batch_size=2, norm="pre", residual_init=True))):
        got, want = init_grad_norms(settings, data), ref[f"{norm}_3x32_init-width"]
        assert got["block"] == pytest.approx(want["block_grad_norm"], abs=1e-5)  # the sweep's two measures
        assert got["c_fc"] == pytest.approx(want["mlp_c_fc_grad_norm"], abs=1e-5)
        assert all(c < b for c, b in zip(got["c_fc"], got["block"]))  # c_fc is one of the block's parameters
    assert init_grad_norms(tiny(n_layer=3, batch_size=2), data) == ours
    assert init_grad_norms(tiny(n_layer=3, batch_size=2, norm="pre", residual_init=True), data) != ours
    assert [len(v) for v in init_grad_norms(tiny(n_layer=5), data).values()] == [5, 5]


# ------------------------------------------------------------------ one run
def test_a_run_is_the_sweeps_run(script, data):
    s = tiny(norm="pre", residual_init=True, warmup=4, steps=12, lr=1e-3)
    steps = []
    run = train_run(s, data, on_step=lambda done, loss: steps.append((done, loss)))
    ref = script.train_one(script.Spec(norm="pre", n_layer=2, n_embd=32, lr=1e-3, warmup=4, steps=12, batch=4, block=16,
                                       beta2=0.999, init="width"))
    assert run["curve"] == ref["loss_curve"]  # the same run, step for step
    assert round(run["final_val_loss"], 4) == ref["final_val_loss"]
    assert run["stalled"] == (run["final_val_loss"] > data["unigram_loss"] - 0.1)  # < 100 steps: the unigram test
    assert run["status"] == "finished" and run["message"] is None and run["steps_done"] == 12
    assert [d for d, _ in steps] == list(range(1, 13)) and [l for _, l in steps] == run["losses"]
    assert run["settings"] == {**TINY, "norm": "pre", "residual_init": True, "warmup": 4, "steps": 12, "lr": 1e-3,
                               "seed": 0, "beta2": 0.999, "init": "width"}
    assert run["label"] == s.describe() and run["unigram_loss"] == pytest.approx(data["unigram_loss"])
    assert run["final_loss"] == pytest.approx(sum(run["losses"][-10:]) / 10) and run["seconds"] >= 0
    again = train_run(s, data)
    assert again["losses"] == run["losses"]  # deterministic at a fixed thread count
    assert train_run(tiny(norm="pre", residual_init=True, warmup=4, steps=12, lr=1e-3, seed=1), data)["losses"] != \
        run["losses"]


def test_a_stopped_run_keeps_its_curve(data):
    run = train_run(tiny(steps=20), data, should_stop=lambda: True)
    assert run["status"] == "stopped" and run["steps_done"] == 1 and run["message"] == "stopped after step 1 of 20"
    assert len(run["curve"]) == 1 and run["final_val_loss"] is None and run["stalled"] is False
    asked = []
    late = train_run(tiny(steps=5), data, should_stop=lambda: asked.append(1) or len(asked) >= 5)
    assert late["status"] == "finished" and late["steps_done"] == 5  # a stop after the last step changes nothing


def test_a_diverged_run_is_a_result_not_an_exception(data):
    run = train_run(tiny(lr=1e3, steps=12), data)
    assert run["status"] == "diverged" and 1 <= run["steps_done"] < 12
    assert run["message"].startswith("Training diverged: step") and "grad_clip" in run["message"]
    assert math.isnan(run["losses"][-1]) and run["final_val_loss"] is None
    assert D.describe_result(run) == f"diverged at step {run['steps_done']}"


# ------------------------------------------------------------------ the shipped grid and the figure
def test_grid_curves_average_the_seeds_of_comparable_cells(sweep):
    cells = grid_curves(sweep, tiny(lr=3e-3))
    assert [(c["norm"], c["warmup"], c["seeds"]) for c in cells] == [("post", 0, 2), ("pre", 0, 1), ("pre", 6, 1)]
    assert cells[0]["values"] == pytest.approx([4.1, 3.3, 3.34]) and cells[0]["steps_x"] == [1, 2, 3]
    assert [c["norm"] for c in grid_curves(sweep, tiny(lr=1e-3))] == ["pre"]
    assert grid_curves(sweep, tiny(lr=6e-3)) == [] and grid_curves(None, tiny()) == []
    assert D.grid_lrs(sweep) == [1e-3, 3e-3]


def test_the_shipped_grid_has_the_four_cells_at_the_labs_defaults():
    shipped = D.load_shipped_sweep()
    if shipped is None:
        pytest.skip("no shipped sweep")
    cells = grid_curves(shipped, RunSettings())
    assert {(c["norm"], c["warmup"]) for c in cells} == {("post", 0), ("post", 100), ("pre", 0), ("pre", 100)}
    assert all(c["n_layer"] == 12 and c["seeds"] >= 2 for c in cells)
    stalled = next(c for c in cells if (c["norm"], c["warmup"]) == ("post", 0))
    assert stalled["values"][-1] > shipped["data"]["unigram_loss"] - 0.1  # the cell the lab's defaults rerun


def test_figure_draws_runs_grid_unigram_and_grad_norms(sweep, data):
    runs = [train_run(tiny(), data), train_run(tiny(norm="pre", steps=3), data, should_stop=lambda: True)]
    for run, n in zip(runs, (2, 2)):
        run["grad_norms"] = {"c_fc": [1.0] * n, "block": [2.0] * n}
    fig = depth_figure(runs, [0.5, 0.4, 0.3], tiny(n_layer=3), sweep, unigram=3.33)
    loss_ax, grad_ax = fig.axes
    labels = [line.get_label() for line in loss_ax.lines]
    assert labels[:3] == ["shipped: post-LN, warmup 0 (2 layers, 3 steps, 2 seeds)",
                          "shipped: pre-LN, warmup 0 (2 layers, 3 steps, 1 seeds)",
                          "shipped: pre-LN, warmup 6 (2 layers, 3 steps, 1 seeds)"]
    assert labels[3] == f"1. 2 layers, post-LN, plain init, lr 0.003, warmup 0, 6 steps: {runs[0]['final_loss']:.2f}" \
        + (", stalled" if runs[0]["stalled"] else "")
    assert labels[4] == "2. 2 layers, pre-LN, plain init, lr 0.003, warmup 0, 3 steps: stopped at step 1"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == labels  # below the panels
    seed1 = {**runs[0], "settings": {**runs[0]["settings"], "seed": 1}}
    assert D.run_label(3, seed1).startswith("3. 2 layers, post-LN, plain init, lr 0.003, warmup 0, 6 steps, seed 1: ")
    assert labels[5] == "unigram loss 3.33 (character frequencies only)"
    assert list(loss_ax.lines[3].get_ydata()) == [p["value"] for p in runs[0]["curve"]]
    assert [line.get_label() for line in grad_ax.lines] == ["1. 2 layers, post-LN, plain init",
                                                          "2. 2 layers, pre-LN, plain init",
                                                          "next run: 3 layers, post-LN, plain init"]
    assert list(grad_ax.lines[-1].get_ydata()) == [0.5, 0.4, 0.3] and grad_ax.get_yscale() == "log"
    assert list(grad_ax.lines[0].get_ydata()) == [1.0, 1.0] and "mlp.c_fc" in grad_ax.get_title()  # the default
    blocks = depth_figure(runs, [5.0, 4.0, 3.0], tiny(n_layer=3), sweep, weights="block").axes[1]
    assert list(blocks.lines[0].get_ydata()) == [2.0, 2.0] and "whole block" in blocks.get_title()
    assert "all of each block's parameters" in blocks.get_ylabel()
    with pytest.raises(ValueError, match="weights='bias' must be one of"):
        depth_figure(runs, weights="bias")
    empty = depth_figure()
    assert any("Press Train" in t.get_text() for t in empty.axes[0].texts)


# ------------------------------------------------------------------ the lab
def test_lab_has_every_control_and_the_defaults(sweep):
    lab = depth_lab(sweep, **TINY)
    assert (lab.layers.value, lab.layers.min, lab.layers.max) == (2, 1, 24)
    assert lab.norm.value == "post" and [v for _, v in lab.norm.options] == ["post", "pre"]
    assert lab.residual_init.value is False and lab.learning_rate.value == 3e-3 and lab.warmup.value == 0
    assert [v for _, v in lab.learning_rate.options] == [3e-4, 1e-3, 3e-3, 6e-3, 1e-2]
    assert list(lab.warmup.options) == [0, 25, 50, 100] and lab.steps.value == 6
    assert lab.show_grid.value and lab.stop_button.disabled and not lab.button.disabled
    assert lab.grad_weights.value == "c_fc" and [v for _, v in lab.grad_weights.options] == ["c_fc", "block"]

    def walk(widget):
        yield widget
        for child in getattr(widget, "children", ()):
            yield from walk(child)

    classes = [c for w in walk(lab) for c in w._dom_classes]
    for name in ("layers", "norm", "residual-init", "grad-weights", "lr", "warmup", "steps", "seed", "show-grid",
                 "train", "stop", "clear", "progress", "progress-label", "status", "figure"):
        assert classes.count(f"gptedu-{name}") == 1, name
    assert repr(lab) == "DepthLab(next run: 2 layers, post-LN, plain init, lr 0.003, warmup 0, 6 steps, seed 0; " \
                        "runs done: 0)"
    assert "Faint lines: the shipped grid" in lab.status.value
    assert len(lab.figure.axes[1].lines) == 1 and len(lab.figure.axes[1].lines[0].get_ydata()) == 2


def test_controls_redraw_the_grad_norms_and_the_grid(sweep):
    lab = depth_lab(sweep, **TINY)
    first = png(lab)
    lab.layers.value = 3
    assert png(lab) != first and len(lab.figure.axes[1].lines[0].get_ydata()) == 3
    post = list(lab.figure.axes[1].lines[0].get_ydata())
    lab.norm.value = "pre"
    assert list(lab.figure.axes[1].lines[0].get_ydata()) != post
    assert lab.figure.axes[1].lines[0].get_label() == "next run: 3 layers, pre-LN, plain init"
    grads = init_grad_norms(lab.settings, lab.data)
    assert list(lab.figure.axes[1].lines[0].get_ydata()) == grads["c_fc"]  # the chapter's headline measure
    lab.grad_weights.value = "block"
    assert list(lab.figure.axes[1].lines[0].get_ydata()) == grads["block"]
    assert "whole block" in lab.figure.axes[1].get_title()
    lab.grad_weights.value = "c_fc"
    lab.learning_rate.value = 6e-3  # not in the (fake) grid
    assert not [l for l in lab.figure.axes[0].lines if l.get_label().startswith("shipped")]
    assert "has lr 0.001, 0.003 only" in lab.status.value
    lab.learning_rate.value = 1e-3
    assert len([l for l in lab.figure.axes[0].lines if l.get_label().startswith("shipped")]) == 1
    lab.show_grid.value = False
    assert not [l for l in lab.figure.axes[0].lines if l.get_label().startswith("shipped")]
    assert "hidden" in lab.status.value
    nothing = depth_lab(None, **TINY)
    assert nothing.show_grid.disabled and "No shipped grid" in nothing.status.value


def test_train_button_runs_in_the_background_and_adds_a_curve(sweep):
    lab = depth_lab(sweep, **TINY)
    seen = []
    lab.progress.observe(lambda change: seen.append(change.new), names="value")
    lab.layers.value = 3
    before = png(lab)
    lab.button.click()  # what a click in the browser does
    assert lab.wait(60) and not lab.running
    (run,) = lab.runs
    assert run["status"] == "finished" and run["settings"]["n_layer"] == 3
    assert {k: len(v) for k, v in run["grad_norms"].items()} == {"c_fc": 3, "block": 3}
    assert seen[-6:] == [1, 2, 3, 4, 5, 6] and lab.progress.max == 6
    assert lab.progress_label.value.startswith("step 6/6 · loss ")
    assert png(lab) != before and list(run_lines(lab.figure)) == [D.run_label(1, run)]
    assert f"1. {run['label']}: final loss {run['final_loss']:.2f}" in lab.status.value
    assert not lab.button.disabled and lab.stop_button.disabled and not lab.layers.disabled
    lab.norm.value = "pre"
    lab.button.click()
    lab.wait(60)
    assert len(lab.runs) == 2 and len(run_lines(lab.figure)) == 2 and lab.runs[1]["settings"]["norm"] == "pre"
    assert repr(lab).endswith("runs done: 2)")
    lab.clear_button.click()
    assert lab.runs == [] and not run_lines(lab.figure)


def test_stop_ends_the_run_and_controls_are_locked_while_it_runs(sweep):
    lab = depth_lab(sweep, **{**TINY, "steps": 250})
    lab.button.click()
    assert lab.layers.disabled and lab.button.disabled and not lab.stop_button.disabled
    lab.button.click()  # a second Train while one runs is ignored
    lab.stop_button.click()
    assert lab.wait(60)
    (run,) = lab.runs
    assert run["status"] == "stopped" and 1 <= run["steps_done"] < 250
    assert f"stopped at step {run['steps_done']}" in lab.status.value and lab.error is None
    assert not lab.layers.disabled and not lab.button.disabled and lab.stop_button.disabled


def test_errors_show_in_the_status_never_raise(sweep, monkeypatch):
    lab = depth_lab(sweep, **TINY)
    lab.warmup.value = 25  # longer than the 6 steps: said at once
    assert lab.error.startswith("ValueError: warmup=25 is longer than the run (steps=6)")
    assert "color:#b00020" in lab.status.value and "invalid (warmup=25" in repr(lab)
    lab.steps.value = 30  # now it fits: the error goes
    assert lab.error is None and "#b00020" not in lab.status.value
    lab.steps.value = 10
    assert lab.error.startswith("ValueError: warmup=25 is longer than the run (steps=10)")
    lab.button.click()
    lab.wait(60)
    assert lab.runs == [] and not lab.button.disabled
    assert lab.error.startswith("ValueError: warmup=25 is longer than the run (steps=10)")
    lab.warmup.value, lab.steps.value = 0, 6
    assert lab.run()["status"] == "finished" and lab.error is None and "#b00020" not in lab.status.value

    wild = depth_lab(sweep, **{**TINY, "lr": 1e3, "steps": 12})
    run = wild.run()
    assert run["status"] == "diverged" and wild.runs == [run]
    assert wild.error.startswith("TrainingDiverged: Training diverged: step")
    assert "color:#b00020" in wild.status.value and f"diverged at step {run['steps_done']}" in wild.status.value

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(D, "train_run", broken)
    lab.button.click()
    lab.wait(60)
    assert lab.error == "RuntimeError: out of memory" and "out of memory" in lab.status.value
    assert not lab.button.disabled and len(lab.runs) == 1


def test_bad_arguments_fail_at_once():
    with pytest.raises(ValueError, match="sweep='mine'"):
        depth_lab("mine")
    with pytest.raises(ValueError, match="norm='middle'"):
        depth_lab(None, norm="middle")
    with pytest.raises(TypeError, match="sweep must be the dict"):
        depth_lab(["rows"])
    assert issubclass(TrainingDiverged, FloatingPointError)  # what a diverged run's message comes from


def test_depth_lab_loads_the_shipped_grid_by_default():
    if D.load_shipped_sweep() is None:
        pytest.skip("no shipped sweep")
    lab = depth_lab(n_layer=2)  # the defaults but 2 layers: the grid is still drawn (it is 12 layers)
    shipped = json.loads(D.SHIPPED_SWEEP.read_text())
    assert lab.sweep == shipped
    assert len([l for l in lab.figure.axes[0].lines if l.get_label().startswith("shipped")]) == 4


def test_the_lab_trains_with_the_sweeps_module_and_shares_its_data():
    from gptedu.experiments import depth_sweep  # as chapter 07 imports it
    assert D.sweep_script() is depth_sweep and D.depth_sweep is depth_sweep
    assert D.load_data() is depth_sweep.load_data()  # one data cache, not two


def test_stalled_is_the_sweeps_rule_and_its_step_50_part_needs_100_steps(script, data, monkeypatch):
    seen = []
    real = script.is_stalled
    monkeypatch.setattr(script, "is_stalled", lambda *args: seen.append(args) or real(*args))
    short = train_run(tiny(steps=60), data)
    assert seen[-1][3] == math.inf  # 60 steps: no judging by the loss at step 50 (the same window as the end)
    long = train_run(tiny(steps=100), data)
    assert seen[-1] == (long["final_val_loss"], data["unigram_loss"], long["final_loss"],
                        pytest.approx(sum(long["losses"][40:50]) / 10))
    assert short["stalled"] == (short["final_val_loss"] > data["unigram_loss"] - 0.1)
