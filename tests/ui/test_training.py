"""Training from the GUI: real Train button, real worker thread, real trainer on `shapes`."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import torch
from PySide6.QtCore import QCoreApplication, QObject, QThread, Slot
from PySide6.QtWidgets import QMessageBox

from explorer.core.builder import build_model
from explorer.core.data import DeviceDataset, load_dataset
from explorer.core.paths import LayerPath
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.ui.shell.main_window import MainWindow
from explorer.ui.shell.training_docks import TrainingDocks
from explorer.ui.training.controller import RunState, TrainingController
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.panel import TrainingPanel
from explorer.ui.training.runs import RunsPanel, read_run
from explorer.ui.training.worker import dataset_key
from tests.core.test_train_command import TINY_TRAINING
from tests.ui.conftest import tick_run

TIMEOUT_MS = 60_000


def tiny_spec(**training: Any) -> NetworkSpec:
    """A small CNN (no BatchNorm) for the 28×28 grey `shapes` set."""
    layers = (
        LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
        LayerSpec.create("MaxPool2D", {"pool_size": 2}),
        LayerSpec.create("Flatten", {}),
        LayerSpec.create("Dense", {"units": 10, "activation": "softmax"}),
    )
    settings = {**TINY_TRAINING, "threads": 1, **training}
    spec = NetworkSpec(name="tiny", layers=layers)
    return replace(spec, training=spec.training.with_values(**settings))


@pytest.fixture(scope="session")
def shapes_dataset() -> DeviceDataset:
    """`shapes` as the worker loads it for tiny_spec(), loaded once for the session."""
    torch.set_num_threads(1)
    return load_dataset(
        "shapes",
        device="cpu",
        validation_fraction=0.1,
        seed=0,
        input_size=(28, 28),
        grayscale=True,
    )


@dataclass
class Gui:
    window: MainWindow
    controller: TrainingController
    panel: TrainingPanel
    curves: TrainingCurves
    runs: RunsPanel

    def use(self, spec: NetworkSpec, dataset: DeviceDataset | None = None) -> None:
        self.window.document.reset(spec)
        if dataset is not None:
            self.controller.remember_dataset(dataset_key(spec, None, "cpu"), dataset)

    def train_until_it_reports(self, qtbot: Any) -> QThread:
        """Press Train and wait for the run's first progress report; the run's thread."""
        with qtbot.waitSignal(self.controller.progress_reported, timeout=TIMEOUT_MS):
            self.panel.train_button.click()
        thread = self.controller.worker_thread
        assert thread is not None and thread.isRunning()
        return thread


@pytest.fixture
def gui(qtbot: Any, tmp_path: Path, message_boxes: Any) -> Iterator[Gui]:
    window = MainWindow(tiny_spec())
    qtbot.addWidget(window)
    docks = TrainingDocks(window, runs_root=tmp_path / "runs", warm_up=False)
    window.show()
    qtbot.waitExposed(window)
    yield Gui(window, docks.controller, docks.panel, docks.curves, docks.runs)
    docks.shutdown()
    window.recovery.timer.stop()
    window.document.undo_stack.setClean()


def wait_idle(qtbot: Any, controller: TrainingController) -> None:
    qtbot.waitUntil(lambda: controller.state == RunState.IDLE, timeout=TIMEOUT_MS)


def test_pressing_train_draws_curves_and_shows_the_test_accuracy(qtbot: Any, gui: Gui) -> None:
    gui.use(tiny_spec(epochs=2))  # no cached dataset: the worker loads it
    epochs: list[int] = []
    gui.controller.epoch_ended.connect(lambda e: epochs.append(e.epoch))
    with qtbot.waitSignal(gui.controller.training_finished, timeout=TIMEOUT_MS) as finished:
        qtbot.mouseClick(gui.panel.train_button, _left())
        assert gui.window.document.locked
    result = finished.args[0]
    wait_idle(qtbot, gui.controller)
    gui.curves.redraw()

    assert epochs == [1, 2]
    assert gui.curves.history.point_count > 2
    assert gui.curves.history.validation_point_count == 2
    x, y = gui.curves.smooth_loss_item.getData()
    assert all(math.isfinite(v) for v in y)
    assert len(x) == gui.curves.history.point_count and x[-1] <= 2.0
    assert result.test_accuracy > 0.2  # 10 classes: well above chance after two epochs
    assert f"{100 * result.test_accuracy:.2f}%" in gui.panel.results.accuracy_label.text()
    table = gui.panel.results.table
    assert table.rowCount() == 10
    assert table.item(0, 0).text() == "circle"
    assert table.item(0, 1).text() == f"{100 * result.per_class_accuracy[0]:.1f}%"
    assert not gui.window.document.locked
    assert gui.panel.train_action.isEnabled()

    run_dir = gui.controller.run_dir
    assert run_dir is not None
    for name in ("project.json", "metrics.jsonl", "checkpoint.pt"):
        assert (run_dir / name).is_file()
    assert [r.status for r in gui.runs.records] == ["finished"]
    assert gui.runs.records[0].test_accuracy == pytest.approx(result.test_accuracy)


class _ThreadRecorder(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.threads: list[bool] = []
        self.snapshots: list[dict[str, torch.Tensor]] = []

    @Slot(object)
    def on_progress(self, event: object) -> None:
        self.threads.append(QThread.currentThread() is QCoreApplication.instance().thread())

    @Slot(object)
    def on_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.threads.append(QThread.currentThread() is QCoreApplication.instance().thread())
        self.snapshots.append(state)


def test_worker_signals_arrive_on_the_gui_thread(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    spec = tiny_spec()
    gui.use(spec, shapes_dataset)
    recorder = _ThreadRecorder()
    gui.controller.progress_reported.connect(recorder.on_progress)
    gui.controller.weights_updated.connect(recorder.on_weights)
    with qtbot.waitSignal(gui.controller.training_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(gui.panel.train_button, _left())
    wait_idle(qtbot, gui.controller)
    assert recorder.threads and all(recorder.threads)
    final = recorder.snapshots[-1]
    assert set(final) == set(build_model(spec).state_dict())
    assert all(t.device.type == "cpu" for t in final.values())


def test_stop_mid_epoch_ends_the_run_within_one_batch(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    gui.use(tiny_spec(batch_size=10, epochs=3), shapes_dataset)
    started: list[Any] = []
    gui.controller.training_started.connect(started.append)
    with qtbot.waitSignal(gui.controller.progress_reported, timeout=TIMEOUT_MS) as progress:
        gui.panel.train_button.click()
    qtbot.wait(200)
    seconds_per_step = progress.args[0].elapsed / max(progress.args[0].step, 1)
    with qtbot.waitSignal(gui.controller.training_stopped, timeout=TIMEOUT_MS) as stopped:
        clicked = time.perf_counter()
        qtbot.mouseClick(gui.panel.stop_button, _left())
    latency = time.perf_counter() - clicked
    wait_idle(qtbot, gui.controller)
    event = stopped.args[0]
    assert event.epoch == 1 and 0 < event.step < started[0].steps_per_epoch
    # One batch in flight plus the signal's trip through the event loop.
    assert latency < 0.25 + 2 * seconds_per_step
    assert not gui.window.document.locked
    assert (gui.controller.run_dir / "checkpoint.pt").is_file()
    assert "Stopped" in gui.panel.epoch_label.text()


def test_pause_holds_the_run_and_resume_continues_it(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    gui.use(tiny_spec(batch_size=10, epochs=3), shapes_dataset)
    steps: list[int] = []
    gui.controller.progress_reported.connect(lambda e: steps.append(e.step))
    gui.train_until_it_reports(qtbot)
    qtbot.mouseClick(gui.panel.pause_button, _left())
    assert gui.controller.state == RunState.PAUSED
    assert gui.panel.pause_action.text() == "&Resume"
    qtbot.wait(150)  # events already on their way drain
    held = len(steps)
    qtbot.wait(400)
    assert len(steps) == held
    with qtbot.waitSignal(gui.controller.progress_reported, timeout=TIMEOUT_MS):
        qtbot.mouseClick(gui.panel.pause_button, _left())
    assert gui.controller.state == RunState.TRAINING
    assert steps[-1] > steps[held - 1]
    gui.panel.stop_action.trigger()
    wait_idle(qtbot, gui.controller)


def test_closing_the_window_mid_run_stops_the_thread(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    gui.use(tiny_spec(batch_size=10, epochs=5), shapes_dataset)
    thread = gui.train_until_it_reports(qtbot)
    assert gui.window.close()
    assert gui.controller.worker_thread is None
    assert not thread.isRunning()  # the no_running_threads fixture checks every QThread too


def test_file_new_mid_run_stops_and_joins_the_run_and_drops_what_it_still_sends(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    gui.use(tiny_spec(batch_size=10, epochs=5), shapes_dataset)
    thread = gui.train_until_it_reports(qtbot)
    late: list[object] = []
    for signal in (gui.controller.progress_reported, gui.controller.weights_updated):
        signal.connect(late.append)
    with qtbot.waitSignal(gui.controller.run_ended, timeout=TIMEOUT_MS) as ended:
        assert gui.window.files.new()
    assert not thread.isRunning() and gui.controller.worker_thread is None
    assert gui.controller.state == RunState.IDLE and not gui.window.document.locked
    qtbot.wait(100)  # anything the run had queued for the GUI thread would arrive now
    assert late == []
    assert gui.curves.history.point_count == 0  # the new network's view starts empty
    assert (Path(ended.args[0]) / "checkpoint.pt").is_file()  # stopped, not lost
    assert gui.window.document.spec.layers == ()


def test_cancelling_the_save_prompt_on_close_keeps_the_run_going(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset, message_boxes: Any
) -> None:
    gui.use(tiny_spec(batch_size=10, epochs=5), shapes_dataset)
    gui.window.document.edit(replace(gui.window.document.spec, name="edited"), "Rename")
    gui.train_until_it_reports(qtbot)
    message_boxes.answer = QMessageBox.StandardButton.Cancel
    assert not gui.window.close()
    assert "Unsaved Changes" in message_boxes.titles()
    thread = gui.controller.worker_thread
    assert thread is not None and thread.isRunning()
    gui.controller.stop()
    qtbot.waitUntil(lambda: gui.controller.state == RunState.IDLE, timeout=TIMEOUT_MS)


def test_a_diverging_run_shows_the_advice_and_the_app_keeps_going(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    gui.use(tiny_spec(optimizer="sgd", learning_rate=10.0, epochs=2), shapes_dataset)
    with qtbot.waitSignal(gui.controller.training_failed, timeout=TIMEOUT_MS) as failed:
        gui.panel.train_button.click()
    wait_idle(qtbot, gui.controller)
    message = failed.args[0].message
    assert "non-finite" in message and "learning rate" in message
    assert gui.panel.message_bar.isVisible()
    assert message in gui.panel.message_bar.text
    assert message in gui.panel.log_view.toPlainText()
    assert gui.panel.train_action.isEnabled() and not gui.window.document.locked
    assert [r.status for r in gui.runs.records] == ["failed"]
    # The app is alive: a sane run afterwards works.
    gui.use(tiny_spec(), shapes_dataset)
    with qtbot.waitSignal(gui.controller.training_finished, timeout=TIMEOUT_MS):
        gui.panel.train_button.click()
    wait_idle(qtbot, gui.controller)


def test_ticking_two_runs_overlays_both_in_the_legend(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    for rate in (0.01, 0.002):
        gui.use(tiny_spec(learning_rate=rate), shapes_dataset)
        with qtbot.waitSignal(gui.controller.training_finished, timeout=TIMEOUT_MS):
            gui.panel.train_button.click()
        wait_idle(qtbot, gui.controller)
    records = gui.runs.records
    assert len(records) == 2 and records[0].name != records[1].name
    for record in records:
        tick_run(gui.runs, record.path, True)
    names = gui.curves.legend_names()
    assert records[0].name in names and records[1].name in names
    assert len(gui.curves.overlays) == 2
    tick_run(gui.runs, records[0].path, False)
    assert records[0].name not in gui.curves.legend_names()
    assert records[1].name in gui.curves.legend_names()


def test_restoring_a_run_puts_its_network_back_as_one_undo_step(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    trained = tiny_spec()
    gui.use(trained, shapes_dataset)
    with qtbot.waitSignal(gui.controller.training_finished, timeout=TIMEOUT_MS):
        gui.panel.train_button.click()
    wait_idle(qtbot, gui.controller)
    document = gui.window.document
    assert document.remove_layers([LayerPath.top(1)])
    edited = document.spec
    gui.runs.select_run(gui.runs.records[0].path)
    gui.runs.restore_button.click()
    assert document.spec == trained
    document.undo_stack.undo()
    assert document.spec == edited


def test_an_edit_refused_while_training_offers_to_stop(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    gui.use(tiny_spec(batch_size=10, epochs=5), shapes_dataset)
    gui.train_until_it_reports(qtbot)
    before = gui.window.document.spec
    assert not gui.window.document.remove_layers([LayerPath.top(0)])
    assert gui.window.document.spec == before
    bar = gui.panel.message_bar
    assert bar.isVisible() and bar.action_button.text() == "Stop Training and Edit"
    with qtbot.waitSignal(gui.controller.training_stopped, timeout=TIMEOUT_MS):
        bar.action_button.click()
    wait_idle(qtbot, gui.controller)
    assert gui.window.document.remove_layers([LayerPath.top(0)])


def test_hyperparameter_editors_edit_the_training_settings_undoably(gui: Gui) -> None:
    document = gui.window.document
    editor = gui.panel.settings_page.editors["epochs"]
    editor.box.setValue(7)
    assert document.spec.training.epochs == 7
    choice = gui.panel.settings_page.editors["optimizer"].box
    choice.setCurrentText("rmsprop")
    choice.textActivated.emit("rmsprop")
    assert document.spec.training.optimizer == "rmsprop"
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert document.spec.training.epochs == 1 and document.spec.training.optimizer == "adam"
    assert editor.box.value() == 1


def test_curves_export_to_csv_and_png(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset, tmp_path: Path
) -> None:
    gui.use(tiny_spec(epochs=2), shapes_dataset)
    with qtbot.waitSignal(gui.controller.training_finished, timeout=TIMEOUT_MS):
        gui.panel.train_button.click()
    wait_idle(qtbot, gui.controller)
    csv_path, png_path = tmp_path / "curves.csv", tmp_path / "curves.png"
    gui.curves.export_csv(csv_path)
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("kind,epoch,step,train_loss")
    assert sum(line.startswith("step,") for line in lines) == gui.curves.history.point_count
    assert sum(line.startswith("epoch,") for line in lines) == 2
    assert gui.curves.export_png(png_path) and png_path.stat().st_size > 1000
    saved = read_run(gui.controller.run_dir)
    assert len(saved.curves.train_loss) == gui.curves.history.point_count
    assert all(math.isfinite(v) for v in saved.curves.validation_loss)


def _left() -> Any:
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_train_pressed_during_the_warm_up_starts_once_it_is_ready(qtbot: Any, gui: Gui) -> None:
    gui.use(tiny_spec())
    loading: list[str] = []
    gui.controller.loading_reported.connect(loading.append)
    with qtbot.waitSignal(gui.controller.training_finished, timeout=TIMEOUT_MS):
        assert gui.controller.warm_up()
        gui.panel.train_button.click()
        assert gui.controller.is_running and gui.window.document.locked
    wait_idle(qtbot, gui.controller)
    # The run used the dataset the warm-up loaded: it was loaded once.
    assert [text for text in loading if text.startswith("loading")] == ["loading shapes…"]
    assert "ready" in loading
    assert not gui.window.document.locked


def test_f5_trains_and_shift_f5_stops(qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset) -> None:
    from PySide6.QtCore import Qt

    gui.use(tiny_spec(batch_size=10, epochs=5), shapes_dataset)
    gui.window.activateWindow()
    with qtbot.waitSignal(gui.controller.progress_reported, timeout=TIMEOUT_MS):
        qtbot.keyClick(gui.window, Qt.Key.Key_F5)
    with qtbot.waitSignal(gui.controller.training_stopped, timeout=TIMEOUT_MS):
        qtbot.keyClick(gui.window, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)
    wait_idle(qtbot, gui.controller)


def test_a_warm_up_scheduled_before_closing_never_starts_afterwards(
    qtbot: Any, tmp_path: Path, message_boxes: Any
) -> None:
    window = MainWindow(tiny_spec())
    qtbot.addWidget(window)
    controller = TrainingDocks(window, runs_root=tmp_path / "runs", warm_up=True).controller
    window.close()  # before the scheduled warm-up fires
    qtbot.wait(600)
    assert controller.worker_thread is None
    assert not controller.warm_up() and not controller.start()


def _broken_spec() -> NetworkSpec:
    spec = tiny_spec()
    conv = spec.layers[0].with_values(kernel_size=40)  # larger than the 28×28 input
    return replace(spec, layers=(conv, *spec.layers[1:]))


def test_train_with_an_error_says_why_it_cannot_start(qtbot: Any, gui: Gui) -> None:
    gui.use(_broken_spec())
    refused: list[str] = []
    gui.controller.start_refused.connect(refused.append)
    qtbot.mouseClick(gui.panel.train_button, _left())
    assert len(refused) == 1
    bar = gui.panel.message_bar
    assert bar.isVisible() and bar.level == "error"
    assert bar.text.startswith("Cannot start training: the network has 1 error")
    assert "kernel" in bar.text and "Training failed" not in bar.text
    assert gui.panel.epoch_label.text() == "Not trained yet"  # nothing ran, nothing is "kept"
    assert gui.controller.state == RunState.IDLE and not gui.window.document.locked
    assert not (gui.controller.runs_root).exists()  # no run folder for a run that never was


def test_a_new_project_clears_the_last_runs_banner_curves_position_and_log(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    gui.use(tiny_spec(), shapes_dataset)
    with qtbot.waitSignal(gui.controller.training_finished, timeout=TIMEOUT_MS):
        gui.panel.train_button.click()
    wait_idle(qtbot, gui.controller)
    assert gui.curves.history.point_count > 0 and gui.panel.log_view.toPlainText()
    assert gui.panel.epoch_label.text().startswith("Finished")
    gui.window.document.edit(_broken_spec(), "Break it")
    gui.panel.train_button.click()
    assert gui.panel.message_bar.isVisible()

    gui.window.document.undo_stack.setClean()
    template = gui.window.files.templates_menu.actions()[0]
    template.trigger()  # a template: the red banner is about the old network
    assert not gui.panel.message_bar.isVisible()
    assert gui.window.files.new()  # File ▸ New: no old curves, position or log
    assert gui.curves.history.point_count == 0 and gui.curves.history.validation_point_count == 0
    assert gui.panel.log_view.toPlainText() == ""
    assert gui.panel.epoch_label.text() == "Not trained yet"
    assert gui.panel.progress_bar.value() == 0
    assert gui.panel.results.table.rowCount() == 0


def test_stop_clears_the_eta_and_pause_says_paused(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    gui.use(tiny_spec(batch_size=10, epochs=5), shapes_dataset)
    gui.train_until_it_reports(qtbot)
    qtbot.waitUntil(lambda: "ETA" in gui.panel.speed_label.text(), timeout=TIMEOUT_MS)
    qtbot.mouseClick(gui.panel.pause_button, _left())
    qtbot.wait(300)  # progress already on its way, and the label timer, have run
    assert gui.panel.epoch_label.text().endswith("Paused")
    assert gui.panel.progress_bar.format().startswith("Paused")
    qtbot.mouseClick(gui.panel.pause_button, _left())  # Resume
    assert not gui.panel.epoch_label.text().endswith("Paused")
    with qtbot.waitSignal(gui.controller.training_stopped, timeout=TIMEOUT_MS):
        qtbot.mouseClick(gui.panel.stop_button, _left())
    wait_idle(qtbot, gui.controller)
    qtbot.wait(200)
    assert "ETA" not in gui.panel.speed_label.text()
    assert "elapsed" in gui.panel.speed_label.text()


def test_the_warm_up_trains_one_tiny_batch(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.core.training import Trainer
    from explorer.ui.training.worker import WARM_UP_BATCH

    batches: list[int] = []
    real = Trainer.warm_up

    def recording(self: Trainer) -> None:
        batches.append(self.training.batch_size)
        real(self)

    monkeypatch.setattr(Trainer, "warm_up", recording)
    gui.use(tiny_spec(batch_size=200), shapes_dataset)
    loading: list[str] = []
    gui.controller.loading_reported.connect(loading.append)
    with qtbot.waitSignal(gui.controller.warm_up_finished, timeout=TIMEOUT_MS):
        assert gui.controller.warm_up()
    assert batches == [WARM_UP_BATCH] and WARM_UP_BATCH <= 8
    assert loading[-1] == "ready"


def test_no_warm_up_when_the_memory_estimate_does_not_fit(
    qtbot: Any, gui: Gui, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.core.spec import InputSpec
    from explorer.core.training import Trainer
    from explorer.ui.training.worker import free_memory, warm_up_memory

    def refuse(self: Trainer) -> None:
        raise AssertionError("warmed up a network that does not fit")

    monkeypatch.setattr(Trainer, "warm_up", refuse)
    huge = tiny_spec()
    wide = huge.layers[0].with_values(filters=65536)
    huge = replace(huge, input=InputSpec(3, 512, 512), layers=(wide, *huge.layers[1:]))
    import torch

    assert warm_up_memory(huge) > (free_memory(torch.device("cpu")) or 0)
    gui.use(huge)
    loading: list[str] = []
    gui.controller.loading_reported.connect(loading.append)
    with qtbot.waitSignal(gui.controller.warm_up_finished, timeout=TIMEOUT_MS):
        assert gui.controller.warm_up()
    assert loading and loading[-1].startswith("not warmed up: the network and its data need")
    assert not any(text.startswith("loading") for text in loading)  # not even the data


def test_a_run_that_cannot_begin_says_it_could_not_start(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    spec = tiny_spec()
    dense = spec.layers[-1].with_values(units=5)
    five = replace(spec, num_classes=5, layers=(*spec.layers[:-1], dense))
    gui.use(five, shapes_dataset)
    assert not gui.window.document.analysis.errors  # a valid network, for another dataset
    with qtbot.waitSignal(gui.controller.training_failed, timeout=TIMEOUT_MS) as failed:
        gui.panel.train_button.click()
    wait_idle(qtbot, gui.controller)
    assert "10 classes" in failed.args[0].message
    bar = gui.panel.message_bar.text
    assert bar.startswith("Training could not start:") and "10 classes" in bar
    assert gui.panel.epoch_label.text() == "Could not start training"
    assert "curves so far" not in gui.panel.epoch_label.text()
