"""Where the application keeps its settings and recovery files.

Tests and benchmarks point everything at a scratch folder with `use_location` (or the
CNN_EXPLORER_CONFIG_DIR environment variable) so they never touch a user's own settings.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

ORGANIZATION = "CNN Explorer"
APPLICATION = "CNN Explorer"
CONFIG_DIR_ENV = "CNN_EXPLORER_CONFIG_DIR"

_location: Path | None = None


def use_location(folder: str | os.PathLike[str] | None) -> None:
    """Keep settings and recovery files under `folder` (None: the user's usual places)."""
    global _location
    _location = Path(folder) if folder is not None else None


def _override() -> Path | None:
    if _location is not None:
        return _location
    value = os.environ.get(CONFIG_DIR_ENV)
    return Path(value) if value else None


def app_settings() -> QSettings:
    """The application's QSettings (an INI file under the override folder when set)."""
    folder = _override()
    if folder is not None:
        return QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def data_dir() -> Path:
    """A per-user folder for runs and recovery files, created on demand: one folder named
    for the application in the platform's data location (e.g. ~/.local/share/CNN Explorer)."""
    folder = _override()
    if folder is not None:
        path = folder / "data"
    else:
        # Not AppDataLocation: it appends both the organisation and the application name,
        # which are the same here ("CNN Explorer/CNN Explorer").
        location = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.GenericDataLocation
        )
        path = Path(location) / APPLICATION if location else Path.home() / ".cnn-explorer"
        _move_from_doubled_folder(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _move_from_doubled_folder(path: Path) -> None:
    # Earlier versions kept everything one level deeper, in "CNN Explorer/CNN Explorer".
    old = path / APPLICATION
    if not old.is_dir():
        return
    for entry in old.iterdir():
        target = path / entry.name
        if not target.exists():
            entry.rename(target)
    with contextlib.suppress(OSError):
        old.rmdir()  # left in place when something could not move


def settings_list(value: object) -> list[str]:
    """A string list read back from QSettings (INI files return one item as a string)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return []
