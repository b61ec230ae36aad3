"""A live loss plot for notebooks: a Trainer callback that redraws after every evaluation.

    plot = LiveLossPlot()
    display(plot.widget)                       # an empty figure area appears
    Trainer(model, train, val, cfg, callbacks=[plot]).fit()

It puts each new figure into an ipywidgets Output, so it updates in place in JupyterLab while
training runs; `plot.figure()` gives the final static figure for a saved notebook.
"""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt

from .common import show_figure


def plot_history(history: list[dict], ax=None, title: str = "Loss while training"):
    """Train and validation loss (nats per token) against optimizer steps."""
    ax = ax or plt.subplots()[1]
    steps = [r["step"] for r in history]
    ax.plot(steps, [r["train_loss"] for r in history], "o-", ms=3, label="train")
    ax.plot(steps, [r["val_loss"] for r in history], "o-", ms=3, label="validation")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats per token)")
    ax.set_title(title)
    ax.legend()
    return ax


class LiveLossPlot:
    """Trainer callback f(trainer, record): redraws the loss curve in `self.widget`."""

    def __init__(self, title: str = "Loss while training"):
        self.title = title
        self.history: list[dict] = []
        self.widget = widgets.Output(layout={"min_height": "300px"})
        self.widget.add_class("gptedu-live-loss")

    def __call__(self, trainer, record: dict) -> None:
        self.history = list(trainer.history)
        fig = self.figure()
        show_figure(self.widget, fig, f"<loss at step {record['step']}>")
        plt.close(fig)  # drawn into the widget only, not again at the end of the cell

    def figure(self):
        fig, ax = plt.subplots()
        plot_history(self.history, ax, self.title)
        return fig
