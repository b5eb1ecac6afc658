"""The entry points the trainer, the GUI and the CLI call: load, download, and ask status.

`load_dataset` finds a dataset on disk (download cache, torchvision or Keras layouts),
downloads it when missing, validates what it reads, fits it to the input size and channel
count asked for, and returns it resident on the training device.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import torch

from explorer.core.data.adapt import adapt_images
from explorer.core.data.archive import extract_folder
from explorer.core.data.catalogue import (
    DatasetEntry,
    RemoteSource,
    find_entry,
    folder_path,
)
from explorer.core.data.chosen import folder_status, load_chosen_folder
from explorer.core.data.detect import inspect_folder
from explorer.core.data.download import (
    DEFAULT_RETRY,
    DownloadProgress,
    ProgressCallback,
    RetryPolicy,
    download_file,
    file_md5,
)
from explorer.core.data.errors import DatasetError, DownloadCancelled
from explorer.core.data.formats import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    read_dataset_files,
    read_idx_magic,
)
from explorer.core.data.locations import (
    LocalCopy,
    cache_folder,
    find_local_copy,
    resolve_data_dir,
)
from explorer.core.data.repair import (
    describe,
    discard_replaced,
    find_damage,
    quarantine,
    quarantined_in,
)
from explorer.core.data.resident import DatasetInfo, DeviceDataset
from explorer.core.data.splits import ImageSplits
from explorer.core.data.status import DatasetStatus
from explorer.core.data.synthetic_shapes import make_shapes

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
InputSize = int | tuple[int, int]

_LAYOUT_WORDS = {
    "cache": "cached",
    "folder": "found",
    "torchvision": "found (torchvision layout)",
    "keras": "found (Keras cache)",
}


def dataset_status(name: str, data_dir: PathLike | None = None) -> DatasetStatus:
    """Where `name` would be loaded from, checking file presence and headers (fast: it does
    not decompress whole files). Raises UnknownDatasetError for names not in the catalogue."""
    entry = find_entry(name)
    if entry.kind == "shapes":
        return DatasetStatus(entry.name, True, "built-in", None, "built in, generated on demand")
    if entry.kind == "folder":
        return folder_status(name, inspect_folder(folder_path(name)))
    root = resolve_data_dir(data_dir)
    size = entry.source.total_size if entry.source else None
    local = find_local_copy(entry, root)
    if local is None:
        target = cache_folder(entry, root)
        aside = quarantined_in(target)
        if aside:
            names = ", ".join(p.name for p in aside)
            message = f"incomplete: {names} in {target} was damaged and moved aside; download "
            message += "to replace what is missing"
            return DatasetStatus(entry.name, False, "damaged", target, message, size)
        size_text = f" ({size / 1e6:.0f} MB)" if size else ""
        message = f"not downloaded{size_text}; downloads go to {target}"
        return DatasetStatus(entry.name, False, "missing", target, message, size)
    problem = _header_problem(local)
    if problem:
        return DatasetStatus(entry.name, False, "damaged", local.folder, problem, size)
    where = local.files[0] if local.files[0].suffix == ".npz" else local.folder
    message = f"{_LAYOUT_WORDS[local.layout]}: {where}"
    return DatasetStatus(entry.name, True, local.layout, where, message, size)


def download_dataset(
    name: str,
    *,
    data_dir: PathLike | None = None,
    progress: ProgressCallback | None = None,
    force: bool = False,
    remote: RemoteSource | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    cancel: threading.Event | None = None,
) -> Path:
    """Make sure `name` is on disk and return the folder it loads from.

    If a copy is already found (in any layout) nothing is downloaded, unless `force`; then
    the download cache is brought up to date: files whose MD5 matches are kept, the others
    downloaded again. `remote` replaces the catalogue's mirrors and checksums (a private
    mirror, or a test server). Raises DownloadError/ChecksumError (subclasses of
    DatasetError) when the files cannot be fetched, DatasetError for datasets that are not
    downloaded (shapes, image folders).
    """
    entry = find_entry(name)
    source = remote or entry.source
    if source is None:
        raise DatasetError(f"{entry.name} is not downloaded: it is built in or read from disk")
    root = resolve_data_dir(data_dir)
    if not force:
        local = find_local_copy(entry, root)
        if local is not None and not _header_problem(local):
            log.info("%s is already available in %s", entry.name, local.folder)
            return local.folder
    return _download_into_cache(entry, source, root, progress, retry, cancel)


def _download_into_cache(
    entry: DatasetEntry,
    source: RemoteSource,
    root: Path,
    progress: ProgressCallback | None,
    retry: RetryPolicy,
    cancel: threading.Event | None,
    *,
    missing_only: bool = False,
) -> Path:
    """Fetch `source` into the cache folder of `entry`. With `missing_only`, IDX files
    whose name (raw or .gz) is already there are not fetched; an archive is always fetched,
    and only what the folder lacks is taken from it."""
    folder = cache_folder(entry, root)
    if source.archive_folder is None:
        wanted = source.files
        if missing_only:
            present = {p.name.removesuffix(".gz") for p in folder.glob("*") if p.is_file()}
            wanted = tuple(f for f in source.files if f.name.removesuffix(".gz") not in present)
        _download_files(RemoteSource(source.mirrors, wanted), folder, progress, retry, cancel)
        discard_replaced(folder)
        return folder
    archive_dir = folder.parent
    (archive,) = _download_files(source, archive_dir, progress, retry, cancel)
    extracted = extract_folder(archive, source.archive_folder, archive_dir)
    archive.unlink()  # the extracted folder is what loads; the archive only costs disk
    discard_replaced(extracted)
    return extracted


def load_dataset(
    name: str,
    *,
    data_dir: PathLike | None = None,
    device: torch.device | str = "cpu",
    validation_fraction: float = 0.0,
    seed: int = 0,
    download: bool = True,
    progress: ProgressCallback | None = None,
    input_size: InputSize | None = None,
    grayscale: bool | None = None,
    remote: RemoteSource | None = None,
    cancel: threading.Event | None = None,
) -> DeviceDataset:
    """Load dataset `name` onto `device` as uint8 images (N, C, H, W).

    `input_size` (pixels, int for square or (H, W)) and `grayscale` (True: 1 channel, False:
    3) convert the images when given; by default each dataset keeps its own shape (image
    folders: the first image's size, at most 64×64). `seed` fixes the validation split, the
    image-folder train/test split and the shapes images. With `download`, a missing dataset
    is fetched (reporting to `progress`), and a damaged file in the download cache is
    repaired: it is moved aside as `<name>.damaged-<time>` (deleted only once a verified
    replacement is in its place) and only the missing files are downloaded. `remote` replaces the
    catalogue's mirrors and checksums, and `cancel` stops a download, as in
    `download_dataset`. Raises DatasetError (a user-facing message) for anything about the
    data or its arguments; an unusable `device` is torch's error.
    """
    entry = find_entry(name)
    size = _size_pair(input_size)
    if not 0.0 <= validation_fraction < 1.0:
        raise DatasetError(f"validation fraction must be in [0, 1), got {validation_fraction}")
    if entry.kind == "shapes":
        splits = _make_shapes(size, grayscale, seed)
        origin = "built-in shapes"
    elif entry.kind == "folder":
        path = folder_path(name)
        splits, origin = load_chosen_folder(path, size, grayscale, seed)
    else:
        splits, origin = _load_files(
            entry, resolve_data_dir(data_dir), download, progress, remote, cancel
        )
    splits = _adapt(splits, size, grayscale)
    info = DatasetInfo(
        name=name if entry.kind == "folder" else entry.name,
        input_shape=splits.input_shape,
        class_names=splits.class_names,
    )
    log.info("loaded %s from %s: %s", info.name, origin, info.input_shape)
    return DeviceDataset(
        info,
        splits.train_images,
        splits.train_labels,
        splits.test_images,
        splits.test_labels,
        validation_fraction=validation_fraction,
        seed=seed,
        device=device,
        source=origin,
        warnings=splits.warnings,
    )


def _load_files(
    entry: DatasetEntry,
    root: Path,
    download: bool,
    progress: ProgressCallback | None,
    remote: RemoteSource | None,
    cancel: threading.Event | None,
) -> tuple[ImageSplits, str]:
    local = find_local_copy(entry, root)
    if local is None:
        if not download:
            raise DatasetError(
                f"{entry.name} is not on this computer (looked in {root}, and in the "
                f"torchvision and Keras layouts); download it with "
                f"`python main.py datasets download {entry.name}`, or use 'shapes'"
            )
        download_dataset(entry.name, data_dir=root, progress=progress, remote=remote, cancel=cancel)
        local = _found_after_download(entry, root)
    try:
        return _read(entry, local), f"{local.layout} {local.folder}"
    except DatasetError as problem:
        if not (local.managed and download):
            raise
        return _repair(entry, local, root, problem, progress, remote, cancel)


def _repair(
    entry: DatasetEntry,
    local: LocalCopy,
    root: Path,
    problem: DatasetError,
    progress: ProgressCallback | None,
    remote: RemoteSource | None,
    cancel: threading.Event | None,
) -> tuple[ImageSplits, str]:
    """Quarantine the damaged files of a cache copy, download what is then missing, and
    read it again; the quarantined files go once verified replacements are in place."""
    damaged = find_damage(entry, local)
    if not damaged:
        raise problem  # between files (e.g. counts that differ): no one file is to blame
    moved = [quarantine(damage) for damage in damaged]
    what = describe(moved)
    source = remote or entry.source
    assert source is not None
    try:
        _download_into_cache(
            entry, source, root, progress, DEFAULT_RETRY, cancel, missing_only=True
        )
    except DownloadCancelled:
        raise
    except DatasetError as error:
        raise DatasetError(
            f"{what} Nothing else in {local.folder} was changed. A replacement could not be "
            f"downloaded: {error}"
        ) from error
    local = _found_after_download(entry, root)
    try:
        splits = _read(entry, local)
    except DatasetError as error:
        raise DatasetError(f"{what} The repaired copy does not load either: {error}") from error
    log.warning("%s Replaced it with a verified download.", what)
    return splits, f"{local.layout} {local.folder}"


def _read(entry: DatasetEntry, local: LocalCopy) -> ImageSplits:
    return read_dataset_files(entry, local.files)


def _found_after_download(entry: DatasetEntry, root: Path) -> LocalCopy:
    local = find_local_copy(entry, root)
    if local is None:
        raise DatasetError(f"{entry.name}: downloaded, but the files are not in {root}")
    return local


def _download_files(
    source: RemoteSource,
    folder: Path,
    progress: ProgressCallback | None,
    retry: RetryPolicy,
    cancel: threading.Event | None,
) -> list[Path]:
    paths = []
    for index, remote_file in enumerate(source.files):
        dest = folder / remote_file.name
        if dest.is_file() and file_md5(dest) == remote_file.md5:
            if progress is not None:
                size = dest.stat().st_size
                progress(DownloadProgress(dest.name, size, size, index, len(source.files)))
        else:
            if dest.is_file():
                log.warning("%s does not match its checksum; downloading it again", dest)
            download_file(
                [mirror + remote_file.name for mirror in source.mirrors],
                dest,
                remote_file.md5,
                progress=progress,
                retry=retry,
                size_hint=remote_file.size,
                file_index=index,
                file_count=len(source.files),
                cancel=cancel,
            )
        paths.append(dest)
    return paths


def _header_problem(local: LocalCopy) -> str | None:
    """A one-line description of a wrong IDX header, or None (other formats: presence only)."""
    if len(local.files) != 4:
        return None
    expected = (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC) * 2
    for path, magic in zip(local.files, expected, strict=True):
        try:
            found = read_idx_magic(path)
        except DatasetError as error:
            return str(error)
        if found != magic:
            return f"{path} has magic number 0x{found:08x}, expected 0x{magic:08x}"
    return None


def _make_shapes(size: tuple[int, int] | None, grayscale: bool | None, seed: int) -> ImageSplits:
    side = max(size) if size else 28
    if side < 8:
        raise DatasetError(f"shapes need an input size of at least 8 pixels, got {side}")
    return make_shapes(image_size=side, seed=seed, rgb=grayscale is False)


def _adapt(
    splits: ImageSplits, size: tuple[int, int] | None, grayscale: bool | None
) -> ImageSplits:
    channels, height, width = splits.input_shape
    target_channels = channels if grayscale is None else (1 if grayscale else 3)
    target_size = size or (height, width)
    if (target_channels, *target_size) == (channels, height, width):
        return splits
    return ImageSplits(
        adapt_images(splits.train_images, target_channels, target_size),
        splits.train_labels,
        adapt_images(splits.test_images, target_channels, target_size),
        splits.test_labels,
        splits.class_names,
        splits.warnings,
    )


def _size_pair(input_size: InputSize | None) -> tuple[int, int] | None:
    if input_size is None:
        return None
    pair = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise DatasetError(
            f"input size must be a positive int or (height, width), got {input_size!r}"
        )
    return int(pair[0]), int(pair[1])
