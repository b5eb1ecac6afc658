"""A folder the user chose ("folder:PATH"): whatever `inspect_folder` recognises there is
read in place (IDX, Keras mnist.npz, CIFAR-10 batches, image class folders); files outside
the download cache are never repaired or moved."""

from __future__ import annotations

from pathlib import Path

from explorer.core.data.catalogue import DatasetEntry, find_entry
from explorer.core.data.detect import FolderContents, inspect_folder
from explorer.core.data.errors import DatasetError
from explorer.core.data.folder import load_image_folder
from explorer.core.data.formats import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    read_dataset_files,
    read_idx,
    read_idx_header,
)
from explorer.core.data.splits import ImageSplits
from explorer.core.data.status import DatasetStatus


def folder_status(name: str, contents: FolderContents) -> DatasetStatus:
    """The status of "folder:PATH" from what `inspect_folder` found there."""
    if contents.problem is not None:  # each problem names the folder or file it is about
        return DatasetStatus(name, False, "unusable", contents.path, contents.problem)
    source = "image folder" if contents.layout == "classes" else "folder"
    return DatasetStatus(name, True, source, contents.path, contents.summary)


def load_chosen_folder(
    path: Path, size: tuple[int, int] | None, grayscale: bool | None, seed: int
) -> tuple[ImageSplits, str]:
    """A folder the user chose: IDX, Keras or CIFAR-10 files (read in place, never
    repaired) or image class folders, as `inspect_folder` recognises them."""
    contents = inspect_folder(path)
    if contents.layout in ("classes", "none"):
        splits = load_image_folder(path, image_size=size, grayscale=grayscale, seed=seed)
        return splits, f"image folder {path}"
    if contents.problem is not None:
        raise DatasetError(f"{path}: {contents.problem}")
    entry = find_entry(contents.dataset) if contents.dataset else _own_idx_entry(contents.files)
    return read_dataset_files(entry, contents.files), f"{contents.summary} in {path}"


def _own_idx_entry(files: tuple[Path, ...]) -> DatasetEntry:
    """An entry for IDX files that are neither MNIST nor Fashion-MNIST: classes are the
    label values, images the size the header declares."""
    shape, _ = read_idx_header(files[0], IDX_IMAGES_MAGIC)
    labels = read_idx(files[1], IDX_LABELS_MAGIC)
    classes = tuple(str(i) for i in range(max(int(labels.max(initial=0)) + 1, 2)))
    return DatasetEntry(
        name="idx",
        title="IDX files",
        kind="idx",
        input_shape=(1, shape[1], shape[2]),
        class_names=classes,
        train_size=shape[0],
        test_size=None,
        description="",
    )
