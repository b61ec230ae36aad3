"""gptedu.labs.scaling: chapter 11's scaling lab, its figure and its widget's callbacks (no browser)."""
import math

import numpy as np
import pytest

from gptedu import scaling as S
from gptedu.labs import scaling as LS
from gptedu.labs.scaling import scaling_figure, scaling_lab


@pytest.fixture(scope="module")
def runs():
    return S.load_runs()


def png(lab):
    return lab.output.outputs[0]["data"]["image/png"]


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def test_lab_has_every_control_and_opens_on_the_chapters_prediction(runs):
    lab = scaling_lab(runs)
    classes = [c for w in walk(lab) for c in w._dom_classes]
    for name in ("run-13k", "run-38k", "run-113k", "run-389k", "run-1-4m", "points", "form", "limit", "held-out",
                 "reveal", "status", "figure"):
        assert classes.count(f"gptedu-{name}") == 1, name
    assert lab.checks["1.4m"].disabled and not lab.checks["1.4m"].value and lab.used == ["13k", "38k", "113k", "389k"]
    assert (lab.limit.value, lab.form.value, lab.points.value, lab.reveal.value) == (1 / 30, True, "frontier", False)
    notebook = S.predict_run(runs, "1.4m", 1 / 30, True, n_boot=LS.BOOT)  # the chapter's primary prediction
    assert lab.prediction.predicted == notebook.predicted and lab.prediction.interval == notebook.interval
    assert f"Predicted final loss of 1.4m: {notebook.predicted:.3f}" in lab.status.value
    assert "press Reveal" in lab.status.value and "Actual" not in lab.status.value
    assert repr(lab) == ("ScalingLab(held out: 1.4m; fit on 13k, 38k, 113k, 389k; frontier points, compute ≤ 1/30 "
                         "of the held-out run's, with c)")
    labels = [line.get_label() for line in lab.figure.axes[0].lines]
    assert not any(label.startswith("1.4m") for label in labels)  # hidden until Reveal


def test_unticking_a_run_moves_the_prediction(runs):
    lab = scaling_lab(runs, fraction=1 / 10)
    before, picture = lab.prediction.predicted, png(lab)
    lab.checks["38k"].value = False
    assert "38k" not in lab.prediction.fit_runs and lab.prediction.predicted != before and png(lab) != picture
    lab.checks["38k"].value = True
    assert lab.prediction.predicted == before


def test_form_limit_and_points_refit(runs):
    lab = scaling_lab(runs, fraction=1.0)
    with_c = lab.prediction
    lab.form.value = False
    assert lab.prediction.fit.c == 0.0 and lab.prediction.irreducible is False
    lab.points.value = "final"
    assert lab.prediction.fit_runs == ["13k", "38k", "113k", "389k"]
    lab.limit.value = 1 / 10
    assert lab.prediction.fit_runs == ["13k", "38k"]  # 113k's end is 0.4% above a tenth of 1.4m's compute
    lab.form.value = True  # 2 points cannot take a fit with c: said in the status, in red
    assert lab.prediction is None and "needs 3 points" in lab.error and "#b00020" in lab.status.value
    assert "no fit" in lab.output.outputs[0]["data"]["text/plain"]
    lab.limit.value = 1.0
    assert lab.error is None and lab.prediction.fit_runs == ["13k", "38k", "113k", "389k"]
    assert with_c.predicted != lab.prediction.predicted


def test_reveal_shows_the_actual_loss_and_the_error(runs):
    lab = scaling_lab(runs)
    lab.reveal.value = True
    actual = runs[-1].loss[-1]
    error = lab.prediction.predicted - actual
    inside = lab.prediction.interval[0] <= actual <= lab.prediction.interval[1]
    assert f"Actual: {actual:.3f}. Error {error:+.3f} nats, {'inside' if inside else 'outside'}" in lab.status.value
    labels = [line.get_label() for line in lab.figure.axes[0].lines]
    assert any(label.startswith("1.4m") for label in labels) and f"actual 1.4m: {actual:.3f}" in labels


def test_a_new_held_out_run_leaves_the_fit_and_hides_again(runs):
    lab = scaling_lab(runs, fraction=1.0)
    lab.reveal.value = True
    lab.held_out.value = "389k"
    assert lab.reveal.value is False and lab.checks["389k"].disabled and not lab.checks["389k"].value
    assert not lab.checks["1.4m"].disabled and "389k" not in lab.used
    lab.checks["1.4m"].value = True  # bigger than the held-out run: the compute limit keeps it out
    assert lab.prediction.target_compute == pytest.approx(runs[3].final_compute)
    assert set(lab.prediction.fit_runs) <= {"13k", "38k", "113k"}
    for name in lab.checks:
        lab.checks[name].value = False
    assert lab.prediction is None and "tick at least one run" in lab.error


def test_too_few_points_give_no_interval(runs):
    lab = scaling_lab(runs, fraction=1.0, points="final")
    lab.checks["113k"].value = False  # 3 final points with c: nothing to resample
    assert all(math.isnan(v) for v in lab.prediction.interval)
    assert "no interval" in lab.status.value


def test_figure_without_a_prediction_and_with_one(runs):
    fig = scaling_figure(runs)
    assert len(fig.axes[0].lines) == 5 and fig.axes[0].get_xscale() == "log"
    p = S.predict_run(runs, "1.4m", 1 / 30, False, n_boot=20)
    fig = scaling_figure(runs, p, revealed=False)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[:4] == [f"{r.name} ({r.n_params:,} params)" for r in runs[:4]]
    assert labels[4].startswith(f"in the fit ({len(p.fit_C)} points") and labels[5].startswith("fit: L = ")
    assert np.array_equal(fig.axes[0].lines[4].get_xdata(), p.fit_C)


def test_bad_arguments_fail_at_once(runs):
    with pytest.raises(ValueError, match="held_out='2m'"):
        scaling_lab(runs, held_out="2m")
    with pytest.raises(ValueError, match="fraction=0.5"):
        scaling_lab(runs, fraction=0.5)
    with pytest.raises(ValueError, match="points='all'"):
        scaling_lab(runs, points="all")
    with pytest.raises(ValueError, match="irreducible='yes'"):
        scaling_lab(runs, irreducible="yes")
    with pytest.raises(ValueError, match="at least 2 runs"):
        scaling_lab(runs[:1], held_out="13k")
