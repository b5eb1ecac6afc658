"""One run into its folder: the trainer's events written as they come, a continued run cut
back to its checkpoint, and the errors said in words."""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from explorer.core.app.preparation import BadRunInput, RunFailed
from explorer.core.app.training_run import report_unexpected, start_run
from explorer.core.project import load_project
from explorer.core.spec import LayerSpec
from explorer.core.training import EpochEnded, TrainingFinished, load_checkpoint
from explorer.core.training.runs import RunFolder, RunSettings
from tests.core.test_trainer import quadrant_dataset, tiny_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_new_run_writes_its_folder_and_every_event_it_yields(tmp_path: Path) -> None:
    dataset = quadrant_dataset()
    spec = replace(tiny_spec(epochs=1), class_names=("a", "b", "c", "d"))
    folder = RunFolder(tmp_path / "run")
    run = start_run(spec, dataset, folder, settings=RunSettings(data_dir="/data"))
    assert folder.read_settings().data_dir == "/data"
    # The dataset's class names replace the project's, in the folder and the checkpoint.
    assert load_project(folder.project_path).class_names == dataset.info.class_names
    events = list(run.events())
    assert isinstance(events[-1], TrainingFinished)
    assert len(folder.read_metrics().events) == len(events)
    assert load_checkpoint(folder.checkpoint_path).spec.class_names == dataset.info.class_names


def test_a_run_without_a_folder_only_trains(tmp_path: Path) -> None:
    run = start_run(tiny_spec(epochs=1), quadrant_dataset(), None)
    assert isinstance(list(run.events())[-1], TrainingFinished)
    assert list(tmp_path.iterdir()) == []


def test_a_continued_run_goes_on_from_its_checkpoint(tmp_path: Path) -> None:
    dataset = quadrant_dataset()
    folder = RunFolder(tmp_path / "run")
    list(start_run(tiny_spec(epochs=1), dataset, folder).events())
    checkpoint = load_checkpoint(folder.checkpoint_path)
    longer = replace(checkpoint.spec, training=checkpoint.spec.training.with_values(epochs=2))
    run = start_run(longer, dataset, folder, checkpoint=checkpoint)
    continued = [e.epoch for e in run.events() if isinstance(e, EpochEnded)]
    assert continued == [2]
    written = [e["epoch"] for e in folder.read_metrics().events if e["event"] == "epoch"]
    assert written == [1, 2]


def test_a_checkpoint_of_another_network_is_bad_input(tmp_path: Path) -> None:
    dataset = quadrant_dataset()
    folder = RunFolder(tmp_path / "run")
    list(start_run(tiny_spec(epochs=1), dataset, folder).events())
    checkpoint = load_checkpoint(folder.checkpoint_path)
    wider = tiny_spec(epochs=2).replace_layer(
        0, LayerSpec.create("Conv2D", {"filters": 6, "kernel_size": 3, "activation": "relu"})
    )
    with pytest.raises(BadRunInput, match=str(folder.checkpoint_path)):
        start_run(wider, dataset, folder, checkpoint=checkpoint)


def test_metrics_that_cannot_be_written_fail_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: RunFolder, event: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    folder = RunFolder(tmp_path / "run")
    run = start_run(tiny_spec(epochs=1), quadrant_dataset(), folder)
    monkeypatch.setattr(RunFolder, "append", full)
    with pytest.raises(RunFailed) as raised:
        list(run.events())
    assert str(raised.value) == f"cannot write the run folder {folder}: No space left on device"


def test_an_unexpected_error_leaves_its_traceback_in_the_run(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    try:
        raise ZeroDivisionError("an error nobody foresaw\nsecond line")
    except ZeroDivisionError as error:
        failure = report_unexpected(error, folder)
    assert str(failure) == (
        f"training failed: ZeroDivisionError: an error nobody foresaw "
        f"(full report in {folder.log_path})"
    )
    assert "Traceback (most recent call last)" in folder.log_path.read_text(encoding="utf-8")
