"""What the user calls a run: a display name and tags, kept in the run folder's own
`labels.json` so they travel with the folder. The run's other files are never rewritten:
renaming a run changes only this file (the folder keeps its time-stamped name).

Reading never raises (a damaged labels file reads as no labels, with a warning); writing is
atomic and raises OSError, and bad text raises LabelError saying why.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from explorer.core.files import write_text_atomic
from explorer.core.names import control_character

log = logging.getLogger(__name__)

LABELS_FILE = "labels.json"
LABELS_FORMAT = "cnn-explorer-run-labels"
#: the longest display name or tag
MAX_LABEL = 200
_MAX_BYTES = 1 << 16


class LabelError(ValueError):
    """A name or tag that cannot be stored; the message says why."""


@dataclass(frozen=True)
class RunLabels:
    """A run's display name (None: its folder's name) and tags, in the order given."""

    name: str | None = None
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"format": LABELS_FORMAT, "version": 1, "name": self.name, "tags": list(self.tags)}


def check_label(text: str, what: str) -> str:
    """`text` stripped, when it can be a name or a tag; LabelError otherwise."""
    text = text.strip()
    if not text:
        raise LabelError(f"a run's {what} cannot be empty")
    if len(text) > MAX_LABEL:
        raise LabelError(f"a run's {what} is at most {MAX_LABEL} characters, got {len(text)}")
    char = control_character(text)
    if char:
        raise LabelError(f"a run's {what} cannot contain {char}")
    return text


def parse_tags(text: str) -> tuple[str, ...]:
    """'baseline, lr sweep,,baseline' -> ('baseline', 'lr sweep'): comma separated, blanks
    dropped, each tag once; LabelError for a tag that cannot be one."""
    tags: list[str] = []
    for part in text.split(","):
        if part.strip():
            tag = check_label(part, "tag")
            if tag not in tags:
                tags.append(tag)
    return tuple(tags)


def labels_path(folder: str | os.PathLike[str]) -> Path:
    return Path(folder) / LABELS_FILE


def read_labels(folder: str | os.PathLike[str]) -> RunLabels:
    """The folder's labels; none when it has no labels.json or one that does not read."""
    path = labels_path(folder)
    try:
        with path.open("rb") as stream:
            raw = stream.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return RunLabels()
    except OSError as error:
        log.warning("cannot read %s: %s", path, error.strerror or error)
        return RunLabels()
    try:
        if len(raw) > _MAX_BYTES:
            raise ValueError("too large")
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format") != LABELS_FORMAT:
            raise ValueError("not a run labels file")
        name = data.get("name")
        tags = data.get("tags", [])
        if name is not None and not isinstance(name, str):
            raise ValueError("'name' is not text")
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise ValueError("'tags' is not a list of text")
        return RunLabels(
            None if name is None else check_label(name, "name"),
            parse_tags(",".join(tags)),
        )
    except (ValueError, RecursionError) as error:  # LabelError and JSONDecodeError too
        log.warning("ignoring %s: %s", path, error)
        return RunLabels()


def write_labels(folder: str | os.PathLike[str], labels: RunLabels) -> None:
    """Replace the folder's labels.json atomically (OSError when it cannot be written)."""
    write_text_atomic(labels_path(folder), json.dumps(labels.to_json(), indent=2) + "\n")
