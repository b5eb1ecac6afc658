"""Injected file-system faults shared by the tests: a disk that fills up.

Tests run as root, where permission bits stop nothing, and a real full disk needs a mount;
so the files that `explorer.core.files` opens for writing are made to fail as a full disk
does, after a given number of bytes, through the same `write` calls the real file gets.
"""

from __future__ import annotations

import builtins
import errno
import os
from typing import Any

import pytest

from explorer.core import files


class FillingFile:
    """A binary file that accepts `room` bytes and then fails with ENOSPC."""

    def __init__(self, real: Any, room: int) -> None:
        self._real = real
        self._room = room

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if size > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= size
        return int(self._real.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __enter__(self) -> FillingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._real.close()


def disk_with_room(monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    """Files that explorer.core.files opens for writing fill up after `room` bytes."""

    def opener(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        real = builtins.open(file, mode, *args, **kwargs)  # noqa: SIM115 (closed by FillingFile)
        return FillingFile(real, room) if "w" in mode else real

    monkeypatch.setattr(files, "open", opener, raising=False)
