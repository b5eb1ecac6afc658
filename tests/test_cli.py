"""The command line as a user runs it: summary, templates, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_summary_table_reads_like_keras(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--template", "keras-mnist"]) == 0
    out = capsys.readouterr().out
    assert 'Model: "Keras tutorial CNN (MNIST)"' in out
    assert "conv2d_1 (Conv2D)" in out and "(32, 24, 24)" in out
    assert "Total params: 62,346" in out
    assert "0 errors, 0 warnings" in out


def test_summary_json_has_the_design_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--template", "notebook-mnist", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 57_170
    assert data["trainable_params"] == 57_170 and data["non_trainable_params"] == 0
    assert data["errors"] == []
    first = data["layers"][0]
    assert set(first) >= {
        "name",
        "type",
        "input_shape",
        "output_shape",
        "params",
        "trainable_params",
        "non_trainable_params",
        "macs",
        "activation_bytes",
        "receptive_field",
        "diagnostic",
    }
    assert first["input_shape"] == [1, 28, 28] and first["output_shape"] == [8, 28, 28]
    assert first["receptive_field"] == {"size": [3, 3], "jump": [1, 1]}


def test_summary_of_a_network_with_errors_exits_2_and_shows_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad-kernel.json"
    path.write_text(
        json.dumps(
            {
                "format": "cnn-explorer",
                "version": 1,
                "input": {"channels": 1, "height": 6, "width": 6},
                "layers": [
                    {"type": "Conv2D", "filters": 4, "kernel_size": 7},
                    {"type": "Flatten"},
                    {"type": "Dense", "units": 10},
                ],
            }
        )
    )
    assert main(["summary", str(path)]) == 2
    out = capsys.readouterr().out
    assert "ERROR: kernel 7 > input 6: use padding 'same' or a smaller kernel" in out
    assert main(["summary", str(path), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["errors"][0]["layer"] == 0
    assert data["layers"][1]["output_shape"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "--template", "nope"], "unknown template 'nope'; templates: keras-mnist"),
        (["summary", "/does/not/exist.json"], "no such file"),
        (["summary"], "give either a project FILE or --template NAME"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_templates_lists_every_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    assert "vgg16" in out and "138,357,544 params" in out


def test_main_py_runs_headless_commands_in_a_fresh_process() -> None:
    result = subprocess.run(
        [sys.executable, "main.py", "summary", "--template", "vgg16"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Total params: 138,357,544" in result.stdout
    bad = subprocess.run(
        [sys.executable, "main.py", "summary", "--template", "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "unknown template" in bad.stderr


def test_readme_layers_table_lists_every_registry_type_and_key() -> None:
    from explorer.core.layers import LAYER_TYPES

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Layers") : readme.index("## Project files")]
    rows = {
        line.split("|")[1].strip(): line
        for line in table.splitlines()
        if line.startswith("| ") and not line.startswith("| type")
    }
    assert set(rows) == set(LAYER_TYPES)
    for name, entry in LAYER_TYPES.items():
        for key in entry.keys:
            assert key in rows[name], (name, key)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1_000, "1.0K"),
        (460_800, "460.8K"),
        (999_949, "999.9K"),
        (999_950, "1.00M"),
        (3_276_800, "3.28M"),
        (999_999_999, "1.00G"),
        (15_470_264_320, "15.47G"),
    ],
)
def test_counts_are_shortened_with_the_unit_chosen_after_rounding(count: int, text: str) -> None:
    from explorer.core.summary import format_count

    assert format_count(count) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (40, "40 B"),
        (3 * 28 * 28 * 4 // 3, "3.06 KB"),
        (62_346 * 4, "243.54 KB"),
        (138_357_544 * 4, "527.79 MB"),
    ],
)
def test_bytes_use_binary_units_as_keras_prints_them(count: int, text: str) -> None:
    from explorer.core.summary import format_bytes

    assert format_bytes(count) == text


def test_piping_into_a_closed_reader_ends_quietly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`main.py templates | head -1`: the reader has gone, so writing raises BrokenPipeError."""

    class ClosedPipe:
        def __init__(self, descriptor: int) -> None:
            self._descriptor = descriptor  # a real descriptor, for the redirect

        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            return self._descriptor

    with open(tmp_path / "stdout", "w") as target:
        monkeypatch.setattr(sys, "stdout", ClosedPipe(target.fileno()))
        assert main(["templates"]) == 0
