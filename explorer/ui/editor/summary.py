"""The summary panel: the Keras-style layer table with cost columns, totals, diagnostics,
and copy-as-text. A block's row carries its subtotals and the layers inside it follow,
indented by depth (as torchinfo shows nesting)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
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
from explorer.core.memory import TrainingMemory
from explorer.core.paths import LayerPath
from explorer.core.summary import (
    COLUMNS,
    RIGHT_ALIGNED,
    format_bytes,
    input_row,
    layer_row,
    summary_text,
    summary_totals,
    training_memory_steps,
)
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.family_style import ERROR_COLOUR, WARNING_COLOUR
from explorer.ui.common.quiet_timer import QuietTimer

# a layer's result, its cells, colour, tooltip and the cells' lengths (for the widths)
_Cells = tuple[LayerAnalysis, tuple[str, ...], QColor | None, str | None, tuple[int, ...]]


_FIT_ROWS = 1000  # rows measured for the column widths (Qt's resizeContentsPrecision)
_FIT_AT_ONCE_ROWS = 250  # more rows than this are measured in a turn of their own
_SLICE_SECONDS = 0.008  # of the training-memory estimate per turn of the event loop

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

    A virtual model: a row's cells are formatted when the table first asks for them (the
    rows on screen), not for every layer on each edit. They are kept by the layer's result,
    so a layer the edit left alone (the very object, see `analyze(previous=...)`), and every
    layer of an analysis that undo or redo brings back, keeps the cells it had.
    """

    _LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    _RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __init__(self, document: ProjectDocument, parent: QObject | None = None) -> None:
        super().__init__(parent)  # not the document's child (see LayerStackModel)
        self.document = document
        self._analysis = document.analysis
        self._rows = _rows_of(self._analysis)
        self._input = input_row(self._analysis)
        # by id of a layer's result: (that result, its cells, colour, tooltip)
        self._cells: dict[int, _Cells] = {}
        # measured cells per row (input row first) while a profile of this spec is shown
        self._profile: list[tuple[str, ...]] | None = None
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
        if layers is None or len(layers) != len(self._rows):
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
        """The text at `row` and `column` as the table shows it (profile columns included)."""
        cells = self.row_cells(row)
        if self._profile is None or column < _PROFILE_AT:
            return cells[column]
        if column < _PROFILE_AT + len(PROFILE_COLUMNS):
            return self._profile[row][column - _PROFILE_AT]
        return cells[column - len(PROFILE_COLUMNS)]

    def row_cells(self, row: int) -> tuple[str, ...]:
        """The texts of row `row` (0 is the input), in COLUMNS order."""
        return self._input if row == 0 else self._layer_cells(row)[1]

    def row_lengths(self, row: int) -> tuple[int, ...]:
        """The lengths of `row_cells(row)`, kept with the cells."""
        return tuple(map(len, self._input)) if row == 0 else self._layer_cells(row)[4]

    def _layer_cells(self, row: int) -> _Cells:
        layer = self._rows[row - 1]
        known = self._cells.get(id(layer))
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
            cells = _indented(layer)
            known = (layer, cells, colour, tip, tuple(map(len, cells)))
            self._cells[id(layer)] = known
        return known

    @Slot()
    def _on_document_spec_changed(self) -> None:
        count = self.rowCount()
        analysis = self.document.analysis
        rows = _rows_of(analysis)
        if len(self._cells) > 4 * len(rows) + 64:
            # Forget the cells of results no longer shown (the recent ones stay cheap).
            shown = {id(layer) for layer in rows}
            self._cells = {key: cells for key, cells in self._cells.items() if key in shown}
        if len(rows) + 1 != count or self._profile is not None:
            self.beginResetModel()
            self._profile = None
            self._analysis, self._rows, self._input = analysis, rows, input_row(analysis)
            self.endResetModel()
            return
        before = self._rows
        self._analysis, self._rows, self._input = analysis, rows, input_row(analysis)
        changed = [row for row, layer in enumerate(rows) if before[row] is not layer]
        # Roles named: the table need not re-lay out its rows (their height is fixed).
        roles = [
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ForegroundRole,
            Qt.ItemDataRole.ToolTipRole,
        ]
        first = 0 if not changed else changed[0] + 1
        last = 0 if not changed else changed[-1] + 1
        self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1), roles)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows) + 1

    def path_of(self, row: int) -> LayerPath | None:
        """The position of the layer or block at table row `row` (None: the input row)."""
        return None if row == 0 else self._rows[row - 1].path

    def row_of(self, path: LayerPath) -> int | None:
        """The table row of the layer or block at `path` (None when not shown)."""
        if path.depth == 1 and len(self._rows) == len(self._analysis.layers):
            return path.row + 1 if path.row < len(self._rows) else None  # no blocks
        for row, layer in enumerate(self._rows):
            if layer.path == path:
                return row + 1
        return None

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        row = index.row()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell(row, index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole:
            column = index.column()
            if self._profile is not None and column >= _PROFILE_AT + len(PROFILE_COLUMNS):
                column -= len(PROFILE_COLUMNS)
            right = column in RIGHT_ALIGNED or self.is_measured(index.column())
            return self._RIGHT if right else self._LEFT
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == 0:
            return None if row == 0 else self._layer_cells(row)[2]
        if role == Qt.ItemDataRole.ToolTipRole:
            return None if row == 0 else self._layer_cells(row)[3]
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
        self.model = SummaryTableModel(document, self)
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
        self.table.verticalScrollBar().valueChanged.connect(self._on_table_scrolled)
        self.table.clicked.connect(self._on_table_clicked)

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
        # node of the network (tens of ms at thousands of layers): it is worked out a slice
        # at a time on later turns of the event loop, and the totals follow, so the window
        # answers all the while (a thread would not help: the walk holds the interpreter).
        self._totals_timer = QuietTimer(self)
        self._totals_timer.timeout.connect(self._show_totals)
        # A deep network's columns are fitted a turn after its rows arrive (the views take
        # the rows in, in that turn).
        self._fit_timer = QuietTimer(self)
        self._fit_formatted = 0  # rows formatted so far for the deferred fit
        self._fit_timer.timeout.connect(self._on_fit_timer_timeout)
        self._estimate: Generator[None, None, TrainingMemory] | None = None
        document.spec_changed.connect(self._on_document_spec_changed)
        document.analysing_changed.connect(self._on_document_analysing_changed)
        self._shows_analysing = False
        self._on_document_spec_changed()  # the totals, too, follow on the next turn

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

    @property
    def totals_pending(self) -> bool:
        """Whether the totals are still being worked out for the spec shown."""
        return self._totals_timer.isActive()

    @Slot()
    def _show_totals(self) -> None:
        estimate = self._estimate
        if estimate is not None:
            deadline = time.perf_counter() + _SLICE_SECONDS
            try:
                while time.perf_counter() < deadline:
                    next(estimate)
            except StopIteration:
                self._estimate = None
            else:
                self._totals_timer.start(0)  # more on the next turn
                return
        self.totals.setText("\n".join(summary_totals(self.document.spec, self.document.analysis)))

    @Slot()
    def _on_document_spec_changed(self) -> None:
        analysis = self.document.analysis
        self.profile_label.hide()  # the model has dropped the measured columns too
        if self.model.rowCount() > _FIT_AT_ONCE_ROWS:
            self._fit_formatted = 0
            self._fit_timer.start(0)
        else:
            self._fit_columns()
        self._estimate = training_memory_steps(self.document.spec, analysis)
        self._totals_timer.start(0)
        items = []
        self._shows_analysing = bool(self.document.analysing)
        if self._shows_analysing:  # the placeholder's "no layers" is not the network's
            self.diagnostics.setText(f"Analysing {self.document.analysing:,} layers…")
            return
        for diagnostic in analysis.diagnostics:
            colour = ERROR_COLOUR if diagnostic.is_error else WARNING_COLOUR.darker(130)
            where = f"{_name_at(analysis, diagnostic.path)}: " if diagnostic.path else ""
            items.append(f"<span style='color:{colour.name()}'>● {where}{diagnostic.text()}</span>")
        self.diagnostics.setText("<br>".join(items) if items else "No problems found.")

    @Slot(bool)
    def _on_document_analysing_changed(self, analysing: bool) -> None:
        # An analysis shown has changed the spec just before (the table, the totals and the
        # diagnostics are the network's already): refreshed again, the thousands of rows
        # would be measured twice in that turn.
        if analysing or self._shows_analysing:
            self._on_document_spec_changed()

    @Slot()
    def _on_fit_timer_timeout(self) -> None:
        # The rows measured are formatted a few hundred a turn (their texts are kept), then
        # measured at once.
        first = self._fit_formatted
        last = min(self.model.rowCount(), _FIT_ROWS, first + _FIT_AT_ONCE_ROWS)
        for row in range(first, last):
            self.model.row_lengths(row)
        self._fit_formatted = last
        if last < min(self.model.rowCount(), _FIT_ROWS):
            self._fit_timer.start(0)
            return
        self._fit_columns()

    def _fit_columns(self, grow_only: bool = False) -> None:
        """Fit the columns to their longest text among the first rows and those on screen,
        as Qt's resize-to-contents measures a bounded number of rows: a network of
        thousands of layers formats no more rows than that for it. (`grow_only`, as rows
        scroll into view: widen for those on screen alone.)"""
        if not grow_only:  # (a scroll meanwhile leaves the full fit to come)
            self._fit_timer.stop()
        count = self.model.rowCount()
        top = self.table.rowAt(0)
        rows: Iterable[int] = () if grow_only else range(min(count, _FIT_ROWS))
        if top >= (0 if grow_only else _FIT_ROWS):
            bottom = self.table.rowAt(self.table.viewport().height() - 1)
            rows = itertools.chain(rows, range(top, (bottom if bottom >= 0 else count - 1) + 1))
        lengths = [self.model.row_lengths(row) for row in rows]
        if not lengths:
            return
        longest = [max(column) for column in zip(*lengths, strict=True)][: len(COLUMNS) - 1]
        # The cells are in a fixed-pitch font: the longest text is the widest, so counting
        # characters (cheap) replaces measuring strings.
        advance = self._mono_metrics.horizontalAdvance("0")
        header = self.table.horizontalHeader()
        model = self.model
        profiled = len(model.headers) > len(COLUMNS)
        for column, title in enumerate(model.headers[:-1]):
            if model.is_measured(column):  # a profile's: short numbers
                length = max(len(model.cell(row, column)) for row in range(min(count, _FIT_ROWS)))
            else:
                shift = len(PROFILE_COLUMNS) if profiled and column > _PROFILE_AT else 0
                length = longest[column - shift]
            width = max(header.fontMetrics().horizontalAdvance(title), advance * length) + 16
            current = self.table.columnWidth(column)
            if current != width and not (grow_only and current > width):
                self.table.setColumnWidth(column, width)

    @Slot(QModelIndex)
    def _on_table_clicked(self, index: QModelIndex) -> None:
        # The stack selects the layer (by path, inside blocks too) and Properties follows.
        path = self.model.path_of(index.row())
        if path is not None:
            self.document.selection_requested.emit([path])

    @Slot()
    def _on_table_scrolled(self) -> None:
        self._fit_columns(grow_only=True)

    @Slot()
    def copy_as_text(self) -> None:
        QGuiApplication.clipboard().setText(
            summary_text(self.document.spec, self.document.analysis)
        )


_INDENT = "  "  # per level of nesting, as torchinfo shows depth


def _indented(layer: LayerAnalysis) -> tuple[str, ...]:
    """`layer_row` with the name indented by the layer's depth in blocks (whether or not
    the summary's own text indents it already)."""
    cells = layer_row(layer)
    depth = layer.path.depth if layer.path is not None else 1
    if depth == 1:
        return cells
    return (_INDENT * (depth - 1) + cells[0].lstrip(), *cells[1:])


def _rows_of(analysis: Analysis) -> tuple[LayerAnalysis, ...]:
    """The table's layer rows: every layer and block, in stack order (a flat network's are
    its layers' results themselves)."""
    layers = analysis.layers
    if not any(layer.children for layer in layers):
        return layers
    return analysis.every_layer


def _name_at(analysis: Analysis, path: LayerPath | None) -> str:
    if path is None:
        return ""
    try:
        return analysis.at(path).name
    except LookupError:
        return str(path)
