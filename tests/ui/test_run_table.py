"""The Runs table on real run folders: columns, sorting, filtering, renaming and tagging
(kept across a fresh panel), deleting to the trash with undo, and comparing two runs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QLineEdit

from explorer.core.app.run_labels import RunLabels, read_labels
from explorer.core.app.training_run import start_run
from explorer.core.paths import LayerPath
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.core.training.runs import RunFolder
from explorer.ui.common.document import ProjectDocument
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.run_table import COLUMN
from explorer.ui.training.runs import RunsPanel
from tests.core.test_trainer import quadrant_dataset, tiny_spec

BATCHES = {"20260101-000001-a": 128, "20260101-000002-b": 8, "20260101-000003-c": 16}


def _train(folder: Path, spec: NetworkSpec) -> None:
    for _ in start_run(spec, quadrant_dataset(validation=0.25), RunFolder(folder)).events():
        pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tiny trained runs differing in batch size; c also has a Dropout layer."""
    root = tmp_path_factory.mktemp("runs")
    for name, batch in BATCHES.items():
        spec = tiny_spec(epochs=1, batch_size=batch, validation_split=0.25)
        if name.endswith("c"):
            dropout = LayerSpec.create("Dropout", {"rate": 0.2})
            spec = spec.with_layers((*spec.layers[:-1], dropout, spec.layers[-1]))
        _train(root / name, spec)
    return root


@pytest.fixture
def runs(trained: Path, tmp_path: Path) -> dict[str, Path]:
    """A copy of the trained runs for one test to change."""
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    return {name: tmp_path / name for name in BATCHES}


def _editor(panel: RunsPanel) -> QLineEdit:
    """The line edit F2 opened in the table."""
    editors = panel.view.viewport().findChildren(QLineEdit)
    (editor,) = [editor for editor in editors if editor.isVisible()]  # closed ones linger
    return editor


def _panel(qtbot: Any, root: Path) -> RunsPanel:
    panel = RunsPanel(ProjectDocument(NetworkSpec()), TrainingCurves(), root)
    qtbot.addWidget(panel)
    qtbot.addWidget(panel.curves)
    panel.resize(1200, 400)
    return panel


def _shown(panel: RunsPanel) -> list[str]:
    return [panel.path_at(row).name for row in range(panel.proxy.rowCount())]


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_columns_show_settings_and_results_and_sort_numbers_as_numbers(
    qtbot: Any, qtmodeltester: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    paths = runs
    panel = _panel(qtbot, tmp_path)
    qtmodeltester.check(panel.model)
    a = paths["20260101-000001-a"]
    assert panel.cell(a, "Optimizer") == "sgd" and panel.cell(a, "Batch") == "128"
    assert panel.cell(a, "Epochs") == "1/1" and panel.cell(a, "Augmentation") == "off"
    assert panel.cell(a, "Params") == "188" and panel.cell(a, "Status") == "finished"
    record = panel.records[panel.model.row_of(a)]
    assert panel.cell(a, "Test %") == f"{100 * record.summary.test_accuracy:.2f}"
    # Newest first by default; by batch size as numbers (8 < 16 < 128, not "128" < "16").
    assert _shown(panel) == ["20260101-000003-c", "20260101-000002-b", "20260101-000001-a"]
    panel.view.sortByColumn(COLUMN["Batch"], Qt.SortOrder.AscendingOrder)
    assert _shown(panel) == ["20260101-000002-b", "20260101-000003-c", "20260101-000001-a"]
    panel.view.sortByColumn(COLUMN["Batch"], Qt.SortOrder.DescendingOrder)
    assert _shown(panel) == ["20260101-000001-a", "20260101-000003-c", "20260101-000002-b"]
    # A run without a value (an unreadable project) sorts below every number.
    (paths["20260101-000003-c"] / "project.json").write_text("{")
    (paths["20260101-000003-c"] / "metrics.jsonl").touch()
    panel.refresh()
    assert _shown(panel)[-1] == "20260101-000003-c"
    assert panel.cell(paths["20260101-000003-c"], "Batch") == ""


def test_the_filter_matches_names_tags_and_any_column(
    qtbot: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    paths = runs
    panel = _panel(qtbot, tmp_path)
    panel.model.setData(
        panel.model.index(panel.model.row_of(paths["20260101-000002-b"]), 1), "Baseline"
    )
    qtbot.keyClicks(panel.filter_edit, "basel")
    assert _shown(panel) == ["20260101-000002-b"] and panel.count_label.text() == "1 of 3"
    panel.filter_edit.clear()
    qtbot.keyClicks(panel.filter_edit, "000001")  # the folder's name
    assert _shown(panel) == ["20260101-000001-a"]
    panel.filter_edit.setText("128")  # the batch column
    assert _shown(panel) == ["20260101-000001-a"]
    panel.filter_edit.clear()
    assert len(_shown(panel)) == 3 and panel.count_label.text() == "3 runs"


def test_f2_renames_and_tags_are_stored_in_the_folder_and_kept_by_a_fresh_panel(
    qtbot: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    paths = runs
    b = paths["20260101-000002-b"]
    before = _files(b)
    panel = _panel(qtbot, tmp_path)
    panel.show()
    qtbot.waitExposed(panel)
    panel.select_run(b)
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_F2)
    editor = _editor(panel)
    editor.selectAll()
    qtbot.keyClicks(editor, "small batch")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.view.state() != QAbstractItemView.State.EditingState)
    tags = panel.proxy.mapFromSource(panel.model.index(panel.model.row_of(b), COLUMN["Tags"]))
    panel.view.setCurrentIndex(tags)
    qtbot.keyClick(panel.view, Qt.Key.Key_F2)
    editor = _editor(panel)
    qtbot.keyClicks(editor, "fast, keep, fast")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.view.state() != QAbstractItemView.State.EditingState)
    assert read_labels(b) == RunLabels("small batch", ("fast", "keep"))
    after = _files(b)
    after.pop("labels.json")
    assert after == before  # the run's own files are untouched
    # The next launch: a fresh panel reads the labels back, and overlays under the new name.
    again = _panel(qtbot, tmp_path)
    assert again.cell(b, "Run") == "small batch" and again.cell(b, "Tags") == "fast, keep"
    again.set_ticked(b, True)
    assert "small batch" in again.curves.legend_names()
    # A bad name is refused with a message and nothing is written.
    messages: list[str] = []
    again.model.edit_failed.connect(messages.append)
    index = again.model.index(again.model.row_of(b), COLUMN["Run"])
    assert not again.model.setData(index, "bad\x00name")
    assert "control character" in messages[0] and read_labels(b).name == "small batch"


def test_delete_moves_runs_to_the_trash_and_ctrl_z_brings_them_back_identical(
    qtbot: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    paths = runs
    a = paths["20260101-000001-a"]
    before = _files(a)
    panel = _panel(qtbot, tmp_path)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_ticked(a, True)
    panel.select_run(a)
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    assert not a.exists() and _files(tmp_path / ".trash" / a.name) == before
    assert a.name not in _shown(panel) and len(panel.records) == 2
    assert panel.undo_button.isVisible() and ".trash" in panel.message_label.text()
    assert panel.curves.overlays == ()  # its curves went with it
    qtbot.keyClick(panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _files(a) == before and not (tmp_path / ".trash" / a.name).exists()
    assert a.name in _shown(panel) and not panel.undo_button.isVisible()
    # Two at once are one undo step, by the button this time.
    panel.view.selectAll()
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert panel.records == [] and len(list((tmp_path / ".trash").iterdir())) == 3
    qtbot.mouseClick(panel.undo_button, Qt.MouseButton.LeftButton)
    assert sorted(r.name for r in panel.records) == sorted(BATCHES) and _files(a) == before


def test_the_live_run_is_not_deleted(qtbot: Any, runs: dict[str, Path], tmp_path: Path) -> None:
    paths = runs
    a = paths["20260101-000001-a"]
    panel = _panel(qtbot, tmp_path)
    panel.live_run = lambda: a
    panel.select_run(a)
    assert not panel.delete_selected()
    assert a.is_dir() and "training now" in panel.message_label.text()


def test_compare_shows_the_architecture_diff_beside_both_curves(
    qtbot: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    paths = runs
    panel = _panel(qtbot, tmp_path)
    panel.select_run(paths["20260101-000001-a"])
    assert not panel.compare_button.isEnabled()
    c = panel.proxy.mapFromSource(
        panel.model.index(panel.model.row_of(paths["20260101-000003-c"]), 0)
    )
    panel.view.selectionModel().select(
        c,
        panel.view.selectionModel().SelectionFlag.Select
        | panel.view.selectionModel().SelectionFlag.Rows,
    )
    assert panel.compare_button.isEnabled()
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    (view,) = panel.diff_views
    qtbot.addWidget(view)
    assert view.old.name == "20260101-000001-a" and view.new.name == "20260101-000003-c"
    assert view.lines() == [
        "layer 4 (Dropout) | dropout_1 | added",
        "training |  | 1 setting differs",
        "    batch_size | 128 → 16",
    ]
    assert view.curves.legend_names()[-2:] == ["20260101-000001-a", "20260101-000003-c"]
    view.grab().save("/tmp/h17/diff-view.png")
    panel.grab().save("/tmp/h17/runs-panel.png")


@pytest.mark.slow
def test_in_the_window_delete_and_ctrl_z_in_the_runs_table_leave_the_editor_alone(
    qtbot: Any, runs: dict[str, Path], tmp_path: Path, message_boxes: Any
) -> None:
    from explorer.ui.shell.main_window import MainWindow
    from explorer.ui.shell.workbench import Workbench
    from tests.ui.test_training import tiny_spec as window_spec

    window = MainWindow(window_spec())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    workbench = Workbench(window, runs_root=tmp_path, warm_up=False)
    try:
        document = window.document
        document.remove_layers([LayerPath.top(1)])
        edited = document.spec
        panel = window.docks["runsDock"].widget()
        assert isinstance(panel, RunsPanel)
        window.docks["runsDock"].raise_()
        a = runs["20260101-000001-a"]
        panel.select_run(a)
        panel.view.setFocus()
        qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
        assert not a.exists() and document.spec == edited  # no layer was deleted
        qtbot.keyClick(panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert a.is_dir() and document.spec == edited  # the run came back, not the layer
        # With nothing left to bring back, Ctrl+Z is the editor's again.
        assert document.undo_stack.canUndo()
    finally:
        workbench.shutdown()
        window.recovery.timer.stop()


def test_many_unread_folders_are_read_in_the_background(
    qtbot: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    from explorer.ui.training.runs import BACKGROUND_READS

    source = runs["20260101-000001-a"]
    for number in range(BACKGROUND_READS):
        shutil.copytree(source, tmp_path / f"20260201-{number:06d}-copy")
    panel = _panel(qtbot, tmp_path)
    assert panel.listing.busy and panel.records == []  # not read on this thread
    assert panel.count_label.text() == "reading runs…"
    listed: list[int] = []
    panel.runs_listed.connect(lambda: listed.append(len(panel.records)))
    panel.refresh()  # asked again meanwhile: listed once more after it
    qtbot.waitUntil(lambda: len(listed) == 2, timeout=60_000)
    assert len(panel.records) == BACKGROUND_READS + 3
    assert panel.count_label.text() == f"{BACKGROUND_READS + 3} runs"
    # The next refresh has them all cached: read here, at once.
    panel.refresh()
    assert not panel.listing.busy and len(panel.records) == BACKGROUND_READS + 3
    panel.shutdown()
