"""The Runs list: every training run's folder with its outcome; ticked runs are overlaid on the
curves, a run's network can be restored into the editor (an undoable edit), and a stopped
run can be resumed from its checkpoint.

Run folders use the layout of `explorer.core.training.runs` (project.json, metrics.jsonl,
checkpoint.pt), the same the `train` command writes, so command-line runs show up too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from explorer.core.app.curves import RunCurves, run_curves
from explorer.core.project import ProjectError, load_project
from explorer.core.spec import NetworkSpec
from explorer.core.training.runs import RunFolder, list_run_folders
from explorer.ui.common.document import ProjectDocument
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.ensemble_runs import is_ensemble_run, run_stamp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRecord:
    """What the list shows about one run folder."""

    path: Path
    status: str  # finished, stopped, failed or incomplete
    test_accuracy: float | None
    message: str
    curves: RunCurves
    damage: str = ""  # why some of its metrics could not be read ("" when all could)
    members: int = 1  # an ensemble's member count (ensemble_runs.py reads those)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def resumable(self) -> bool:
        """Stopped (or cut off) with a checkpoint to continue from."""
        stopped = self.status in ("stopped", "incomplete")
        return stopped and (self.members > 1 or RunFolder(self.path).checkpoint_path.is_file())


def read_run(path: str | Path) -> RunRecord:
    """Read a run folder's metrics.jsonl; never raises. Lines that do not read as events are
    skipped (a run cut off mid-write is still listed with what it has) and a run with such
    lines is marked damaged, saying why."""
    folder = Path(path)
    if is_ensemble_run(folder):
        from explorer.ui.training.ensemble_runs import read_ensemble_run

        return read_ensemble_run(folder)
    status, test_accuracy, message = "incomplete", None, ""
    metrics_log = RunFolder(folder).read_metrics()
    for event in metrics_log.events:
        kind = event["event"]
        if kind in ("finished", "stopped", "failed"):
            status = kind
            message = event.get("message", "")
            if kind == "finished":
                test_accuracy = event.get("test_accuracy")
    if metrics_log.damage:
        log.warning("%s: %s", folder, metrics_log.damage)
    curves = run_curves(folder.name, metrics_log.events)
    return RunRecord(folder, status, test_accuracy, message, curves, metrics_log.damage)


def list_runs(
    root: str | Path, cache: dict[Path, tuple[float, RunRecord]] | None = None
) -> list[RunRecord]:
    """Every run folder under `root`, newest first (folder names start with a time stamp).

    With `cache`, a run whose metrics file has not changed since it was read is not read
    again (a long run's metrics.jsonl holds thousands of lines).
    """
    records = []
    for run in list_run_folders(root):
        folder = run.path
        try:
            stamp = run_stamp(run)
        except OSError:  # removed since it was listed
            continue
        cached = cache.get(folder) if cache is not None else None
        if cached is None or cached[0] != stamp:
            cached = (stamp, read_run(folder))
            if cache is not None:
                cache[folder] = cached
        records.append(cached[1])
    return records


class RunsPanel(QWidget):
    """Runs with their final accuracy; tick to compare, restore a run's network."""

    overlays_changed = Signal(list)  # list[RunRecord]
    resume_requested = Signal(str)  # the run folder to continue

    def __init__(
        self,
        document: ProjectDocument,
        curves: TrainingCurves,
        root: Path,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._cache: dict[Path, tuple[float, RunRecord]] = {}
        self.document = document
        self.curves = curves
        self.root = root
        self.records: list[RunRecord] = []
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Run", "Status", "Test accuracy"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemChanged.connect(self._on_tree_item_changed)
        self.tree.currentItemChanged.connect(self._on_tree_current_item_changed)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.restore_button = QPushButton("Restore Network")
        self.restore_button.setToolTip("Put the selected run's network into the editor (undoable)")
        self.restore_button.setEnabled(False)
        self.restore_button.clicked.connect(self._on_restore_button_clicked)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the selected stopped run from its checkpoint")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.refresh_button)
        buttons.addStretch(1)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.restore_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Re-read the run folders, keeping ticks on runs still listed."""
        ticked = {r.path for r in self.ticked_runs()}
        self.records = list_runs(self.root, self._cache)
        self.tree.blockSignals(True)
        self.tree.clear()
        for record in self.records:
            accuracy = "" if record.test_accuracy is None else f"{100 * record.test_accuracy:.2f}%"
            status = f"{record.status} (damaged)" if record.damage else record.status
            item = QTreeWidgetItem([record.name, status, accuracy])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            checked = record.path in ticked
            item.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            item.setData(0, Qt.ItemDataRole.UserRole, str(record.path))
            item.setToolTip(0, record.damage or record.message or str(record.path))
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.tree.addTopLevelItem(item)
        self.tree.blockSignals(False)
        for column in range(3):
            self.tree.resizeColumnToContents(column)
        self._update_overlays()
        self._on_tree_current_item_changed(self.tree.currentItem(), None)

    @Slot(str)
    def add_run(self, path: str) -> None:
        """A run just ended: list it (only its folder is read; the others are cached)."""
        self.refresh()

    def _items(self) -> list[QTreeWidgetItem]:
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item for item in items if item is not None]

    def ticked_runs(self) -> list[RunRecord]:
        ticked = []
        for index, item in enumerate(self._items()):
            if item.checkState(0) == Qt.CheckState.Checked:
                ticked.append(self.records[index])
        return ticked

    @Slot(QTreeWidgetItem, int)
    def _on_tree_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self._update_overlays()

    def _update_overlays(self) -> None:
        runs = self.ticked_runs()
        self.curves.set_overlays([r.curves for r in runs])
        self.overlays_changed.emit(runs)

    @Slot(QTreeWidgetItem, QTreeWidgetItem)
    def _on_tree_current_item_changed(
        self, current: QTreeWidgetItem | None, previous: QTreeWidgetItem | None
    ) -> None:
        self.restore_button.setEnabled(current is not None)
        record = self.selected_run()
        self.resume_button.setEnabled(record is not None and record.resumable)

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

    def selected_run(self) -> RunRecord | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        return self.records[self.tree.indexOfTopLevelItem(item)]

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
            return False
        return self.document.edit(spec, f"Restore network from run {record.name}")
