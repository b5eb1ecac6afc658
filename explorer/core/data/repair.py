"""Repairing the download cache without losing anything that cannot be replaced.

A file that fails to read is not deleted: it is renamed aside (quarantined) as
`<name>.damaged-<time>`, so the user keeps it and the message can name it. Only the files
that are missing then are downloaded; every other file in the folder (good batches, the
user's own files) is left as it is. A quarantined file is deleted only once a replacement
whose checksum was verified is in its place.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from explorer.core.data.catalogue import DatasetEntry
from explorer.core.data.errors import DatasetError
from explorer.core.data.formats import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    check_images,
    check_labels,
    read_cifar_batch,
    read_idx,
)
from explorer.core.data.locations import LocalCopy

log = logging.getLogger(__name__)

QUARANTINE_MARK = ".damaged-"


@dataclass(frozen=True)
class Damage:
    """One file that does not read: where it was, why, and where it was moved to."""

    path: Path
    reason: str
    moved_to: Path | None = None


def find_damage(entry: DatasetEntry, local: LocalCopy) -> list[Damage]:
    """Every file of `local` that fails to read on its own, with the reader's message.

    Reads each file in full (the cost of loading it), so call it only once loading failed.
    Problems between files (image and label counts that differ) are not any one file's
    damage and are not listed.
    """
    assert entry.input_shape is not None
    damaged = []
    if entry.kind == "cifar":
        for path in local.files:
            try:
                read_cifar_batch(path, len(entry.class_names))
            except DatasetError as error:
                damaged.append(Damage(path, str(error)))
        return damaged
    if len(local.files) != 4:
        return damaged  # Keras's mnist.npz is never in the download cache
    for index, path in enumerate(local.files):
        try:
            if index % 2 == 0:
                images = read_idx(path, IDX_IMAGES_MAGIC)
                check_images(path, images, entry.input_shape[1:])
            else:
                labels = read_idx(path, IDX_LABELS_MAGIC)
                check_labels(path, labels, len(entry.class_names))
        except DatasetError as error:
            damaged.append(Damage(path, str(error)))
    return damaged


def quarantine(damage: Damage) -> Damage:
    """Rename the damaged file to `<name>.damaged-<YYYYmmdd-HHMMSS>` beside it (a number is
    added if that name is taken). Raises DatasetError if it cannot be renamed."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = damage.path.with_name(f"{damage.path.name}{QUARANTINE_MARK}{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = damage.path.with_name(f"{damage.path.name}{QUARANTINE_MARK}{stamp}-{number}")
    try:
        damage.path.rename(target)
    except OSError as error:
        raise DatasetError(
            f"{damage.path} is damaged ({damage.reason}) and could not be moved aside: {error}"
        ) from error
    log.warning("%s is damaged (%s); moved it aside as %s", damage.path, damage.reason, target)
    return Damage(damage.path, damage.reason, target)


def describe(damaged: list[Damage]) -> str:
    """One sentence per damaged file, naming where it went (the readers' reasons name the
    file already)."""
    return " ".join(
        f"{d.reason}; it was moved aside as {d.moved_to.name}."
        if d.moved_to is not None
        else f"{d.reason}."
        for d in damaged
    )


def discard_replaced(folder: Path) -> list[Path]:
    """Delete the files moved aside in `folder` whose replacement is now there (`name`, or
    `name.gz` for an uncompressed IDX file): call only right after a verified download.
    Returns what was deleted."""
    deleted = []
    for aside in quarantined_in(folder):
        original = aside.name.split(QUARANTINE_MARK)[0]
        replacements = (folder / original, folder / f"{original.removesuffix('.gz')}.gz")
        if any(r.is_file() for r in replacements):
            try:
                aside.unlink()
            except OSError as error:  # it stays aside; the data itself is fine
                log.warning("could not remove %s: %s", aside, error)
            else:
                log.info("%s was replaced by a verified download; removed %s", original, aside)
                deleted.append(aside)
    return deleted


def quarantined_in(folder: Path) -> list[Path]:
    """The files moved aside in `folder`, sorted by name."""
    try:
        return sorted(p for p in folder.iterdir() if QUARANTINE_MARK in p.name and p.is_file())
    except OSError:
        return []
