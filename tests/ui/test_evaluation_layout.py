"""The evaluation panel at the sizes a 1280×800 screen gives it: docked beside the summary
(about 630×360) nothing scrolls sideways and every row of the matrix shows; floated large
(F9 / F10) the window lies wholly inside the screen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QScrollArea, QTabWidget, QWidget

from explorer.core.builder import build_model
from explorer.core.data import DeviceDataset
from explorer.core.evaluation import Evaluation, evaluate
from explorer.ui.evaluation.panel import SIDE_BY_SIDE_WIDTH
from explorer.ui.shell.workbench import Workbench
from tests.core.test_evaluation import mnist_subset, small_net
from tests.ui.conftest import workbench_in_window
from tests.ui.test_evaluation_panel import shown_panel
from tests.ui.test_training import tiny_spec


@pytest.fixture
def fashion(real_datasets: Path) -> tuple[Evaluation, DeviceDataset]:
    torch.set_num_threads(1)
    # Fashion-MNIST: the longest class names ("T-shirt/top", "Ankle boot") of the sets.
    dataset = mnist_subset(real_datasets, train=100, test=1200, name="fashion-mnist")
    return evaluate(build_model(small_net(), seed=0), dataset, "test"), dataset


@pytest.fixture
def bench(qtbot: Any, tmp_path: Path) -> Iterator[Workbench]:
    yield from workbench_in_window(qtbot, tiny_spec(), tmp_path / "runs")


def _show_docked(qtbot: Any, bench: Workbench, fashion: Any) -> QScrollArea:
    evaluation, dataset = fashion
    bench.evaluation.set_evaluation(evaluation, dataset, dataset.info.class_names)
    bench.evaluation_dock.raise_()
    area = bench.evaluation_dock.widget()
    assert isinstance(area, QScrollArea)
    qtbot.waitUntil(lambda: area.isVisible() and bench.evaluation.cell_pixels() > 0)
    qtbot.wait(50)
    return area


def test_docked_at_1280x800_nothing_scrolls_sideways(qtbot: Any, bench: Workbench, fashion):
    area = _show_docked(qtbot, bench, fashion)
    panel = bench.evaluation
    assert bench.window.screen().size().toTuple() == (1280, 800)
    viewport = area.viewport()
    assert viewport.width() < SIDE_BY_SIDE_WIDTH  # the size the defect was seen at
    assert not area.horizontalScrollBar().isVisible()
    assert not area.verticalScrollBar().isVisible()
    controls = [*panel.findChildren(QAbstractButton), *panel.findChildren(QTabWidget)]
    controls = [c for c in controls if c.isVisible()]
    assert any(c.text() == "Export PNG…" for c in controls if isinstance(c, QAbstractButton))
    for control in controls:
        right = control.mapTo(viewport, QPoint(control.width(), 0)).x()
        assert right <= viewport.width(), control
    # Narrow: the matrix is the first tab, the per-class table one click away.
    assert not panel.side_by_side
    tabs = panel.findChild(QTabWidget)
    assert tabs.currentWidget() is panel.plot_widget
    assert [tabs.tabText(i) for i in range(tabs.count())] == [
        "Confusion matrix",
        "Per class",
        "Cell images",
        "Top mistakes",
        "Embedding",
    ]


def _inside(widget: QWidget, ancestor: QWidget, point: QPoint) -> bool:
    return ancestor.rect().contains(widget.mapTo(ancestor, point))


def test_docked_every_matrix_row_is_inside_the_panel(qtbot: Any, bench: Workbench, fashion):
    area = _show_docked(qtbot, bench, fashion)
    panel, plot = bench.evaluation, bench.evaluation.plot_widget
    half = panel.cell_pixels() / 2
    assert half > 5
    for row in range(10):
        for col in (0, 9):
            centre = panel.cell_center(row, col)
            for dx, dy in ((-half, -half), (half - 1, half - 1)):
                corner = QPoint(round(centre.x() + dx), round(centre.y() + dy))
                assert plot.viewport().rect().contains(corner), (row, col)
                assert _inside(plot.viewport(), area.viewport(), corner), (row, col)
    # The matrix stands against the row names, not centred away from them in the wide tab.
    axis_right = plot.mapFromScene(plot.getAxis("left").sceneBoundingRect().topRight()).x()
    first_left = panel.cell_center(0, 0).x() - half
    assert abs(first_left - axis_right) <= 0.02 * 10 * 2 * half + 2
    # Full names would overlap under cells this small: the columns show what fits.
    names = fashion[1].info.class_names
    labels = panel.column_labels()
    assert len(labels) == 10 and labels != list(names)
    assert all(name.startswith(label) and label for label, name in zip(labels, names, strict=True))
    # Rows too short for two lines: the full names, each on one line.
    assert panel.row_labels() == list(names)


def test_a_wide_panel_puts_the_matrix_beside_full_names(qtbot: Any, fashion) -> None:
    dataset = fashion[1]
    panel = shown_panel(qtbot, fashion, 600, 400)
    assert not panel.side_by_side
    panel.resize(1180, 740)
    qtbot.waitUntil(lambda: panel.side_by_side and panel.cell_pixels() > 40)
    tabs = panel.findChild(QTabWidget)
    assert tabs.indexOf(panel.plot_widget) == -1
    assert panel.plot_widget.isVisible() and tabs.isVisible()
    assert panel.plot_widget.geometry().right() < tabs.geometry().left()
    # Taller than wide: the matrix stands on the column names, the room left above it.
    plot, half = panel.plot_widget, panel.cell_pixels() / 2
    axis_top = plot.mapFromScene(plot.getAxis("bottom").sceneBoundingRect().topLeft()).y()
    last_bottom = panel.cell_center(9, 0).y() + half
    assert abs(axis_top - last_bottom) <= 0.02 * 10 * 2 * half + 2
    # The names in full, broken onto two lines at a space or slash.
    wrapped = [n.replace(" ", "\n").replace("/", "/\n") for n in dataset.info.class_names]
    assert panel.column_labels() == wrapped
    assert panel.row_labels() == wrapped
    assert "T-shirt/\ntop" in wrapped
    # Back to narrow: the matrix is a tab again, and a clicked cell shows its images.
    panel.resize(620, 360)
    qtbot.waitUntil(lambda: not panel.side_by_side)
    assert tabs.indexOf(panel.plot_widget) == 0
    panel.select_cell(0, 6)
    assert tabs.tabText(tabs.currentIndex()) == "Cell images"


@pytest.mark.parametrize("key", ["F9", "F10"])
@pytest.mark.parametrize("window_rect", [None, QRect(200, 120, 1000, 650)])
def test_floating_large_stays_inside_the_screen(
    qtbot: Any, bench: Workbench, fashion, key: str, window_rect: QRect | None
) -> None:
    window = bench.window
    if window_rect is not None:
        window.setGeometry(window_rect)
        qtbot.wait(50)
    evaluation, dataset = fashion
    bench.evaluation.set_evaluation(evaluation, dataset, dataset.info.class_names)
    (action,) = [a for a in window.menus.view_menu.actions() if a.shortcut().toString() == key]
    action.trigger()
    dock = bench.inspect_dock if key == "F9" else bench.evaluation_dock
    qtbot.waitUntil(lambda: dock.isFloating() and dock.isVisible())
    qtbot.wait(50)
    available = dock.screen().availableGeometry()
    assert available.contains(dock.frameGeometry()), (dock.frameGeometry(), available)
    # Still large: the readable size it floats for, as far as the screen allows.
    assert dock.width() >= 1100 and dock.height() >= 700
