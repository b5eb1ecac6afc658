"""The Layer Health view: one layer × time heat map for a metric picked from a list, and the
picked layer's weight or gradient histograms over time as one compact heat map.

Records arrive with `add_records` during a run (a few per second at most) or all at once
from a finished run's health.jsonl (`load_run`); a 200 ms timer redraws only when something
changed, two images in all, whatever the number of layers or steps. Clicking a row picks
that layer for the histograms; hovering says the layer, the step, the value and the
layer's advice. `layer_health_changed` carries the newest record's advice per layer, for the
stack's badges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QVBoxLayout, QWidget

from explorer.core.app.health_history import LOG_METRICS, METRIC_LABELS, HealthHistory

if TYPE_CHECKING:
    from explorer.core.health_advice import HealthAdvice
    from explorer.core.training.health_log import HealthRecord

REDRAW_INTERVAL_MS = 200
#: Metrics that are shares, drawn on a fixed 0..1 scale.
SHARE_METRICS = frozenset({"dead", "saturated"})
HISTOGRAM_KINDS = ("weights", "gradients")
#: Pixels of the layer-name axis, at least and at most.
AXIS_WIDTH = 90
MAX_AXIS_WIDTH = 240
#: Lines of advice below the maps; the rest are counted (the hover names each layer's).
MAX_ADVICE_LINES = 4


class HealthPlots(pg.GraphicsLayoutWidget):
    """The view's plotting area: the metric's heat map at first, the histograms' below it
    once `with_histograms()` has added them."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.metric_plot = self.addPlot(row=0, col=0)
        self.metric_plot.invertY(True)
        self.metric_plot.setLabel("bottom", "step")
        self.metric_image = pg.ImageItem(axisOrder="row-major")
        self.metric_plot.addItem(self.metric_image)
        self.metric_bar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), interactive=False)
        self.metric_bar.setImageItem(self.metric_image, insert_in=self.metric_plot)
        self.histogram_plot: Any = None
        self.histogram_image: Any = None
        self.histogram_bar: Any = None

    def with_histograms(self) -> HealthPlots:
        """These plots with the histograms' heat map below the metric's (once)."""
        if self.histogram_plot is not None:
            return self
        self.histogram_plot = self.addPlot(row=1, col=0)
        self.histogram_plot.setLabel("bottom", "step")
        self.histogram_plot.setXLink(self.metric_plot)
        self.histogram_image = pg.ImageItem(axisOrder="row-major")
        self.histogram_plot.addItem(self.histogram_image)
        self.histogram_bar = pg.ColorBarItem(colorMap=pg.colormap.get("inferno"), interactive=False)
        self.histogram_bar.setImageItem(self.histogram_image, insert_in=self.histogram_plot)
        # The layer rows need more height than the histogram's bins.
        self.ci.layout.setRowStretchFactor(0, 3)
        self.ci.layout.setRowStretchFactor(1, 2)
        return self


class HealthView(QWidget):
    """Layer health of the live run or of a finished one."""

    layer_health_changed = Signal(object)  # dict[str, HealthAdvice], newest record

    def __init__(self, parent: QWidget | None = None, *, plots: HealthPlots | None = None) -> None:
        """`plots`: made beforehand (each of its two plots takes ~15 ms, so a window makes
        them in turns of their own); the histograms' plot is added now if it is not yet."""
        super().__init__(parent)
        self.history = HealthHistory()
        self._advice: dict[str, HealthAdvice] = {}
        self._dirty = False

        self.metric_box = QComboBox()
        for key, label in METRIC_LABELS.items():
            self.metric_box.addItem(label, key)
        self.layer_box = QComboBox()
        self.kind_box = QComboBox()
        self.kind_box.addItems(HISTOGRAM_KINDS)
        metric_label = QLabel("&Metric:")
        metric_label.setBuddy(self.metric_box)
        layer_label = QLabel("Histograms of &layer:")
        layer_label.setBuddy(self.layer_box)
        # Two short rows and combo boxes that may shrink: the dock shares a narrow column.
        for box in (self.metric_box, self.layer_box, self.kind_box):
            box.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            box.setMinimumContentsLength(6)
        controls = QGridLayout()
        controls.addWidget(metric_label, 0, 0)
        controls.addWidget(self.metric_box, 0, 1, 1, 2)
        controls.addWidget(layer_label, 1, 0)
        controls.addWidget(self.layer_box, 1, 1)
        controls.addWidget(self.kind_box, 1, 2)
        controls.setColumnStretch(1, 1)

        plots = (HealthPlots() if plots is None else plots).with_histograms()
        self.graphics = plots
        self.metric_plot, self.metric_image = plots.metric_plot, plots.metric_image
        self.metric_bar = plots.metric_bar
        self.histogram_plot, self.histogram_image = plots.histogram_plot, plots.histogram_image
        self.histogram_bar = plots.histogram_bar
        for plot in (self.metric_plot, self.histogram_plot):
            plot.getAxis("left").setWidth(AXIS_WIDTH)  # equal widths keep the step axes aligned
            plot.setMenuEnabled(False)

        self.hover_label = QLabel(" ")
        self.hover_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.advice_label = QLabel("No layer health yet: it is recorded while a network trains.")
        self.advice_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.hover_label)
        layout.addWidget(self.advice_label)

        self.metric_box.currentIndexChanged.connect(self._on_choice_changed)
        self.layer_box.currentIndexChanged.connect(self._on_choice_changed)
        self.kind_box.currentIndexChanged.connect(self._on_choice_changed)
        self.graphics.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.graphics.scene().sigMouseClicked.connect(self._on_scene_mouse_clicked)
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    # ---- data ----------------------------------------------------------------------------

    @property
    def chosen_metric(self) -> str:
        return str(self.metric_box.currentData())

    @property
    def advice(self) -> dict[str, HealthAdvice]:
        return dict(self._advice)

    @Slot()
    def clear(self) -> None:
        self.history.clear()
        self._changed()

    @Slot(object)
    def add_records(self, records: Iterable[HealthRecord]) -> None:
        """Append records of the live run (shown at the next redraw)."""
        self.history.extend(records)
        self._changed()

    def show_records(self, records: Iterable[HealthRecord]) -> None:
        self.history.clear()
        self.add_records(records)

    def load_run(self, run_dir: str | Path) -> None:
        """Show a finished run's health.jsonl (nothing when it has none)."""
        from explorer.core.training.health_log import read_health

        self.show_records(read_health(run_dir))

    def _changed(self) -> None:
        self._sync_layers()
        advice = self.history.latest_advice()
        if advice != self._advice:
            self._advice = advice
            self.layer_health_changed.emit(dict(advice))
        self._dirty = True

    def _sync_layers(self) -> None:
        layers = self.history.layers
        current = [self.layer_box.itemText(i) for i in range(self.layer_box.count())]
        if current == layers:
            return
        chosen = self.layer_box.currentText()
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItems(layers)
        if chosen in layers:
            self.layer_box.setCurrentText(chosen)
        self.layer_box.blockSignals(False)
        ticks = [(row + 0.5, name) for row, name in enumerate(layers)]
        self.metric_plot.getAxis("left").setTicks([ticks, []])
        # Wide enough for the longest name (a label that does not fit is not drawn), the
        # same for both plots so that their step axes stay aligned.
        metrics = QFontMetrics(self.metric_plot.getAxis("left").style["tickFont"] or self.font())
        longest = max((metrics.horizontalAdvance(name) for name in layers), default=0)
        for plot in (self.metric_plot, self.histogram_plot):
            plot.getAxis("left").setWidth(min(max(AXIS_WIDTH, longest + 16), MAX_AXIS_WIDTH))

    # ---- drawing ---------------------------------------------------------------------------

    @Slot()
    def _on_timer_timeout(self) -> None:
        if self._dirty:
            self.redraw()

    @Slot(int)
    def _on_choice_changed(self, _index: int) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw both heat maps from the history now."""
        self._dirty = False
        history = self.history
        self._show_advice()
        if not len(history) or not history.layers:
            self.metric_image.clear()
            self.histogram_image.clear()
            return
        first, span = self._step_span()
        # Ranges set here, not auto-ranged: an empty map keeps the axes of the run.
        rows = float(len(history.layers))
        self.metric_plot.setRange(xRange=(first, first + span), yRange=(0.0, rows), padding=0)
        metric = self.chosen_metric
        matrix = history.metric_matrix(metric)
        if np.isnan(matrix).all():
            self.metric_image.clear()
            self.metric_plot.setTitle(f"{METRIC_LABELS[metric]}: no layer has it")
        else:
            levels = _levels(matrix, metric)
            image = np.ascontiguousarray(matrix, dtype=np.float32)
            self.metric_image.setImage(image, levels=levels)
            self.metric_image.setRect(QRectF(first, 0.0, span, float(len(history.layers))))
            self.metric_bar.setLevels(levels)
            self.metric_plot.setTitle(METRIC_LABELS[metric])
        layer, kind = self.layer_box.currentText(), self.kind_box.currentText()
        counts, extent = history.histogram_matrix(layer, kind)
        if counts.size and extent > 0:
            shown = np.log1p(counts).astype(np.float32)
            levels = (0.0, max(float(shown.max()), 1e-6))
            self.histogram_image.setImage(np.ascontiguousarray(shown), levels=levels)
            self.histogram_image.setRect(QRectF(first, -extent, span, 2 * extent))
            self.histogram_bar.setLevels(levels)
            self.histogram_plot.setYRange(-extent, extent, padding=0)
            self.histogram_plot.setTitle(f"{layer}: {kind} (colour: log(1 + count))")
        else:
            self.histogram_image.clear()
            self.histogram_plot.setTitle(f"{layer}: no {kind}" if layer else "")

    def _step_span(self) -> tuple[float, float]:
        """Where the first column starts and how wide all columns are, in steps."""
        steps = self.history.steps
        every = float(steps[-1] - steps[0]) / (len(steps) - 1) if len(steps) > 1 else 1.0
        return float(steps[0]) - every / 2, every * len(steps)

    def _show_advice(self) -> None:
        if not len(self.history):
            self.advice_label.setText("No layer health yet: it is recorded while a network trains.")
            return
        if not self._advice:
            step = self.history.records[-1].step
            self.advice_label.setText(f"Every layer looks healthy at step {step}.")
            return
        lines = [f"<b>{name}</b> — {advice.text}" for name, advice in self._advice.items()]
        if len(lines) > MAX_ADVICE_LINES:
            more = len(lines) - MAX_ADVICE_LINES + 1
            lines = [*lines[: MAX_ADVICE_LINES - 1], f"… and {more} more layers"]
        self.advice_label.setText("<br>".join(lines))

    # ---- pointer -------------------------------------------------------------------------

    def _cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(row, column) of the metric heat map under a scene position, if any."""
        if not len(self.history) or not self.metric_plot.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.metric_plot.vb.mapSceneToView(scene_pos)
        first, span = self._step_span()
        columns = len(self.history)
        column = math.floor((point.x() - first) / span * columns)
        row = math.floor(point.y())
        if 0 <= row < len(self.history.layers) and 0 <= column < columns:
            return row, column
        return None

    @Slot(object)
    def _on_scene_mouse_moved(self, scene_pos: QPointF) -> None:
        cell = self._cell_at(scene_pos)
        if cell is None:
            self.hover_label.setText(" ")
            return
        row, column = cell
        layer = self.history.layers[row]
        metric = self.chosen_metric
        value = self.history.value(layer, column, metric)
        shown = "—" if value is None else _format(value, metric)
        step = self.history.records[column].step
        text = f"{layer} · step {step}: {METRIC_LABELS[metric].split(' (')[0]} {shown}"
        advice = self._advice.get(layer)
        self.hover_label.setText(text + (f" — now {advice.badge}" if advice else ""))

    @Slot(object)
    def _on_scene_mouse_clicked(self, event: object) -> None:
        cell = self._cell_at(event.scenePos())  # type: ignore[attr-defined]
        if cell is not None:
            self.layer_box.setCurrentIndex(cell[0])


def _levels(matrix: np.ndarray, metric: str) -> tuple[float, float]:
    if metric in SHARE_METRICS:
        return 0.0, 1.0
    finite = matrix[np.isfinite(matrix)]
    if not finite.size:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _format(value: float, metric: str) -> str:
    if metric in SHARE_METRICS:
        return f"{value:.0%}"
    if metric in LOG_METRICS:
        return f"{value:.2e}"
    return f"{value:.3g}"
