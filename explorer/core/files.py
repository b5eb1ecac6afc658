"""Writing files so that a crash leaves either the old file or the new one, never half.

Torch-free (project files are saved before torch loads); callers that save tensors pass a
writer that takes an open stream, such as `lambda stream: torch.save(state, stream)`.

Every failure of the file system surfaces as an `OSError` naming the user's file (never the
temporary beside it), and `os_error_message` turns one into the line a user reads.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class NotAFileTargetError(OSError):
    """The destination exists and is not a regular file (a folder, device, FIFO or socket).

    Replacing it would destroy something that is not the user's file (as root, `-o
    /dev/full` once replaced the real device node), so writing is refused: bad input.
    """


def check_file_target(path: str | os.PathLike[str]) -> None:
    """Raise NotAFileTargetError when `path` exists and is not a regular file.

    A symbolic link is judged by what it points to. A missing path is fine.
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing there yet; a bad parent fails with its own message when writing
    if stat.S_ISREG(mode):
        return
    raise NotAFileTargetError(f"{path} is {_kind(mode)}, not a regular file: {_advice(mode)}")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def _advice(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "give the name of a file to write inside it"
    return "give the name of a file to write"


def write_file_atomic(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Call `write(temporary)` beside `path`, flush it to disk, then rename it over `path`.

    The temporary keeps the destination's suffix (some writers look at it) and is removed
    on any failure. The writer creates the file itself, so it gets the user's usual
    permissions (umask), unlike `tempfile.mkstemp`'s owner-only files. Raises
    NotAFileTargetError for a destination that is not a regular file, and OSError naming
    `path` when the file system fails (full disk, read-only, permissions).
    """
    path = Path(path)
    check_file_target(path)
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a part of the folder path is a file
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path)) from None
    try:
        write(temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        # Name the user's file, not the temporary (nor nothing, for a failed stream write).
        unnamed = error.filename is None or os.fspath(error.filename) == str(temporary)
        if error.errno is None or not unnamed:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error
    except BaseException:
        _remove(temporary)
        raise


def write_stream_atomic(path: str | os.PathLike[str], dump: Callable[[BinaryIO], object]) -> None:
    """Atomically replace `path` with what `dump(stream)` writes into an open binary stream
    (see write_stream; write_file_atomic for the replacing)."""
    write_file_atomic(path, lambda target: write_stream(target, dump))


def write_stream(path: Path, dump: Callable[[BinaryIO], object]) -> None:
    """Write `path` with what `dump(stream)` writes into an open binary stream, not atomically
    (for callers that commit the file themselves).

    For serialisers with their own C++ file writers (torch.save, torch.jit.save): given a
    path, on a full disk torch.jit.save aborts the whole process and torch.save raises an
    internal RuntimeError. Given a stream, every byte goes through Python's file object, and
    the first OSError it raised is what the caller gets, whatever the serialiser made of it.
    """
    with open(path, "wb") as file:
        stream = _FailureRecordingStream(file)
        try:
            dump(cast(BinaryIO, stream))  # write-only, which is all serialisers need
        except Exception as error:
            if stream.failure is None or stream.failure is error:
                raise
            raise stream.failure from None
        file.flush()
        os.fsync(file.fileno())


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace `path` with UTF-8 `text`, atomically (see write_file_atomic)."""
    write_file_atomic(path, lambda target: target.write_text(text, encoding="utf-8"))


def os_error_message(error: OSError) -> str:
    """One line for the user: the file, what went wrong, and what to do where that is clear."""
    if isinstance(error, NotAFileTargetError) or error.errno is None:
        return str(error)
    reason = _REASONS.get(error.errno, (error.strerror or str(error)).lower())
    names = [str(name) for name in (error.filename, error.filename2) if name is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


_REASONS = {
    errno.ENOSPC: "no space left on the device; free some space or write elsewhere",
    errno.EDQUOT: "disk quota exceeded; free some space or write elsewhere",
    errno.EROFS: "read-only file system; choose a folder you can write to",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENAMETOOLONG: "file name too long",
}


class _FailureRecordingStream(io.RawIOBase):
    """Passes writes to `file` and keeps the first OSError, which C++ writers replace with
    errors of their own ("unexpected pos …") when a Python write fails under them."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__()
        self._file = file
        self.failure: OSError | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        try:
            return self._file.write(data)
        except OSError as error:
            if self.failure is None:
                self.failure = error
            raise

    def flush(self) -> None:
        self._file.flush()


def _remove(temporary: Path) -> None:
    try:
        temporary.unlink(missing_ok=True)
    except OSError:
        # The original failure is what the user must see, not a second one on the way out.
        return
