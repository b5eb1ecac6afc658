"""The Training panel's settings form: which settings apply to the chosen schedule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout

from explorer.core.templates import load_template
from explorer.ui.common.document import ProjectDocument
from explorer.ui.training.controller import TrainingController
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.panel import TrainingPanel


@pytest.fixture
def panel(qtbot: Any, tmp_path: Path) -> Iterator[TrainingPanel]:
    document = ProjectDocument(load_template("keras-mnist"))
    controller = TrainingController(document, runs_root=tmp_path / "runs", data_dir=tmp_path)
    widget = TrainingPanel(controller, TrainingCurves())
    qtbot.addWidget(widget)
    widget.resize(420, 700)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    controller.shutdown()


def _step_settings_enabled(panel: TrainingPanel) -> list[bool]:
    states = []
    for key in ("step_size", "gamma"):
        editor = panel.settings_page.editors[key]
        label = panel.settings_page.findChild(QFormLayout).labelForField(editor)
        assert label is not None and label.isEnabled() == editor.isEnabled()
        states.append(editor.isEnabled())
    return states


def test_step_size_and_gamma_are_editable_only_with_the_step_schedule(
    qtbot: Any, panel: TrainingPanel
) -> None:
    assert panel.document.spec.training.schedule == "constant"
    assert _step_settings_enabled(panel) == [False, False]
    assert "only by the step schedule" in panel.settings_page.editors["gamma"].toolTip()
    schedule = panel.settings_page.editors["schedule"].box
    panel.activateWindow()
    schedule.setFocus()
    qtbot.waitUntil(schedule.hasFocus)
    qtbot.keyClick(schedule, Qt.Key.Key_Down)  # constant → step
    assert panel.document.spec.training.schedule == "step"
    assert _step_settings_enabled(panel) == [True, True]
    qtbot.keyClick(schedule, Qt.Key.Key_Down)  # step → cosine
    assert panel.document.spec.training.schedule == "cosine"
    assert _step_settings_enabled(panel) == [False, False]
    panel.document.undo_stack.undo()
    assert panel.document.spec.training.schedule == "step"
    assert _step_settings_enabled(panel) == [True, True]


def test_the_ensemble_size_is_a_setting_after_the_seed_and_edits_undoably(
    qtbot: Any, panel: TrainingPanel
) -> None:
    form = panel.settings_page.findChild(QFormLayout)
    editors = panel.settings_page.editors
    label = form.labelForField(editors["ensemble"])
    assert label is not None and label.text() == "Ensemble of N"
    row = form.getWidgetPosition(editors["ensemble"])[0]
    assert row == form.getWidgetPosition(editors["seed"])[0] + 1
    box = editors["ensemble"].box
    panel.activateWindow()
    box.setFocus()
    qtbot.waitUntil(box.hasFocus)
    qtbot.keyClick(box, Qt.Key.Key_Up)
    assert panel.document.spec.training.ensemble == 2
    panel.document.undo_stack.undo()
    assert panel.document.spec.training.ensemble == 1
