"""The Sweep dialog and window: typed parameters become the command's plan, the queue trains
the trials on the task runner (stoppable, resumable), the table sorts, ticked trials are
overlaid, and the Pareto front is the core's."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from explorer.core.app.sweep import plan_sweep
from explorer.core.app.sweep_run import FINISHED, pareto_front
from explorer.core.project import load_project
from explorer.ui.training.sweep_dialog import SweepDialog
from explorer.ui.training.sweep_view import SweepView
from tests.core.test_train_command import write_project

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def one_torch_thread() -> Any:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny(tmp_path: Path) -> Any:
    return load_project(write_project(tmp_path / "tiny.json", threads=1, device="cpu"))


def test_the_dialog_plans_the_grid_typed_into_its_rows(qtbot: Any, tmp_path: Path) -> None:
    dialog = SweepDialog(_tiny(tmp_path), tmp_path)
    qtbot.addWidget(dialog)
    dialog.epochs_spin.setValue(3)
    combo, edit = dialog.add_row()
    qtbot.keyClicks(combo.lineEdit(), "conv2d_1.filters")
    qtbot.keyClicks(edit, "2, 4")
    dialog.folder_edit.setText(str(tmp_path / "sweep"))
    assert dialog.set_texts() == [
        "learning_rate=0.1,0.01",
        "batch_size=64,128",
        "conv2d_1.filters=2,4",
    ]
    dialog.accept()
    assert dialog.result() == SweepDialog.DialogCode.Accepted and dialog.plan is not None
    assert len(dialog.plan.trials) == 8
    assert {t.spec.training.epochs for t in dialog.plan.trials} == {3}
    assert dialog.plan.trials[-1].describe() == (
        "learning_rate=0.01, batch_size=128, conv2d_1.filters=4"
    )


def test_the_dialog_stays_open_quoting_a_bad_key(qtbot: Any, tmp_path: Path) -> None:
    dialog = SweepDialog(_tiny(tmp_path), tmp_path)
    qtbot.addWidget(dialog)
    dialog.add_row("conv2d_1.filtres", "2")
    dialog.accept()
    assert dialog.plan is None and dialog.result() != SweepDialog.DialogCode.Accepted
    assert "conv2d_1.filtres" in dialog.error_label.text()
    assert "Conv2D has no key 'filtres' (its keys: filters" in dialog.error_label.text()


def _column(view: SweepView, title: str) -> int:
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    return headers.index(title)


@pytest.mark.slow
def test_the_window_runs_stops_resumes_and_shows_the_results(qtbot: Any, tmp_path: Path) -> None:
    sets = ["learning_rate=0.01,0.003", "conv2d_1.filters=2,4"]
    plan = plan_sweep(_tiny(tmp_path), sets, tmp_path / "sweep")
    view = SweepView(plan)
    qtbot.addWidget(view)
    assert view.table.rowCount() == 4

    # stop after the first trial: the queue ends with three to go
    def stop_after_first(results: Any) -> None:
        if sum(r.status == FINISHED for r in results) == 1:
            view.stop_action.trigger()

    view.queue.results_changed.connect(stop_after_first)
    with qtbot.waitSignal(view.queue.queue_ended, timeout=120_000) as ended:
        view.start_action.trigger()
    assert ended.args == [False]
    view.queue.results_changed.disconnect(stop_after_first)
    assert [r.status for r in view.queue.results].count(FINISHED) == 1
    first = (plan.out / "trial-001" / "metrics.jsonl").read_bytes()
    assert view.start_action.text() == "Re&sume Sweep" and view.start_action.isEnabled()

    with qtbot.waitSignal(view.queue.queue_ended, timeout=240_000) as ended:
        view.start_action.trigger()
    assert ended.args == [True]
    assert not view.start_action.isEnabled()  # nothing left to train
    assert (plan.out / "trial-001" / "metrics.jsonl").read_bytes() == first  # not trained again

    # the table holds results.csv's values
    with (plan.out / "results.csv").open(encoding="utf-8") as stream:
        rows = {int(r["trial"]): r for r in csv.DictReader(stream)}
    accuracy = _column(view, "val acc (%)")
    for number, row in rows.items():
        item = view.table.item(view.row_of(number), accuracy)
        assert item.data(Qt.ItemDataRole.DisplayRole) == pytest.approx(
            100 * float(row["validation_accuracy"]), abs=0.005
        )
        assert view.table.item(view.row_of(number), _column(view, "status")).text() == "finished"

    # sorting by accuracy orders the rows by it
    view.table.sortByColumn(accuracy, Qt.SortOrder.DescendingOrder)
    shown = [view.table.item(r, accuracy).data(Qt.ItemDataRole.DisplayRole) for r in range(4)]
    assert shown == sorted(shown, reverse=True)

    # ticking a trial overlays its validation curve, read from its own metrics
    view.set_ticked(3, True)
    assert set(view.curve_items) == {3}
    lines = (plan.out / "trial-003" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    epochs = [e for e in map(json.loads, lines) if e["event"] == "epoch"]
    xs, ys = view.curve_items[3].getData()
    assert list(ys) == pytest.approx([100 * e["validation_accuracy"] for e in epochs])
    assert list(xs) == [e["epoch"] for e in epochs]
    view.set_ticked(3, False)
    assert view.curve_items == {}

    # the front against MACs: the core's Pareto front of the plotted points
    view.x_combo.setCurrentText("MACs")
    points = [
        (float(row["macs"]), 100 * float(row["validation_accuracy"])) for row in rows.values()
    ]
    expected = sorted(points[i] for i in pareto_front(points))
    fx, fy = view.front_item.getData()
    assert sorted(zip(fx, fy, strict=True)) == pytest.approx(expected)
    assert len(view.points_item.data) == 4
    view.grab().save(str(tmp_path / "sweep-view.png"))
    if path := __import__("os").environ.get("SWEEP_SHOT"):
        view.grab().save(path)


@pytest.mark.slow
def test_the_window_trains_a_stacked_group_as_one_job_reporting_each_trial(
    qtbot: Any, tmp_path: Path
) -> None:
    """Three rates of one small network: one job, each trial's epochs reported, the table
    and status as for trials one after another; Stop stops them all, Resume finishes them."""
    spec = load_project(write_project(tmp_path / "tiny.json", threads=1, device="cpu", epochs=2))
    plan = plan_sweep(spec, ["learning_rate=0.01,0.003,0.001"], tmp_path / "sweep")
    view = SweepView(plan)
    qtbot.addWidget(view)
    epochs: list[tuple[int, int]] = []
    view.queue.epoch_finished.connect(lambda e: epochs.append((e.trial, e.epoch)))
    started: list[tuple[int, ...]] = []
    view.queue.trials_started.connect(lambda group: started.append(tuple(t.number for t in group)))
    changes: list[object] = []
    view.queue.results_changed.connect(changes.append)

    def stop_at_first_epoch(epoch: Any) -> None:
        if (epoch.trial, epoch.epoch) == (1, 1):
            view.stop_action.trigger()

    view.queue.epoch_finished.connect(stop_at_first_epoch)
    with qtbot.waitSignal(view.queue.queue_ended, timeout=120_000) as ended:
        view.start_action.trigger()
        assert "trials 1–3 stacked" in view.status_label.text()
    assert ended.args == [False]
    assert started == [(1, 2, 3)]  # one job
    # the table is read at the start, as each trial of the group ends, and at the job's end
    assert len(changes) == 1 + 3 + 1
    assert sorted(epochs) == [(1, 1), (2, 1), (3, 1)]  # every trial stopped after its epoch
    assert [r.status for r in view.queue.results] == ["stopped"] * 3
    view.queue.epoch_finished.disconnect(stop_at_first_epoch)

    with qtbot.waitSignal(view.queue.queue_ended, timeout=240_000) as ended:
        view.start_action.trigger()
    assert ended.args == [True]
    assert started == [(1, 2, 3), (1,), (2,), (3,)]  # continued from checkpoints, alone
    assert sorted(epochs) == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)]
    with (plan.out / "results.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["status"] for r in rows] == ["finished"] * 3
    accuracy = _column(view, "val acc (%)")
    for row in rows:
        item = view.table.item(view.row_of(int(row["trial"])), accuracy)
        assert item.data(Qt.ItemDataRole.DisplayRole) == pytest.approx(
            100 * float(row["validation_accuracy"]), abs=0.005
        )
    view.close()  # joins the runner's thread, which may still be winding down


def test_training_sweep_opens_the_dialog_then_the_sweeps_window(
    qtbot: Any, tmp_path: Path, window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.ui.shell.training_docks import TrainingDocks

    docks = TrainingDocks(window, runs_root=tmp_path / "runs", warm_up=False)
    shown: list[SweepDialog] = []

    def accept_as_shown(dialog: SweepDialog) -> int:
        shown.append(dialog)
        dialog.accept()  # the dialog's Plan Sweep button, with the rows it starts with
        return dialog.result()

    monkeypatch.setattr(SweepDialog, "exec", accept_as_shown)
    assert docks.sweep_action in docks.menu.actions()
    assert docks.sweep_action.shortcut().toString() == "F8"
    docks.sweep_action.trigger()
    [view] = docks.sweeps
    qtbot.waitExposed(view)
    assert shown[0].spec == window.document.spec
    assert view.plan.out.parent == tmp_path / "runs"
    assert view.plan.trials[0].describe() == "learning_rate=0.1, batch_size=64"
    assert view.table.rowCount() == 4 and view.start_action.isEnabled()
    docks.shutdown()
