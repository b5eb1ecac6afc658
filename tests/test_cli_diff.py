"""`diff A B` on project files, run folders and templates; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.core.project import save_project
from explorer.core.spec import LayerSpec
from explorer.core.training.runs import RunFolder
from tests.core.test_trainer import tiny_spec


def test_diff_of_a_run_folder_and_a_project_file_prints_the_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tiny_spec()
    run = RunFolder(tmp_path / "20260101-000000-tiny")
    run.create(old)
    wider = old.replace_layer(0, LayerSpec.create("Conv2D", {"filters": 8, "kernel_size": 3}))
    new = wider.with_layers((*wider.layers[:3], LayerSpec.create("Dropout"), wider.layers[3]))
    save_project(new, tmp_path / "new.json")
    assert main(["diff", str(run.path), str(tmp_path / "new.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "tiny → tiny: 1 added, 1 changed",
        "~ layer 1 (Conv2D) conv2d_1: filters 4 → 8, activation relu → linear",
        "+ layer 4 (Dropout) dropout_1",
    ]
    assert main(["diff", str(tmp_path / "new.json"), str(run.path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(c["kind"], c["old_path"], c["new_path"]) for c in data["layers"]] == [
        ("changed", [0], [0]),
        ("removed", [3], None),
    ]
    assert data["layers"][0]["changes"][0] == {"key": "filters", "old": 8, "new": 4}


def test_diff_of_two_templates_names_their_training_changes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["diff", "keras-mnist", "keras-mnist"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["  the same architecture"]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("no-such-template", "neither a file, a run folder nor a template"),
        ("missing.json", "missing.json"),
        (".", "without a project.json"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    argument: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["diff", "keras-mnist", argument]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
