"""Deleting a run folder without losing it: the folder moves into a `.trash` folder beside
the runs (`runs/.trash/<name>`) and can be moved back. A move is one rename on the same
file system, so it either happens whole or not at all; a failure raises TrashError saying
why and leaves the folder where it was.

The trash is not listed as a run (it has no metrics.jsonl of its own); emptying it is left
to the user, who can see what is in it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from explorer.core.files import os_error_message

TRASH_DIR = ".trash"


class TrashError(OSError):
    """A run that could not be moved to or from the trash; the message says why."""


@dataclass(frozen=True)
class TrashedRun:
    """Where a run was (`original`) and where it is now (`trashed`)."""

    original: Path
    trashed: Path


def trash_folder(run: str | os.PathLike[str]) -> Path:
    """The trash folder for the run folder `run`: `.trash` beside it."""
    return Path(run).parent / TRASH_DIR


def trash_run(run: str | os.PathLike[str]) -> TrashedRun:
    """Move the run folder into the trash beside it (a free name: `<name>`, `<name>-2`, …)."""
    original = Path(run)
    if not original.is_dir():
        raise TrashError(f"{original} is not a run folder (it was moved or deleted)")
    trash = trash_folder(original)
    try:
        trash.mkdir(exist_ok=True)
    except OSError as error:
        raise TrashError(f"cannot make the trash folder: {os_error_message(error)}") from None
    target = trash / original.name
    number = 1
    while target.exists():
        number += 1
        target = trash / f"{original.name}-{number}"
    _move(original, target)
    return TrashedRun(original, target)


def restore_run(trashed: TrashedRun) -> Path:
    """Move a trashed run back where it was; TrashError when that place is taken now."""
    if os.path.lexists(trashed.original):
        raise TrashError(f"cannot restore {trashed.original}: something of that name is there now")
    if not trashed.trashed.is_dir():
        raise TrashError(f"cannot restore {trashed.original}: {trashed.trashed} is gone")
    _move(trashed.trashed, trashed.original)
    return trashed.original


def _move(source: Path, target: Path) -> None:
    try:
        # rename, not a copy: one step that cannot leave half a folder in each place
        os.rename(source, target)
    except OSError as error:
        raise TrashError(f"cannot move the run folder: {os_error_message(error)}") from None
