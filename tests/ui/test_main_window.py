"""The main window: files, prompts, recovery, status bar, docks and saved layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from explorer.core.paths import LayerPath
from explorer.core.project import load_project, parse_project, save_project
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.core.templates import load_template
from explorer.ui.shell import app as app_module
from explorer.ui.shell.main_window import MainWindow
from tests.processes import offscreen_env, run_python


def _edited_and_saved(qtbot: Any, *rows: int) -> MainWindow:
    """A keras-mnist window with the layers at `rows` removed and its recovery file written
    (what the timer does a moment after the edit)."""
    window = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(window)
    window.document.remove_layers([LayerPath.top(row) for row in rows])
    window.recovery.save_now()
    return window


def test_save_then_open_round_trips_the_project(
    window: MainWindow, tmp_path: Path, qtbot: Any
) -> None:
    document = window.document
    document.insert_layers(LayerPath.top(1), [LayerSpec.create("BatchNorm", {"momentum": 0.2})])
    document.replace_layer(LayerPath.top(0), document.spec.layers[0].with_name("stem"))
    edited = document.spec
    path = tmp_path / "edited.json"
    assert window.files.save_to(str(path))
    assert document.is_clean and document.path == str(path.resolve())
    assert load_project(path) == edited
    assert window.windowTitle().startswith("edited.json")
    assert not window.isWindowModified()

    document.reset(NetworkSpec())
    assert window.files.open_path(str(path))
    assert document.spec == edited
    assert window.files.recent_files()[0] == str(path.resolve())


def test_opening_a_bad_file_keeps_the_project_and_shows_the_core_message(
    window: MainWindow, tmp_path: Path, message_boxes: Any
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "cnn-explorer", "version": 1, "layers": [{"type": "Conv9D"}]}')
    before = window.document.spec
    window.document.remove_layers([LayerPath.top(5)])
    edited = window.document.spec
    assert not window.files.open_path(str(bad), prompt=False)
    assert window.document.spec == edited != before
    kind, _title, text = message_boxes.shown[-1]
    assert kind == "critical" and "unknown layer type 'Conv9D'" in text and "bad.json" in text


def test_unsaved_changes_prompt_on_new_and_cancel_keeps_everything(
    window: MainWindow, message_boxes: Any
) -> None:
    window.document.remove_layers([LayerPath.top(0)])
    edited = window.document.spec
    message_boxes.answer = QMessageBox.StandardButton.Cancel
    assert not window.files.new()
    assert message_boxes.titles() == ["Unsaved Changes"]
    assert window.document.spec == edited
    message_boxes.answer = QMessageBox.StandardButton.Discard
    assert window.files.new()
    assert window.document.spec == NetworkSpec()
    assert window.document.is_clean


def test_no_prompt_when_the_project_is_clean(window: MainWindow, message_boxes: Any) -> None:
    assert window.files.new()
    assert message_boxes.shown == []


def test_closing_with_unsaved_changes_asks_first(window: MainWindow, message_boxes: Any) -> None:
    window.document.remove_layers([LayerPath.top(0)])
    message_boxes.answer = QMessageBox.StandardButton.Cancel
    assert not window.close()
    assert window.isVisible()
    assert message_boxes.titles() == ["Unsaved Changes"]
    message_boxes.answer = QMessageBox.StandardButton.Discard
    assert window.close()


def test_status_bar_follows_every_edit(window: MainWindow) -> None:
    texts = lambda: " | ".join(label.text() for label in window.statusBar().findChildren(QLabel))  # noqa: E731
    assert "Params: 62,346" in texts()
    assert "Forward memory/image: 117.10 KB" in texts()
    assert "No errors" in texts()
    window.document.replace_layer(
        LayerPath.top(0), window.document.spec.layers[0].with_values(kernel_size=40)
    )
    assert "1 error" in texts()
    assert "Params: 0" in texts()
    window.document.undo_stack.undo()
    assert "Params: 62,346" in texts()


def test_title_marks_unsaved_changes(window: MainWindow) -> None:
    assert window.windowTitle() == "Untitled[*] — CNN Explorer"
    assert not window.isWindowModified()
    window.document.remove_layers([LayerPath.top(0)])
    assert window.isWindowModified()
    window.document.undo_stack.undo()
    assert not window.isWindowModified()


def test_add_dock_lists_the_panel_in_the_view_menu(window: MainWindow) -> None:
    dock = window.add_dock(
        "Training", QWidget(), Qt.DockWidgetArea.BottomDockWidgetArea, "trainingDock"
    )
    texts = [action.text() for action in window.menus.view_menu.actions()]
    for title in ("Layer Palette", "Layer Stack", "Properties", "Summary", "Training"):
        assert title in texts
    dock.toggleViewAction().trigger()
    assert dock.isHidden()


def test_dock_layout_is_saved_and_restored(
    qtbot: Any, message_boxes: Any, isolated_settings: Path
) -> None:
    first = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(first)
    first.show()
    first.summary_dock.hide()
    first.close()
    assert (isolated_settings / "settings.ini").is_file()
    second = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(second)
    second.show()
    assert second.summary_dock.isHidden()
    assert not second.properties_dock.isHidden()
    second.close()


def test_history_shows_the_undo_stack(window: MainWindow) -> None:
    window.document.remove_layers([LayerPath.top(0)])
    view = window.show_history()
    assert view.stack() is window.document.undo_stack
    assert view.model().rowCount() == 2  # the opened state and one edit
    assert "History" in [a.text() for a in window.menus.view_menu.actions()]


def test_recent_files_keep_the_eight_latest(window: MainWindow, tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    for n in range(10):
        path = tmp_path / f"p{n}.json"
        save_project(spec, path)
        assert window.files.open_path(str(path))
    recent = window.files.recent_files()
    assert len(recent) == 8
    assert recent[0].endswith("p9.json") and recent[-1].endswith("p2.json")


def test_autosave_is_offered_back_after_an_unclean_exit(
    qtbot: Any, message_boxes: Any, isolated_settings: Path
) -> None:
    crashed = _edited_and_saved(qtbot, 0, 1)
    lost = crashed.document.spec
    assert crashed.recovery.path.is_file()
    assert crashed.recovery.path.is_relative_to(isolated_settings)
    _process_dies(crashed)

    message_boxes.answer = QMessageBox.StandardButton.Yes
    restarted = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(restarted)
    assert restarted.offer_recovery()
    assert message_boxes.titles()[-1] == "Recover Unsaved Work"
    assert restarted.document.spec == lost
    assert not restarted.document.is_clean
    assert not crashed.recovery.path.exists()  # restored: now the new window's own
    message_boxes.answer = QMessageBox.StandardButton.Discard
    restarted.close()
    assert not restarted.recovery.path.exists()
    assert list(restarted.recovery.folder.iterdir()) == []


def test_a_bad_file_at_start_up_neither_loses_nor_skips_the_earlier_sessions_work(
    qtbot: Any, tmp_path: Path, message_boxes: Any
) -> None:
    crashed = _edited_and_saved(qtbot, 0)
    lost = crashed.document.spec
    _process_dies(crashed)

    message_boxes.answer = QMessageBox.StandardButton.Yes
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    window = app_module.open_main_window(str(bad))
    qtbot.addWidget(window)
    window.recovery.save_now()  # the autosave timer fires while the document is clean
    assert crashed.recovery.path.is_file()  # the earlier session's work is still there
    qtbot.waitUntil(lambda: "Recover Unsaved Work" in message_boxes.titles())
    assert window.document.spec == lost
    message_boxes.answer = QMessageBox.StandardButton.Discard
    window.close()  # stops the threads the window's panels started
    assert not window.recovery.path.exists() and not crashed.recovery.path.exists()


def test_a_bad_file_on_the_command_line_opens_the_default_project(
    qtbot: Any, tmp_path: Path, message_boxes: Any
) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    window = app_module.open_main_window(str(bad))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: bool(message_boxes.shown))
    assert window.document.spec == load_template("keras-mnist")
    assert "invalid JSON" in message_boxes.shown[0][2]
    window.recovery.timer.stop()


def test_layer_reference_is_generated_from_the_registry() -> None:
    from explorer.core.layers import LAYER_TYPES
    from explorer.ui.shell.help_dialogs import layer_reference_html

    text = layer_reference_html()
    for entry in LAYER_TYPES.values():
        assert entry.name in text
        for param in entry.params:
            assert f"<code>{param.name}</code>" in text


@pytest.mark.slow
def test_start_up_shows_the_window_before_torch_and_configures_pyqtgraph_after(
    tmp_path: Path,
) -> None:
    probe = (
        "import sys, json\n"
        "from PySide6.QtCore import QTimer\n"
        "from explorer.ui.shell import app; from explorer.ui.common import settings\n"
        f"settings.use_location({str(tmp_path)!r})\n"
        "a = app.make_application()\n"
        "w = app.open_main_window(None)\n"
        "seen = {'visible': w.isVisible(), 'torch': 'torch' in sys.modules}\n"
        "w.document.undo_stack.setClean()\n"
        "def finish():\n"
        "    pg = sys.modules.get('pyqtgraph')\n"
        "    seen['pyqtgraph'] = pg.getConfigOption('imageAxisOrder') if pg else None\n"
        "    w.close()\n"
        "QTimer.singleShot(300, finish)\n"
        "a.exec()\n"
        "print(json.dumps(seen))\n"
    )
    result = run_python("-c", probe, env=offscreen_env(), timeout=60, check=True)
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # pyqtgraph is configured once the window has painted.
    assert seen == {"visible": True, "torch": False, "pyqtgraph": "row-major"}


def test_summary_panel_totals_are_the_text_summarys(window: MainWindow, qtbot: Any) -> None:
    from explorer.core.summary import summary_text

    qtbot.waitUntil(lambda: window.summary.totals.text() != "")  # on a later turn
    shown = window.summary.totals.text().splitlines()
    text = summary_text(window.document.spec, window.document.analysis).splitlines()
    assert shown[0] == "Total params: 62,346 (243.54 KB)"
    assert all(line in text for line in shown) and len(shown) == 6


def _process_dies(window: MainWindow) -> None:
    """What a crash leaves: the recovery file, and no lock (the kernel drops a dead
    process's locks); nothing else runs."""
    window.recovery.timer.stop()
    lock = window.recovery._lock
    assert lock is not None
    lock.release()
    window.document.undo_stack.setClean()


@pytest.mark.slow
def test_an_edit_is_in_the_recovery_file_a_moment_later(window: MainWindow, qtbot: Any) -> None:
    from explorer.ui.shell.recovery import SAVE_DELAY_MS

    recovery = window.recovery
    assert not recovery.path.exists()
    window.document.remove_layers([LayerPath.top(0)])
    window.document.remove_layers([LayerPath.top(0)])  # a burst of edits: written once they pause
    edited = window.document.spec
    assert recovery.timer.isActive() and recovery.timer.interval() == SAVE_DELAY_MS
    assert not recovery.path.exists()
    qtbot.waitUntil(recovery.path.is_file, timeout=5 * SAVE_DELAY_MS)
    payload = json.loads(recovery.path.read_text())
    assert parse_project(payload["project"]) == edited
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()  # back to the saved state: nothing to recover
    qtbot.waitUntil(lambda: not recovery.path.exists(), timeout=5 * SAVE_DELAY_MS)


def test_two_windows_keep_their_own_recovery_files(
    qtbot: Any, message_boxes: Any, isolated_settings: Path
) -> None:
    first = _edited_and_saved(qtbot, 0)
    first_spec = first.document.spec

    second = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(second)
    assert second.recovery.path != first.recovery.path
    # The first window is alive: its work is not offered, so not deleted on No either.
    message_boxes.answer = QMessageBox.StandardButton.No
    assert not second.offer_recovery()
    assert message_boxes.shown == []
    second.document.remove_layers([LayerPath.top(0), LayerPath.top(1)])
    second.recovery.save_now()
    message_boxes.answer = QMessageBox.StandardButton.Discard
    assert second.close()  # discards only its own file
    assert not second.recovery.path.exists()
    payload = json.loads(first.recovery.path.read_text())
    assert parse_project(payload["project"]) == first_spec

    third = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(third)
    assert third.recovery.pending() is None  # still the living first window's
    assert first.close()
    assert not first.recovery.path.exists()
    third.recovery.timer.stop()


def test_a_stale_file_of_an_older_version_is_still_offered(
    qtbot: Any, message_boxes: Any, isolated_settings: Path
) -> None:
    from explorer.core.project import dumps_project

    lost = load_template("lenet5")
    legacy = isolated_settings / "data" / "recovery.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"path": None, "project": json.loads(dumps_project(lost))}))
    message_boxes.answer = QMessageBox.StandardButton.Yes
    window = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(window)
    assert window.offer_recovery()
    assert window.document.spec == lost and not legacy.exists()
    window.recovery.timer.stop()
    window.document.undo_stack.setClean()


def test_the_window_has_a_sensible_minimum_size(window: MainWindow) -> None:
    window.resize(400, 300)
    assert window.width() >= 760 and window.height() >= 500


def test_runs_and_recovery_live_in_one_folder_named_for_the_app(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from explorer.ui.common import settings

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.delenv(settings.CONFIG_DIR_ENV, raising=False)
    old = tmp_path / "share" / "CNN Explorer" / "CNN Explorer"
    (old / "runs" / "20250101-000000-net").mkdir(parents=True)
    settings.use_location(None)
    try:
        folder = settings.data_dir()
    finally:
        settings.use_location(tmp_path / "config")
    assert folder == tmp_path / "share" / "CNN Explorer"
    assert (folder / "runs" / "20250101-000000-net").is_dir()  # moved from the doubled one
    assert not old.exists()


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[1, 2]",
        b'"text"',
        b'{"project": []}',
        b'{"path": 3, "project": {"format": "cnn-explorer", "version": 1, "layers": 7}}',
        b"\xff\xfe\x00",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["bad-json", "list", "string", "project-list", "bad-layers", "not-utf8", "deep"],
)
def test_a_damaged_recovery_file_is_set_aside_not_offered(
    qtbot: Any, message_boxes: Any, isolated_settings: Path, content: bytes
) -> None:
    folder = isolated_settings / "data" / "recovery"
    folder.mkdir(parents=True)
    (folder / "1-dead.json").write_bytes(content)
    window = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(window)
    assert not window.offer_recovery()
    assert message_boxes.shown == []
    assert (folder / "1-dead.json.damaged").read_bytes() == content
    assert not (folder / "1-dead.json").exists() and not (folder / "1-dead.lock").exists()
    window.recovery.timer.stop()


def test_a_full_disk_while_saving_the_recovery_file_keeps_the_work_in_the_window(
    window: MainWindow, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    import errno

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("explorer.ui.shell.recovery.write_text_atomic", full)
    window.document.remove_layers([LayerPath.top(0)])
    window.recovery.save_now()
    assert not window.recovery.path.exists()
    assert "No space left on device" in caplog.text
    assert not window.document.is_clean  # nothing lost: still unsaved in the window


def test_closing_the_window_closes_its_floating_panels(qtbot: Any) -> None:
    # One of several windows: its floated panels are windows of their own and go with it.
    main = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    dock = main.summary_dock
    dock.setFloating(True)
    dock.show()
    qtbot.waitUntil(dock.isVisible)
    main.close()
    assert not main.isVisible()
    assert not dock.isVisible()
    assert dock.isFloating()  # so the saved layout brings it back floating
