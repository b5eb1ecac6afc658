"""The Compare window of two runs: what changed in the network from the older run to the
newer one (`explorer.core.app.architecture_diff`), beside both runs' curves overlaid.

Each changed row lists its changed keys (old → new) below it; added rows are green, removed
ones red, changed ones amber; the training settings that differ come last.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import QLabel, QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from explorer.core.app.architecture_diff import (
    ADDED,
    REMOVED,
    ArchitectureDiff,
    LayerChange,
    diff_specs,
)
from explorer.core.app.run_records import RunRecord
from explorer.core.project import ProjectError, load_project
from explorer.core.training.runs import RunFolder
from explorer.ui.training.curves import TrainingCurves

COLOURS = {ADDED: "#2ca02c", REMOVED: "#d62728", "changed": "#b8860b"}
MARKS = {ADDED: "added", REMOVED: "removed", "changed": "changed"}


class RunDiffView(QWidget):
    """Two runs side by side: `old` is the earlier run, the changes lead to `new`."""

    def __init__(self, old: RunRecord, new: RunRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(f"Compare — {old.title} → {new.title}")
        self.old, self.new = old, new
        self.diff: ArchitectureDiff | None = None
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Where", "Layer", "Change"])
        self.tree.setAlternatingRowColors(True)
        self.curves = TrainingCurves()
        self.curves.set_overlays(
            [replace(old.curves, name=old.title), replace(new.curves, name=new.title)]
        )
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.heading)
        left_layout.addWidget(self.tree, 1)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.curves)
        splitter.setSizes([520, 480])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Close), self, self.close)
        self.resize(1100, 600)
        self._fill()

    def _fill(self) -> None:
        try:
            old_spec = load_project(RunFolder(self.old.path).project_path)
            new_spec = load_project(RunFolder(self.new.path).project_path)
        except ProjectError as error:
            self.heading.setText(f"Cannot compare the networks: {error}")
            return
        diff = self.diff = diff_specs(old_spec, new_spec)
        self.heading.setText(
            f"<b>{_escape(self.old.title)}</b> → <b>{_escape(self.new.title)}</b>: "
            f"{_escape(diff.summary())}"
        )
        for change in (diff.input, diff.num_classes):
            if change is not None:
                self._add("", "", change.describe(), "changed")
        for layer in diff.layers:
            self._add_layer(diff, layer)
        if diff.training:
            count = len(diff.training)
            differ = "1 setting differs" if count == 1 else f"{count} settings differ"
            item = self._add("training", "", differ, "changed")
            for value in diff.training:
                QTreeWidgetItem(item, ["", value.key, value.values()])
            item.setExpanded(True)
        for column in range(self.tree.columnCount()):
            self.tree.resizeColumnToContents(column)

    def _add_layer(self, diff: ArchitectureDiff, change: LayerChange) -> None:
        removed = change.kind == REMOVED
        spec, path = (diff.old, change.old_path) if removed else (diff.new, change.new_path)
        assert path is not None
        where = spec.label(path)
        summary = MARKS[change.kind]
        if change.changes:
            summary += ": " + ", ".join(value.key for value in change.changes)
        item = self._add(where, change.name, summary, change.kind)
        for value in change.changes:
            QTreeWidgetItem(item, ["", value.key, value.values()])
        item.setExpanded(True)

    def _add(self, where: str, name: str, text: str, kind: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem([where, name, text])
        brush = QBrush(QColor(COLOURS[kind]))
        for column in range(3):
            item.setForeground(column, brush)
        self.tree.addTopLevelItem(item)
        return item

    def lines(self) -> list[str]:
        """The rows as shown, one 'where | layer | change' line each (children indented)."""
        lines = []
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            assert item is not None
            lines.append(" | ".join(item.text(c) for c in range(3)))
            for child in range(item.childCount()):
                sub = item.child(child)
                assert sub is not None
                lines.append("    " + " | ".join(sub.text(c) for c in range(1, 3)))
        return lines


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
