"""Image-folder datasets: one sub-folder per class of PNG, JPEG or BMP files.

If the folder has `train/` and `test/` sub-folders, each holds the class folders of its
split; otherwise each class is split into train and test by a seeded shuffle. Images are
decoded with Pillow, turned upright by their EXIF orientation, converted to grayscale or
RGB and resized to one size. Files that cannot be decoded are skipped and reported.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.core.data.errors import DatasetError
from explorer.core.data.memory import check_fits
from explorer.core.data.splits import ImageSplits
from explorer.core.dataset_split import Split
from explorer.core.images import prepare_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp"})
TEST_FRACTION = 0.2
MAX_DEFAULT_SIDE = 64  # default size: the first image's, if no side is larger than this
NAMES_REPORTED = 5
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})

Files = list[tuple[Path, int]]


def load_image_folder(
    root: Path,
    *,
    image_size: tuple[int, int] | None = None,
    grayscale: bool | None = None,
    seed: int = 0,
    test_fraction: float = TEST_FRACTION,
) -> ImageSplits:
    """Read the image folder at `root` into uint8 splits (N, C, H, W).

    `image_size` is (H, W); by default the first readable image's size, or 64×64 if it is
    larger than that. `grayscale` defaults to whether the first image is grayscale. Class
    names are the sub-folder names in sorted order. Raises DatasetError if `root` holds no
    usable class folders or a split ends up empty; unreadable files only add a warning.
    """
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist or is not a folder")
    train_dir, test_dir = root / Split.TRAIN, root / Split.TEST
    if train_dir.is_dir() and test_dir.is_dir():
        class_names, train_files = _scan(train_dir, None)
        _, test_files = _scan(test_dir, class_names)
        if not test_files:
            raise DatasetError(f"{test_dir} has no PNG/JPEG/BMP files in class sub-folders")
    else:
        class_names, files = _scan(root, None)
        train_files, test_files = _split(files, len(class_names), seed, test_fraction)
        if not test_files:
            raise DatasetError(_too_small(root, class_names, files))

    skipped: list[str] = []
    with warnings.catch_warnings():
        # Pillow warns about odd but readable files (palette transparency, huge images);
        # those still load. Once around the loop: the filter list is process-wide.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        first = _first_readable(train_files + test_files)
        if image_size is None:
            image_size = _default_size(first)
        if grayscale is None:
            grayscale = first.mode in _GRAY_MODES
        train_images, train_labels = _decode_all(train_files, image_size, grayscale, skipped)
        test_images, test_labels = _decode_all(test_files, image_size, grayscale, skipped)

    notes: tuple[str, ...] = ()
    if skipped:
        names = ", ".join(skipped[:NAMES_REPORTED]) + (
            ", …" if len(skipped) > NAMES_REPORTED else ""
        )
        notes = (f"skipped {len(skipped)} unreadable image file(s) in {root}: {names}",)
        log.warning("%s", notes[0])
    for split, labels in ((Split.TRAIN, train_labels), (Split.TEST, test_labels)):
        if labels.size == 0:
            raise DatasetError(f"image folder {root}: no readable images for the {split} split")
    return ImageSplits.from_numpy(
        train_images, train_labels, test_images, test_labels, tuple(class_names), notes
    )


def _scan(folder: Path, expected: list[str] | None) -> tuple[list[str], Files]:
    """Class names (sorted sub-folders with images) and (file, label) pairs, sorted."""
    per_class: dict[str, list[Path]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(
            p for p in sub.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if images:
            per_class[sub.name] = images
        else:
            log.info("%s has no PNG/JPEG/BMP files; not a class", sub)
    if expected is None:
        if len(per_class) < 2:
            raise DatasetError(
                f"image folder {folder} has {len(per_class)} class folder(s) with images; "
                "it needs at least 2, one sub-folder per class holding PNG, JPEG or BMP files"
            )
        expected = sorted(per_class)
    unknown = sorted(set(per_class) - set(expected))
    if unknown:
        raise DatasetError(
            f"{folder} has classes that the training folder lacks: {', '.join(unknown)}"
        )
    files = [(path, expected.index(name)) for name, paths in per_class.items() for path in paths]
    return expected, files


def _too_small(root: Path, class_names: list[str], files: Files) -> str:
    counts = [sum(1 for _, label in files if label == i) for i in range(len(class_names))]
    listed = ", ".join(f"{name} {count}" for name, count in zip(class_names, counts, strict=True))
    return (
        f"image folder {root} is too small to split into train and test: every class has "
        f"only one image ({listed}); give a class at least 2 images, or put the images "
        "in train/ and test/ sub-folders of class folders"
    )


def _split(files: Files, num_classes: int, seed: int, fraction: float) -> tuple[Files, Files]:
    """Per class, a seeded shuffle puts `fraction` of the files (at least one if the class
    has two or more) into the test split, so both splits see every class."""
    rng = np.random.default_rng(seed)
    train: Files = []
    test: Files = []
    for label in range(num_classes):
        members = [item for item in files if item[1] == label]
        order = rng.permutation(len(members))
        n_test = max(1, round(len(members) * fraction)) if len(members) >= 2 else 0
        test += [members[i] for i in sorted(order[:n_test])]
        train += [members[i] for i in sorted(order[n_test:])]
    return train, test


def _first_readable(files: Files) -> Image.Image:
    for path, _ in files:
        image = _open(path, None)
        if image is not None:
            return image
    names = ", ".join(p.name for p, _ in files[:NAMES_REPORTED])
    raise DatasetError(f"none of the {len(files)} image files could be read (e.g. {names})")


def _default_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    if max(width, height) > MAX_DEFAULT_SIDE:
        return MAX_DEFAULT_SIDE, MAX_DEFAULT_SIDE
    return height, width


def _decode_all(
    files: Files, size: tuple[int, int], grayscale: bool, skipped: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    height, width = size
    channels = 1 if grayscale else 3
    check_fits(
        len(files) * height * width * channels,
        f"{len(files):,} images at {channels}×{height}×{width}",
        "use a smaller input size",
    )
    images = np.empty((len(files), height, width, channels), np.uint8)
    labels = np.empty(len(files), np.int64)
    kept = 0
    for path, label in files:
        image = _open(path, (size, "L" if grayscale else "RGB"))
        if image is None:
            skipped.append(path.name)
            continue
        images[kept] = np.asarray(image, np.uint8).reshape(height, width, channels)
        labels[kept] = label
        kept += 1
    return images[:kept].transpose(0, 3, 1, 2), labels[:kept]


def _open(path: Path, target: tuple[tuple[int, int], str] | None) -> Image.Image | None:
    """The decoded image, converted and resized to `target` ((H, W), mode) if given; None if
    the file cannot be decoded."""
    try:
        with Image.open(path) as opened:
            if target is None:
                opened.load()
                return opened.copy()
            (height, width), mode = target
            opened.draft(mode, (width, height))  # lets JPEG decode at a reduced scale
            return prepare_image(opened, mode, (width, height))
    except Exception as error:
        # Decoders of untrusted files fail in many ways (OSError, SyntaxError, ValueError,
        # DecompressionBombError...); each means "skip this file", and the caller reports it.
        log.debug("cannot decode %s: %s", path, error)
        return None
