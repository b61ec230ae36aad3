"""Chapter 11's scaling lab: GPT-4's predictable scaling, made by hand on the course's model family.

Pick which runs (and which of their curve points) enter a power-law fit, the fit's form (with or
without the irreducible term c) and a compute limit; the lab fits L(C) = a·C^-b (+ c) to the chosen
points of the compute-efficient frontier and predicts the held-out run's final validation loss at its
planned compute, with a bootstrap interval. The held-out run's own losses stay hidden until Reveal is
pressed (then the figure shows its curve and the status the error in nats).

- `scaling_figure(runs, prediction, revealed)`: every run's curve (log-log), the frontier, the fitted
  points, the fit extended to the held-out run's compute, the prediction's interval (and the actual
  final loss once revealed);
- `scaling_lab()`: the widget.

Stable CSS classes for browser tests: gptedu-run-<name> (one checkbox per run; dots in a name become
dashes, e.g. gptedu-run-1-4m), gptedu-points, gptedu-form, gptedu-limit, gptedu-held-out,
gptedu-reveal, gptedu-status, gptedu-figure.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .. import scaling as S
from .common import FONT_PX, show_figure

LIMITS = (("all", 1.0), ("1/3", 1 / 3), ("1/10", 1 / 10), ("1/30", 1 / 30), ("1/100", 1 / 100))
POINTS = (("frontier points", "frontier"), ("final points only", "final"))
FORMS = (("a·C^-b + c", True), ("a·C^-b", False))
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#e377c2")
ERROR_COLOUR = "#b00020"
BOOT = 200  # bootstrap resamples per prediction (the notebook uses 1000; the lab redraws on every click)


def css_name(name: str) -> str:
    return name.replace(".", "-")


def scaling_figure(runs: Sequence[S.Run], prediction: S.Prediction | None = None, revealed: bool = False,
                   dpi: float = 72) -> Figure:
    """Left: every run's validation loss vs compute (log-log), the held-out run's curve only once revealed;
    the fitted points ringed, the fit drawn out to the held-out compute, the prediction's interval as a bar
    and the actual final loss as a star once revealed. A Figure not registered with pyplot."""
    fig = Figure(figsize=(11, 5.6), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    held = prediction.held_out if prediction is not None else None
    for i, run in enumerate(runs):
        if run.name == held and not revealed:
            continue
        ax.plot(run.compute, run.loss, "-", color=COLOURS[i % len(COLOURS)], alpha=0.55, lw=1.5,
                label=f"{run.name} ({run.n_params:,} params)" + (" — held out" if run.name == held else ""))
    if prediction is not None:
        ax.plot(prediction.fit_C, prediction.fit_L, "o", mfc="none", mec="k", ms=8, mew=1.5,
                label=f"in the fit ({len(prediction.fit_C)} points, C ≤ {prediction.max_compute:.2g} PF-days)")
        lo_c = min(prediction.fit_C.min(), prediction.target_compute) / 1.5
        grid = np.geomspace(lo_c, prediction.target_compute * 1.5, 100)
        ax.plot(grid, prediction.fit(grid), "k--", lw=1.5, label=f"fit: {prediction.fit.describe('C')}")
        ax.axvline(prediction.max_compute, color="0.6", lw=1, ls=":")
        lo, hi = prediction.interval
        spread = f"({lo:.2f}–{hi:.2f})" if np.isfinite(lo) else "(no interval)"
        yerr = [[prediction.predicted - lo], [hi - prediction.predicted]] if np.isfinite(lo) else None
        ax.errorbar([prediction.target_compute], [prediction.predicted], yerr=yerr, fmt="D", color="k", ms=8,
                    capsize=6, label=f"predicted {held}: {prediction.predicted:.3f} {spread}")
        if revealed:
            actual = float(S.run_named(runs, held).loss[-1])
            ax.plot([prediction.target_compute], [actual], "*", color=ERROR_COLOUR, ms=16,
                    label=f"actual {held}: {actual:.3f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        axis(FuncFormatter(lambda v, _: f"{v:g}"))  # 2.2, not 2.2×10⁰
    ax.set_xlabel("training compute C (PF-days)")
    ax.set_ylabel("validation loss (nats/char, log scale)")
    ax.set_title("Predict the held-out run from the others (GPT-4 §3)")
    ax.legend(fontsize=10, loc="upper right")
    return fig


class ScalingLab(widgets.VBox):
    """The widget: run checkboxes, which points, the fit form, a compute limit, the held-out run, Reveal."""

    def __init__(self, runs: Sequence[S.Run], held_out: str, fraction: float, irreducible: bool, points: str):
        self.runs = check_settings(runs, held_out, fraction, irreducible, points)  # before any widget is built
        irreducible = bool(irreducible)
        self.prediction: S.Prediction | None = None
        self.figure: Figure | None = None
        self.error: str | None = None
        self.held_out = widgets.Dropdown(options=[r.name for r in self.runs], value=held_out,
                                         description="held out", layout=widgets.Layout(width="190px"))
        self.checks = {r.name: widgets.Checkbox(value=r.name != held_out, description=r.name, indent=False,
                                                layout=widgets.Layout(width="90px")) for r in self.runs}
        self.points = widgets.ToggleButtons(options=POINTS, value=points, description="use")
        self.form = widgets.ToggleButtons(options=FORMS, value=irreducible, description="fit")
        self.limit = widgets.Dropdown(options=LIMITS, value=fraction, description="compute ≤",
                                      layout=widgets.Layout(width="230px"))
        self.reveal = widgets.ToggleButton(value=False, description="Reveal", icon="eye",
                                           tooltip="show the held-out run's actual losses")
        self.status = widgets.HTML()
        self.output = widgets.Output()
        for name, box in self.checks.items():
            box.add_class(f"gptedu-run-{css_name(name)}")
        for widget, name in ((self.points, "points"), (self.form, "form"), (self.limit, "limit"),
                             (self.held_out, "held-out"), (self.reveal, "reveal"), (self.status, "status"),
                             (self.output, "figure")):
            widget.add_class(f"gptedu-{name}")
        super().__init__([widgets.HBox([widgets.Label("runs in the fit:"), *self.checks.values()]),
                          widgets.HBox([self.points, self.form]),
                          widgets.HBox([self.limit, self.held_out, self.reveal]), self.status, self.output])
        for widget in (*self.checks.values(), self.points, self.form, self.limit, self.reveal):
            widget.observe(self.redraw, names="value")
        self.held_out.observe(self._new_held_out, names="value")
        self.redraw()

    @property
    def used(self) -> list[str]:
        return [name for name, box in self.checks.items() if box.value and name != self.held_out.value]

    def _new_held_out(self, change: Any = None) -> None:
        """A new held-out run: it leaves the fit (its checkbox is locked), the others may enter; hidden again."""
        with self.hold_trait_notifications():
            for name, box in self.checks.items():
                box.disabled = name == self.held_out.value
                if name == self.held_out.value:
                    box.value = False
            self.reveal.value = False
        self.redraw()

    def predict(self) -> S.Prediction:
        """The prediction the controls ask for (a ValueError says why there is none)."""
        if not self.used:
            raise ValueError("tick at least one run for the fit.")
        return S.predict_run(self.runs, self.held_out.value, self.limit.value, self.form.value, use=self.used,
                             on_frontier=self.points.value == "frontier", final_only=self.points.value == "final",
                             n_boot=BOOT)

    def redraw(self, change: Any = None) -> None:
        """Refit, redraw, and say what the prediction is (and, if revealed, how far off it was)."""
        for name, box in self.checks.items():
            box.disabled = name == self.held_out.value
        try:
            self.prediction, self.error = self.predict(), None
        except ValueError as error:  # too few points under the limit, no runs ticked: shown, not raised
            self.prediction, self.error = None, f"{error}"
        self.figure = scaling_figure(self.runs, self.prediction, self.reveal.value)
        show_figure(self.output, self.figure, f"<scaling lab: {self._summary()}>")
        self.status.value = f'<div style="font-size:{FONT_PX * 0.8:.0f}px;line-height:1.5">{self._text()}</div>'

    def _summary(self) -> str:
        if self.prediction is None:
            return "no fit"
        return f"{self.held_out.value} predicted {self.prediction.predicted:.3f}"

    def _text(self) -> str:
        held = html.escape(self.held_out.value)
        if self.prediction is None:
            return (f'<span style="color:{ERROR_COLOUR}">No prediction: {html.escape(self.error or "")} '
                    "Tick more runs or raise the compute limit.</span>")
        p = self.prediction
        lo, hi = p.interval
        spread = (f"{p.level:.0%} bootstrap interval {lo:.3f}–{hi:.3f}" if np.isfinite(lo) else
                  f"no interval: {len(p.fit_C)} points leave none to spare for a bootstrap")
        fitted = ", ".join(map(html.escape, sorted(set(p.fit_runs), key=self._order)))
        text = (f"Fit on {len(p.fit_C)} points of {fitted}: "
                f"{html.escape(p.fit.describe('C'))}, exponent b = {p.fit.b:.3f}.<br>"
                f"<b>Predicted final loss of {held}: {p.predicted:.3f}</b> "
                f"({spread}) at {p.target_compute:.2g} PF-days.<br>")
        if self.reveal.value:
            r = p.reveal(self.runs)
            where = "inside" if r["inside"] else "outside"
            text += (f"Actual: {r['actual']:.3f}. Error {r['error']:+.3f} nats, {where} the interval.")
        else:
            text += "The actual value is hidden: press Reveal."
        return text

    def _order(self, name: str) -> int:
        return [r.name for r in self.runs].index(name)

    def __repr__(self) -> str:
        used = ", ".join(self.used) or "none"
        form = "with c" if self.form.value else "without c"
        return (f"ScalingLab(held out: {self.held_out.value}; fit on {used}; {self.points.value} points, "
                f"compute ≤ {self.limit.label} of the held-out run's, {form})")


def scaling_lab(runs: Sequence[S.Run] | None = None, held_out: str = "1.4m", fraction: float = 1 / 30,
                irreducible: bool = True, points: str = "frontier") -> ScalingLab:
    """GPT-4's predictable scaling, to play with: fit small runs, predict the big one, then Reveal.

    Controls: a checkbox per run (which runs enter the fit; the held-out run cannot), which of their points
    (the compute-efficient frontier's points among their curves, or each run's final point only), the fit
    (with the irreducible term c, GPT-4's form, or a pure power law, GPT-3 Fig. 3.1's), the compute limit
    (a fraction of the held-out run's planned compute), the held-out run, and Reveal. The prediction's
    interval is a 90% bootstrap over the fitted points (200 resamples). Every change refits at once.
    runs: gptedu.scaling.load_runs() (the shipped family) unless given.
    """
    return ScalingLab(S.load_runs() if runs is None else runs, held_out, fraction, irreducible, points)


def check_settings(runs: Any, held_out: Any, fraction: Any, irreducible: Any, points: Any) -> list[S.Run]:
    """The runs as a list, or a ValueError / TypeError naming the argument and what its control offers
    (a value not among a dropdown's options would otherwise be a bare TraitError)."""
    if isinstance(runs, (str, bytes)) or not isinstance(runs, Sequence) or \
            not all(isinstance(r, S.Run) for r in runs):
        raise TypeError(f"runs must be a list of gptedu.scaling.Run, e.g. gptedu.scaling.load_runs(); "
                        f"got {type(runs).__name__} {str(runs)[:60]!r}.")
    runs = list(runs)
    names = [r.name for r in runs]
    if len(runs) < 2:
        raise ValueError(f"the lab needs at least 2 runs; got {len(runs)}.")
    if not isinstance(held_out, str) or held_out not in names:
        raise ValueError(f"held_out={held_out!r} is not one of the runs: {', '.join(names)}.")
    if isinstance(fraction, (bool, np.bool_)) or fraction not in dict(LIMITS).values():  # True == 1.0, but no limit
        raise ValueError(f"fraction={fraction!r} must be one of {', '.join(label for label, _ in LIMITS)} "
                         f"(1, 1/3, 1/10, 1/30, 1/100).")
    if not isinstance(points, str) or points not in dict(POINTS).values():
        raise ValueError(f"points={points!r} must be 'frontier' or 'final'.")
    if not isinstance(irreducible, (bool, np.bool_)):
        raise ValueError(f"irreducible={irreducible!r} must be True or False.")
    return runs
