"""`export` under faults: a destination that is not a file, a full disk, a read-only folder.

Every case ends with one line on stderr, the exit code of the contract (2 bad input, 1 a
failure) and no temporary file left behind.
"""

from __future__ import annotations

import builtins
import errno
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from explorer.cli import main
from explorer.commands.base import EXIT_BAD_INPUT, EXIT_FAILURE
from explorer.core import files
from explorer.core.builder import build_model
from explorer.core.templates import load_template
from explorer.core.weights import save_project_with_weights
from tests.faults import disk_with_room

ROOT = Path(__file__).resolve().parents[2]
FULL = "no space left on the device; free some space or write elsewhere"


def _export(*arguments: str) -> int:
    return main(["export", "--template", "keras-mnist", *arguments])


def test_a_fifo_as_output_is_refused_with_exit_2_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    assert _export("--format", "weights", "-o", str(fifo)) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        f"error: {fifo} is a FIFO (named pipe), not a regular file: "
        "give the name of a file to write\n"
    )
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_a_folder_as_output_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _export("--format", "torchscript", "-o", str(tmp_path)) == EXIT_BAD_INPUT
    assert "is a folder, not a regular file: give the name of a file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_weights_beside_the_source_are_checked_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_template("lenet5")
    save_project_with_weights(spec, build_model(spec, seed=1).state_dict(), tmp_path / "net.json")
    os.mkfifo(tmp_path / "lenet.pt")
    out = tmp_path / "lenet.py"
    code = main(["export", str(tmp_path / "net.json"), "--format", "pytorch", "-o", str(out)])
    assert code == EXIT_BAD_INPUT
    assert "lenet.pt is a FIFO" in capsys.readouterr().err
    assert not out.exists()


def test_torchscript_on_a_full_disk_exits_1_without_a_temporary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every byte of the file goes through Python's file object (so it can fail there)."""

    def full_disk(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(files, "open", full_disk, raising=False)
    out = tmp_path / "model.pt"
    assert _export("--format", "torchscript", "-o", str(out)) == EXIT_FAILURE
    assert capsys.readouterr().err == f"error: {out}: {FULL}\n"
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_folder_exits_1_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root, permission bits do not stop a write: fail the rename as a read-only mount does.
    def read_only(source: Any, destination: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(source), str(destination))

    monkeypatch.setattr(files.os, "replace", read_only)
    out = tmp_path / "model.py"
    assert _export("--format", "pytorch", "-o", str(out)) == EXIT_FAILURE
    assert capsys.readouterr().err == (
        f"error: {out}: read-only file system; choose a folder you can write to\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_output_under_a_regular_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert _export("--format", "weights", "-o", str(blocker / "w.pt")) == EXIT_FAILURE
    assert capsys.readouterr().err == (
        f"error: {blocker / 'w.pt'}: a part of the path is a file, not a folder\n"
    )


def _mount_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A real tmpfs at `folder`, where the machine lets the tests mount one (root)."""
    folder.mkdir()
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB file system."""
    yield from _mount_tmpfs(tmp_path / "tiny", "size=1m")


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    """A real read-only file system, which stops root too."""
    yield from _mount_tmpfs(tmp_path / "read-only", "ro,size=1m")


def test_export_into_a_real_read_only_folder_exits_1(
    read_only_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = read_only_disk / "model.pt"
    assert _export("--format", "torchscript", "-o", str(out)) == EXIT_FAILURE
    assert capsys.readouterr().err == (
        f"error: {out}: read-only file system; choose a folder you can write to\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["torchscript", "weights", "onnx"])
def test_exports_larger_than_a_real_full_disk_exit_1_and_leave_nothing(
    tiny_disk: Path, fmt: str
) -> None:
    """strided-cifar's 4.4 MiB of weights on 1 MiB: torchscript used to abort (exit 134)."""
    if fmt == "onnx":
        pytest.importorskip("onnxscript")
    out = tiny_disk / f"model.{fmt}"
    command = ["export", "--template", "strided-cifar", "--format", fmt, "-o", str(out)]
    result = subprocess.run(
        [sys.executable, "main.py", *command],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (result.returncode, result.stderr) == (EXIT_FAILURE, f"error: {out}: {FULL}\n")
    assert list(tiny_disk.iterdir()) == []


def test_weights_export_on_a_full_disk_keeps_the_previous_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "w.pt"
    torch.save({"old": torch.ones(1)}, out)
    disk_with_room(monkeypatch, room=2048)
    assert _export("--format", "weights", "-o", str(out)) == EXIT_FAILURE
    assert capsys.readouterr().err == f"error: {out}: {FULL}\n"
    assert torch.equal(torch.load(out, weights_only=True)["old"], torch.ones(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]
