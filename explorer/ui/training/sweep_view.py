"""The Sweep window: a sweep's queue (start or resume, stop), its results table (sortable;
tick a trial to overlay its validation curve), and accuracy plotted against MACs,
parameters or a swept key, with the Pareto front (fewest MACs or parameters for the
accuracy) marked.

Everything shown is read from the trials' run folders through `explorer.core.app.sweep_run`,
the same results the `sweep` command prints and writes to results.csv.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from explorer.core.app.curves import run_curves
from explorer.core.app.sweep import SweepPlan, Trial, format_value
from explorer.core.app.sweep_run import FINISHED, TrialResult, pareto_front
from explorer.core.app.sweep_stack import describe_group
from explorer.core.training.runs import read_metrics
from explorer.ui.training.sweep_queue import SweepQueue, TrialEpoch

#: x axes that are a cost: the Pareto front is drawn for these
COST_AXES = {"MACs": "macs", "parameters": "params"}
FIXED_COLUMNS = ("trial",)
METRIC_COLUMNS = (
    ("val acc (%)", "validation_accuracy", 100.0),
    ("test acc (%)", "test_accuracy", 100.0),
    ("train loss", "train_loss", 1.0),
    ("time (s)", "time", 1.0),
    ("params", "params", 1.0),
    ("MACs", "macs", 1.0),
)
CURVE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


def accuracy_of(result: TrialResult) -> float | None:
    """The accuracy a sweep ranks by: validation, else test (None before it has one)."""
    value = result.validation_accuracy
    if value is None or math.isnan(value):
        value = result.test_accuracy
    return None if value is None or math.isnan(value) else value


class SweepView(QWidget):
    """The window of one sweep; `queue` trains its trials."""

    def __init__(
        self,
        plan: SweepPlan,
        data_dir: str | Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(f"Sweep — {plan.out.name}")
        self.plan = plan
        self.queue = SweepQueue(plan, data_dir, self)
        self.queue.results_changed.connect(self._on_queue_results_changed)
        self.queue.epoch_finished.connect(self._on_queue_epoch_finished)
        self.queue.trials_started.connect(self._on_queue_trials_started)
        self.queue.queue_ended.connect(self._on_queue_ended)
        self.queue.trial_failed.connect(self._on_queue_trial_failed)
        self._keys = [axis.key for axis in plan.axes]
        self._ticked: set[int] = set()
        self._results: tuple[TrialResult, ...] = ()
        self._filling = False

        self.start_action = QAction("&Start Sweep", self)
        self.start_action.setShortcut(QKeySequence("Ctrl+Return"))
        self.start_action.triggered.connect(self.queue.start)
        self.stop_action = QAction("S&top Sweep", self)
        self.stop_action.setShortcut(QKeySequence("Ctrl+."))
        self.stop_action.setEnabled(False)
        self.stop_action.triggered.connect(self._on_stop_triggered)
        self.addActions([self.start_action, self.stop_action])
        self.status_label = QLabel(f"{len(plan.trials)} trials into {plan.out}")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        bar = QHBoxLayout()
        for action in (self.start_action, self.stop_action):
            button = QToolButton()
            button.setDefaultAction(action)
            bar.addWidget(button)
        bar.addWidget(self.status_label, 1)

        headers = [*FIXED_COLUMNS, *self._keys, *(c[0] for c in METRIC_COLUMNS), "status"]
        self.table = QTableWidget(0, len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().hide()
        self.table.itemChanged.connect(self._on_table_item_changed)

        self.x_combo = QComboBox()
        self.x_combo.addItems([*COST_AXES, *self._keys])
        self.x_combo.currentIndexChanged.connect(self._on_x_combo_changed)
        self.pareto_plot = pg.PlotWidget(background="w")
        self.pareto_plot.setLabel("left", "accuracy (%)")
        self.pareto_plot.showGrid(x=True, y=True, alpha=0.2)
        self.points_item = pg.ScatterPlotItem(size=9, brush=pg.mkBrush("#1f77b4"), pen=None)
        self.front_item = pg.PlotDataItem(
            pen=pg.mkPen("#d62728", width=2), symbol="o", symbolBrush="#d62728", symbolSize=11
        )
        legend = self.pareto_plot.addLegend(offset=(-10, -10))
        self.pareto_plot.addItem(self.points_item)
        self.pareto_plot.addItem(self.front_item)
        legend.addItem(self.points_item, "finished trial")
        legend.addItem(self.front_item, "Pareto front")
        self.curves_plot = pg.PlotWidget(background="w")
        self.curves_plot.setLabel("left", "validation accuracy (%)")
        self.curves_plot.setLabel("bottom", "epoch")
        self.curves_plot.showGrid(x=True, y=True, alpha=0.2)
        self.curves_plot.addLegend(offset=(-10, 10))
        self.curve_items: dict[int, pg.PlotDataItem] = {}

        plots = QWidget()
        plots_layout = QVBoxLayout(plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        x_row = QHBoxLayout()
        x_row.addWidget(QLabel("Accuracy against:"))
        x_row.addWidget(self.x_combo, 1)
        plots_layout.addLayout(x_row)
        plots_layout.addWidget(self.pareto_plot, 1)
        plots_layout.addWidget(self.curves_plot, 1)
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(plots)
        splitter.setSizes([560, 440])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        self.resize(1100, 640)
        self.queue.refresh()

    # ---- the table ---------------------------------------------------------------------

    def row_of(self, trial: int) -> int:
        """The table row showing `trial` (rows move when sorted)."""
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == trial:
                return row
        raise LookupError(f"no row for trial {trial}")

    def set_ticked(self, trial: int, ticked: bool) -> None:
        """Tick (overlay its curve) or untick a trial, as a click on its box does."""
        item = self.table.item(self.row_of(trial), 0)
        assert item is not None
        item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    def _fill(self, results: tuple[TrialResult, ...]) -> None:
        self._filling = True
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)  # rows stay put while they are written
        self.table.setRowCount(len(results))
        for row, result in enumerate(results):
            values = dict(result.trial.values)
            number = result.trial.number
            first = _item(number)
            first.setData(Qt.ItemDataRole.UserRole, number)
            first.setFlags(first.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            ticked = number in self._ticked
            first.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
            cells = [first, *(_item(values[key]) for key in self._keys)]
            for _, name, scale in METRIC_COLUMNS:
                value = getattr(result, name)
                cells.append(_item(None if value is None else _rounded(value * scale)))
            cells.append(_item(result.status))
            for column, cell in enumerate(cells):
                self.table.setItem(row, column, cell)
        self.table.setSortingEnabled(sorting)
        self._filling = False

    # ---- the plots ---------------------------------------------------------------------

    def _draw_pareto(self) -> None:
        axis = self.x_combo.currentText()
        finished = [r for r in self._results if r.status == FINISHED and accuracy_of(r) is not None]
        xs = [self._x_value(r, axis) for r in finished]
        points = [
            (x, 100 * (accuracy_of(r) or 0.0))
            for x, r in zip(xs, finished, strict=True)
            if x is not None
        ]
        self.pareto_plot.setLabel("bottom", axis)
        self.points_item.setData(
            x=[p[0] for p in points],
            y=[p[1] for p in points],
            data=[r.trial.number for r in finished],
        )
        if axis in COST_AXES and points:
            front = [points[i] for i in pareto_front(points)]
            self.front_item.setData(x=[p[0] for p in front], y=[p[1] for p in front])
        else:
            self.front_item.setData(x=[], y=[])
        self._label_categories(axis)

    def _x_value(self, result: TrialResult, axis: str) -> float | None:
        if axis in COST_AXES:
            return float(getattr(result, COST_AXES[axis]))
        value = dict(result.trial.values)[axis]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        values = next(a.values for a in self.plan.axes if a.key == axis)
        return float([format_value(v) for v in values].index(format_value(value)))

    def _label_categories(self, axis: str) -> None:
        """Text values (an optimizer, a list) sit at 0, 1, …: label those ticks."""
        bottom = self.pareto_plot.getAxis("bottom")
        if axis in COST_AXES:
            bottom.setTicks(None)
            return
        values = next(a.values for a in self.plan.axes if a.key == axis)
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            bottom.setTicks(None)
        else:
            bottom.setTicks([[(float(i), format_value(v)) for i, v in enumerate(values)]])

    def _draw_curves(self) -> None:
        for number in list(self.curve_items):
            if number not in self._ticked:
                self.curves_plot.removeItem(self.curve_items.pop(number))
        for number in sorted(self._ticked):
            trial = next(t for t in self.plan.trials if t.number == number)
            events = read_metrics(self.plan.trial_folder(trial) / "metrics.jsonl").events
            curves = run_curves(trial.folder_name, events)
            item = self.curve_items.get(number)
            if item is None:
                colour = CURVE_COLOURS[(number - 1) % len(CURVE_COLOURS)]
                item = self.curves_plot.plot(
                    pen=pg.mkPen(colour, width=2),
                    symbol="o",
                    symbolSize=5,
                    symbolBrush=colour,
                    name=f"trial {number}",
                )
                self.curve_items[number] = item
            item.setData(x=curves.epoch_x, y=100 * curves.validation_accuracy)

    # ---- slots -------------------------------------------------------------------------

    @Slot(object)
    def _on_queue_results_changed(self, results: tuple[TrialResult, ...]) -> None:
        self._results = results
        self._fill(results)
        self._draw_pareto()
        self._draw_curves()
        running = bool(self.queue.running)
        done = sum(r.status == FINISHED for r in results)
        self.start_action.setEnabled(not running and done < len(results))
        self.stop_action.setEnabled(running)
        self.start_action.setText("&Start Sweep" if done == 0 else "Re&sume Sweep")

    @Slot(object)
    def _on_queue_trials_started(self, group: tuple[Trial, ...]) -> None:
        self.start_action.setEnabled(False)
        self.stop_action.setEnabled(True)
        done = sum(r.status == FINISHED for r in self._results)
        what = (
            f"{describe_group(group)} stacked"
            if len(group) > 1
            else f"trial {group[0].number} ({group[0].describe()})"
        )
        self.status_label.setText(f"{done}/{len(self._results)} finished; training {what}")

    @Slot(object)
    def _on_queue_epoch_finished(self, epoch: TrialEpoch) -> None:
        accuracy = epoch.validation_accuracy
        shown = "" if accuracy is None else f", validation accuracy {100 * accuracy:.2f}%"
        group = self.queue.running
        together = f"{describe_group(group)} stacked; " if len(group) > 1 else ""
        self.status_label.setText(
            f"{together}trial {epoch.trial}/{len(self.plan.trials)}: "
            f"epoch {epoch.epoch}/{epoch.epochs}{shown}"
        )
        if epoch.trial in self._ticked:
            self._draw_curves()

    @Slot(bool)
    def _on_queue_ended(self, complete: bool) -> None:
        self.start_action.setEnabled(not complete)
        self.stop_action.setEnabled(False)
        done = sum(r.status == FINISHED for r in self._results)
        if complete:
            self.status_label.setText(f"all {done} trials finished: results in {self.plan.out}")
        else:
            self.status_label.setText(
                f"stopped: {done}/{len(self.plan.trials)} trials finished; Resume continues"
            )

    @Slot(str)
    def _on_queue_trial_failed(self, message: str) -> None:
        self.status_label.setText(f"failed: {message}")

    @Slot()
    def _on_stop_triggered(self) -> None:
        self.stop_action.setEnabled(False)
        self.status_label.setText("stopping after the current batch…")
        self.queue.stop()

    @Slot(QTableWidgetItem)
    def _on_table_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 0:
            return
        number = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self._ticked.add(number)
        else:
            self._ticked.discard(number)
        self._draw_curves()

    @Slot(int)
    def _on_x_combo_changed(self, index: int) -> None:
        self._draw_pareto()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.queue.shutdown()
        super().closeEvent(event)


def _rounded(value: float) -> float:
    return value if math.isnan(value) else round(value, 4 if abs(value) < 10 else 2)


def _item(value: object) -> QTableWidgetItem:
    """A cell that sorts by its value: numbers as numbers, the rest as text."""
    item = QTableWidgetItem()
    if isinstance(value, int | float) and not isinstance(value, bool):
        item.setData(Qt.ItemDataRole.DisplayRole, value)
    else:
        item.setText("" if value is None else format_value(value))
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item
