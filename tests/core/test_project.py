"""Project files: round trips, every kind of bad input, atomic saving."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from explorer.core.project import ProjectError, load_project, parse_project, save_project
from explorer.core.templates import TEMPLATES_DIR, load_template, template_names


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _project(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "format": "cnn-explorer",
        "version": 1,
        "name": "t",
        "input": {"channels": 1, "height": 28, "width": 28},
        "num_classes": 10,
        "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10}],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("name", template_names())
def test_templates_round_trip_through_save_and_load(name: str, tmp_path: Path) -> None:
    spec = load_template(name)
    path = tmp_path / f"{name}.json"
    save_project(spec, path)
    assert load_project(path) == spec
    # Saving writes exactly what the template file holds: only keys the author set.
    assert json.loads(path.read_text()) == json.loads((TEMPLATES_DIR / f"{name}.json").read_text())


def test_the_design_example_loads() -> None:
    spec = parse_project(
        {
            "format": "cnn-explorer",
            "version": 1,
            "name": "Keras tutorial CNN",
            "input": {"channels": 1, "height": 28, "width": 28},
            "num_classes": 10,
            "layers": [
                {"type": "Conv2D", "filters": 32, "kernel_size": 5, "activation": "relu"},
                {"type": "MaxPool2D", "pool_size": 2},
                {"type": "Flatten"},
                {"type": "Dense", "units": 10, "activation": "softmax"},
            ],
            "training": {
                "dataset": "mnist",
                "optimizer": "sgd",
                "learning_rate": 0.01,
                "batch_size": 100,
                "epochs": 10,
                "seed": 0,
            },
        }
    )
    assert [layer.type for layer in spec.layers] == ["Conv2D", "MaxPool2D", "Flatten", "Dense"]
    assert spec.training.batch_size == 100


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_project(layers=[{"type": "Conv3D"}]), "layer 1: unknown layer type 'Conv3D'"),
        (
            _project(layers=[{"type": "Flatten"}, {"type": "Dense", "unit": 10}]),
            "layer 2 (Dense): unknown key 'unit'",
        ),
        (
            _project(layers=[{"type": "Flatten"}, {"type": "Dense", "units": "10"}]),
            "layer 2 (Dense): 'units': expected an integer, got '10'",
        ),
        (
            _project(layers=[{"type": "Flatten"}, {"type": "Dense", "units": -3}]),
            "layer 2 (Dense): 'units': -3 is out of range",
        ),
        (_project(layers=[{"units": 3}]), "layer 1: missing key 'type'"),
        (_project(layers=[3]), "layer 1: expected an object"),
        (_project(layers={"type": "Flatten"}), "'layers' must be a list"),
        (_project(version=2), "saved by a newer CNN Explorer (format version 2)"),
        (_project(version="1"), "'version' must be a positive integer, got '1'"),
        ({"layers": []}, "not a CNN Explorer project"),
        (_project(inputs={}), "unknown top-level key 'inputs'"),
        (_project(input={"channels": 0, "height": 28, "width": 28}), "'input.channels': 0 is out"),
        (_project(training={"batch_size": 0}), "training: 'batch_size': 0 is out of range"),
        (
            _project(
                layers=[
                    {"type": "Flatten", "name": "x"},
                    {"type": "Dense", "units": 10, "name": "x"},
                ]
            ),
            "layer 2 (Dense): name 'x' is already used by layer 1",
        ),
        (_project(layers=[{"type": "Flatten", "name": "forward"}]), "reserved by PyTorch"),
    ],
)
def test_bad_files_give_one_clear_message(tmp_path: Path, data: object, message: str) -> None:
    path = _write(tmp_path / "bad.json", data)
    with pytest.raises(ProjectError) as caught:
        load_project(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))
    assert "Traceback" not in str(caught.value)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": "cnn-explorer",\n "version": 1,,\n}')
    with pytest.raises(ProjectError, match="invalid JSON at line 2, column 15"):
        load_project(path)


def test_missing_file_and_folder_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="no such file"):
        load_project(tmp_path / "nope.json")
    with pytest.raises(ProjectError, match="is a folder"):
        load_project(tmp_path)


def test_a_failed_save_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "project.json"
    save_project(load_template("keras-mnist"), path)
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_project(load_template("vgg16"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["project.json"]  # no temporary left behind


def test_saved_projects_get_the_users_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "shared.json"
        save_project(load_template("keras-mnist"), path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not the owner-only 0600 of mkstemp
