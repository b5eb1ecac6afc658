"""What a folder the user points at holds: IDX files (MNIST, Fashion-MNIST or others),
Keras's mnist.npz, CIFAR-10's python batches, or image class folders.

Found by file names, headers and counts only: nothing is decoded, so a folder of 100,000
images is inspected in the time it takes to list it. Whatever the folder is called, and
whether the files sit in it or in a torchvision/Keras sub-folder (`MNIST/raw`,
`cifar-10-batches-py`, ...), the result says what was found or why it cannot be used.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from explorer.core.data.catalogue import FASHION_MNIST, MNIST
from explorer.core.data.errors import DatasetError
from explorer.core.data.folder import IMAGE_SUFFIXES
from explorer.core.data.formats import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    npz_array_shapes,
    read_idx_header,
)
from explorer.core.data.locations import (
    CIFAR_FOLDER,
    CIFAR_TEST_FILE,
    CIFAR_TRAIN_FILES,
    identify_idx,
    idx_files_in,
)
from explorer.core.dataset_split import Split

_TITLES = {MNIST.name: "MNIST", FASHION_MNIST.name: "Fashion-MNIST"}
IDX_PLACES = ("", "raw", "MNIST/raw", "FashionMNIST/raw", "mnist", "fashion-mnist", "fashion")
CIFAR_PLACES = ("", CIFAR_FOLDER)
CLASSES_LISTED = 6


@dataclass(frozen=True)
class FolderContents:
    """What `path` holds. `layout` is "idx", "keras", "cifar", "classes" or "none";
    `files_in` is where the data files are (`path` or a sub-folder of it); `dataset` names
    the catalogue entry it is a copy of (mnist, fashion-mnist, cifar10), if any;
    `summary` is one line for the user and `problem` says why it cannot be used."""

    path: Path
    layout: str
    summary: str
    problem: str | None = None
    files_in: Path | None = None
    dataset: str | None = None
    files: tuple[Path, ...] = ()

    @property
    def usable(self) -> bool:
        return self.problem is None


def inspect_folder(path: Path) -> FolderContents:
    """Detect and validate the data in `path` (see the module docstring). Never raises for
    what the folder holds: an unusable folder comes back with `problem` set."""
    if not path.is_dir():
        return FolderContents(path, "none", f"{path} is not a folder", f"{path} is not a folder")
    for place in IDX_PLACES:
        files = idx_files_in(path / place)
        if files is not None:
            return _idx_contents(path, path / place, files)
    npz = path / "mnist.npz"
    if npz.is_file():
        return _npz_contents(path, npz)
    for place in CIFAR_PLACES:
        if (path / place / CIFAR_TEST_FILE).is_file() or (path / place / "data_batch_1").is_file():
            return _cifar_contents(path, path / place)
    return _class_contents(path)


def _where(path: Path, files_in: Path) -> str:
    return "" if files_in == path else f" (in {files_in.relative_to(path).as_posix()}/)"


def _idx_contents(path: Path, files_in: Path, files: tuple[Path, ...]) -> FolderContents:
    where = _where(path, files_in)
    try:
        shapes = [
            read_idx_header(f, IDX_IMAGES_MAGIC if i % 2 == 0 else IDX_LABELS_MAGIC)[0]
            for i, f in enumerate(files)
        ]
    except DatasetError as error:
        return FolderContents(path, "idx", f"IDX files{where}", str(error), files_in)
    train_images, train_labels, test_images, test_labels = shapes
    dataset = identify_idx(files)
    title = f"{_TITLES[dataset]} IDX" if dataset else "IDX files"
    size = "×".join(map(str, train_images[1:]))
    summary = f"{title}: {train_images[0]:,} train / {test_images[0]:,} test, {size}{where}"
    problem = None
    for images, labels, split in ((train_images, train_labels, 0), (test_images, test_labels, 2)):
        if images[0] != labels[0]:
            labels_file = files[split + 1].name
            problem = (
                f"{files[split]}: {images[0]:,} images but {labels[0]:,} labels in {labels_file}"
            )
    if problem is None and train_images[1:] != test_images[1:]:
        test_size = "×".join(map(str, test_images[1:]))
        problem = f"{files_in}: train images are {size} but test images {test_size}"
    return FolderContents(path, "idx", summary, problem, files_in, dataset, files)


def _npz_contents(path: Path, npz: Path) -> FolderContents:
    try:
        shapes = npz_array_shapes(npz, ("x_train", "x_test"))
        x_train, x_test = shapes["x_train"][0], shapes["x_test"][0]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        return FolderContents(path, "keras", "Keras mnist.npz", f"cannot read {npz}: {error}")
    size = "×".join(map(str, x_train[1:]))
    summary = f"Keras mnist.npz: {x_train[0]:,} train / {x_test[0]:,} test, {size}"
    return FolderContents(path, "keras", summary, None, path, MNIST.name, (npz,))


def _cifar_contents(path: Path, files_in: Path) -> FolderContents:
    names = (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)
    missing = [name for name in names if not (files_in / name).is_file()]
    where = _where(path, files_in)
    if missing:
        problem = f"{files_in} lacks {', '.join(missing)} of the CIFAR-10 python batches"
        return FolderContents(path, "cifar", f"CIFAR-10 batches{where}", problem, files_in)
    summary = f"CIFAR-10 python batches: 5 train files + test_batch, 32×32 RGB{where}"
    files = tuple(files_in / name for name in names)
    return FolderContents(path, "cifar", summary, None, files_in, "cifar10", files)


def _class_contents(path: Path) -> FolderContents:
    train, test = path / Split.TRAIN, path / Split.TEST
    if train.is_dir() and test.is_dir():
        train_counts, test_counts = count_images(train), count_images(test)
        classes = sorted(name for name, count in train_counts.items() if count)
        listed = ", ".join(
            f"{name} {train_counts[name]}/{test_counts.get(name, 0)}"
            for name in classes[:CLASSES_LISTED]
        )
        more = ", …" if len(classes) > CLASSES_LISTED else ""
        summary = f"train/ and test/ with {len(classes)} classes (train/test): {listed}{more}"
        problem = _classes_problem(train, classes, listed)
        unknown = sorted(n for n, c in test_counts.items() if c and n not in classes)
        if problem is None and unknown:
            problem = f"{test} has classes that the training folder lacks: {', '.join(unknown)}"
        if problem is None and not any(test_counts.values()):
            problem = f"{test} has no PNG/JPEG/BMP files in class sub-folders"
        return FolderContents(path, "classes", summary, problem, path)
    counts = count_images(path)
    classes = sorted(name for name, count in counts.items() if count)
    if not classes:
        summary = f"no IDX, CIFAR-10, Keras or image class folders in {path}"
        return FolderContents(path, "none", summary, summary)
    listed = ", ".join(f"{name} {counts[name]}" for name in classes[:CLASSES_LISTED])
    more = ", …" if len(classes) > CLASSES_LISTED else ""
    summary = f"{len(classes)} class folder{'s' * (len(classes) != 1)}: {listed}{more}"
    problem = _classes_problem(path, classes, listed)
    if problem is None and all(counts[name] < 2 for name in classes):
        problem = (
            f"{path} is too small to split into train and test: every class has only one "
            f"image ({listed}{more}); give a class at least 2 images, or use train/ and "
            "test/ sub-folders"
        )
    return FolderContents(path, "classes", summary, problem, path)


def _classes_problem(folder: Path, classes: list[str], listed: str) -> str | None:
    if len(classes) < 2:
        return (
            f"{folder} has {len(classes)} class folder(s) with images ({listed}); it needs "
            "at least 2, one sub-folder per class holding PNG, JPEG or BMP files"
        )
    return None


def count_images(folder: Path) -> dict[str, int]:
    """PNG/JPEG/BMP files (by suffix, anywhere below) in each visible sub-folder of
    `folder`, by sub-folder name; nothing is opened."""
    counts = {}
    try:
        subs = sorted(
            (e for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")),
            key=lambda entry: entry.name,
        )
    except OSError:
        return {}
    for sub in subs:
        total = 0
        for _, _, names in os.walk(sub.path):
            total += sum(1 for n in names if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES)
        counts[sub.name] = total
    return counts
