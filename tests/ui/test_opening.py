"""Opening a deep network without holding the window: its first analysis runs in the
background while edits and saves are refused with a message, and the workbench's panels
are built after the window, each when first needed."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication, QDockWidget, QMessageBox, QScrollArea, QWidget

from explorer.core.analysis import analyze
from explorer.core.paths import LayerPath
from explorer.core.project import dumps_project, save_project
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.core.summary import table_rows
from explorer.core.templates import load_template
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.opening import BACKGROUND_LAYERS, SWITCH_INTERVAL_S
from explorer.ui.common.quiet_timer import QuietTimer
from explorer.ui.editor.stack_view import EMPTY_TEXT
from explorer.ui.evaluation.panel import EvaluationPanel
from explorer.ui.shell.deferred import BuildQueue, Deferred
from explorer.ui.shell.main_window import MainWindow
from explorer.ui.shell.workbench import Workbench
from explorer.ui.training.health_view import HealthView
from explorer.ui.training.runs import RunsPanel
from tests.ui.test_deep_networks import deep_spec

DEEP_PAIRS = 2499  # 5,000 layers with Flatten and Dense


def _held(dock: QDockWidget) -> QWidget | None:
    """What the dock holds now, as Qt sees it (its `widget()` would make the panel)."""
    return QDockWidget.widget(dock)


def _shown_window(qtbot: Any, spec: Any) -> MainWindow:
    window = MainWindow(spec)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.mark.slow
def test_a_5000_layer_network_is_analysed_in_the_background_then_editable(qtbot: Any) -> None:
    spec = deep_spec(DEEP_PAIRS)
    assert len(spec.layers) == 5000
    window = _shown_window(qtbot, spec)
    document = window.document
    try:
        # At once: the window is up without the layers, and says what it is doing.
        assert document.analysing == 5000
        assert document.spec.layers == () and document.spec.input == spec.input
        assert window.stack.model.rowCount() == 0
        assert window.statusBar().currentMessage() == "Analysing 5,000 layers…"
        # The stack has no rows yet, but it does not invite the user to add the first.
        assert window.stack.view.empty_text == "Analysing 5,000 layers…"
        # nor report the placeholder's "no layers" error as the network's
        assert window.summary.diagnostics.text() == "Analysing 5,000 layers…"
        assert window._status_errors.text() == ""
        # An edit meanwhile is refused and says why; nothing joins the history.
        assert not document.insert_layers(LayerPath.top(0), [LayerSpec.create("Flatten")])
        assert "can be edited and saved once it is shown" in window.statusBar().currentMessage()
        assert document.undo_stack.count() == 0

        qtbot.waitUntil(lambda: not document.analysing, timeout=60_000)
        assert document.spec is spec
        assert document.analysis == analyze(spec)
        assert window.stack.model.rowCount() == 5000
        summary = window.summary.model
        rows = [summary.row_cells(row) for row in range(summary.rowCount())]
        assert rows == table_rows(document.analysis)
        assert document.is_clean and window.statusBar().currentMessage() == ""
        assert window.stack.view.empty_text == EMPTY_TEXT
        assert window.summary.diagnostics.text() == "No problems found."
        assert window._status_errors.text() == "No errors"
        qtbot.waitUntil(lambda: window.stack.current_path() == LayerPath.top(0))

        conv = spec.layers[2]
        assert document.replace_layer(LayerPath.top(2), conv.with_values(filters=5))
        document.settle()  # a deep edit's analysis is worked out on a thread too
        assert document.analysis == analyze(document.spec)
        assert document.analysis.layers[2].output_shape[0] == 5
    finally:
        window.recovery.timer.stop()
        document.undo_stack.setClean()


def test_the_summary_takes_in_an_analysis_shown_once(qtbot: Any) -> None:
    spec = deep_spec(BACKGROUND_LAYERS // 2 + 10)
    window = _shown_window(qtbot, spec)
    document, summary = window.document, window.summary
    fitted: list[int] = []
    fit = summary._fit_columns

    def counted(grow_only: bool = False) -> None:
        fitted.append(summary.model.rowCount())
        fit(grow_only)

    summary._fit_columns = counted  # type: ignore[method-assign]
    try:
        assert summary.diagnostics.text() == f"Analysing {len(spec.layers):,} layers…"
        qtbot.waitUntil(lambda: not document.analysing, timeout=60_000)
        qtbot.waitUntil(lambda: not summary._fit_timer.isActive())  # (a turn later)
        # One fit of the network's rows (not a second one when analysing ends), and the
        # diagnostics are the network's.
        assert fitted.count(summary.model.rowCount()) == 1 and summary.model.rowCount() > 200
        assert summary.diagnostics.text() == "No problems found."
        # Opening another deep network says so again, then shows its own.
        other = deep_spec(BACKGROUND_LAYERS // 2 + 20)
        document.reset(other)
        assert summary.diagnostics.text() == f"Analysing {len(other.layers):,} layers…"
        qtbot.waitUntil(lambda: document.spec is other, timeout=60_000)
        assert summary.diagnostics.text() == "No problems found."
        assert summary.model.rowCount() == len(other.layers) + 1  # and the input row
    finally:
        window.recovery.timer.stop()
        document.undo_stack.setClean()


def test_a_network_within_the_bound_is_shown_at_once(qtbot: Any) -> None:
    spec = deep_spec((BACKGROUND_LAYERS - 2) // 2)
    window = _shown_window(qtbot, spec)
    try:
        assert not window.document.analysing
        assert window.document.spec is spec
        assert window.stack.model.rowCount() == len(spec.layers)
    finally:
        window.recovery.timer.stop()


def test_file_open_of_a_deep_project_shows_it_once_analysed_with_its_path(
    qtbot: Any, tmp_path: Path
) -> None:
    spec = deep_spec(300)
    path = tmp_path / "deep.json"
    save_project(spec, str(path))
    window = _shown_window(qtbot, load_template("keras-mnist"))
    document = window.document
    paths: list[str] = []
    document.path_changed.connect(paths.append)
    try:
        assert window.files.open_path(str(path), prompt=False)
        assert document.analysing == len(spec.layers)
        # Meanwhile of no file: Save cannot write the layer-less network over it.
        assert document.path is None
        assert window.windowTitle().startswith("deep.json")  # the file being opened
        assert not window.files.save()
        assert json.loads(path.read_text())["layers"][0]["type"] == "Conv2D"
        qtbot.waitUntil(lambda: not document.analysing, timeout=60_000)
        assert document.path == str(path.resolve()) and paths[-1] == str(path.resolve())
        assert document.spec.architecture() == spec.architecture()
        assert document.analysis == analyze(document.spec)
        assert window.windowTitle().startswith("deep.json")
    finally:
        window.recovery.timer.stop()
        document.undo_stack.setClean()


def test_only_the_latest_opening_is_shown(qtbot: Any) -> None:
    document = ProjectDocument(load_template("keras-mnist"), analyse_in_background=True)
    first, second = deep_spec(300), deep_spec(301)
    called: list[str] = []
    states: list[bool] = []
    document.analysing_changed.connect(states.append)
    try:
        document.reset(first)
        document.when_analysed(lambda: called.append("first"))
        document.reset(second)
        document.when_analysed(lambda: called.append("second"))
        qtbot.waitUntil(lambda: not document.analysing, timeout=60_000)
        qtbot.wait(200)  # the first one's result, had it not been dropped, would be in
        assert document.spec is second and called == ["second"]
        assert document.analysis == analyze(second)

        # A small project opened meanwhile is shown at once; the deep one is given up.
        document.reset(first)
        document.reset(load_template("lenet5"))
        assert not document.analysing and document.spec.name == load_template("lenet5").name
        qtbot.wait(200)
        assert document.spec.name == load_template("lenet5").name
        assert states == [True, True, False, True, False]
    finally:
        document.stop_analysing()


def test_the_workbench_builds_its_panels_after_the_window_each_when_needed(
    qtbot: Any, tmp_path: Path
) -> None:
    window = _shown_window(qtbot, load_template("keras-mnist"))
    qtbot.waitExposed(window)
    bench = Workbench(window, runs_root=tmp_path / "runs", warm_up=False)
    try:
        # Every dock is in the window at once (the saved layout can place it), empty.
        docks = bench.training_docks
        for dock in (bench.inspect_dock, bench.evaluation_dock, docks.health_dock):
            assert dock.objectName() in window.docks
            assert not isinstance(_held(dock), QScrollArea | HealthView)

        # In the following turns the panels arrive, one after another; the layer health,
        # too big for one turn, waits until its tab is shown.
        qtbot.waitUntil(lambda: isinstance(_held(bench.evaluation_dock), QScrollArea))
        assert _held(bench.evaluation_dock).widget() is bench.evaluation
        assert isinstance(bench.evaluation, EvaluationPanel)
        qtbot.wait(100)
        assert not isinstance(_held(docks.health_dock), HealthView)
        docks.health_dock.show()
        docks.health_dock.raise_()
        qtbot.waitUntil(lambda: isinstance(_held(docks.health_dock), HealthView))
        assert _held(docks.health_dock) is docks.health

        # Train, Pause and Stop joined the tool bar and head the Training menu.
        actions = docks.menu.actions()
        assert actions[0] is docks.panel.train_action
        assert docks.panel.train_action in window.menus.toolbar.actions()
    finally:
        bench.shutdown()
        window.recovery.timer.stop()
        window.document.undo_stack.setClean()


def test_a_panel_asked_for_before_its_turn_is_built_then_and_works(
    qtbot: Any, tmp_path: Path
) -> None:
    window = _shown_window(qtbot, load_template("keras-mnist"))
    bench = Workbench(window, runs_root=tmp_path / "runs", warm_up=False)
    try:
        assert not isinstance(_held(bench.evaluation_dock), QScrollArea)
        assert not isinstance(_held(bench.training_docks.runs_dock), RunsPanel)
        # Asked for by a dock's widget(), as a caller that wants the panel does: made now.
        assert isinstance(bench.training_docks.runs_dock.widget(), RunsPanel)
        # Asked for in the same turn (a menu, a signal): made now, in its dock, and
        # connected: a test image chosen in it brings Inspect forward.
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (8, 1, 28, 28), dtype=np.uint8)
        names = [str(i) for i in range(10)]
        bench.inspect.picker.set_samples(images, rng.integers(0, 10, 8), names, (0.5,), (0.5,))
        evaluation = bench.evaluation
        assert bench.evaluation_dock.widget().widget() is evaluation
        evaluation.image_chosen.emit("test", 0)
        qtbot.waitUntil(lambda: not bench.inspect_dock.visibleRegion().isEmpty())
        # Inspect, made by then, draws the network as edited.
        window.document.replace_layer(
            LayerPath.top(0), window.document.spec.layers[0].with_values(filters=7)
        )
        maps = bench.inspect.feature_maps
        qtbot.waitUntil(
            lambda: maps.result is not None and maps.result.layers[0].shape[0] == 7,
            timeout=60_000,
        )
    finally:
        bench.shutdown()
        window.recovery.timer.stop()
        window.document.undo_stack.setClean()


def test_the_curves_are_built_in_three_turns_or_at_once_when_asked(
    qtbot: Any, tmp_path: Path
) -> None:
    from explorer.ui.training.curves import TrainingCurves

    window = _shown_window(qtbot, load_template("keras-mnist"))
    bench = Workbench(window, runs_root=tmp_path / "runs", warm_up=False)
    try:
        docks = bench.training_docks
        assert not isinstance(_held(docks.curves_dock), TrainingCurves)
        # In the queue's turns: the loss plot, the accuracy plot, then the panel in its dock.
        qtbot.waitUntil(lambda: isinstance(_held(docks.curves_dock), TrainingCurves))
        curves = docks.curves
        assert curves.graphics.getItem(0, 0) is curves.loss_plot
        assert curves.graphics.getItem(1, 0) is curves.accuracy_plot
    finally:
        bench.shutdown()
        window.recovery.timer.stop()
        window.document.undo_stack.setClean()
    # Asked for before its turn (a run starting): made now, both plots with it.
    other = _shown_window(qtbot, load_template("keras-mnist"))
    asked = Workbench(other, runs_root=tmp_path / "runs2", warm_up=False)
    try:
        curves = asked.training_docks.curves
        assert _held(asked.training_docks.curves_dock) is curves
        assert curves.loss_plot is not curves.accuracy_plot
        assert curves.accuracy_plot.getAxis("bottom").labelText == "epoch"
    finally:
        asked.shutdown()
        other.recovery.timer.stop()
        other.document.undo_stack.setClean()


def test_recovered_work_on_a_deep_network_is_analysed_in_the_background(
    qtbot: Any, message_boxes: Any, isolated_settings: Path
) -> None:
    lost = deep_spec(300)
    autosave = isolated_settings / "data" / "recovery.json"
    autosave.parent.mkdir(parents=True)
    autosave.write_text(json.dumps({"path": None, "project": json.loads(dumps_project(lost))}))
    message_boxes.answer = QMessageBox.StandardButton.Yes
    window = _shown_window(qtbot, load_template("keras-mnist"))
    document = window.document
    try:
        assert window.offer_recovery()
        assert document.analysing == len(lost.layers)  # not on this thread
        assert autosave.exists()  # forgotten only once the work is in the window
        qtbot.waitUntil(lambda: not document.analysing, timeout=60_000)
        assert document.spec == lost and not document.is_clean
        assert document.analysis == analyze(lost)
        assert document.undo_stack.undoText() == "Recover unsaved changes"
        assert not autosave.exists()
    finally:
        window.recovery.timer.stop()
        document.undo_stack.setClean()


def test_a_quiet_timer_that_fires_late_waits_for_a_turn_of_its_own(qtbot: Any) -> None:
    timer = QuietTimer()
    fired: list[int] = []
    timer.timeout.connect(lambda: fired.append(1))
    timer.start(1)
    time.sleep(0.05)  # the loop is busy with other work past the timer's moment
    QApplication.processEvents()  # so it fires late, in a turn that had other work
    assert fired == [] and timer.isActive()
    qtbot.waitUntil(lambda: fired == [1])
    qtbot.wait(50)
    assert fired == [1] and not timer.isActive()


def test_the_build_queue_builds_nothing_while_held_but_what_is_shown(qtbot: Any) -> None:
    held = [True]
    queue = BuildQueue(hold=lambda: held[0])
    built: list[str] = []

    def panel(name: str) -> QWidget:
        built.append(name)
        return QWidget()

    dock = QDockWidget("Shown")
    qtbot.addWidget(dock)
    waiting = Deferred(queue, lambda: panel("waiting"))
    Deferred(queue, lambda: panel("shown"), dock)
    qtbot.wait(150)
    assert built == []
    dock.show()  # its dock is on screen: built whatever the hold says
    qtbot.waitUntil(lambda: built == ["shown"])
    held[0] = False
    qtbot.waitUntil(lambda: built == ["shown", "waiting"])
    assert waiting.built is not None and isinstance(QDockWidget.widget(dock), QWidget)


def test_the_interpreter_switches_threads_often_only_while_a_network_is_analysed(
    qtbot: Any,
) -> None:
    usual = sys.getswitchinterval()
    document = ProjectDocument(load_template("keras-mnist"), analyse_in_background=True)
    try:
        document.reset(deep_spec(1500))  # (long enough to see the interval while it runs)
        # (from the next quiet turn, when the thread starts: not in the turn asking)
        assert sys.getswitchinterval() == usual
        qtbot.waitUntil(lambda: sys.getswitchinterval() == min(usual, SWITCH_INTERVAL_S))
        qtbot.waitUntil(lambda: not document.analysing, timeout=60_000)
        assert sys.getswitchinterval() == usual
        document.reset(deep_spec(300))
        document.reset(load_template("keras-mnist"))  # given up: the usual interval again
        assert sys.getswitchinterval() == usual
    finally:
        document.stop_analysing()
    assert sys.getswitchinterval() == usual


def test_a_later_selection_is_sent_only_while_its_spec_is_shown(qtbot: Any) -> None:
    first = NetworkSpec(layers=(LayerSpec.new("Flatten"), LayerSpec.new("Dense")))
    document = ProjectDocument(first)
    sent: list[list[LayerPath]] = []
    document.selection_requested.connect(sent.append)
    document.later_selection.request(document.spec, [LayerPath.top(1)], 5)
    assert document.later_selection.pending and sent == []
    qtbot.waitUntil(lambda: not document.later_selection.pending)
    assert sent == [[LayerPath.top(1)]]
    # asked for one network, but another is shown by the time it is due: nothing is sent
    document.later_selection.request(document.spec, [LayerPath.top(0)], 5)
    document.reset(NetworkSpec(layers=(LayerSpec.new("Flatten"),)))
    sent.clear()
    document.later_selection.send_now()
    assert sent == [] and not document.later_selection.pending


def _rows(model: Any, parent: Any = None) -> list[tuple[Any, ...]]:
    """Every row of a stack model, depth first: (flags, name, shape, tooltip, its rows)."""
    from PySide6.QtCore import QModelIndex, Qt

    from explorer.ui.editor.stack_model import NAME_ROLE, SHAPE_ROLE

    parent = QModelIndex() if parent is None else parent
    found = []
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        found.append(
            (
                model.flags(index),
                index.data(NAME_ROLE),
                index.data(SHAPE_ROLE),
                index.data(Qt.ItemDataRole.ToolTipRole),
                _rows(model, index),
            )
        )
    return found


@pytest.mark.parametrize("blocks", [False, True])
def test_a_deep_network_opened_comes_with_its_stack_rows_made_on_the_thread(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch, blocks: bool
) -> None:
    import threading

    from explorer.ui.editor import stack_cells, stack_model
    from explorer.ui.editor.stack_model import LayerStackModel

    made_on: list[str] = []
    item_rows = stack_cells.item_rows

    def recorded(*args: Any) -> Any:
        if args[0]:  # (the placeholder shown meanwhile has no rows)
            made_on.append(threading.current_thread().name)
        return item_rows(*args)

    monkeypatch.setattr(stack_cells, "item_rows", recorded)
    window = _shown_window(qtbot, load_template("keras-mnist"))  # (rows made here: fine)
    window.recovery.timer.stop()
    monkeypatch.setattr(stack_model, "item_rows", recorded)  # the GUI thread's own
    spec = deep_spec(BACKGROUND_LAYERS // 2 + 10)
    if blocks:  # blocks in it: their rows under theirs
        resnet = load_template("resnet-mnist")
        spec = NetworkSpec(input=resnet.input, layers=resnet.layers * 30)
    document = window.document
    document.reset(spec)
    try:
        qtbot.waitUntil(lambda: not document.analysing, timeout=60_000)
        assert made_on and threading.main_thread().name not in made_on
        # the rows are those a model makes of the network on this thread
        assert _rows(window.stack.model) == _rows(LayerStackModel(document))
        assert window.stack.model.rowCount() == len(spec.layers)
    finally:
        window.recovery.timer.stop()
        document.undo_stack.setClean()


def test_a_preparer_that_fails_leaves_the_views_to_make_their_own(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.ui.common import document as document_module
    from explorer.ui.editor.stack_model import LayerStackModel

    analysed_here: list[object] = []  # what the document analyses itself, on this thread

    def recorded(spec: NetworkSpec, **kwargs: Any) -> Any:
        analysed_here.append(spec)
        return analyze(spec, **kwargs)

    monkeypatch.setattr(document_module, "analyze", recorded)

    document = ProjectDocument(load_template("keras-mnist"), analyse_in_background=True)
    model = LayerStackModel(document)

    def broken(spec: NetworkSpec, analysis: Any) -> object:
        raise RuntimeError("a bug in a view's preparer")

    document.prepare_when_opening(broken)  # (in place of the model's)
    spec = deep_spec(BACKGROUND_LAYERS // 2 + 10)
    try:
        document.reset(spec)
        qtbot.waitUntil(lambda: not document.analysing, timeout=60_000)
        assert document.spec is spec and document.analysis == analyze(spec)
        assert model.rowCount() == len(spec.layers)
        assert spec not in analysed_here  # the thread's analysis, though the preparer failed
    finally:
        document.stop_analysing()
