"""Finding editor widgets as a user does: a palette item by its text, the fix buttons of
the Properties panel by what they show."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QTreeWidgetItem

from explorer.ui.editor.palette import LayerPalette
from explorer.ui.editor.properties import PropertiesPanel


def palette_item(palette: LayerPalette, name: str) -> QTreeWidgetItem:
    """The palette item (not a group) for a layer type or block name."""
    matches = [
        item
        for item in palette.findItems(name, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
        if item.parent() is not None
    ]
    assert matches, f"no palette item {name!r}"
    return matches[0]


def fix_buttons(panel: PropertiesPanel) -> list[QPushButton]:
    """The panel's "Fix: ..." buttons, top to bottom."""
    buttons = panel.findChildren(QPushButton, "fixButton")
    return sorted(buttons, key=lambda button: button.mapTo(panel, button.rect().topLeft()).y())
