"""Writing files so that a crash leaves either the old file or the new one, never half.

Torch-free (project files are saved before torch loads); callers that save tensors pass a
writer such as `lambda target: torch.save(state, target)`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def write_file_atomic(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Call `write(temporary)` beside `path`, flush it to disk, then rename it over `path`.

    The temporary keeps the destination's suffix (some writers look at it). The writer
    creates the file itself, so it gets the user's usual permissions (umask), unlike
    `tempfile.mkstemp`'s owner-only files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        write(temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace `path` with UTF-8 `text`, atomically (see write_file_atomic)."""
    write_file_atomic(path, lambda target: target.write_text(text, encoding="utf-8"))
