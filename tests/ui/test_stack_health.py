"""The live run's health badges on the stack's rows: the role's value, the tooltip's advice,
the pill a real paint draws, and the badge going once its path holds another layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from explorer.core.health_advice import HealthAdvice, advice_by_path
from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.editor.delegate import _HEALTH_COLOUR
from explorer.ui.editor.stack import LayerStackPanel
from explorer.ui.editor.stack_model import HEALTH_ROLE, LayerStackModel
from tests.ui.conftest import workbench_in_window
from tests.ui.test_document_blocks import _blocks, at, conv
from tests.ui.test_training import tiny_spec

DEAD = HealthAdvice(
    "61% dead",
    "61% of its ReLU units never fire on a batch, so they no longer learn",
    "lower the learning rate or use leaky_relu",
)
VANISHING = HealthAdvice(
    "vanishing gradient", "its gradient is 1e-04 of the largest layer's", "add BatchNorm"
)


def _health_pixels(image: QImage) -> int:
    """How many pixels have the badge's colour."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    raw = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * height)
    rgb = raw.reshape(height, image.bytesPerLine())[:, : 3 * width].reshape(height, width, 3)
    want = np.array([_HEALTH_COLOUR.red(), _HEALTH_COLOUR.green(), _HEALTH_COLOUR.blue()])
    return int((np.abs(rgb.astype(int) - want).max(axis=2) <= 4).sum())


def test_a_badged_row_shows_the_badge_and_its_advice_in_the_tooltip(qtbot: Any) -> None:
    document = _blocks()
    model = LayerStackModel(document)
    nested = at(1, 0, 2)  # residual_1's conv2d_3
    with qtbot.waitSignals([model.dataChanged, model.dataChanged]):
        model.set_health({LayerPath.top(0): DEAD, nested: VANISHING})
    top = model.index_of(LayerPath.top(0))
    assert top.data(HEALTH_ROLE) == "61% dead"
    tooltip = top.data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip.startswith("conv2d_1: ")
    assert "never fire on a batch" in tooltip and "Try: lower the learning rate" in tooltip
    assert model.index_of(nested).data(HEALTH_ROLE) == "vanishing gradient"
    unbadged = model.index_of(at(1, 0, 0))
    assert unbadged.data(HEALTH_ROLE) is None
    assert "Layer health" not in unbadged.data(Qt.ItemDataRole.ToolTipRole)
    with qtbot.waitSignal(model.dataChanged):
        model.set_health({})
    assert top.data(HEALTH_ROLE) is None
    assert "Layer health" not in top.data(Qt.ItemDataRole.ToolTipRole)


def test_advice_by_module_name_lands_on_the_nested_layer_of_that_name(qtbot: Any) -> None:
    document = _blocks()
    model = LayerStackModel(document)
    model.set_health(advice_by_path(document.spec, {"body.1.conv2d_3": VANISHING}))
    assert model.index_of(at(1, 0, 2)).data(HEALTH_ROLE) == "vanishing gradient"


def test_an_edit_drops_the_badges_whose_path_now_means_another_layer(qtbot: Any) -> None:
    document = _blocks()
    model = LayerStackModel(document)
    model.set_health({at(1, 0, 2): VANISHING, at(3): DEAD})
    # An edit of another layer leaves both badges where they are.
    document.replace_layer(at(0), conv(8))
    assert model.index_of(at(1, 0, 2)).data(HEALTH_ROLE) == "vanishing gradient"
    assert model.index_of(at(3)).data(HEALTH_ROLE) == "61% dead"
    # A layer inserted above the flatten moves it to another path: its badge goes. The
    # nested conv keeps its path, layer and name, and its badge.
    document.insert_layers(at(3), [LayerSpec.new("Dropout")])
    assert [model.index_of(at(row)).data(HEALTH_ROLE) for row in (3, 4)] == [None, None]
    assert model.index_of(at(1, 0, 2)).data(HEALTH_ROLE) == "vanishing gradient"
    # Editing the badged layer itself drops its badge; undo does not bring it back.
    document.replace_layer(at(1, 0, 2), conv(8))
    assert model.index_of(at(1, 0, 2)).data(HEALTH_ROLE) is None
    document.undo_stack.undo()
    assert model.index_of(at(1, 0, 2)).data(HEALTH_ROLE) is None


def test_the_row_paints_the_badge_as_a_pill(qtbot: Any) -> None:
    panel = LayerStackPanel(ProjectDocument(_blocks().spec))
    qtbot.addWidget(panel)
    panel.resize(460, 700)
    panel.show()
    qtbot.waitExposed(panel)
    viewport = panel.view.viewport()
    assert _health_pixels(viewport.grab().toImage()) == 0
    panel.model.set_health({LayerPath.top(0): DEAD, at(1, 0, 2): VANISHING})
    qtbot.waitUntil(lambda: _health_pixels(viewport.grab().toImage()) > 0)
    grabbed = panel.grab()
    grabbed.save("/tmp/h15-stack-health.png")
    first = panel.view.visualRect(panel.model.index_of(LayerPath.top(0)))
    other = panel.view.visualRect(panel.model.index_of(at(1, 0, 0)))
    image = viewport.grab().toImage()
    assert _health_pixels(image.copy(first)) > 50
    assert _health_pixels(image.copy(other)) == 0
    panel.model.set_health({})
    qtbot.waitUntil(lambda: _health_pixels(viewport.grab().toImage()) == 0)


def test_the_window_badges_the_runs_advice_and_forgets_it_with_the_weights(
    qtbot: Any, tmp_path: Path, message_boxes: Any
) -> None:
    from explorer.core.builder import build_model
    from explorer.ui.shell.training_docks import TrainingDocks

    for workbench in workbench_in_window(qtbot, tiny_spec(), tmp_path / "runs"):
        document = workbench.document
        model = workbench.window.stack.model
        docks = workbench.window.findChild(TrainingDocks)
        assert docks is not None
        state = {k: v.clone() for k, v in build_model(document.spec).state_dict().items()}
        workbench.set_trained(document.spec, state)
        docks.layer_health_changed.emit({LayerPath.top(0): DEAD})
        assert model.index_of(LayerPath.top(0)).data(HEALTH_ROLE) == "61% dead"
        # Three input channels: the conv keeps its path, layer and name, but the weights no
        # longer fit, and the run's health was of the old network.
        document.set_input(InputSpec(3, 28, 28))
        assert workbench.weights_for(document.spec) is None
        assert model.index_of(LayerPath.top(0)).data(HEALTH_ROLE) is None
