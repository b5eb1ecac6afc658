"""The Input header offers exactly the input and class-count bounds the spec and the project
loader enforce: a step past a bound stops at it."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSpinBox

from explorer.core.params import Param
from explorer.core.project import ProjectError, parse_project
from explorer.core.spec import INPUT_PARAMS, NUM_CLASSES, InputSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor.input_header import InputHeader


def _boxes(header: InputHeader) -> dict[str, tuple[QSpinBox, Param]]:
    return {
        "channels": (header.channels, INPUT_PARAMS["channels"]),
        "height": (header.height_box, INPUT_PARAMS["height"]),
        "width": (header.width_box, INPUT_PARAMS["width"]),
        "num_classes": (header.classes, NUM_CLASSES),
    }


def _type(qtbot: Any, box: QSpinBox, text: str) -> None:
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


@pytest.mark.parametrize("key", ["channels", "height", "width", "num_classes"])
def test_each_box_stops_at_the_bounds_the_loader_enforces(
    qtbot: Any, document: ProjectDocument, key: str
) -> None:
    header = InputHeader(document)
    qtbot.addWidget(header)
    header.show()
    box, param = _boxes(header)[key]
    assert param.minimum is not None and param.maximum is not None
    low, high = int(param.minimum), int(param.maximum)
    assert (box.minimum(), box.maximum()) == (low, high)
    assert box.toolTip() == param.help

    _type(qtbot, box, str(high))
    qtbot.keyClick(box, Qt.Key.Key_Up)  # one past the top: the box keeps the top
    assert box.value() == high
    spec = document.spec
    assert (spec.num_classes if key == "num_classes" else getattr(spec.input, key)) == high
    _type(qtbot, box, str(low))
    qtbot.keyClick(box, Qt.Key.Key_Down)
    assert box.value() == low

    shape = {"channels": 1, "height": 28, "width": 28}
    data: dict[str, Any] = {"format": "cnn-explorer", "version": 1, "input": shape}
    for value, accepted in ((high, True), (high + 1, False), (low, True), (low - 1, False)):
        if key == "num_classes":
            data["num_classes"] = value
        else:
            data["input"] = {**shape, key: value}
        if accepted:
            parse_project(data)
            if key != "num_classes":
                InputSpec.create(**data["input"])
        else:
            with pytest.raises(ProjectError, match="out of range"):
                parse_project(data)
