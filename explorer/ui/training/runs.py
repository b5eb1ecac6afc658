"""The Runs panel: every training run's folder as a row of settings and results (sortable,
filterable); ticked runs are overlaid on the curves, two selected runs can be compared
(their architecture diff beside their curves), a run's network can be restored into the
editor (an undoable edit), a stopped run resumed from its checkpoint, and runs renamed
(F2), tagged and deleted to the trash beside them (Delete; Ctrl+Z or Undo brings them back).

What a row shows is read by `explorer.core.app.run_records` (a folder again only when its
files changed), so command-line runs show up too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from explorer.core.app.run_records import RunRecord, Stamp, list_runs, read_run, unread_runs
from explorer.core.app.run_trash import TrashedRun, TrashError, restore_run, trash_run
from explorer.core.project import ProjectError, load_project
from explorer.core.spec import NetworkSpec
from explorer.core.training.runs import RunFolder
from explorer.ui.common.buttons import text_button
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskRunner
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.run_diff import RunDiffView
from explorer.ui.training.run_table import (
    COLUMN,
    COLUMNS,
    NAME_COLUMN,
    PATH_ROLE,
    RunFilterProxy,
    RunTableModel,
)

__all__ = ["RunRecord", "RunsPanel", "list_runs", "read_run"]

log = logging.getLogger(__name__)

#: the most changed run folders a refresh reads on the GUI thread (a few milliseconds
#: each); more are read in the background
BACKGROUND_READS = 8


class RunsPanel(QWidget):
    """The runs table with its filter, its buttons and the undo of deletions."""

    overlays_changed = Signal(list)  # list[RunRecord]
    resume_requested = Signal(str)  # the run folder to continue
    current_run_changed = Signal(object)  # RunRecord | None
    runs_listed = Signal()  # the table shows the folders as they are now

    def __init__(
        self,
        document: ProjectDocument,
        curves: TrainingCurves,
        root: Path,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._cache: dict[Path, tuple[Stamp, RunRecord]] = {}
        self.document = document
        self.curves = curves
        self.root = root
        #: the folder of the run training now (never deleted), set by the window
        self.live_run: Callable[[], Path | None] = lambda: None
        self.deleted: list[list[TrashedRun]] = []  # undo stack of deletions, newest last
        self.diff_views: list[RunDiffView] = []
        self.listing = TaskRunner("runs-listing", self)
        self.listing.finished.connect(self._on_listing_finished)
        self.listing.failed.connect(self._on_listing_failed)
        self._refresh_again = False
        self.model = RunTableModel(self)
        self.model.ticks_changed.connect(self._update_overlays)
        self.model.edit_failed.connect(self.show_message)
        self.proxy = RunFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter runs (name, tags or any column)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._on_filter_edit_text_changed)
        self.count_label = QLabel()
        self.view = QTreeView()
        self.view.setModel(self.proxy)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(COLUMN["Date"], Qt.SortOrder.DescendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(
            QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self.view.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.header().setStretchLastSection(False)
        self.view.installEventFilter(self)
        selection = self.view.selectionModel()
        selection.currentRowChanged.connect(self._on_selection_current_row_changed)
        selection.selectionChanged.connect(self._on_selection_changed)

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.undo_button = text_button("Undo")
        self.undo_button.setToolTip("Bring the deleted runs back (Ctrl+Z in the list)")
        self.undo_button.clicked.connect(self.undo_delete)
        self.refresh_button = text_button("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.compare_button = text_button("Compare")
        self.compare_button.setToolTip("Compare the two selected runs' networks and curves")
        self.compare_button.clicked.connect(self.compare_selected)
        self.delete_button = text_button("Delete")
        self.delete_button.setToolTip("Move the selected runs to the trash beside them (Del)")
        self.delete_button.clicked.connect(self.delete_selected)
        self.restore_button = text_button("Restore Network")
        self.restore_button.setToolTip("Put the selected run's network into the editor (undoable)")
        self.restore_button.clicked.connect(self._on_restore_button_clicked)
        self.resume_button = text_button("Resume")
        self.resume_button.setToolTip("Continue the selected stopped run from its checkpoint")
        self.resume_button.clicked.connect(self._on_resume_button_clicked)

        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.count_label)
        message = QHBoxLayout()
        message.addWidget(self.message_label, 1)
        message.addWidget(self.undo_button)
        buttons = QHBoxLayout()
        for button in (self.compare_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.restore_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(message)
        layout.addLayout(buttons)
        self.show_message("")
        self.refresh()
        for column in range(len(COLUMNS)):
            self.view.resizeColumnToContents(column)

    # ---- the rows ----------------------------------------------------------------------

    @property
    def records(self) -> list[RunRecord]:
        """Every listed run, newest first (whatever the table's sort and filter)."""
        return self.model.records

    @Slot()
    def refresh(self) -> None:
        """Re-read the run folders (only those that changed), keeping ticks and selection.

        A few changed folders are read here and now; more than `BACKGROUND_READS` (the first
        listing of a long-used runs folder) are read by a background task, and the table
        fills when it is done (`runs_listed`)."""
        if self.listing.busy:
            self._refresh_again = True
            return
        if unread_runs(self.root, self._cache) <= BACKGROUND_READS:
            self._show(list_runs(self.root, self._cache))
            return
        root, cache = self.root, dict(self._cache)
        self.count_label.setText("reading runs…")
        self.listing.start(lambda control: (list_runs(root, cache), cache))

    @Slot(object)
    def _on_listing_finished(self, result: TaskFinished[Any]) -> None:
        records, self._cache = result.value
        self._show(records)
        if self._refresh_again:
            self._refresh_again = False
            self.refresh()

    @Slot(object)
    def _on_listing_failed(self, failure: TaskFailed) -> None:
        self._refresh_again = False
        self.show_message(f"Cannot list the runs: {failure.message}")

    def _show(self, records: list[RunRecord]) -> None:
        added = len(records) != self.model.rowCount()
        self.model.set_records(records)
        if added:  # a new or longer name shows whole (the user may widen it again after)
            self.view.resizeColumnToContents(NAME_COLUMN)
        self._update_count()
        self._update_overlays()
        self._update_buttons()
        self.runs_listed.emit()

    def shutdown(self) -> None:
        """Stop a background listing (the window is closing)."""
        self.listing.shutdown()

    @Slot(str)
    def add_run(self, path: str) -> None:
        """A run just ended: list it (only its folder is read; the others are cached)."""
        self.refresh()

    def ticked_runs(self) -> list[RunRecord]:
        return self.model.ticked_runs()

    def set_ticked(self, path: str | Path, ticked: bool) -> None:
        """Tick (overlay its curves) or untick a run's box, as a click on it does."""
        index = self.model.index(self.model.row_of(path), NAME_COLUMN)
        state = Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked
        self.model.setData(index, state, Qt.ItemDataRole.CheckStateRole)

    def select_run(self, path: str | Path | None) -> None:
        """Make the run in `path` the current (and only selected) row; None: no row."""
        selection = self.view.selectionModel()
        if path is None:
            selection.clear()
            self.view.setCurrentIndex(QModelIndex())
            return
        index = self.proxy.mapFromSource(self.model.index(self.model.row_of(path), 0))
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        selection.setCurrentIndex(index, flags)

    def selected_runs(self) -> list[RunRecord]:
        """The selected rows' runs, in the table's order."""
        rows = self.view.selectionModel().selectedRows()
        indices = sorted(rows, key=lambda index: index.row())
        return [self.model.records[self.proxy.mapToSource(i).row()] for i in indices]

    def selected_run(self) -> RunRecord | None:
        """The current row's run."""
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        return self.model.records[self.proxy.mapToSource(index).row()]

    def cell(self, path: str | Path, title: str) -> str:
        """The text the table shows for the run in `path` in the column `title`."""
        index = self.model.index(self.model.row_of(path), COLUMN[title])
        return str(self.model.data(index))

    def tool_tip(self, path: str | Path) -> str:
        """The run's tool tip in the table: its folder, and what is wrong with it if any."""
        index = self.model.index(self.model.row_of(path), NAME_COLUMN)
        return str(self.model.data(index, Qt.ItemDataRole.ToolTipRole))

    def _update_overlays(self) -> None:
        runs = self.ticked_runs()
        self.curves.set_overlays([replace(r.curves, name=r.title) for r in runs])
        self.overlays_changed.emit(runs)

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(f"{total} runs" if shown == total else f"{shown} of {total}")

    def _update_buttons(self) -> None:
        selected = self.selected_runs()
        current = self.selected_run()
        self.restore_button.setEnabled(current is not None)
        self.resume_button.setEnabled(current is not None and current.resumable)
        self.compare_button.setEnabled(len(selected) == 2)
        self.delete_button.setEnabled(bool(selected))

    # ---- deleting and bringing back ----------------------------------------------------

    @Slot()
    def delete_selected(self) -> bool:
        """Move the selected runs to the trash (one undo step); False when none moved."""
        live = self.live_run()
        moved: list[TrashedRun] = []
        problems: list[str] = []
        for record in self.selected_runs():
            if live is not None and record.path == Path(live):
                problems.append(f"{record.title} is training now: stop it first")
                continue
            try:
                moved.append(trash_run(record.path))
            except TrashError as error:
                problems.append(str(error))
        if moved:
            self.deleted.append(moved)
            self.refresh()
        names = ", ".join(t.original.name for t in moved)
        text = f"Moved {names} to {moved[0].trashed.parent}." if moved else ""
        self.show_message(" ".join([text, *problems]).strip(), undo=bool(moved))
        return bool(moved)

    @Slot()
    def undo_delete(self) -> bool:
        """Bring back the runs of the latest deletion; False when there is none or one
        could not be restored (it stays in the trash, and the message says why)."""
        if not self.deleted:
            return False
        batch = self.deleted.pop()
        problems = []
        for trashed in batch:
            try:
                restore_run(trashed)
            except TrashError as error:
                problems.append(str(error))
        self.refresh()
        restored = len(batch) - len(problems)
        text = f"Restored {restored} run{'s' if restored != 1 else ''}."
        self.show_message(" ".join([text, *problems]), undo=bool(self.deleted))
        return not problems

    def show_message(self, text: str, *, undo: bool = False) -> None:
        """Say what happened below the table (hidden when `text` is empty)."""
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))
        self.undo_button.setVisible(undo and bool(self.deleted))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """In the table, Delete deletes runs and Ctrl+Z brings them back, before the
        window's shortcuts for the same keys (the editor's) take them."""
        if watched is self.view and event.type() in (
            QEvent.Type.ShortcutOverride,
            QEvent.Type.KeyPress,
        ):
            assert isinstance(event, QKeyEvent)
            if self.view.state() == QAbstractItemView.State.EditingState:
                return False
            delete = event.matches(QKeySequence.StandardKey.Delete)
            undo = event.matches(QKeySequence.StandardKey.Undo) and bool(self.deleted)
            if delete or undo:
                if event.type() == QEvent.Type.ShortcutOverride:
                    event.accept()  # the key comes to the table as a key press
                elif delete:
                    self.delete_selected()
                else:
                    self.undo_delete()
                return True
        return super().eventFilter(watched, event)

    # ---- comparing, restoring, resuming ------------------------------------------------

    @Slot()
    def compare_selected(self) -> RunDiffView | None:
        """Open the Compare window of the two selected runs (older first)."""
        runs = self.selected_runs()
        if len(runs) != 2:
            return None
        old, new = sorted(runs, key=lambda r: (r.summary.started or 0.0, r.name))
        view = RunDiffView(old, new, self)
        self.diff_views.append(view)
        view.show()
        return view

    def run_to_resume(self) -> RunRecord | None:
        """The selected run when it can be resumed, else the newest run that can."""
        selected = self.selected_run()
        if selected is not None and selected.resumable:
            return selected
        return next((r for r in self.records if r.resumable), None)

    @Slot()
    def _on_resume_button_clicked(self) -> None:
        record = self.selected_run()
        if record is not None and record.resumable:
            self.resume_requested.emit(str(record.path))

    @Slot()
    def _on_restore_button_clicked(self) -> None:
        record = self.selected_run()
        if record is not None:
            self.restore(record)

    def restore(self, record: RunRecord) -> bool:
        """Replace the editor's network by the run's (one undo step); False when refused."""
        try:
            spec: NetworkSpec = load_project(RunFolder(record.path).project_path)
        except ProjectError as error:
            log.warning("cannot restore %s: %s", record.path, error)
            self.show_message(f"Cannot restore the network: {error}")
            return False
        return self.document.edit(spec, f"Restore network from run {record.title}")

    # ---- slots -------------------------------------------------------------------------

    @Slot(str)
    def _on_filter_edit_text_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        self._update_count()

    @Slot(QModelIndex, QModelIndex)
    def _on_selection_current_row_changed(
        self, current: QModelIndex, previous: QModelIndex
    ) -> None:
        self._update_buttons()
        self.current_run_changed.emit(self.selected_run())

    @Slot()
    def _on_selection_changed(self) -> None:
        self._update_buttons()

    def path_at(self, row: int) -> Path:
        """The run folder shown in the table's row `row` (as sorted and filtered)."""
        return Path(self.proxy.index(row, 0).data(PATH_ROLE))
