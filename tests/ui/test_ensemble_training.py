"""Training an ensemble from the window: real Train button, real members one after another
on the training thread, the CLI's run-folder layout, Stop and Resume per member."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QMenu

from explorer.cli import main
from explorer.core.data import DeviceDataset
from explorer.core.project import load_project
from explorer.core.training import TrainingFinished, TrainingStopped, load_checkpoint
from explorer.core.training.runs import read_metrics
from tests.ui.test_training import TIMEOUT_MS, Gui, gui, shapes_dataset, tiny_spec, wait_idle

__all__ = ["gui", "shapes_dataset"]


def _events(folder: Path, kind: str) -> list[dict[str, Any]]:
    return [e for e in read_metrics(folder / "metrics.jsonl").events if e["event"] == kind]


@pytest.mark.slow
def test_a_two_member_ensemble_trains_into_the_clis_layout(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset, tmp_path: Path
) -> None:
    spec = tiny_spec(epochs=2, ensemble=2, seed=0)  # the seed the shared data was split with
    gui.use(spec, shapes_dataset)
    members: list[Any] = []
    finished: list[TrainingFinished] = []
    gui.controller.member_started.connect(members.append)
    gui.controller.training_finished.connect(finished.append)
    with qtbot.waitSignal(gui.controller.ensemble_trained, timeout=TIMEOUT_MS) as trained:
        gui.panel.train_button.click()
    wait_idle(qtbot, gui.controller)
    result = trained.args[0]
    run = gui.controller.run_dir
    assert run is not None and result.run_dir == run

    assert [(m.index, m.count, m.seed) for m in members] == [(0, 2, 0), (1, 2, 1)]
    assert [len(m.earlier) for m in members] == [0, 1]
    # The layout `train --ensemble 2` writes: the root's project and settings, a folder
    # per member with its own seed, metrics and checkpoint.
    assert load_project(run / "project.json").training.seed == 0
    assert (run / "run.json").is_file() and not (run / "metrics.jsonl").exists()
    for k, seed in ((1, 0), (2, 1)):
        member = run / f"member-{k}"
        assert load_project(member / "project.json").training.seed == seed
        assert [e["epoch"] for e in _events(member, "epoch")] == [1, 2]
        end = _events(member, "finished")[-1]
        assert end["test_accuracy"] == pytest.approx(finished[k - 1].test_accuracy)
    cli_run = tmp_path / "cli"
    project = tmp_path / "tiny.json"
    from explorer.core.project import save_project

    save_project(spec, project)
    assert main(["train", str(project), "--out", str(cli_run)]) == 0
    for k in (1, 2):
        ours = [e["train_loss"] for e in _events(run / f"member-{k}", "epoch")]
        theirs = [e["train_loss"] for e in _events(cli_run / f"member-{k}", "epoch")]
        assert ours == pytest.approx(theirs, rel=1e-4)  # the same seeds train the same
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in cli_run.iterdir())

    # The weights held are the members' checkpoints' result weights.
    assert len(result.states) == 2
    for k, state in enumerate(result.states, start=1):
        saved = load_checkpoint(run / f"member-{k}" / "checkpoint.pt").result_state()
        assert all(torch.equal(state[key], saved[key]) for key in saved)
    # The curves: the live member and the first one beside it, named in the legend.
    assert [c.name for c in gui.curves.members] == ["member 1"]
    assert gui.curves.legend_names()[0] == "member 2 (live)"
    assert "member 1" in gui.curves.legend_names()
    assert gui.panel.epoch_label.text().startswith("Ensemble of 2 finished: test accuracy")
    gui.curves.redraw()
    gui.curves.grab().save("/tmp/h18app-curves.png")


@pytest.mark.slow
def test_stop_during_member_two_and_resume_keep_member_one_untouched(
    qtbot: Any, gui: Gui, shapes_dataset: DeviceDataset
) -> None:
    gui.use(tiny_spec(epochs=2, ensemble=2), shapes_dataset)

    def stop_in_member_two(event: Any) -> None:
        member = gui.controller.member
        if member is not None and member.index == 1 and event.epoch == 1:
            gui.controller.stop()

    gui.controller.epoch_ended.connect(stop_in_member_two)
    with qtbot.waitSignal(gui.controller.training_stopped, timeout=TIMEOUT_MS) as stopped:
        gui.panel.train_button.click()
    wait_idle(qtbot, gui.controller)
    gui.controller.epoch_ended.disconnect(stop_in_member_two)
    assert isinstance(stopped.args[0], TrainingStopped)
    assert gui.panel.epoch_label.text().startswith("Member 2 of 2 · Stopped")
    run = gui.controller.run_dir
    assert run is not None
    first = run / "member-1"
    kept = {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()}
    assert _events(run / "member-2", "stopped")

    # The Runs panel lists the ensemble as one run, stopped, and its Resume continues it.
    (record,) = [r for r in gui.runs.records if r.path == run]
    assert (record.members, record.status, record.resumable) == (2, "stopped", True)
    assert "1 of 2 members trained" in record.message
    gui.runs.select_run(record.path)
    assert gui.runs.resume_button.isEnabled()
    gui.runs.resume_requested.connect(gui.controller.resume_run)
    members: list[Any] = []
    gui.controller.member_started.connect(members.append)
    with qtbot.waitSignal(gui.controller.ensemble_trained, timeout=TIMEOUT_MS) as trained:
        gui.runs.resume_button.click()
    wait_idle(qtbot, gui.controller)
    (record,) = [r for r in gui.runs.records if r.path == run]
    assert (record.status, record.resumable) == ("finished", False)
    assert [m.index for m in members] == [1]  # member 1 was finished: only 2 continues
    assert [len(m.earlier) for m in members] == [1]
    assert {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()} == kept
    second = run / "member-2"
    assert [e["epoch"] for e in _events(second, "epoch")] == [1, 2]
    assert _events(second, "finished")
    saved = load_checkpoint(first / "checkpoint.pt").result_state()
    state = trained.args[0].states[0]
    assert all(torch.equal(state[key], saved[key]) for key in saved)
    assert gui.window.document.spec.training.ensemble == 2


def _averaged_probabilities(states: tuple[Any, ...], spec: Any, dataset: DeviceDataset) -> Any:
    """Each member's softmax on the test images, computed here from its weights (numpy:
    members × images × classes), independent of the app's evaluation."""
    from explorer.core.builder import build_model

    images = torch.cat([x for x, _ in dataset.batches("test", 500)])
    probabilities = []
    for state in states:
        model = build_model(spec)
        model.load_state_dict(state)
        model.eval()
        with torch.no_grad():
            probabilities.append(torch.softmax(model(images), 1).numpy())
    return np.stack(probabilities)


@pytest.fixture
def ensemble_bench(
    qtbot: Any, tmp_path: Path, message_boxes: Any, shapes_dataset: DeviceDataset
) -> Any:
    from explorer.ui.training.worker import dataset_key
    from tests.ui.conftest import workbench_in_window

    spec = tiny_spec(epochs=1, ensemble=3)
    for workbench in workbench_in_window(qtbot, spec, tmp_path / "runs"):
        workbench.training.remember_dataset(dataset_key(spec, None, "cpu"), shapes_dataset)
        yield workbench


@pytest.mark.slow
def test_the_evaluation_tab_shows_the_ensemble_each_member_and_where_they_disagree(
    qtbot: Any, ensemble_bench: Any, shapes_dataset: DeviceDataset
) -> None:
    bench = ensemble_bench
    bench.window.resize(1280, 800)
    with qtbot.waitSignal(bench.training.ensemble_trained, timeout=TIMEOUT_MS):
        assert bench.training.start()
    wait_idle(qtbot, bench.training)
    panel = bench.evaluation
    qtbot.waitUntil(lambda: panel.ensemble is not None, timeout=TIMEOUT_MS)
    states = bench._trained.members
    assert len(states) == 3 and bench.trained_state is states[0]

    probabilities = _averaged_probabilities(states, bench.document.spec, shapes_dataset)
    labels = shapes_dataset.labels("test").numpy()
    averaged = probabilities.mean(0)
    ensemble_right = averaged.argmax(1) == labels
    members_right = probabilities.argmax(2) == labels
    table = panel.ensemble_view.table
    assert table.rowCount() == 4
    assert table.item(0, 0).text() == "Ensemble of 3"
    assert table.item(0, 1).text() == f"{100 * ensemble_right.mean():.2f}%"
    loss = -np.log(averaged[np.arange(len(labels)), labels]).mean()
    assert float(table.item(0, 2).text()) == pytest.approx(loss, abs=1e-4)
    for k in range(3):
        assert table.item(k + 1, 0).text() == f"member {k + 1}"
        assert table.item(k + 1, 1).text() == f"{100 * members_right[k].mean():.2f}%"
    rescued = np.flatnonzero(~ensemble_right & members_right.any(0))
    repaired = np.flatnonzero(ensemble_right & ~members_right.all(0))
    assert len(rescued) + len(repaired) > 0  # one-epoch members disagree somewhere
    assert sorted(panel.ensemble_view.wrong_indices()) == rescued.tolist()
    assert sorted(panel.ensemble_view.right_indices()) == repaired.tolist()

    # The picker: the confusion matrix and the accuracy become member 2's.
    assert panel.picker.isVisible() and panel.picker.count() == 4
    ensemble_confusion = panel.evaluation.confusion.copy()
    panel.pick(1)
    member = panel.evaluation
    assert member is panel.ensemble.members[1]
    predicted = probabilities[1].argmax(1)
    assert member.correct == int((predicted == labels).sum())
    assert f"{100 * member.accuracy:.2f} %" in panel._accuracy.text()
    expected = np.bincount(labels * 10 + predicted, minlength=100).reshape(10, 10)
    assert np.array_equal(member.confusion, expected)
    assert np.array_equal(
        ensemble_confusion,
        np.bincount(labels * 10 + averaged.argmax(1), minlength=100).reshape(10, 10),
    )
    panel.pick(None)
    assert panel.evaluation is panel.ensemble.ensemble
    # Clicking an image of the gallery chooses it for Inspect.
    if rescued.size:
        grid = panel.ensemble_view.wrong_grid
        with qtbot.waitSignal(panel.image_chosen) as chosen:
            grid.itemClicked.emit(grid.item(0))
        assert chosen.args == ["test", grid.indices()[0]]
    bench.evaluation_dock.show()
    bench.evaluation_dock.raise_()
    qtbot.wait(100)
    panel.grab().save("/tmp/h18app-evaluation.png")

    # Evaluate (F7) with an ensemble held measures the ensemble again, off the GUI thread.
    shown = panel.ensemble
    assert bench.evaluate_now()
    qtbot.waitUntil(lambda: panel.ensemble is not shown, timeout=TIMEOUT_MS)
    assert panel.ensemble.ensemble.accuracy == pytest.approx(ensemble_right.mean())


@pytest.mark.slow
def test_a_finished_ensemble_run_loads_its_members_and_evaluates_them(
    qtbot: Any, ensemble_bench: Any, shapes_dataset: DeviceDataset, tmp_path: Path
) -> None:
    from explorer.core.project import save_project

    spec = tiny_spec(epochs=1, ensemble=2)
    project = tmp_path / "tiny.json"
    save_project(spec, project)
    run = tmp_path / "runs" / "20260101-000000-tiny"  # in the Runs list
    assert main(["train", str(project), "--out", str(run)]) == 0
    bench = ensemble_bench
    bench.runs.refresh()
    (record,) = bench.runs.records
    assert (record.path, record.members, record.status) == (run, 2, "finished")
    bench.runs.select_run(bench.runs.path_at(0))
    menu = bench.window.findChild(QMenu, "runsMenu")
    menu.aboutToShow.emit()
    action = bench.ensembles.load_action
    assert action.isEnabled() and action in menu.actions()
    action.trigger()
    panel = bench.evaluation
    qtbot.waitUntil(lambda: panel.ensemble is not None, timeout=TIMEOUT_MS)
    states = bench._trained.members
    assert len(states) == 2
    for k, state in enumerate(states, start=1):
        saved = load_checkpoint(run / f"member-{k}" / "checkpoint.pt").result_state()
        assert all(torch.equal(state[key], saved[key]) for key in saved)
    probabilities = _averaged_probabilities(states, spec, shapes_dataset)
    labels = shapes_dataset.labels("test").numpy()
    accuracy = (probabilities.mean(0).argmax(1) == labels).mean()
    assert panel.ensemble.ensemble.accuracy == pytest.approx(accuracy)
    assert bench.document.spec.training.ensemble == 2


def test_earlier_members_are_drawn_beside_the_live_one_and_go_with_a_single_run(
    qtbot: Any,
) -> None:
    from explorer.ui.training.curves import MEMBER_COLOURS, TrainingCurves
    from tests.ui.test_training_curves import _run

    curves = TrainingCurves()
    qtbot.addWidget(curves)
    single = len(curves.loss_plot.listDataItems())
    first, second = _run("member 1", 0.5), _run("member 2", 0.8)
    curves.set_members([first, second], "member 3")
    assert curves.legend_names()[0] == "member 3 (live)"
    assert curves.legend_names()[-2:] == ["member 1", "member 2"]
    assert MEMBER_COLOURS[1] in curves.legend.text()
    items = curves.loss_plot.listDataItems()
    assert len(items) == single + 4  # each member: smoothed train and validation
    drawn = [item.getData()[1] for item in items[single:]]
    assert np.allclose(drawn[0], first.smoothed_loss())
    assert np.allclose(drawn[3], second.validation_loss)
    curves.set_members(())  # a single run next: only its own curves
    assert len(curves.loss_plot.listDataItems()) == single
    assert "member" not in " ".join(curves.legend_names())
