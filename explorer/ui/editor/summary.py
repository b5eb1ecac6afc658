"""The summary panel: the Keras-style layer table with cost columns, totals, diagnostics,
and copy-as-text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Slot,
)
from PySide6.QtGui import QColor, QFontDatabase, QFontMetrics, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from explorer.core.analysis import Analysis, LayerAnalysis
from explorer.core.paths import item_at
from explorer.core.summary import (
    COLUMNS,
    RIGHT_ALIGNED,
    format_bytes,
    input_row,
    layer_row,
    summary_text,
    summary_totals,
)
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.family_style import ERROR_COLOUR, WARNING_COLOUR

if TYPE_CHECKING:
    from explorer.core.profile_report import LargestBatch, LayerProfile, StepProfile

#: The measured columns a profile adds after the estimates (see `set_profile`).
PROFILE_COLUMNS = ("Fwd ms", "Bwd ms", "Fwd kept", "Peak")
_PROFILE_AT = COLUMNS.index("Memory") + 1  # they go just after the estimated memory
_PROFILE_TIPS = (
    "Measured forward time of the layer in one training step (ms)",
    "Measured backward time of the layer's autograd nodes in one training step (ms)",
    "Memory the layer's forward pass allocated and kept for the whole batch (its output "
    "and what autograd saves); the Memory column is the estimate per image",
    "The most memory allocated at any moment while the layer ran, forward or backward",
)


class SummaryTableModel(QAbstractTableModel):
    """The rows of `table_rows`, with each layer's diagnostic as colour and tooltip.

    Cells are computed once per edit: the header's resize-to-contents asks for every
    role of every cell on each change, so `data` only looks values up. A layer whose
    result the edit left alone (the very object, see `analyze(previous=...)`) keeps its
    cells: an edit of one layer of thousands formats the few it changed.
    """

    _LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    _RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __init__(self, document: ProjectDocument) -> None:
        super().__init__(document)
        self.document = document
        self._rows: list[tuple[str, ...]] = []
        self._colours: list[QColor | None] = []
        self._tips: list[str | None] = []
        self._recent: list[tuple[Analysis, tuple[list[Any], list[Any], list[Any]]]] = []
        # the cells of the analysis computed last, by its layers' results
        self._cells: dict[int, tuple[LayerAnalysis, tuple[str, ...], QColor | None, str | None]]
        self._cells = {}
        # measured cells per row (input row first) while a profile of this spec is shown
        self._profile: list[tuple[str, ...]] | None = None
        self._compute()
        document.spec_changed.connect(self._on_document_spec_changed)

    @property
    def headers(self) -> tuple[str, ...]:
        if self._profile is None:
            return COLUMNS
        return COLUMNS[:_PROFILE_AT] + PROFILE_COLUMNS + COLUMNS[_PROFILE_AT:]

    def is_measured(self, column: int) -> bool:
        """Whether the column is one of a profile's measured ones."""
        return self._profile is not None and 0 <= column - _PROFILE_AT < len(PROFILE_COLUMNS)

    def set_profile(self, layers: Sequence[LayerProfile] | None) -> None:
        """Show the measured columns of a profile of the current spec (None: hide them).
        An edit hides them again: they measured the network before it."""
        self.beginResetModel()
        if layers is None or len(layers) + 1 != len(self._rows):
            self._profile = None
        else:
            self._profile = [("",) * len(PROFILE_COLUMNS)] + [
                (
                    f"{layer.forward_ms:.3f}",
                    f"{layer.backward_ms:.3f}",
                    format_bytes(layer.forward_bytes),
                    format_bytes(layer.peak_bytes),
                )
                for layer in layers
            ]
        self.endResetModel()

    def cell(self, row: int, column: int) -> str:
        if self._profile is None or column < _PROFILE_AT:
            return self._rows[row][column]
        if column < _PROFILE_AT + len(PROFILE_COLUMNS):
            return self._profile[row][column - _PROFILE_AT]
        return self._rows[row][column - len(PROFILE_COLUMNS)]

    def _compute(self) -> None:
        analysis = self.document.analysis
        # Undo and redo bring back an analysis shown before (the document keeps them):
        # its cells are kept too, so going back costs no formatting of thousands of rows.
        for index, (shown, cells) in enumerate(self._recent):
            if shown is analysis:
                self._recent.insert(0, self._recent.pop(index))
                self._rows, self._colours, self._tips = cells
                return
        self._rows, self._colours, self._tips = [input_row(analysis)], [None], [None]
        before, self._cells = self._cells, {}
        for layer in analysis.layers:
            known = before.get(id(layer))
            if known is None or known[0] is not layer:
                diagnostic = layer.diagnostic
                colour = (
                    None
                    if diagnostic is None
                    else ERROR_COLOUR
                    if diagnostic.is_error
                    else WARNING_COLOUR.darker(130)
                )
                tip = None if diagnostic is None else diagnostic.text()
                known = (layer, layer_row(layer), colour, tip)
            self._cells[id(layer)] = known
            self._rows.append(known[1])
            self._colours.append(known[2])
            self._tips.append(known[3])
        cells = (self._rows, self._colours, self._tips)
        self._recent = [(analysis, cells), *self._recent[:7]]

    @Slot()
    def _on_document_spec_changed(self) -> None:
        count = len(self._rows)
        if len(self.document.analysis.layers) + 1 != count or self._profile is not None:
            self.beginResetModel()
            self._profile = None
            self._compute()
            self.endResetModel()
        else:
            self._compute()
            # Roles named: the table need not re-lay out its rows (their height is fixed).
            roles = [
                Qt.ItemDataRole.DisplayRole,
                Qt.ItemDataRole.ForegroundRole,
                Qt.ItemDataRole.ToolTipRole,
            ]
            self.dataChanged.emit(self.index(0, 0), self.index(count - 1, len(COLUMNS) - 1), roles)

    @property
    def rows(self) -> list[tuple[str, ...]]:
        return self._rows

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell(index.row(), index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole:
            column = index.column()
            if self._profile is not None and column >= _PROFILE_AT + len(PROFILE_COLUMNS):
                column -= len(PROFILE_COLUMNS)
            right = column in RIGHT_ALIGNED or self.is_measured(index.column())
            return self._RIGHT if right else self._LEFT
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 0:
            return self._colours[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tips[index.row()]
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return _PROFILE_TIPS[section - _PROFILE_AT] if self.is_measured(section) else None
        return None


class SummaryPanel(QWidget):
    def __init__(self, document: ProjectDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.model = SummaryTableModel(document)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setObjectName("summaryTable")
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        # Widths are measured from the cell texts (see _fit_columns): resize-to-contents
        # would ask Qt for every role of every cell on each edit.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.table.setFont(mono)
        self._mono_metrics = QFontMetrics(mono)

        self.totals = QLabel(self)
        self.totals.setObjectName("summaryTotals")
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # One line per total, never wrapped ("48.90" above "MB"): the totals take the width
        # they need and the diagnostics beside them wrap into the rest.
        self.totals.setWordWrap(False)
        # ...but never force the dock wider than a small screen allows (docks would overlap).
        self.totals.setMinimumWidth(1)
        # A profile's totals (step time, measured peak, largest batch), while one is shown.
        self.profile_label = QLabel(self)
        self.profile_label.setObjectName("summaryProfile")
        self.profile_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.profile_label.hide()
        self.diagnostics = QLabel(self)
        self.diagnostics.setWordWrap(True)
        self.diagnostics.setTextFormat(Qt.TextFormat.RichText)
        self.copy_button = QPushButton("Copy as Text", self)
        self.copy_button.setToolTip(
            "Copy the summary as Keras prints it, for a notebook or a chat."
        )
        self.copy_button.clicked.connect(self.copy_as_text)

        below = QHBoxLayout()
        below.setSpacing(16)
        totals = QVBoxLayout()
        totals.addWidget(self.totals)
        totals.addWidget(self.profile_label)
        totals.addStretch(1)
        totals.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignLeft)
        below.addLayout(totals, 0)
        below.addWidget(self.diagnostics, 1, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addLayout(below)
        # The totals include the training-memory estimate, which walks every autograd
        # node of the network (tens of ms at thousands of layers): they follow an edit on
        # the next turn of the event loop, so the edit and the estimate never add up to
        # one long wait of the window.
        self._totals_timer = QTimer(self)
        self._totals_timer.setSingleShot(True)
        self._totals_timer.setInterval(0)
        self._totals_timer.timeout.connect(self._show_totals)
        document.spec_changed.connect(self._on_document_spec_changed)
        self._on_document_spec_changed()
        self._show_totals()

    def show_profile(self, profile: StepProfile, largest: LargestBatch | None) -> None:
        """Measured columns beside the estimates, and the profile's totals below the table,
        until the next edit."""
        from explorer.core.profile_report import largest_text, peak_text

        self.model.set_profile(profile.layers)
        lines = [
            f"Profiled on {profile.device}, batch {profile.batch_size}: "
            f"step {profile.step_ms:.2f} ms",
            peak_text(profile),
        ]
        if largest is not None:
            lines.append(largest_text(largest))
        self.profile_label.setText("\n".join(lines))
        self.profile_label.show()
        self._fit_columns()

    @property
    def profile_shown(self) -> bool:
        return not self.profile_label.isHidden()

    @Slot()
    def _show_totals(self) -> None:
        self._totals_timer.stop()
        self.totals.setText("\n".join(summary_totals(self.document.spec, self.document.analysis)))

    @property
    def totals_pending(self) -> bool:
        """Whether the totals shown are of an earlier spec (see `_show_totals`)."""
        return self._totals_timer.isActive()

    @Slot()
    def _on_document_spec_changed(self) -> None:
        analysis = self.document.analysis
        self.profile_label.hide()  # the model has dropped the measured columns too
        self._fit_columns()
        self._totals_timer.start()
        items = []
        for diagnostic in analysis.diagnostics:
            colour = ERROR_COLOUR if diagnostic.is_error else WARNING_COLOUR.darker(130)
            where = (
                f"{item_at(analysis.layers, diagnostic.path).name}: "
                if diagnostic.path is not None
                else ""
            )
            items.append(f"<span style='color:{colour.name()}'>● {where}{diagnostic.text()}</span>")
        self.diagnostics.setText("<br>".join(items) if items else "No problems found.")

    def _fit_columns(self) -> None:
        # The cells are in a fixed-pitch font: the longest text is the widest, so counting
        # characters (cheap) replaces measuring thousands of strings on every edit.
        advance = self._mono_metrics.horizontalAdvance("0")
        header = self.table.horizontalHeader()
        model = self.model
        rows = range(model.rowCount())  # the input row at least
        for column, title in enumerate(model.headers[:-1]):
            longest = max(len(model.cell(row, column)) for row in rows)
            widest = max(header.fontMetrics().horizontalAdvance(title), advance * longest)
            width = widest + 16
            if self.table.columnWidth(column) != width:
                self.table.setColumnWidth(column, width)

    @Slot()
    def copy_as_text(self) -> None:
        QGuiApplication.clipboard().setText(
            summary_text(self.document.spec, self.document.analysis)
        )
