"""Live loss and accuracy curves (pyqtgraph), with runs overlaid for comparison.

The points live in a `CurveHistory` (explorer.core.app.curves) as events arrive; a 100 ms
timer pushes its buffers to the plot items with `setData` only when something changed, so a
fast run costs the GUI one redraw per tick, never one item per point. The x axis is in
epochs (fractional within an epoch), which lines up runs with different batch sizes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from explorer.core.app.curves import CurveHistory, RunCurves

if TYPE_CHECKING:
    from explorer.core.training.events import EpochEnded, Progress

#: 10 redraws a second look continuous, and leave the event loop free between them.
REDRAW_INTERVAL_MS = 100
OVERLAY_COLOURS = ("#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
#: An ensemble's finished members (the member training now has the live colours).
MEMBER_COLOURS = ("#7f7f7f", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
TRAIN_COLOUR = "#1f5fbf"
VALIDATION_COLOUR = "#ff7f0e"
RAW_LOSS_COLOUR = (70, 130, 230, 70)
#: The live run's curves as the legend names them (loss and accuracy share colours).
LIVE_LEGEND = (
    ("train loss (each step)", "#b5cbf2"),
    ("train (smoothed)", TRAIN_COLOUR),
    ("validation", VALIDATION_COLOUR),
)


def loss_graphics() -> pg.GraphicsLayoutWidget:
    """The curves' plotting area with its first plot, the loss, in it."""
    graphics = pg.GraphicsLayoutWidget()
    graphics.setBackground("w")
    graphics.addPlot(row=0, col=0)
    return graphics


def with_accuracy_plot(graphics: pg.GraphicsLayoutWidget) -> pg.GraphicsLayoutWidget:
    """`graphics` (from `loss_graphics`) with the accuracy plot added below the loss."""
    graphics.addPlot(row=1, col=0)
    return graphics


class TrainingCurves(QWidget):
    """Loss (top) and accuracy (bottom) plots sharing the epoch axis."""

    def __init__(
        self, parent: QWidget | None = None, *, graphics: pg.GraphicsLayoutWidget | None = None
    ) -> None:
        """`graphics`: the plots made beforehand by `with_accuracy_plot(loss_graphics())`
        (each plot takes ~15 ms, so a window makes them in turns of its own)."""
        super().__init__(parent)
        self.graphics = with_accuracy_plot(loss_graphics()) if graphics is None else graphics
        self.loss_plot = self.graphics.getItem(0, 0)
        self.accuracy_plot = self.graphics.getItem(1, 0)
        self.accuracy_plot.setXLink(self.loss_plot)
        self.accuracy_plot.setLabel("bottom", "epoch")
        for plot, label in ((self.loss_plot, "loss"), (self.accuracy_plot, "accuracy (%)")):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("left", label)
            plot.getAxis("left").setWidth(56)  # equal widths keep the two x axes aligned
            plot.setClipToView(True)
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.setDownsampling(auto=True, mode="peak")
        # The plots' ranges are set here, in steps, not auto-ranged on every new point: an
        # axis whose range moves is laid out and repainted again, which costs far more than
        # the curves (tens of milliseconds a frame in software rendering).
        self._epochs = 1
        self._loss_top = 0.0
        self._x_end = 0.0
        self._managed = True
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.disableAutoRange()
            plot.vb.sigRangeChangedManually.connect(self._on_view_range_changed_manually)
        self.accuracy_plot.setYRange(0, 100, padding=0.02)
        self.loss_plot.setYRange(0, 1, padding=0)
        self.loss_plot.setXRange(0, 1, padding=0.01)

        self.history = CurveHistory()

        faint = pg.mkPen(color=RAW_LOSS_COLOUR, width=1)
        self.raw_loss_item = self.loss_plot.plot(pen=faint)
        self.smooth_loss_item = self.loss_plot.plot(pen=pg.mkPen(TRAIN_COLOUR, width=2))
        self.val_loss_item = self.loss_plot.plot(
            pen=pg.mkPen(VALIDATION_COLOUR, width=2), symbol="o", symbolSize=6,
            symbolBrush=VALIDATION_COLOUR,
        )  # fmt: skip
        self.accuracy_item = self.accuracy_plot.plot(pen=pg.mkPen(TRAIN_COLOUR, width=2))
        self.val_accuracy_item = self.accuracy_plot.plot(
            pen=pg.mkPen(VALIDATION_COLOUR, width=2), symbol="o", symbolSize=6,
            symbolBrush=VALIDATION_COLOUR,
        )  # fmt: skip
        self._overlay_items: list[pg.PlotDataItem] = []
        self.overlays: tuple[RunCurves, ...] = ()
        # An ensemble's members trained before the live one, and the live one's name.
        self._member_items: list[pg.PlotDataItem] = []
        self.members: tuple[RunCurves, ...] = ()
        self.live_member = ""

        self._crosshairs = []
        for plot in (self.loss_plot, self.accuracy_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((120, 120, 120), width=1))
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
            self._crosshairs.append(line)
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._mouse_proxy = pg.SignalProxy(
            self.graphics.scene().sigMouseMoved, rateLimit=30, slot=self._on_scene_mouse_moved
        )

        # One legend for both plots, above them: inside a plot it hides the curves, and a
        # label that wraps shows long run names whole at any panel width.
        self.legend = QLabel()
        self.legend.setObjectName("curvesLegend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setContentsMargins(4, 0, 4, 0)
        self._legend_names: list[str] = []
        self._update_legend()

        self.log_check = QCheckBox("Log-scale loss")
        self.log_check.toggled.connect(self._on_log_check_toggled)
        controls = QHBoxLayout()
        controls.addWidget(self.log_check)
        controls.addStretch(1)
        controls.addWidget(self.readout)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(self.legend)
        layout.addWidget(self.graphics, 1)

        self._dirty = False
        self._val_drawn = 0  # validation points drawn (they change once an epoch)
        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_INTERVAL_MS)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.timer.start()

    # ---- live run -------------------------------------------------------------------------

    def begin_run(self, epochs: int) -> None:
        """A new live run of `epochs` epochs: empty curves, x axis from 0 to `epochs`."""
        self._epochs = max(1, epochs)
        self._managed = True
        self.clear()

    def clear(self) -> None:
        self.history.clear()
        self._dirty = True
        self._val_drawn = -1
        self.redraw()

    def add_progress(self, event: Progress) -> None:
        """Add a `Progress` event (training metrics averaged since the previous one)."""
        self.history.add_progress(event)
        self._dirty = True

    def add_epoch(self, event: EpochEnded) -> None:
        """Add an `EpochEnded` event (validation metrics, when there is a validation split)."""
        self.history.add_epoch(event)
        self._dirty = True

    @Slot()
    def _on_timer_timeout(self) -> None:
        if self._dirty:
            self.redraw()

    def redraw(self) -> None:
        self._dirty = False
        history = self.history
        self.raw_loss_item.setData(*history.raw_loss.data())
        self.smooth_loss_item.setData(*history.smooth_loss.data())
        self.accuracy_item.setData(*history.smooth_accuracy.data())
        validation = history.validation_loss.count + history.validation_accuracy.count
        if self._val_drawn != validation:
            self._val_drawn = validation
            self.val_loss_item.setData(*history.validation_loss.data())
            self.val_accuracy_item.setData(*history.validation_accuracy.data())
        self._update_ranges()

    def _update_ranges(self) -> None:
        if not self._managed:
            return
        ends = [float(self._epochs)] + [
            float(run.step_x[-1]) for run in (*self.overlays, *self.members) if len(run.step_x)
        ]
        x_end = max(ends)
        if x_end != self._x_end:
            self._x_end = x_end
            self.loss_plot.setXRange(0, x_end, padding=0.01)
        if self.log_check.isChecked():
            return
        highest = [
            float(np.nanmax(y)) for y in self._loss_series() if len(y) and np.isfinite(y).any()
        ]
        top = _nice_ceiling(max(highest, default=1.0))
        if top != self._loss_top:
            self._loss_top = top
            self.loss_plot.setYRange(0, top, padding=0)

    def _loss_series(self) -> list[np.ndarray]:
        series = [self.history.raw_loss.data()[1], self.history.validation_loss.data()[1]]
        for run in (*self.overlays, *self.members):
            series += [run.train_loss, run.validation_loss]
        return series

    @Slot()
    def _on_view_range_changed_manually(self) -> None:
        self._managed = False  # the user zoomed or panned: leave the view alone

    # ---- overlays -------------------------------------------------------------------------

    def set_overlays(self, runs: Sequence[RunCurves]) -> None:
        """Show these saved runs beside the live one, one colour each, named in the legends."""
        self._remove(self._overlay_items)
        self.overlays = tuple(runs)
        self._overlay_items = self._draw(runs, OVERLAY_COLOURS)
        self._update_legend()
        self._update_ranges()

    def set_members(self, earlier: Sequence[RunCurves], live: str = "") -> None:
        """An ensemble: its members trained before (one colour each, named as the runs
        are) beside the live member, which the legend calls `live` ("": not an ensemble)."""
        self._remove(self._member_items)
        self.members = tuple(earlier)
        self.live_member = live
        self._member_items = self._draw(earlier, MEMBER_COLOURS)
        self._update_legend()
        self._update_ranges()

    def _remove(self, items: list[pg.PlotDataItem]) -> None:
        for item in items:
            for plot in (self.loss_plot, self.accuracy_plot):
                if item in plot.listDataItems():
                    plot.removeItem(item)
        self._x_end = self._loss_top = 0.0  # recompute the ranges without them

    def _draw(self, runs: Sequence[RunCurves], colours: Sequence[str]) -> list[pg.PlotDataItem]:
        """Each run's curves (solid train, dashed validation) in its colour."""
        items = []
        for index, run in enumerate(runs):
            colour = colours[index % len(colours)]
            solid = pg.mkPen(colour, width=2)
            dashed = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine)
            items += [
                self.loss_plot.plot(run.step_x, run.smoothed_loss(), pen=solid),
                self.loss_plot.plot(run.epoch_x, run.validation_loss, pen=dashed, connect="finite"),
                self.accuracy_plot.plot(run.step_x, run.smoothed_accuracy_percent(), pen=solid),
                self.accuracy_plot.plot(
                    run.epoch_x, 100 * run.validation_accuracy, pen=dashed, connect="finite"
                ),
            ]
        return items

    def _update_legend(self) -> None:
        entries = list(LIVE_LEGEND)
        entries += [
            (run.name, MEMBER_COLOURS[index % len(MEMBER_COLOURS)])
            for index, run in enumerate(self.members)
        ]
        entries += [
            (run.name, OVERLAY_COLOURS[index % len(OVERLAY_COLOURS)])
            for index, run in enumerate(self.overlays)
        ]
        self._legend_names = [name for name, _ in entries]
        # A non-breaking space keeps each swatch with its name; entries wrap between them.
        parts = [
            f'<span style="color:{colour}"><b>━━</b></span>&nbsp;{html.escape(name)}'
            for name, colour in entries
        ]
        if self.live_member:  # an ensemble: the live curves are this member's
            self._legend_names.insert(0, f"{self.live_member} (live)")
            parts.insert(0, f"<b>{html.escape(self.live_member)}</b>&nbsp;(live):")
        shown = [w for w, on in (("members", self.members), ("saved runs", self.overlays)) if on]
        if shown:
            parts.append(
                f'<span style="color:#777777">({" and ".join(shown)}: solid train, '
                "dashed validation)</span>"
            )
        self.legend.setText(" &nbsp; ".join(parts))

    def legend_names(self) -> list[str]:
        """The names shown in the legend: the live member of an ensemble ("member k
        (live)"), the live curves, then an ensemble's earlier members, then each overlaid
        run."""
        return list(self._legend_names)

    # ---- interaction ----------------------------------------------------------------------

    @Slot(bool)
    def _on_log_check_toggled(self, checked: bool) -> None:
        self.loss_plot.setLogMode(y=checked)
        if checked:
            self.loss_plot.enableAutoRange(y=True)
        else:
            self.loss_plot.disableAutoRange()
            self._loss_top = 0.0
            self._update_ranges()

    def _on_scene_mouse_moved(self, args: tuple[Any, ...]) -> None:
        position = args[0]
        for plot in (self.loss_plot, self.accuracy_plot):
            if plot.sceneBoundingRect().contains(position):
                x = plot.vb.mapSceneToView(position).x()
                for line in self._crosshairs:
                    line.setPos(x)
                    line.setVisible(True)
                self.readout.setText(self.describe_at(x))
                return
        for line in self._crosshairs:
            line.setVisible(False)

    def describe_at(self, x: float) -> str:
        """The live run's values nearest to epoch `x`, for the crosshair read-out."""
        return self.history.describe_at(x)

    # ---- export ---------------------------------------------------------------------------

    def export_png(self, path: str | Path) -> bool:
        return bool(self.graphics.grab().save(str(path), "PNG"))

    def export_csv(self, path: str | Path) -> None:
        """One row per progress point (kind 'step') and per epoch (kind 'epoch')."""
        self.history.write_csv(path)


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 5, 7 × 10^k at or above `value` (the loss axis top)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 3, 5, 7, 10):
        if step * scale >= value:
            return float(step * scale)
    return 10.0 * scale
