"""Everything a training run needs before its first batch, for the CLI and the window alike.

The device (and torch's CPU thread count), the network's dataset resident on it, the check
that the dataset has as many classes as the network ends in, and the run folder. Errors come
as `BadRunInput` (what was asked for cannot be used: the CLI exits 2) or `RunFailed`
(something failed: a download, a folder that cannot be written; exit 1), each with a message
written for the user.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from explorer.core.data import DeviceDataset, ProgressCallback
    from explorer.core.spec import NetworkSpec
    from explorer.core.training import Checkpoint, DeviceChoice
    from explorer.core.training.runs import RunFolder, RunSettings


class TrainingRunError(Exception):
    """A run that cannot start or go on; the message is written for the user."""


class BadRunInput(TrainingRunError):
    """What was asked for cannot be used: a device, a dataset, a checkpoint, a class count."""


class RunFailed(TrainingRunError):
    """Something failed on the way: a download, writing the run folder."""


def choose_device(spec: NetworkSpec) -> DeviceChoice:
    """The device the network's settings name (auto: CUDA, then MPS, then the CPU), with
    torch's CPU thread count set on the calling thread (the one that trains: OpenMP keeps
    the count per thread). Its description names the thread count, e.g. 'CPU (1 thread)'."""
    from explorer.core.training.devices import DeviceError, apply_threads, resolve_device

    settings = spec.training
    try:
        choice = resolve_device(settings.device, threads=settings.threads)
        apply_threads(choice, settings.threads)
    except DeviceError as error:
        raise BadRunInput(str(error)) from None
    return choice


def load_network_dataset(
    spec: NetworkSpec,
    data_dir: str | os.PathLike[str] | None,
    device: torch.device | str,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> DeviceDataset:
    """The network's dataset resident on `device`, sized and coloured for its input, split
    as its training settings say; downloaded when missing (reporting to `progress`).

    A cancelled download raises `DownloadCancelled` as it is; a failed one `RunFailed`; any
    other problem with the data `BadRunInput`.
    """
    # The package's attribute, looked up at each call: tests stand in for the download there.
    from explorer.core import data

    settings = spec.training
    try:
        return data.load_dataset(
            settings.dataset,
            data_dir=data_dir,
            device=device,
            validation_fraction=settings.validation_split,
            seed=settings.seed,
            progress=progress,
            cancel=cancel,
            input_size=(spec.input.height, spec.input.width),
            grayscale=spec.input.channels == 1,
        )
    except data.DownloadCancelled:
        raise
    except data.DownloadError as error:
        raise RunFailed(str(error)) from None
    except data.DatasetError as error:
        raise BadRunInput(str(error)) from None


def check_class_count(spec: NetworkSpec, dataset: DeviceDataset) -> None:
    """Raise `BadRunInput` unless the dataset has as many classes as the network ends in."""
    found = dataset.info.num_classes
    if found != spec.num_classes:
        raise BadRunInput(
            f"dataset {spec.training.dataset!r} has {found} classes but the network ends in "
            f"{spec.num_classes}: set the number of classes to {found}"
        )


def make_run_folder(path: Path) -> None:
    """Make the folder a run will write (before its data loads, so a folder that cannot be
    made fails at once); `RunFailed` when it cannot be made."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFailed(f"cannot make the run folder {path}: {os_reason(error, path)}") from None


def write_run_folder(folder: RunFolder, spec: NetworkSpec, settings: RunSettings) -> None:
    """Write the folder's project and settings; `RunFailed` when the folder cannot be written."""
    try:
        folder.create(spec, settings)
    except OSError as error:
        raise folder_write_failed(folder, error) from None


def folder_write_failed(folder: RunFolder, error: OSError) -> RunFailed:
    """The run folder could not be written, in words."""
    return RunFailed(f"cannot write the run folder {folder}: {os_reason(error, folder.path)}")


def os_reason(error: OSError, path: Path) -> str:
    """The error in words, with the file it names when that is not `path` itself."""
    named = error.filename is not None and Path(error.filename) != path
    return f"{error.strerror or error}{f' ({error.filename})' if named else ''}"


def resume_checkpoint(folder: RunFolder) -> Checkpoint:
    """The checkpoint to continue the run in `folder` from, checked against the folder's
    network; `BadRunInput` saying why it cannot be used."""
    from explorer.core.training import CheckpointError

    try:
        return folder.checkpoint_for_resume()
    except CheckpointError as error:
        raise BadRunInput(str(error)) from None


def absolute_data_dir(data_dir: str | os.PathLike[str] | None) -> str | None:
    """The data folder as a run folder records it: absolute, so `train --resume` finds the
    data from wherever it is typed (None: the default folder)."""
    return str(Path(data_dir).resolve()) if data_dir is not None else None
