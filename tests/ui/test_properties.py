"""The properties form is generated from the registry and edits through the document."""

from __future__ import annotations

from typing import Any

import pytest

from explorer.core.layers import LAYER_TYPES
from explorer.core.paths import LayerPath
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.param_editors import PaddingEditor, PairEditor
from explorer.ui.editor.properties import PropertiesPanel
from tests.ui.editor_widgets import fix_buttons


@pytest.fixture
def panel(document: ProjectDocument, qtbot: Any) -> PropertiesPanel:
    widget = PropertiesPanel(document)
    qtbot.addWidget(widget)
    return widget


@pytest.mark.parametrize("type_name", list(LAYER_TYPES))
def test_every_registry_key_gets_an_editor_showing_its_value(type_name: str, qtbot: Any) -> None:
    layer = LayerSpec.new(type_name)
    document = ProjectDocument(NetworkSpec(layers=(layer,)))
    panel = PropertiesPanel(document)
    qtbot.addWidget(panel)
    panel.show_layer(LayerPath.top(0))
    entry = LAYER_TYPES[type_name]
    assert list(panel.editors) == list(entry.keys)
    for param in entry.params:
        assert panel.editors[param.name].toolTip() == param.help
    assert entry.summary in panel.summary.text()


def test_spin_box_steps_merge_into_one_undo_step(panel: PropertiesPanel) -> None:
    document = panel.document
    before = document.spec
    panel.show_layer(LayerPath.top(0))
    box = panel.editors["filters"].box
    for _ in range(5):
        box.stepUp()
    assert document.spec.layers[0].get("filters") == 37
    assert document.undo_stack.count() == 1
    box.editingFinished.emit()
    box.stepUp()
    assert document.undo_stack.count() == 2
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert document.spec == before


def test_an_invalid_value_shows_the_core_message_and_is_not_applied(qtbot: Any) -> None:
    document = ProjectDocument(NetworkSpec(layers=(LayerSpec.new("BatchNorm"),)))
    panel = PropertiesPanel(document)
    qtbot.addWidget(panel)
    panel.show_layer(LayerPath.top(0))
    panel.editors["eps"].box.setValue(0.0)  # eps must be > 0
    assert document.spec.layers[0].get("eps") == pytest.approx(1e-5)
    assert not panel.errors["eps"].isHidden()
    assert "out of range" in panel.errors["eps"].text()


def test_square_pair_editor_stores_an_int_and_unticked_a_pair(panel: PropertiesPanel) -> None:
    panel.show_layer(LayerPath.top(0))
    editor = panel.editors["kernel_size"]
    assert isinstance(editor, PairEditor)
    editor.h.setValue(3)
    assert panel.document.spec.layers[0].get("kernel_size") == 3
    editor.square.setChecked(False)
    editor.w.setValue(7)
    assert panel.document.spec.layers[0].get("kernel_size") == (3, 7)


def test_padding_editor_switches_between_same_and_explicit(panel: PropertiesPanel) -> None:
    panel.show_layer(LayerPath.top(0))
    editor = panel.editors["padding"]
    assert isinstance(editor, PaddingEditor)
    editor.mode.setCurrentText("same")
    editor.mode.textActivated.emit("same")
    assert panel.document.spec.layers[0].get("padding") == "same"
    assert panel.document.analysis.layers[0].output_shape == (32, 28, 28)
    editor.mode.setCurrentText("explicit")
    editor.mode.textActivated.emit("explicit")
    editor.amount.h.setValue(1)
    assert panel.document.spec.layers[0].get("padding") == 1


def test_pool_stride_auto_returns_the_key_to_its_default(panel: PropertiesPanel) -> None:
    panel.show_layer(LayerPath.top(1))
    editor = panel.editors["stride"]
    assert isinstance(editor, PairEditor)
    assert editor.auto.isChecked()
    editor.auto.setChecked(False)
    editor.h.setValue(1)
    assert panel.document.spec.layers[1].get("stride") == 1
    editor.auto.setChecked(True)
    assert panel.document.spec.layers[1].get("stride") is None


def test_layer_name_field_validates_and_blank_means_automatic(panel: PropertiesPanel) -> None:
    panel.show_layer(LayerPath.top(0))
    panel.name_edit.setText("2bad")
    panel.name_edit.editingFinished.emit()
    assert panel.document.spec.layers[0].name is None
    assert "must start with a letter" in panel.errors["name"].text()
    panel.name_edit.setText("stem")
    panel.name_edit.editingFinished.emit()
    assert panel.document.spec.layers[0].name == "stem"
    assert panel.document.analysis.layers[0].name == "stem"
    panel.name_edit.setText("")
    panel.name_edit.editingFinished.emit()
    assert panel.document.spec.layers[0].name is None


def test_shape_arithmetic_uses_the_real_numbers(panel: PropertiesPanel) -> None:
    panel.show_layer(LayerPath.top(0))
    assert "height: ⌊(28 + 2·0 − 5)/1⌋ + 1 = 24" in panel.shapes.text()
    panel.show_layer(LayerPath.top(3))
    assert "⌊(8 + 2·0 − 2)/2⌋ + 1 = 4" in panel.shapes.text()


def test_warning_with_fix_offers_a_one_click_button(qtbot: Any) -> None:
    spec = NetworkSpec(
        layers=(
            LayerSpec.new("Flatten"),
            LayerSpec.create("Dropout", {"rate": 0.9}),
            LayerSpec.create("Dense", {"units": 10}),
        )
    )
    document = ProjectDocument(spec)
    panel = PropertiesPanel(document)
    qtbot.addWidget(panel)
    panel.show_layer(LayerPath.top(1))
    assert [b.text() for b in fix_buttons(panel)] == ["Fix: use rate 0.5"]
    fix_buttons(panel)[0].click()
    assert document.spec.layers[1].get("rate") == 0.5
    assert fix_buttons(panel) == []
