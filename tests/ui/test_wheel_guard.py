"""The mouse wheel edits a spin or combo box only when it has focus; otherwise it scrolls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget

from explorer.core.templates import load_template
from explorer.ui.common.document import ProjectDocument
from explorer.ui.shell.app import make_application
from explorer.ui.shell.wheel_guard import WheelGuard, install_wheel_guard
from explorer.ui.training.controller import TrainingController
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.panel import TrainingPanel


@pytest.fixture
def guard(qapp: QApplication) -> Iterator[WheelGuard]:
    installed = install_wheel_guard(qapp)
    yield installed
    qapp.removeEventFilter(installed)
    installed.setParent(None)
    installed.deleteLater()


@pytest.fixture
def panel(qtbot: Any, tmp_path: Path, guard: WheelGuard) -> Iterator[TrainingPanel]:
    document = ProjectDocument(load_template("keras-mnist"))
    controller = TrainingController(document, runs_root=tmp_path / "runs", data_dir=tmp_path)
    widget = TrainingPanel(controller, TrainingCurves())
    qtbot.addWidget(widget)
    widget.resize(420, 320)  # shorter than the form: the settings page scrolls
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    controller.shutdown()


def _wheel(widget: QWidget, steps: int) -> None:
    """One real wheel event over the middle of `widget` (positive: away from the user)."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre)),
        QPoint(),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def _scroll_area(panel: TrainingPanel) -> QScrollArea:
    area = panel.settings_page
    assert isinstance(area, QScrollArea)
    return area


def test_wheel_over_unfocused_boxes_scrolls_the_form_and_changes_nothing(
    panel: TrainingPanel,
) -> None:
    training = panel.document.spec.training
    bar = _scroll_area(panel).verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == 0
    rate = panel.settings_page.editors["learning_rate"].box
    optimizer = panel.settings_page.editors["optimizer"].box
    assert rate.focusPolicy() == Qt.FocusPolicy.StrongFocus
    assert optimizer.focusPolicy() == Qt.FocusPolicy.StrongFocus
    # The wheel arrives at the spin box's line edit, as it does under a real pointer.
    _wheel(rate.lineEdit(), -1)
    assert rate.value() == pytest.approx(0.01)
    assert not rate.hasFocus()
    after_rate = bar.value()
    assert after_rate > 0
    _wheel(rate, -1)
    assert rate.value() == pytest.approx(0.01)
    assert bar.value() > after_rate
    after_rate = bar.value()
    _wheel(optimizer, -1)
    assert optimizer.currentText() == training.optimizer
    assert bar.value() > after_rate
    assert panel.document.spec.training == training
    assert panel.document.undo_stack.count() == 0


def test_wheel_over_a_focused_box_changes_its_value(qtbot: Any, panel: TrainingPanel) -> None:
    rate = panel.settings_page.editors["learning_rate"].box
    panel.activateWindow()
    rate.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.waitUntil(rate.hasFocus)
    bar = _scroll_area(panel).verticalScrollBar()
    before = bar.value()
    # Sent to the box itself: Qt passes only the platform's own wheel events on to parents.
    _wheel(rate, 1)
    assert rate.value() == pytest.approx(0.11)
    assert panel.document.spec.training.learning_rate == pytest.approx(0.11)
    assert bar.value() == before


def test_the_application_installs_the_guard_once(qapp: QApplication) -> None:
    try:
        assert make_application() is qapp
        installed = qapp.findChildren(WheelGuard)
        assert len(installed) == 1
        assert install_wheel_guard(qapp) is installed[0]
        assert len(qapp.findChildren(WheelGuard)) == 1
    finally:
        for guard in qapp.findChildren(WheelGuard):
            qapp.removeEventFilter(guard)
            guard.setParent(None)
            guard.deleteLater()
