"""Training an ensemble from the window: real Train button, real members one after another
on the training thread, the CLI's run-folder layout, Stop and Resume per member."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

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
    assert any(name.startswith("member 2 (live)") for name in gui.curves.legend_names())
    assert "member 1" in gui.curves.legend_names()
    assert gui.panel.epoch_label.text().startswith("Ensemble of 2 finished: test accuracy")
    gui.curves.redraw()
    gui.curves.grab().save(str(Path("/tmp/h18app-curves.png")))
    _ = np  # numpy is used by the evaluation tests below


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

    members: list[Any] = []
    gui.controller.member_started.connect(members.append)
    with qtbot.waitSignal(gui.controller.ensemble_trained, timeout=TIMEOUT_MS) as trained:
        assert gui.controller.resume_run(run)
    wait_idle(qtbot, gui.controller)
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
