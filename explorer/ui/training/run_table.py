"""The Runs table as a Qt model: one row per run folder, one column per setting or result.

`RunTableModel` adapts a list of `RunRecord`s (read by `explorer.core.app.run_records`);
ticking a row's box overlays its curves, editing its name or tags writes the folder's
labels.json (`run_labels`). `RunFilterProxy` sorts numbers as numbers (`SORT_ROLE`) and keeps
the rows whose text matches the filter in any column. Rows come and go one by one when the
list is refreshed, so a refresh keeps the selection and the scroll position.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)

from explorer.core.app.run_labels import (
    LabelError,
    RunLabels,
    check_label,
    parse_tags,
    write_labels,
)
from explorer.core.app.run_records import RunRecord
from explorer.core.files import os_error_message

#: the role the proxy sorts by: a float for numeric columns, lower-case text for the others
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
#: the role holding the run folder's path (str), in every column
PATH_ROLE = Qt.ItemDataRole.UserRole
_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Column:
    """A column: its title, its cell text, and (numeric columns) the number it sorts by."""

    title: str
    text: Callable[[RunRecord], str]
    number: Callable[[RunRecord], float | int | None] | None = None
    tip: str = ""


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return (
        f"{minutes} min {rest:02d} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60:02d} min"
    )


def _status(record: RunRecord) -> str:
    return f"{record.status} (damaged)" if record.damage else record.status


def _epochs(record: RunRecord) -> str:
    planned = record.summary.epochs
    return "" if planned is None else f"{record.summary.epochs_done}/{planned}"


COLUMNS: tuple[Column, ...] = (
    Column("Run", lambda r: r.title, tip="The run's name (F2 renames it); tick to overlay"),
    Column("Tags", lambda r: ", ".join(r.labels.tags), tip="Comma-separated tags (editable)"),
    Column("Status", _status),
    Column("Optimizer", lambda r: r.summary.optimizer or ""),
    Column("Rate", lambda r: _number(r.summary.learning_rate), lambda r: r.summary.learning_rate),
    Column("Batch", lambda r: _number(r.summary.batch_size), lambda r: r.summary.batch_size),
    Column(
        "Epochs",
        _epochs,
        lambda r: r.summary.epochs_done if r.summary.epochs is not None else None,
        "Epochs finished / planned",
    ),
    Column("Augmentation", lambda r: r.summary.augmentation or ""),
    Column(
        "Params", lambda r: _number(r.summary.params, thousands=True), lambda r: r.summary.params
    ),
    Column(
        "Best val %",
        lambda r: _percent(r.summary.best_validation_accuracy),
        lambda r: r.summary.best_validation_accuracy,
        "Best validation accuracy over the epochs",
    ),
    Column(
        "Final val %",
        lambda r: _percent(r.summary.final_validation_accuracy),
        lambda r: r.summary.final_validation_accuracy,
        "Validation accuracy after the last epoch",
    ),
    Column(
        "Test %",
        lambda r: _percent(r.summary.test_accuracy),
        lambda r: r.summary.test_accuracy,
        "Test accuracy of the finished run",
    ),
    Column("Time", lambda r: _duration(r.summary.time), lambda r: r.summary.time),
    Column("Date", lambda r: r.summary.date, lambda r: r.summary.started),
)
COLUMN = {column.title: index for index, column in enumerate(COLUMNS)}
NAME_COLUMN, TAGS_COLUMN = COLUMN["Run"], COLUMN["Tags"]
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def _number(value: float | int | None, *, thousands: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:,}" if thousands else f"{value:g}"


class RunTableModel(QAbstractTableModel):
    """The runs as rows; `ticks_changed` after a box is ticked or unticked, `edit_failed`
    with the reason when a name or tags cannot be stored."""

    ticks_changed = Signal()
    edit_failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.records: list[RunRecord] = []
        self.ticked: set[Path] = set()

    # ---- the rows ----------------------------------------------------------------------

    def set_records(self, records: Sequence[RunRecord]) -> None:
        """Show `records` (newest first): rows of runs gone are removed, new runs inserted
        and changed ones updated, each with its own signal."""
        wanted = {record.path for record in records}
        for row in reversed(range(len(self.records))):
            if self.records[row].path not in wanted:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.records[row]
                self.endRemoveRows()
        self.ticked &= wanted
        for row, record in enumerate(records):
            if row < len(self.records) and self.records[row].path == record.path:
                if self.records[row] is not record:
                    self.records[row] = record
                    self._row_changed(row)
                continue
            self.beginInsertRows(QModelIndex(), row, row)
            self.records.insert(row, record)
            self.endInsertRows()

    def row_of(self, path: str | Path) -> int:
        """The row of the run in `path`; LookupError when it is not listed."""
        for row, record in enumerate(self.records):
            if record.path == Path(path):
                return row
        raise LookupError(f"no run {path} in the list")

    def ticked_runs(self) -> list[RunRecord]:
        return [record for record in self.records if record.path in self.ticked]

    def _row_changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    # ---- Qt's model interface ----------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's default
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        column = COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tip or None
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() in (NAME_COLUMN, TAGS_COLUMN):
            flags |= Qt.ItemFlag.ItemIsEditable
        if index.column() == NAME_COLUMN:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.records):
            return None
        record, column = self.records[index.row()], COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(record)
        if role == Qt.ItemDataRole.EditRole:
            return column.text(record)
        if role == SORT_ROLE:
            if column.number is None:
                return column.text(record).casefold()
            value = column.number(record)
            return -math.inf if value is None else float(value)
        if role == PATH_ROLE:
            return str(record.path)
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == NAME_COLUMN:
            ticked = record.path in self.ticked
            return Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.TextAlignmentRole and column.number is not None:
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == NAME_COLUMN:
            problem = record.damage or record.summary.problem or record.message
            return f"{record.path}\n{problem}" if problem else str(record.path)
        return None

    def setData(self, index: _Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid():
            return False
        row, record = index.row(), self.records[index.row()]
        if role == Qt.ItemDataRole.CheckStateRole and index.column() == NAME_COLUMN:
            if Qt.CheckState(value) == Qt.CheckState.Checked:
                self.ticked.add(record.path)
            else:
                self.ticked.discard(record.path)
            self.dataChanged.emit(index, index, [role])
            self.ticks_changed.emit()
            return True
        if role != Qt.ItemDataRole.EditRole or index.column() not in (NAME_COLUMN, TAGS_COLUMN):
            return False
        try:
            labels = self._edited_labels(record, index.column(), str(value))
        except LabelError as error:
            self.edit_failed.emit(str(error))
            return False
        if labels == record.labels:
            return True
        try:
            write_labels(record.path, labels)
        except OSError as error:
            self.edit_failed.emit(f"cannot save the run's labels: {os_error_message(error)}")
            return False
        self.records[row] = replace(record, labels=labels)
        self._row_changed(row)
        return True

    @staticmethod
    def _edited_labels(record: RunRecord, column: int, text: str) -> RunLabels:
        if column == TAGS_COLUMN:
            return replace(record.labels, tags=parse_tags(text))
        # An empty name, or the folder's own, gives the run back its folder's name.
        name = None if text.strip() in ("", record.path.name) else check_label(text, "name")
        return replace(record.labels, name=name)


class RunFilterProxy(QSortFilterProxyModel):
    """Sorts by `SORT_ROLE` (numbers as numbers; runs without a value first when
    ascending) and keeps the rows with the filter text in any column, ignoring case."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(True)
