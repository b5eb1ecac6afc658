"""The Layer Health view: real records from a real training run, drawn as heat maps; real
mouse events; and the live run in the window filling it and its run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from explorer.core.paths import LayerPath
from explorer.core.training import Trainer
from explorer.core.training.health import HISTOGRAM_BINS
from explorer.core.training.health_log import HealthRecord, LayerHealth, read_health
from explorer.ui.training.health_view import HealthView
from tests.core.test_trainer import quadrant_dataset
from tests.core.test_trainer import tiny_spec as quadrant_spec
from tests.ui.test_training import TIMEOUT_MS, Gui, gui, tiny_spec, wait_idle

__all__ = ["gui"]  # the fixture, used by name


@pytest.fixture(scope="module")
def records() -> list[HealthRecord]:
    trainer = Trainer(quadrant_spec(epochs=1, health_interval=3), quadrant_dataset())
    for _ in trainer.run():
        pass
    return trainer.health.read()


def _view(qtbot: Any) -> HealthView:
    view = HealthView()
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    qtbot.waitExposed(view)
    return view


def _widget_point(view: HealthView, x: float, y: float) -> Any:
    scene = view.metric_plot.vb.mapViewToScene(QPointF(x, y))
    return view.graphics.mapFromScene(scene)


def test_the_heat_map_has_one_row_per_layer_and_one_column_per_record(
    qtbot: Any, records: list[HealthRecord]
) -> None:
    view = _view(qtbot)
    view.add_records(records)
    view.redraw()
    layers = list(records[0].layers)
    assert view.history.layers == layers
    image = view.metric_image.image
    assert image is not None and image.shape == (len(layers), len(records))
    # The first row is the conv layer (ReLU): its dead share, as recorded.
    dead = [record.layers[layers[0]].dead for record in records]
    np.testing.assert_allclose(image[0], np.array(dead, dtype=np.float32))
    view.metric_box.setCurrentIndex(view.metric_box.findData("grad_norm"))
    image = view.metric_image.image
    norms = [record.layers[layers[0]].grad_norm for record in records]
    np.testing.assert_allclose(image[0], np.log10(norms), rtol=1e-5)
    # The histograms of the picked layer: one column per record, every weight counted.
    histograms = view.histogram_image.image
    assert histograms is not None and histograms.shape == (HISTOGRAM_BINS, len(records))
    counts, _ = view.history.histogram_matrix(view.layer_box.currentText(), "weights")
    assert counts[:, 0].sum() == sum(records[0].layers[layers[0]].weight_hist or ())


@pytest.mark.parametrize("histograms_first", [False, True])
def test_plots_made_beforehand_are_the_ones_the_view_draws_into(
    qtbot: Any, records: list[HealthRecord], histograms_first: bool
) -> None:
    from explorer.ui.training.health_view import HealthPlots

    plots = HealthPlots()
    assert plots.getItem(1, 0) is None  # the histograms come in a later turn (or with the view)
    if histograms_first:
        assert plots.with_histograms() is plots
    view = HealthView(plots=plots)
    qtbot.addWidget(view)
    assert view.graphics is plots
    assert view.metric_plot is plots.getItem(0, 0)
    assert view.histogram_plot is plots.getItem(1, 0) is not None
    view.add_records(records)
    view.redraw()
    assert view.metric_image.image.shape == (len(records[0].layers), len(records))
    assert view.histogram_image.image.shape == (HISTOGRAM_BINS, len(records))
    # The two heat maps share the step axis.
    assert view.histogram_plot.vb.linkedView(0) is view.metric_plot.vb


def test_hovering_says_the_cell_and_clicking_a_row_picks_its_layer(
    qtbot: Any, records: list[HealthRecord]
) -> None:
    view = _view(qtbot)
    view.add_records(records)
    view.redraw()
    view.metric_plot.vb.autoRange(padding=0)
    last = records[-1]
    row = len(last.layers) - 1  # the output layer
    point = _widget_point(view, float(last.step), row + 0.5)
    qtbot.mouseMove(view.graphics.viewport(), point)
    qtbot.waitUntil(lambda: f"step {last.step}" in view.hover_label.text())
    assert view.hover_label.text().startswith(view.history.layers[row])
    qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: view.layer_box.currentIndex() == row)


def test_an_unhealthy_layer_is_announced_with_its_advice(qtbot: Any) -> None:
    view = _view(qtbot)
    healthy = LayerHealth(1.0, 1e-3, 0.1, None, 0.2, 0.5)
    dead = LayerHealth(1.0, 1e-3, 0.61, None, 0.0, 0.1)
    with qtbot.waitSignal(view.layer_health_changed) as changed:
        view.add_records([HealthRecord(1, {"conv": healthy}), HealthRecord(51, {"conv": dead})])
    advice = changed.args[0]
    assert advice["conv"].badge == "61% dead"
    view.redraw()
    assert "conv" in view.advice_label.text() and "leaky_relu" in view.advice_label.text()


@pytest.mark.slow
def test_a_live_run_fills_the_view_and_its_folder_and_shows_again_when_selected(
    qtbot: Any, gui: Gui, tmp_path: Path
) -> None:
    from explorer.ui.shell.training_docks import TrainingDocks

    docks = gui.window.findChild(TrainingDocks)
    assert docks is not None
    view = docks.health
    gui.use(tiny_spec(epochs=1, health_interval=5))
    badges: list[dict[Any, Any]] = []
    docks.layer_health_changed.connect(badges.append)
    with qtbot.waitSignal(gui.controller.training_finished, timeout=TIMEOUT_MS):
        gui.panel.train_button.click()
        # An unhealthy layer of the live run, as the window would report it.
        dead = LayerHealth(1.0, 1e-3, 0.9, None, 0.0, 0.1)
        view.add_records([HealthRecord(10**6, {"conv2d_1": dead})])
    assert badges and list(badges[0]) == [LayerPath.top(0)]
    assert badges[0][LayerPath.top(0)].badge == "90% dead"
    wait_idle(qtbot, gui.controller)
    assert len(view.history) > 1
    run_dir = gui.controller.run_dir
    assert run_dir is not None
    stored = read_health(run_dir)
    assert stored == [record for record in view.history.records if record.step != 10**6]
    # The Map Timeline got the run's frames live, and the folder has them too.
    live_steps = docks.timeline.timeline.steps
    assert live_steps[0] == 0 and len(live_steps) >= 2
    view.clear()
    docks.timeline.clear()
    gui.runs.select_run(None)
    gui.runs.select_run(gui.runs.records[0].path)
    assert view.history.records == stored
    assert docks.timeline.timeline.steps == live_steps
