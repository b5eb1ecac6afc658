"""Atomic writes under faults: full disk, read-only folders, destinations that are not files.

Faults are injected for real where a test running as root can meet them (a FIFO, a folder,
a path under a regular file) and by patching the one system call otherwise (EROFS, ENOSPC).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from explorer.core import files
from explorer.core.files import (
    NotAFileTargetError,
    check_file_target,
    os_error_message,
    write_file_atomic,
    write_stream_atomic,
    write_text_atomic,
)
from tests.faults import disk_with_room


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if ".tmp" in path.name)


def test_a_fifo_destination_is_refused_and_left_alone(tmp_path: Path) -> None:
    fifo = tmp_path / "out.pt"
    os.mkfifo(fifo)
    with pytest.raises(NotAFileTargetError, match=r"out\.pt is a FIFO \(named pipe\)"):
        write_text_atomic(fifo, "text")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert _leftovers(tmp_path) == []


def test_a_folder_destination_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotAFileTargetError, match="is a folder, not a regular file"):
        write_text_atomic(tmp_path, "text")


def test_a_link_to_a_fifo_is_judged_by_the_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "out.pt"
    link.symlink_to(fifo)
    with pytest.raises(NotAFileTargetError, match="FIFO"):
        write_text_atomic(link, "text")
    assert link.is_symlink() and stat.S_ISFIFO(os.stat(link).st_mode)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_device_node_is_refused_by_looking_at_it_only() -> None:
    # check_file_target only stats the path; nothing is opened or written.
    with pytest.raises(NotAFileTargetError, match="/dev/full is a device"):
        check_file_target("/dev/full")


def test_regular_and_missing_destinations_pass_the_check(tmp_path: Path) -> None:
    existing = tmp_path / "a.pt"
    existing.write_text("old")
    check_file_target(existing)
    check_file_target(tmp_path / "new.pt")
    check_file_target(tmp_path / "missing-folder" / "new.pt")


def test_a_path_under_a_regular_file_fails_naming_the_destination(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError) as caught:
        write_text_atomic(blocker / "net.json", "{}")
    assert os_error_message(caught.value) == (
        f"{blocker / 'net.json'}: a part of the path is a file, not a folder"
    )


def test_a_full_disk_while_streaming_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "weights.pt"
    target.write_bytes(b"old weights")
    disk_with_room(monkeypatch, room=10)
    with pytest.raises(OSError) as caught:
        write_stream_atomic(target, lambda stream: stream.write(b"x" * 1000))
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(target)  # the user's file, not the temporary
    assert os_error_message(caught.value) == (
        f"{target}: no space left on the device; free some space or write elsewhere"
    )
    assert target.read_bytes() == b"old weights"
    assert _leftovers(tmp_path) == []


def test_the_first_write_failure_wins_over_what_the_serialiser_makes_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.save turns a failed Python write into RuntimeError("unexpected pos …")."""
    disk_with_room(monkeypatch, room=10)

    def serialiser(stream: Any) -> None:
        try:
            stream.write(b"x" * 100)
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos") from None

    with pytest.raises(OSError) as caught:
        write_stream_atomic(tmp_path / "w.pt", serialiser)
    assert caught.value.errno == errno.ENOSPC and not isinstance(caught.value, RuntimeError)
    assert _leftovers(tmp_path) == []


def test_torch_save_on_a_full_disk_raises_the_disk_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from explorer.core.weights import save_state_dict

    disk_with_room(monkeypatch, room=4096)
    with pytest.raises(OSError) as caught:
        save_state_dict({"weight": torch.zeros(100_000)}, tmp_path / "w.pt")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "w.pt")
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_folder_names_the_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root ignores permission bits, so the rename fails the way it does on a read-only mount.
    def read_only(source: Any, destination: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(source), str(destination))

    monkeypatch.setattr(files.os, "replace", read_only)
    target = tmp_path / "net.json"
    with pytest.raises(OSError) as caught:
        write_text_atomic(target, "{}")
    assert os_error_message(caught.value) == (
        f"{target}: read-only file system; choose a folder you can write to"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_writer_failing_for_its_own_reasons_still_removes_the_temporary(tmp_path: Path) -> None:
    def writer(target: Path) -> None:
        target.write_text("half")
        raise ValueError("the writer's own problem")

    with pytest.raises(ValueError, match="the writer's own problem"):
        write_file_atomic(tmp_path / "out.txt", writer)
    assert list(tmp_path.iterdir()) == []


def test_messages_without_a_file_name_say_what_went_wrong() -> None:
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert (
        os_error_message(error) == "no space left on the device; free some space or write elsewhere"
    )
    assert os_error_message(OSError(errno.EIO, "Input/output error", "/x")) == (
        "/x: input/output error"
    )
