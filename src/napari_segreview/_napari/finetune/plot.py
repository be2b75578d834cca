"""The live plot of a fine-tune: training loss per step, held-out Dice per evaluation.

Drawn with matplotlib on a Qt canvas (``FigureCanvasQTAgg``): the top axes show
the training loss (total, and per head when there are several), the bottom
axes the held-out Dice of each channel and their mean, with the base model's
Dice (step 0) as the first point, so a line that ends below where it started
is seen at once. Colours follow napari's dark theme.
"""

from __future__ import annotations

from typing import Any

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["ProgressPlot"]

BACKGROUND, FOREGROUND, GRID = "#262930", "#f0f1f2", "#414851"


class ProgressPlot(FigureCanvasQTAgg):
    """Loss and held-out Dice as the events come (:meth:`add`); :meth:`clear` for a new run.

    Attributes
    ----------
    steps, losses : list
        The step events' steps and total losses, as plotted.
    evals : list of dict
        The eval events, as plotted.
    """

    def __init__(self) -> None:
        figure = Figure(figsize=(4.0, 3.4), dpi=80, facecolor=BACKGROUND,
                        layout="constrained")
        super().__init__(figure)
        self.loss_axes = figure.add_subplot(2, 1, 1)
        self.dice_axes = figure.add_subplot(2, 1, 2, sharex=self.loss_axes)
        self.setMinimumHeight(240)
        self.clear()

    def clear(self) -> None:
        """Empty both axes (a new run)."""
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.head_losses: dict[str, list[float]] = {}
        self.evals: list[dict] = []
        self._redraw()

    def add(self, event: dict[str, Any]) -> None:
        """Plot one ``step`` or ``eval`` event (others are ignored)."""
        kind = event.get("event")
        if kind == "step" and event.get("loss") is not None:
            self.steps.append(int(event["step"]))
            self.losses.append(float(event["loss"]))
            for head, value in (event.get("losses") or {}).items():
                self.head_losses.setdefault(head, []).append(value)
        elif kind == "eval":
            self.evals.append(event)
        else:
            return
        self._redraw()

    def _style(self, axes: Any, ylabel: str) -> None:
        axes.set_facecolor(BACKGROUND)
        axes.set_ylabel(ylabel, color=FOREGROUND)
        axes.tick_params(colors=FOREGROUND, labelsize=8)
        axes.grid(True, color=GRID, linewidth=0.6)
        for spine in axes.spines.values():
            spine.set_color(GRID)

    def _redraw(self) -> None:
        loss, dice = self.loss_axes, self.dice_axes
        loss.clear()
        dice.clear()
        self._style(loss, "training loss")
        self._style(dice, "held-out Dice")
        dice.set_xlabel("step", color=FOREGROUND)
        dice.xaxis.set_major_locator(MaxNLocator(integer=True))
        if self.steps:
            loss.plot(self.steps, self.losses, color=FOREGROUND, linewidth=1.4, label="total")
            if len(self.head_losses) > 1:
                for head, values in self.head_losses.items():
                    if len(values) == len(self.steps):
                        loss.plot(self.steps, values, linewidth=0.9, label=head)
                loss.legend(fontsize=7, loc="upper right", labelcolor=FOREGROUND,
                            facecolor=BACKGROUND, edgecolor=GRID)
        if self.evals:
            steps = [e["step"] for e in self.evals]
            channels = list(self.evals[0].get("dice") or {})
            for name in channels:
                values = [_nan((e.get("dice") or {}).get(name)) for e in self.evals]
                dice.plot(steps, values, marker=".", linewidth=0.9, label=name)
            means = [_nan(e.get("mean_dice")) for e in self.evals]
            dice.plot(steps, means, color=FOREGROUND, marker="o", linewidth=1.8, label="mean")
            dice.axhline(means[0], color=FOREGROUND, linestyle=":", linewidth=0.8)
            dice.set_ylim(0, 1.02)
            dice.legend(fontsize=7, loc="lower right", ncol=2, labelcolor=FOREGROUND,
                        facecolor=BACKGROUND, edgecolor=GRID)
        else:
            dice.text(0.5, 0.5, "held-out Dice appears after the first evaluation",
                      color=FOREGROUND, ha="center", va="center", fontsize=8,
                      transform=dice.transAxes)
        self.draw_idle()


def _nan(value: Any) -> float:
    """A Dice for plotting: undefined (None) becomes a gap.

    Examples
    --------
    >>> _nan(None) != _nan(None), _nan(0.5)
    (True, 0.5)
    """
    return float("nan") if value is None else float(value)
