"""The workbench joins training, inspect, evaluation and export: the flows between panels."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QMenu

from explorer.core.capture import snapshot_model
from explorer.core.data import DeviceDataset
from explorer.core.paths import LayerPath
from explorer.core.project import read_project
from explorer.core.spec import LayerSpec
from explorer.core.weights import load_project_weights
from explorer.ui.shell.main_window import MainWindow
from explorer.ui.shell.workbench import Workbench
from explorer.ui.training.worker import dataset_key
from tests.ui.conftest import workbench_in_window
from tests.ui.test_training import TIMEOUT_MS, shapes_dataset, tiny_spec

__all__ = ["shapes_dataset"]  # the session fixture, shared with the training tests


@pytest.fixture
def bench(
    qtbot: Any, tmp_path: Path, message_boxes: Any, shapes_dataset: DeviceDataset
) -> Iterator[Workbench]:
    for workbench in workbench_in_window(qtbot, tiny_spec(), tmp_path / "runs"):
        workbench.training.remember_dataset(dataset_key(tiny_spec(), None, "cpu"), shapes_dataset)
        yield workbench


def _train(qtbot: Any, bench: Workbench) -> Any:
    """Train from the workbench; the trainer's finished event."""
    with qtbot.waitSignal(bench.training.training_finished, timeout=TIMEOUT_MS) as finished:
        assert bench.training.start()
    qtbot.waitUntil(lambda: bench.training.state == "idle", timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: bench.evaluation._evaluation is not None, timeout=TIMEOUT_MS)
    return finished.args[0]


def test_installing_keeps_the_window_size_and_adds_the_panels(qtbot: Any) -> None:
    window = MainWindow(tiny_spec())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)  # fitted into the screen once shown
    size = window.size()
    workbench = Workbench(window, warm_up=False)
    try:
        assert window.findChild(Workbench) is workbench
        qtbot.wait(50)
        assert window.size() == size
        # The editor's panels are the tabs in front; training raises its own later.
        assert not window.properties_dock.visibleRegion().isEmpty()
        assert window.docks["runsDock"].visibleRegion().isEmpty()
        assert {"inspectDock", "evaluationDock", "trainingDock"} <= set(window.docks)
        titles = [a.text() for a in window.menus.file_menu.actions()]
        assert titles.index("E&xport") == titles.index("Save &As…") + 1
        assert len(workbench.export.menu.actions()) == 4
    finally:
        workbench.shutdown()
        window.recovery.timer.stop()


def test_training_feeds_live_weights_then_an_evaluation_of_the_test_set(
    qtbot: Any, bench: Workbench, shapes_dataset: DeviceDataset
) -> None:
    assert bench.trained_state is None
    finished = _train(qtbot, bench)
    state = bench.trained_state
    assert state is not None
    evaluation = bench.evaluation._evaluation
    assert evaluation is not None
    assert int(evaluation.confusion.sum()) == shapes_dataset.size("test")
    # The panel shows the final network: the trainer's own test measure, not a second pass.
    assert evaluation is finished.evaluation and not bench.evaluator.busy
    assert evaluation.accuracy == pytest.approx(finished.test_accuracy, abs=1e-9)
    # The evaluation is of exactly the trained weights.
    model = snapshot_model(bench.document.spec, state)
    images = shapes_dataset.normalize(shapes_dataset.images("test"))
    with torch.inference_mode():  # batched as evaluate() batches, so the sums match exactly
        predicted = torch.cat([model(chunk).argmax(dim=1) for chunk in images.split(1000)])
    predicted = predicted.numpy()
    assert np.array_equal(evaluation.predicted, predicted)


def test_clicking_an_evaluation_image_makes_it_the_inspected_input(
    qtbot: Any, bench: Workbench
) -> None:
    _train(qtbot, bench)
    picked: list[str] = []
    bench.inspect.picker.image_chosen.connect(lambda image, text: picked.append(text))
    bench.evaluation.image_chosen.emit("test", 17)
    assert picked and picked[-1].startswith("test image #17 ")
    assert bench.inspect_dock.isVisible()


def test_saving_keeps_the_trained_weights_and_reopening_restores_them(
    qtbot: Any, bench: Workbench, tmp_path: Path
) -> None:
    _train(qtbot, bench)
    path = tmp_path / "trained.json"
    assert bench.window.files.save_to(str(path))
    assert re.fullmatch(r"trained\.weights-[0-9a-f]{16}\.pt", read_project(path)[1] or "")
    _, saved = load_project_weights(path)
    assert saved is not None
    for key, value in bench.trained_state.items():
        assert torch.equal(saved[key], value)

    other = MainWindow(tiny_spec())
    qtbot.addWidget(other)
    reopened = Workbench(other, warm_up=False)
    try:
        assert reopened.trained_state is None
        assert other.files.open_path(str(path), prompt=False)
        qtbot.waitUntil(lambda: reopened.trained_state is not None, timeout=TIMEOUT_MS)
        for key, value in saved.items():
            assert torch.equal(reopened.trained_state[key], value)
    finally:
        reopened.shutdown()
        other.recovery.timer.stop()


def test_an_edit_that_changes_the_network_forgets_its_trained_weights(
    qtbot: Any, bench: Workbench
) -> None:
    _train(qtbot, bench)
    document = bench.document
    spec = document.spec
    # A training-only change keeps them: the network is the same.
    document.edit(replace(spec, name="renamed"), "Rename")
    assert bench.weights_for(document.spec) is not None
    document.insert_layers(LayerPath.top(1), [LayerSpec.create("Dropout", {"rate": 0.2})])
    assert bench.weights_for(document.spec) is None
    document.undo_stack.undo()
    assert bench.weights_for(document.spec) is None  # forgotten, not stashed


def test_export_uses_the_trained_weights(qtbot: Any, bench: Workbench, tmp_path: Path) -> None:
    _train(qtbot, bench)
    target = tmp_path / "net.pt"
    with qtbot.waitSignal(bench.export.export_ended, timeout=TIMEOUT_MS) as ended:
        assert bench.export.export("weights", str(target))
    assert "trained weights" in ended.args[0]
    exported = torch.load(target, weights_only=True)
    for key, value in bench.trained_state.items():
        assert torch.equal(exported[key], value)


def test_a_training_setting_edit_never_redraws_the_maps_with_untrained_weights(
    qtbot: Any, bench: Workbench, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.ui.inspect.controller import Capturer

    _train(qtbot, bench)
    requests: list[Any] = []
    real_capture = Capturer.capture

    def recording(capturer: Capturer, request: Any) -> Any:
        requests.append(request)  # on the capture task's thread, as each capture starts
        return real_capture(capturer, request)

    monkeypatch.setattr(Capturer, "capture", recording)
    # Behind the Summary the panel captured nothing of the training; shown, it captures
    # the trained weights once.
    assert requests == [] and bench.inspect.controller.held
    bench.inspect_dock.raise_()
    qtbot.waitUntil(lambda: len(requests) == 1, timeout=TIMEOUT_MS)
    assert requests[0].state_dict is not None
    assert all(torch.equal(requests[0].state_dict[k], v) for k, v in bench.trained_state.items())
    qtbot.waitUntil(lambda: not bench.inspect.controller.busy, timeout=TIMEOUT_MS)
    spec = bench.document.spec
    bench.document.edit(
        replace(spec, training=spec.training.with_values(learning_rate=0.5)), "Change learning rate"
    )
    qtbot.wait(100)
    assert len(requests) == 1  # nothing drawn changed, so nothing is captured again
    # A structural edit forgets the weights: the maps show initial weights, and the
    # evaluation on show says it is of an earlier network.
    bench.document.insert_layers(LayerPath.top(1), [LayerSpec.create("Dropout", {"rate": 0.2})])
    qtbot.waitUntil(lambda: len(requests) == 2, timeout=TIMEOUT_MS)
    assert requests[-1].state_dict is None and requests[-1].spec is bench.document.spec
    assert "earlier version" in bench.evaluation._details.text()
    qtbot.waitUntil(lambda: not bench.inspect.controller.busy, timeout=TIMEOUT_MS)

    # Behind another tab an edit captures nothing; shown again, the panel captures the
    # network it now has, once, with its initial weights (the trained ones are forgotten).
    bench.window.summary_dock.raise_()
    qtbot.waitUntil(lambda: not bench.inspect._on_screen(), timeout=TIMEOUT_MS)
    bench.document.undo_stack.undo()
    qtbot.wait(100)
    assert len(requests) == 2 and bench.inspect.controller.held
    bench.inspect_dock.raise_()
    qtbot.waitUntil(lambda: len(requests) == 3, timeout=TIMEOUT_MS)
    assert requests[-1].state_dict is None and requests[-1].spec is bench.document.spec
    qtbot.wait(100)
    assert len(requests) == 3


def _answer_when_asked(qtbot: Any, button_text: str, asked: list[str]) -> None:
    """Click `button_text` in the next message box that opens (a real modal dialog)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    def click() -> None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QMessageBox) and widget.isVisible():
                asked.append(widget.windowTitle())
                next(b for b in widget.buttons() if b.text() == button_text).click()
                return
        QTimer.singleShot(20, click)

    QTimer.singleShot(20, click)


def _start_long_run(qtbot: Any, bench: Workbench) -> None:
    spec = tiny_spec(batch_size=10, epochs=5)
    bench.document.reset(spec)
    with qtbot.waitSignal(bench.training.progress_reported, timeout=TIMEOUT_MS):
        assert bench.training.start()


def test_closing_during_training_asks_and_cancel_keeps_it_training(
    qtbot: Any, bench: Workbench, shapes_dataset: DeviceDataset
) -> None:
    bench.training.remember_dataset(
        dataset_key(tiny_spec(batch_size=10, epochs=5), None, "cpu"), shapes_dataset
    )
    _start_long_run(qtbot, bench)
    asked: list[str] = []
    _answer_when_asked(qtbot, "Cancel", asked)
    assert not bench.window.close()
    assert asked == ["Training Is Running"]
    assert bench.window.isVisible() and bench.training.state == "training"
    thread = bench.training.worker_thread
    assert thread is not None and thread.isRunning()

    _answer_when_asked(qtbot, "Stop and Quit", asked)
    assert bench.window.close()
    assert asked == ["Training Is Running"] * 2
    assert bench.training.worker_thread is None and not thread.isRunning()
    run_dir = bench.training.run_dir
    assert run_dir is not None and (run_dir / "checkpoint.pt").is_file()


@pytest.mark.slow
def test_resume_continues_a_stopped_run_from_its_checkpoint(
    qtbot: Any, bench: Workbench, shapes_dataset: DeviceDataset
) -> None:
    import json

    from explorer.core.training import load_checkpoint

    spec = tiny_spec(batch_size=10, epochs=2)
    bench.training.remember_dataset(dataset_key(spec, None, "cpu"), shapes_dataset)
    bench.document.reset(spec)
    with qtbot.waitSignal(bench.training.progress_reported, timeout=TIMEOUT_MS):
        assert bench.training.start()
    with qtbot.waitSignal(bench.training.training_stopped, timeout=TIMEOUT_MS) as stopped:
        bench.training.stop()
    qtbot.waitUntil(lambda: bench.training.state == "idle", timeout=TIMEOUT_MS)
    run_dir = bench.training.run_dir
    assert run_dir is not None
    position = load_checkpoint(run_dir / "checkpoint.pt").position.step
    assert position == stopped.args[0].step > 0
    bench.runs.refresh()
    assert [r.status for r in bench.runs.records] == ["stopped"]

    bench.document.insert_layers(
        LayerPath.top(1), [LayerSpec.create("Dropout", {"rate": 0.2})]
    )  # elsewhere
    steps: list[int] = []
    bench.training.progress_reported.connect(lambda e: steps.append(e.step))
    _runs_menu(bench).aboutToShow.emit()
    assert bench.resume_action.isEnabled()
    with qtbot.waitSignal(bench.training.training_finished, timeout=TIMEOUT_MS):
        bench.resume_action.trigger()
    qtbot.waitUntil(lambda: bench.training.state == "idle", timeout=TIMEOUT_MS)
    assert bench.training.run_dir == run_dir  # the same folder, continued
    assert steps and steps[0] > position
    assert bench.document.spec == spec  # the run's network is back in the editor (undoable)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert events.count("stopped") == 1 and events[-1] == "finished"
    bench.runs.refresh()
    assert [r.status for r in bench.runs.records] == ["finished"]
    _runs_menu(bench).aboutToShow.emit()
    assert not bench.resume_action.isEnabled()  # nothing left to resume


def _runs_menu(bench: Workbench) -> QMenu:
    menu = bench.window.findChild(QMenu, "runsMenu")
    assert isinstance(menu, QMenu)
    return menu


def test_evaluate_measures_the_current_weights_on_demand(
    qtbot: Any, bench: Workbench, shapes_dataset: DeviceDataset
) -> None:
    from explorer.core.evaluation import evaluate

    assert not bench.evaluate_now()  # nothing trained yet: says so, does nothing
    assert "Nothing to evaluate" in bench.window.statusBar().currentMessage()
    spec = tiny_spec(batch_size=10, epochs=3)
    bench.training.remember_dataset(dataset_key(spec, None, "cpu"), shapes_dataset)
    bench.document.reset(spec)
    with qtbot.waitSignal(bench.training.progress_reported, timeout=TIMEOUT_MS):
        assert bench.training.start()
    with qtbot.waitSignal(bench.training.training_stopped, timeout=TIMEOUT_MS):
        bench.training.stop()
    qtbot.waitUntil(lambda: bench.training.state == "idle", timeout=TIMEOUT_MS)
    assert bench.evaluation._evaluation is None  # a stopped run is not evaluated by itself
    state = bench.trained_state
    assert state is not None
    bench.evaluate_action.trigger()
    qtbot.waitUntil(lambda: bench.evaluation._evaluation is not None, timeout=TIMEOUT_MS)
    expected = evaluate(snapshot_model(spec, state), shapes_dataset, "test")
    assert bench.evaluation._evaluation.accuracy == pytest.approx(expected.accuracy, abs=1e-12)
    assert f"{100 * expected.accuracy:.2f}%" in bench.window.statusBar().currentMessage()
