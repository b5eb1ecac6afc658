"""The window's runs write the same run folder as `train`: resumable from the command line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from explorer.cli import main
from explorer.core.data import DeviceDataset
from explorer.core.data.synthetic_shapes import CLASS_NAMES as SHAPE_NAMES
from explorer.core.project import load_project
from explorer.core.training import EpochEnded, TrainingStopped, load_checkpoint
from explorer.core.training.runs import RunFolder, read_metrics
from explorer.ui.common.tasks import StopToken, TaskControl
from explorer.ui.training.worker import TrainingJob, TrainingWorker, WeightsSnapshot
from tests.ui.test_training import shapes_dataset, tiny_spec

__all__ = ["shapes_dataset"]


def test_a_window_run_records_the_data_folder_and_the_datasets_class_names(
    tmp_path: Path,
    shapes_dataset: DeviceDataset,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digits = replace(tiny_spec(epochs=2), class_names=tuple("0123456789"))
    run = tmp_path / "run"
    data = tmp_path / "data"
    data.mkdir()
    worker = TrainingWorker(TrainingJob(digits, run, data_dir=data, dataset=shapes_dataset))
    token = StopToken()
    events: list[Any] = []

    def stop_after_the_first_epoch(payload: Any) -> None:
        if isinstance(payload, WeightsSnapshot):
            return
        events.append(payload)
        if isinstance(payload, EpochEnded) and payload.epoch == 1:
            token.stop()

    # On this thread: the worker's job, without a runner around it.
    worker.run(TaskControl(token, stop_after_the_first_epoch))
    assert isinstance(events[-1], TrainingStopped)
    assert load_project(run / "project.json").class_names == SHAPE_NAMES
    assert load_checkpoint(run / "checkpoint.pt").spec.class_names == SHAPE_NAMES
    assert RunFolder(run).read_settings().data_dir == str(data.resolve())

    monkeypatch.chdir(tmp_path)  # elsewhere: the recorded folder is absolute
    assert main(["train", "--resume", str(run)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    ends = [e["epoch"] for e in read_metrics(run / "metrics.jsonl").events if e["event"] == "epoch"]
    assert ends == [1, 2]
