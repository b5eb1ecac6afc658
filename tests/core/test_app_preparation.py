"""Preparing a training run, as the CLI and the window both do it: the device, the dataset,
the class-count check and the run folder, with errors that say which kind they are."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from explorer.core import data
from explorer.core.app.preparation import (
    BadRunInput,
    RunFailed,
    absolute_data_dir,
    check_class_count,
    choose_device,
    load_network_dataset,
    make_run_folder,
    write_run_folder,
)
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, TrainingSpec
from explorer.core.training.runs import RunFolder, RunSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def shapes_spec(**training: object) -> NetworkSpec:
    settings: dict[str, object] = {"dataset": "shapes", "validation_split": 0.1, "threads": 1}
    settings.update(training)
    return NetworkSpec(
        name="shapes net",
        input=InputSpec(1, 16, 16),
        num_classes=10,
        layers=(LayerSpec.create("Flatten"), LayerSpec.create("Dense", {"units": 10})),
        training=TrainingSpec.create(settings),
    )


def test_the_cpu_is_chosen_with_the_thread_count_set_on_this_thread() -> None:
    torch.set_num_threads(2)  # the fixture puts the count back afterwards
    choice = choose_device(shapes_spec(device="cpu", threads=1))
    assert choice.type == "cpu"
    assert choice.description == "CPU (1 thread, set)"
    assert torch.get_num_threads() == 1


def test_more_threads_than_cores_is_bad_input() -> None:
    with pytest.raises(BadRunInput, match="CPU core"):
        choose_device(shapes_spec(device="cpu", threads=len(os.sched_getaffinity(0)) + 1))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_cuda_device_is_bad_input() -> None:
    with pytest.raises(BadRunInput, match="no CUDA device"):
        choose_device(shapes_spec(device="cuda"))


def test_the_dataset_is_sized_coloured_and_split_for_the_network() -> None:
    dataset = load_network_dataset(shapes_spec(), None, "cpu")
    assert tuple(dataset.info.input_shape) == (1, 16, 16)
    train, validation = dataset.size("train"), dataset.size("validation")
    assert validation == pytest.approx(0.1 * (train + validation), abs=1)
    check_class_count(shapes_spec(), dataset)  # ten shapes, ten outputs: no error


def test_a_dataset_with_another_class_count_says_how_many_it_has() -> None:
    dataset = load_network_dataset(shapes_spec(), None, "cpu")
    with pytest.raises(BadRunInput) as raised:
        check_class_count(replace(shapes_spec(), num_classes=4), dataset)
    assert str(raised.value) == (
        "dataset 'shapes' has 10 classes but the network ends in 4: set the number of classes to 10"
    )


def test_a_missing_image_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadRunInput):
        load_network_dataset(shapes_spec(dataset=str(tmp_path / "no such folder")), None, "cpu")


def test_a_failed_download_is_a_failure_and_a_cancelled_one_stays_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def offline(name: str, **options: object) -> object:
        raise data.DownloadError("cannot reach the mirrors: you seem to be offline")

    monkeypatch.setattr(data, "load_dataset", offline)
    with pytest.raises(RunFailed, match="you seem to be offline"):
        load_network_dataset(shapes_spec(), None, "cpu")

    def cancelled(name: str, **options: object) -> object:
        assert isinstance(options["cancel"], threading.Event)
        raise data.DownloadCancelled("cancelled")

    monkeypatch.setattr(data, "load_dataset", cancelled)
    with pytest.raises(data.DownloadCancelled):
        load_network_dataset(shapes_spec(), None, "cpu", cancel=threading.Event())


def test_a_run_folder_below_a_file_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    with pytest.raises(RunFailed) as raised:
        make_run_folder(blocker / "run")
    assert str(raised.value) == f"cannot make the run folder {blocker / 'run'}: Not a directory"
    with pytest.raises(RunFailed, match="cannot write the run folder"):
        write_run_folder(RunFolder(blocker / "run"), shapes_spec(), RunSettings())


def test_a_written_run_folder_records_its_project_and_absolute_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_data_dir("data") == str(tmp_path / "data")
    assert absolute_data_dir(None) is None
    folder = RunFolder(tmp_path / "run")
    write_run_folder(folder, shapes_spec(), RunSettings(data_dir=absolute_data_dir("data")))
    assert folder.read_settings().data_dir == str(tmp_path / "data")
    assert folder.project_path.is_file()
