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

from explorer.core.capture import snapshot_model
from explorer.core.data import DeviceDataset
from explorer.core.project import read_project
from explorer.core.spec import LayerSpec
from explorer.core.weights import load_project_weights
from explorer.ui.main_window import MainWindow
from explorer.ui.training_worker import dataset_key
from explorer.ui.workbench import Workbench, install_workbench
from tests.ui.test_training import TIMEOUT_MS, shapes_dataset, tiny_spec

__all__ = ["shapes_dataset"]  # the session fixture, shared with the training tests


@pytest.fixture
def bench(
    qtbot: Any, tmp_path: Path, message_boxes: Any, shapes_dataset: DeviceDataset
) -> Iterator[Workbench]:
    window = MainWindow(tiny_spec())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    workbench = install_workbench(window, runs_root=tmp_path / "runs", warm_up=False)
    workbench.training.remember_dataset(dataset_key(tiny_spec(), None, "cpu"), shapes_dataset)
    yield workbench
    workbench.shutdown()
    window.recovery.timer.stop()
    window.document.undo_stack.setClean()


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
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    workbench = install_workbench(window, warm_up=False)
    try:
        assert install_workbench(window) is workbench
        qtbot.wait(50)
        assert (window.width(), window.height()) == (1280, 800)
        # The editor's panels are the tabs in front; training raises its own later.
        assert not window.properties_dock.visibleRegion().isEmpty()
        assert window.docks["runsDock"].visibleRegion().isEmpty()
        assert {"inspectDock", "evaluationDock", "trainingDock"} <= set(window.docks)
        titles = [a.text() for a in window.file_menu.actions()]
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
    # The panel shows the final network: the accuracy the trainer itself measured.
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
    reopened = install_workbench(other, warm_up=False)
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
    document.insert_layers(1, [LayerSpec.create("Dropout", {"rate": 0.2})])
    assert bench.weights_for(document.spec) is None
    document.undo_stack.undo()
    assert bench.weights_for(document.spec) is None  # forgotten, not stashed


def test_export_uses_the_trained_weights(qtbot: Any, bench: Workbench, tmp_path: Path) -> None:
    _train(qtbot, bench)
    target = tmp_path / "net.pt"
    assert bench.export.export("weights", str(target))
    bench.export.runner.wait()
    assert "trained weights" in bench.export.last_message
    exported = torch.load(target, weights_only=True)
    for key, value in bench.trained_state.items():
        assert torch.equal(exported[key], value)


def test_a_training_setting_edit_never_redraws_the_maps_with_untrained_weights(
    qtbot: Any, bench: Workbench
) -> None:
    _train(qtbot, bench)
    qtbot.waitUntil(lambda: not bench.inspect.controller.busy, timeout=TIMEOUT_MS)
    requests: list[Any] = []
    bench.inspect.controller._requested.connect(requests.append)
    spec = bench.document.spec
    bench.document.edit(
        replace(spec, training=spec.training.with_values(learning_rate=0.5)), "Change learning rate"
    )
    qtbot.wait(100)
    assert requests == []  # nothing drawn changed, so nothing is captured again
    # A structural edit forgets the weights: the maps show initial weights, and the
    # evaluation on show says it is of an earlier network.
    bench.document.insert_layers(1, [LayerSpec.create("Dropout", {"rate": 0.2})])
    qtbot.waitUntil(lambda: bool(requests), timeout=TIMEOUT_MS)
    assert requests[-1].state_dict is None
    assert "earlier version" in bench.evaluation._details.text()
