"""The palette is generated from the registry; unexpected errors reach a dialog."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from explorer.core.layers import FAMILIES, LAYER_TYPES
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.core.vocabulary.blocks import BLOCK_TYPES
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.family_style import families, family_colour
from explorer.ui.editor.blocks import BLOCKS
from explorer.ui.editor.palette import BLOCKS_GROUP, LayerPalette
from explorer.ui.shell import app as app_module
from explorer.ui.shell.help_dialogs import layer_reference_html
from tests.ui.editor_widgets import palette_item


def test_palette_lists_every_registry_type_under_its_family(qtbot: Any) -> None:
    palette = LayerPalette(ProjectDocument(NetworkSpec()))
    qtbot.addWidget(palette)
    for entry in LAYER_TYPES.values():
        item = palette_item(palette, entry.name)
        assert item.parent().text(0) == entry.family
        assert item.toolTip(0) == entry.summary
    groups = [palette.topLevelItem(i).text(0) for i in range(palette.topLevelItemCount())]
    assert groups[-1] == BLOCKS_GROUP
    blocks = palette.topLevelItem(len(groups) - 1)
    names = [blocks.child(i).text(0) for i in range(blocks.childCount())]
    # the block types (rows that hold sub-stacks), then the multi-layer presets
    assert names == [*BLOCK_TYPES, *(block.name for block in BLOCKS)]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_every_block_appends_valid_layers_in_one_undo_step(
    block: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A dense block needs a vector: put it after a Flatten.
    head = (LayerSpec.new("Flatten"),) if block.make(1)[0].type == "Dense" else ()
    document = ProjectDocument(NetworkSpec(layers=head))
    palette = LayerPalette(document)
    qtbot.addWidget(palette)
    monkeypatch.setattr(
        "explorer.ui.editor.blocks.QInputDialog.getInt", staticmethod(lambda *a, **k: (3, True))
    )
    assert palette.append(palette_item(palette, block.name))
    assert document.undo_stack.count() == 1
    expected = 4 if block.asks_repeat else len(block.make(1))
    assert len(document.spec.layers) == len(head) + expected
    # Only the missing classifier head is wrong: the block's own shapes all work out.
    assert all(layer.known for layer in document.analysis.layers)


def test_unexpected_errors_are_shown_in_a_dialog(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.detailedText()) or 0)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    app_module.install_excepthook(None)
    try:
        raise ValueError("boom in a slot")
    except ValueError as error:
        sys.excepthook(type(error), error, error.__traceback__)
    assert len(shown) == 1 and "ValueError: boom in a slot" in shown[0]


def test_palette_and_layer_reference_show_the_families_in_one_order_and_colour(
    qtbot: Any,
) -> None:
    palette = LayerPalette(ProjectDocument(NetworkSpec()))
    qtbot.addWidget(palette)
    groups = [palette.topLevelItem(i) for i in range(palette.topLevelItemCount() - 1)]
    reference = layer_reference_html()
    headings = re.findall(r"<h3 style='color:(#[0-9a-f]{6})'>([^<]+)</h3>", reference)
    assert [(g.foreground(0).color().name(), g.text(0)) for g in groups] == headings
    assert [family for family, _ in families()] == [g.text(0) for g in groups]
    assert [g.text(0) for g in groups][: len(FAMILIES)] == [
        f for f in FAMILIES if any(e.family == f for e in LAYER_TYPES.values())
    ]
    colours = {colour for colour, _ in headings}
    assert len(colours) == len(headings)  # every family its own colour, none the fallback
    assert family_colour("no such family").name() not in colours
