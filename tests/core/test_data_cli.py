"""`python main.py datasets`: listing with cache status, bad names, and the progress bar."""

from __future__ import annotations

import argparse
import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest

from explorer.commands import datasets as command
from explorer.core.data import DownloadProgress


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    monkeypatch.delenv("CNN_EXPLORER_DATA", raising=False)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="datasets")
    command.add_arguments(parser)
    return command.run(parser.parse_args(list(argv)))


def write_mnist(folder: Path) -> None:
    folder.mkdir(parents=True)
    for prefix, count in (("train", 3), ("t10k", 2)):
        images = np.array([0x803, count, 28, 28], ">u4").tobytes() + bytes(count * 784)
        labels = np.array([0x801, count], ">u4").tobytes() + bytes(count)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))


def test_list_shows_every_dataset_and_where_it_is_cached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_mnist(tmp_path / "mnist")

    assert run("--data-dir", str(tmp_path)) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Data folder: {tmp_path}"
    rows = {line.split()[0]: line for line in lines[3:]}
    assert list(rows) == ["mnist", "fashion-mnist", "cifar10", "shapes", "folder:PATH"]
    assert f"cached: {tmp_path / 'mnist'}" in rows["mnist"]
    assert "1x28x28" in rows["mnist"] and "60000/10000" in rows["mnist"]
    assert "not downloaded (31 MB)" in rows["fashion-mnist"]
    assert "3x32x32" in rows["cifar10"] and "built in" in rows["shapes"]


def test_list_as_json_takes_the_data_dir_after_the_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tmp_path / "ignored"))
    write_mnist(tmp_path / "mnist")

    assert run("list", "--json", "--data-dir", str(tmp_path)) == 0

    listing = json.loads(capsys.readouterr().out)
    assert listing["data_dir"] == str(tmp_path)
    by_name = {row["name"]: row for row in listing["datasets"]}
    assert by_name["mnist"]["available"] is True
    assert by_name["mnist"]["location"] == str(tmp_path / "mnist")
    assert by_name["cifar10"]["available"] is False
    assert by_name["fashion-mnist"]["class_names"][-1] == "Ankle boot"
    assert by_name["shapes"]["input_shape"] == [1, 28, 28]


def test_environment_variable_chooses_the_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(tmp_path))

    assert run("list") == 0

    assert capsys.readouterr().out.startswith(f"Data folder: {tmp_path}\n")


@pytest.mark.parametrize("name", ["mnits", "imagenet", ""])
def test_unknown_name_exits_2_listing_the_valid_names(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("download", name, "--data-dir", str(tmp_path)) == 2

    err = capsys.readouterr().err
    assert f"unknown dataset {name!r}" in err
    assert "mnist, fashion-mnist, cifar10, shapes, folder:PATH" in err
    assert not any(tmp_path.iterdir())


def test_shapes_needs_no_download(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("download", "shapes") == 0
    assert "nothing to download" in capsys.readouterr().out


def test_an_existing_copy_is_not_downloaded_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_mnist(tmp_path / "MNIST" / "raw")

    assert run("download", "MNIST", "--data-dir", str(tmp_path)) == 0  # names ignore case

    assert f"mnist is ready in {tmp_path / 'MNIST' / 'raw'}" in capsys.readouterr().out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_one_line_on_a_terminal() -> None:
    stream = _Terminal()
    bar = command.ProgressBar(stream)

    for done in (0, 500_000, 1_000_000):
        bar(DownloadProgress("a.gz", done, 1_000_000, 0, 2))
    bar(DownloadProgress("b.gz", 10, None, 1, 2))
    bar.close()

    text = stream.getvalue()
    lines = text.split("\n")
    assert lines[0].startswith("\ra.gz [1/2] [") and lines[0].rstrip().endswith("MB/s")
    assert "100% 1.0/1.0 MB" in lines[0] and "#" * 30 in lines[0]
    assert lines[1].startswith("\rb.gz [2/2]") and "0.0 MB" in lines[1]
    assert text.endswith("\n")


def test_progress_without_a_terminal_prints_a_line_per_quarter() -> None:
    stream = io.StringIO()
    bar = command.ProgressBar(stream)

    for done in range(0, 1_000_001, 50_000):
        bar(DownloadProgress("a.gz", done, 1_000_000, 0, 1))

    lines = stream.getvalue().splitlines()
    assert lines[0] == "downloading a.gz (1.0 MB) [1/1]"
    assert [line.split()[1] for line in lines[1:]] == ["0%", "25%", "50%", "75%", "100%"]
