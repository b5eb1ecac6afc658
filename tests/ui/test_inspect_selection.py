"""In the window, the stack's selection and the feature-map list follow each other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt

from explorer.core.paths import LayerPath
from explorer.ui.shell.workbench import Workbench
from tests.ui.conftest import workbench_in_window
from tests.ui.test_training import TIMEOUT_MS, tiny_spec


@pytest.fixture
def bench(qtbot: Any, tmp_path: Path, message_boxes: Any) -> Iterator[Workbench]:
    for workbench in workbench_in_window(qtbot, tiny_spec(), tmp_path / "runs"):
        workbench.inspect_dock.raise_()
        model = workbench.inspect.feature_maps.model
        qtbot.waitUntil(lambda model=model: model.result is not None, timeout=TIMEOUT_MS)
        yield workbench


def test_selecting_a_layer_in_the_stack_selects_its_feature_maps(qtbot, bench) -> None:
    maps = bench.inspect.feature_maps
    bench.window.stack.select_paths([LayerPath.top(2)])
    assert maps.selected_path == LayerPath.top(2)
    assert maps.view.currentIndex().row() == 2
    assert maps.view.selectionModel().isSelected(maps.view.currentIndex())


def test_clicking_a_feature_map_row_selects_its_layer_in_the_stack(qtbot, bench) -> None:
    maps = bench.inspect.feature_maps
    view = maps.view
    index = maps.model.index(1)
    view.scrollTo(index)
    qtbot.waitUntil(lambda: view.viewport().rect().intersects(view.visualRect(index)), timeout=5000)
    point = QPoint(20, view.visualRect(index).center().y())
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert bench.window.stack.selected_paths() == [LayerPath.top(1)]
    assert bench.window.stack.current_path() == LayerPath.top(1)
    # And back: the stack's new selection leaves the clicked row selected.
    assert view.currentIndex().row() == 1


def test_a_new_capture_after_an_edit_shows_the_stacks_selection(qtbot, bench) -> None:
    from explorer.core.spec import LayerSpec

    maps = bench.inspect.feature_maps
    first = maps.model.result
    bench.document.insert_layers(LayerPath.top(0), [LayerSpec.create("BatchNorm")])
    qtbot.waitUntil(lambda: maps.model.result is not first, timeout=TIMEOUT_MS)
    path = bench.window.stack.current_path()
    assert path is not None
    assert maps.view.currentIndex().row() == maps.model.result.position(path)
