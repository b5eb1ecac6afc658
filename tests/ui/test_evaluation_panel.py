"""The evaluation panel on a real MNIST evaluation: cells list their images, images emit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from explorer.core.builder import build_model
from explorer.core.data import DeviceDataset
from explorer.core.evaluation import Evaluation, evaluate
from explorer.ui.evaluation.panel import EvaluationPanel
from tests.core.test_evaluation import mnist_subset, small_net


@pytest.fixture
def evaluated(real_datasets: Path):
    torch.set_num_threads(1)
    dataset = mnist_subset(real_datasets, train=200, test=600)
    model = build_model(small_net(), seed=0)
    return evaluate(model, dataset, "test"), dataset


def shown_panel(
    qtbot: Any, evaluated: tuple[Evaluation, DeviceDataset], width: int, height: int
) -> EvaluationPanel:
    """An evaluation panel of `width`×`height` on screen, showing `evaluated`."""
    evaluation, dataset = evaluated
    widget = EvaluationPanel()
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_evaluation(evaluation, dataset, dataset.info.class_names)
    return widget


@pytest.fixture
def panel(qtbot, evaluated) -> EvaluationPanel:
    return shown_panel(qtbot, evaluated, 1100, 650)


def busiest_mistake(evaluation: Evaluation) -> tuple[int, int]:
    off_diagonal = evaluation.confusion - np.diag(np.diag(evaluation.confusion))
    row, col = np.unravel_index(int(off_diagonal.argmax()), off_diagonal.shape)
    return int(row), int(col)


def test_the_panel_shows_accuracy_and_per_class_scores(panel, evaluated) -> None:
    evaluation, _ = evaluated
    assert f"{evaluation.accuracy * 100:.2f} %" in panel._accuracy.text()
    table = panel._table
    assert table.rowCount() == 10
    for row in range(10):
        assert table.item(row, 0).text() == str(row)
        assert table.item(row, 2).text() == f"{evaluation.recall[row]:.3f}"
        assert table.item(row, 4).text() == f"{int(evaluation.support[row]):,}"


def test_clicking_a_cell_lists_exactly_that_pair_sorted_by_confidence(qtbot, panel, evaluated):
    evaluation, _ = evaluated
    true, predicted = busiest_mistake(evaluation)
    assert evaluation.confusion[true, predicted] > 1
    plot = panel.plot_widget
    with qtbot.waitSignal(panel.cell_chosen) as chosen:
        qtbot.mouseClick(
            plot.viewport(),
            Qt.MouseButton.LeftButton,
            pos=panel.cell_center(true, predicted).toPoint(),
        )
    assert chosen.args == [true, predicted]
    expected = sorted(
        (
            i
            for i in range(evaluation.size)
            if evaluation.true_labels[i] == true and evaluation.predicted[i] == predicted
        ),
        key=lambda i: -float(evaluation.confidences[i]),
    )
    assert panel.pair_indices() == expected
    assert len(expected) == evaluation.confusion[true, predicted]


def test_clicking_a_thumbnail_emits_image_chosen(qtbot, panel, evaluated) -> None:
    evaluation, _ = evaluated
    panel.select_cell(*busiest_mistake(evaluation))
    grid = panel.pair_grid
    qtbot.waitUntil(lambda: grid.isVisible())
    rect = grid.visualItemRect(grid.item(1))
    with qtbot.waitSignal(panel.image_chosen) as chosen:
        qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert chosen.args == ["test", panel.pair_indices()[1]]


def test_the_mistakes_gallery_starts_with_the_surest_mistake(panel, evaluated) -> None:
    evaluation, _ = evaluated
    shown = panel.mistake_indices()
    wrong = np.flatnonzero(evaluation.true_labels != evaluation.predicted)
    assert len(shown) == min(len(wrong), 200)
    assert all(evaluation.true_labels[i] != evaluation.predicted[i] for i in shown)
    assert shown[0] == int(wrong[np.argmax(evaluation.confidences[wrong])])
    confidences = evaluation.confidences[shown]
    assert np.all(np.diff(confidences) <= 0)


def test_the_panel_exports_a_png(panel, tmp_path: Path) -> None:
    path = tmp_path / "evaluation.png"
    assert panel.save_png(str(path))
    image = QImage(str(path))
    assert not image.isNull()
    assert (image.width(), image.height()) == (panel.width(), panel.height())


def test_class_names_must_match_the_class_count(qtbot, evaluated) -> None:
    evaluation, dataset = evaluated
    widget = EvaluationPanel()
    qtbot.addWidget(widget)
    with pytest.raises(ValueError, match="3 class names for 10 classes"):
        widget.set_evaluation(evaluation, dataset, ["a", "b", "c"])
