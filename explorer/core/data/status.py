"""DatasetStatus: whether a dataset loads without downloading, from where, in words."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetStatus:
    """Whether a dataset can be loaded without downloading, and from where.

    `source` is "cache", "folder", "torchvision" or "keras" for files found on disk,
    "built-in" for shapes, "image folder" for a folder:PATH of class folders ("folder" for
    one of IDX, Keras or CIFAR-10 files), "missing" or "damaged" for a catalogue dataset,
    "unusable" for a folder:PATH that cannot be trained on (`message` says why).
    `location` is the folder (or Keras's mnist.npz) it loads from; when missing, the folder
    a download would go to. `message` is one line for the user.
    """

    name: str
    available: bool
    source: str
    location: Path | None
    message: str
    download_bytes: int | None = None

    @property
    def label(self) -> str:
        """The state in a word or two, for a list entry beside the dataset's title
        ("cached", "found", "not downloaded", ...); `message` says the same at length."""
        return _LABELS.get(self.source, "found" if self.available else self.source)


_LABELS = {
    "cache": "cached",
    "built-in": "built in, offline",
    "image folder": "image folder",
    "missing": "not downloaded",
    "damaged": "damaged",
    "unusable": "unusable",
}
