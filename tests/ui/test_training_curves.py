"""The curves' legend: beside the plots, never over the data, run names shown whole."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QRect

from explorer.core.app.curves import RunCurves
from explorer.ui.shell.pyqtgraph_setup import configure_pyqtgraph
from explorer.ui.training.curves import LIVE_LEGEND, TrainingCurves

LONG_NAMES = ("20261201-093015-keras-mnist-lr0.01", "20261201-101500-keras-mnist-lr0.002")


def _run(name: str, rate: float) -> RunCurves:
    x = np.linspace(0, 5, 50)
    epochs = np.arange(1.0, 6.0)
    return RunCurves(
        name,
        x,
        2.3 * np.exp(-rate * x),
        1 - 0.9 * np.exp(-rate * x),
        epochs,
        2.3 * np.exp(-rate * epochs),
        1 - 0.9 * np.exp(-rate * epochs),
    )


def _in_curves(curves: TrainingCurves, widget: Any) -> QRect:
    return QRect(widget.mapTo(curves, widget.rect().topLeft()), widget.size())


@pytest.mark.parametrize("width", [380, 640])
def test_the_legend_sits_above_the_plots_and_shows_run_names_whole(qtbot: Any, width: int) -> None:
    configure_pyqtgraph()
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.resize(width, 380)  # the Training Curves tab in a 1280×800 window, and narrower
    curves.show()
    qtbot.waitExposed(curves)
    curves.set_overlays([_run(LONG_NAMES[0], 0.8), _run(LONG_NAMES[1], 0.5)])
    curves.layout().activate()  # lay out the new legend text now, as the next paint would
    assert curves.legend_names() == [name for name, _ in LIVE_LEGEND] + list(LONG_NAMES)
    # No legend drawn inside either plot, and the label does not reach into the plots.
    assert curves.loss_plot.legend is None and curves.accuracy_plot.legend is None
    legend = _in_curves(curves, curves.legend)
    assert not legend.intersects(_in_curves(curves, curves.graphics))
    # Wrapped, not clipped: the label is as tall as its text needs and inside the panel.
    assert legend.right() < curves.width()
    assert curves.legend.height() >= curves.legend.heightForWidth(curves.legend.width())
    for name in LONG_NAMES:
        assert name in curves.legend.text()
    curves.set_overlays([])
    assert curves.legend_names() == [name for name, _ in LIVE_LEGEND]
    assert LONG_NAMES[0] not in curves.legend.text()


def test_the_plots_draw_the_history_they_are_given(qtbot: Any) -> None:
    from explorer.core.training.events import EpochEnded, Progress

    configure_pyqtgraph()
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    curves.begin_run(2)
    for step, loss in enumerate([2.0, 1.5, 1.0], start=1):
        curves.add_progress(
            Progress(step, 1, step / 3, step * 10, loss, 0.2 * step, 0.01, 1e3, 1, 1)
        )
    curves.add_epoch(EpochEnded(1, 3, 1.0, 0.6, 0.9, 0.65, 0.01, 1.0))
    curves.redraw()
    history = curves.history
    for item, series in (
        (curves.raw_loss_item, history.raw_loss),
        (curves.smooth_loss_item, history.smooth_loss),
        (curves.accuracy_item, history.smooth_accuracy),
        (curves.val_accuracy_item, history.validation_accuracy),
    ):
        xs, ys = item.getData()
        assert np.array_equal(xs, series.data()[0]) and np.array_equal(ys, series.data()[1])
    assert list(curves.val_accuracy_item.getData()[1]) == pytest.approx([65.0])
    assert curves.history.point_count == 3 and curves.history.validation_point_count == 1


def test_plots_made_beforehand_are_the_ones_the_curves_draw_into(qtbot: Any) -> None:
    from explorer.ui.training.curves import loss_graphics, with_accuracy_plot

    configure_pyqtgraph()
    graphics = loss_graphics()
    loss_plot = graphics.getItem(0, 0)
    assert graphics.getItem(1, 0) is None  # the accuracy plot comes in a later turn
    graphics = with_accuracy_plot(graphics)
    accuracy_plot = graphics.getItem(1, 0)
    curves = TrainingCurves(graphics=graphics)
    qtbot.addWidget(curves)
    assert curves.graphics is graphics
    assert curves.loss_plot is loss_plot and curves.accuracy_plot is accuracy_plot
    assert curves.raw_loss_item in loss_plot.listDataItems()
    assert curves.val_accuracy_item in accuracy_plot.listDataItems()
    assert accuracy_plot.getAxis("bottom").labelText == "epoch"
    # The two plots share the epoch axis.
    loss_plot.setXRange(0, 7, padding=0)
    assert accuracy_plot.viewRange()[0] == pytest.approx([0, 7])
