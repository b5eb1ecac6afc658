"""TensorBoard event files in run folders, read back with TensorBoard's own reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.core.app.tensorboard_log import TensorBoardLog
from explorer.core.training import EpochEnded, TrainingFinished
from tests.core.test_train_command import tiny_train_argv

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    accumulator = event_accumulator.EventAccumulator(str(folder))
    accumulator.Reload()
    return {
        tag: [(s.step, s.value) for s in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def _epoch(epoch: int, step: int, loss: float) -> EpochEnded:
    return EpochEnded(epoch, step, loss, 0.5, loss + 0.1, 0.4, 0.01, 1.0)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_a_runs_event_file_holds_its_metrics(tmp_path: Path) -> None:
    run, argv = tiny_train_argv(tmp_path, ["--threads", "1"], epochs=2)
    assert main(argv) == 0
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    epochs = [e for e in events if e["event"] == "epoch"]
    finished = events[-1]
    scalars = _scalars(run)
    for tag, key in (
        ("train/loss", "train_loss"),
        ("train/accuracy", "train_accuracy"),
        ("validation/loss", "validation_loss"),
        ("validation/accuracy", "validation_accuracy"),
        ("learning_rate", "learning_rate"),
    ):
        assert [step for step, _ in scalars[tag]] == [e["step"] for e in epochs]
        assert [value for _, value in scalars[tag]] == pytest.approx(
            [e[key] for e in epochs], rel=1e-6
        )
    assert scalars["test/accuracy"] == [
        (finished["step"], pytest.approx(finished["test_accuracy"], rel=1e-6))
    ]


def test_a_continued_run_replaces_what_followed_its_checkpoint(tmp_path: Path) -> None:
    first = TensorBoardLog(tmp_path)
    for epoch in (1, 2, 3):
        first.add(_epoch(epoch, 10 * epoch, float(epoch)))
    first.close()
    # continued from the checkpoint at step 10: epochs 2 and 3 are trained again
    again = TensorBoardLog(tmp_path, start_step=10)
    again.add(_epoch(2, 20, 7.0))
    again.add(TrainingFinished(2, 20, 0.3, 0.9, (), False, 2.0))
    again.close()
    scalars = _scalars(tmp_path)
    assert scalars["train/loss"] == [(10, 1.0), (20, 7.0)]
    assert scalars["test/accuracy"] == [(20, pytest.approx(0.9))]


def test_events_other_than_epochs_and_the_result_write_nothing(tmp_path: Path) -> None:
    log = TensorBoardLog(tmp_path / "run")
    log.close()
    assert not (tmp_path / "run").exists()
