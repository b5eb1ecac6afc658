"""Project files: round trips, every kind of bad input, atomic saving."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from explorer.core.project import (
    ProjectError,
    load_project,
    parse_project,
    parse_recovery,
    recovery_text,
    save_project,
)
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
        (_project(version=3), "saved by a newer CNN Explorer (format version 3)"),
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


# ---- hostile files: one boundary, a message naming the key, never a traceback ---------------


def _template_text(**changes: object) -> str:
    data = json.loads((TEMPLATES_DIR / "keras-mnist.json").read_text(encoding="utf-8"))
    data.update(changes)
    return json.dumps(data)


def _with_layer(index: int, **changes: object) -> str:
    data = json.loads(_template_text())
    data["layers"][index].update(changes)
    return json.dumps(data)


HOSTILE = [
    pytest.param(
        "[" * 5000 + "]" * 5000, "invalid JSON: nested more than 64 levels deep", id="deep-array"
    ),
    pytest.param(
        _template_text(name={"a": [{"b": 1}]}).replace(
            '{"b": 1}', '{"b": ' * 300 + "1" + "}" * 300
        ),
        "'name.a[0]': nested more than 64 levels deep",
        id="deep-object",
    ),
    pytest.param(
        _with_layer(0, filters=123).replace('"filters": 123', '"filters": ' + "9" * 5000),
        "layer 1: 'filters': an integer of 5,000 digits is too large",
        id="5000-digit-int",
    ),
    pytest.param(
        _template_text(training={"learning_rate": 10**400}),
        "training: 'learning_rate': an integer of 401 digits is too large",
        id="huge-int-in-float-field",
    ),
    pytest.param(
        _template_text(training={"learning_rate": 10**30}),
        "training: 'learning_rate': an integer of 31 digits is too large",
        id="big-int-in-float-field",
    ),
    pytest.param(
        _with_layer(2, type=[]), "layer 3: 'type' must be a string, got []", id="type-list"
    ),
    pytest.param(
        _with_layer(1, name="\ud800"),
        "layer 2: 'name': '\\ud800' contains the lone surrogate U+D800",
        id="surrogate-layer-name",
    ),
    pytest.param(
        _template_text(name="net \udfff"),
        "'name': 'net \\udfff' contains the lone surrogate U+DFFF",
        id="surrogate-project-name",
    ),
    pytest.param(
        _template_text(name="a\x00b"),
        "'name': 'a\\x00b' contains the control character U+0000",
        id="nul-in-name",
    ),
    pytest.param(
        _template_text(class_names=[str(i) for i in range(9)] + ["nine\n"]),
        "'class_names[9]': 'nine\\n' contains the control character U+000A",
        id="newline-in-class-name",
    ),
    pytest.param(
        _with_layer(0, name="conv_\n"),
        "layer 1: 'name': 'conv_\\n' contains the control character U+000A",
        id="newline-in-layer-name",
    ),
    pytest.param(
        _template_text(name="n" * 300),
        "'name': '" + "n" * 27 + "..." + "n" * 28 + "' (300 characters) "
        "is longer than 200 characters",
        id="300-character-name",
    ),
    pytest.param(
        _with_layer(0, name="c" * 300),
        "layer 1 (Conv2D): name '" + "c" * 27 + "..." + "c" * 28 + "' "
        "(300 characters) is longer than 100 characters",
        id="300-character-layer-name",
    ),
    pytest.param(
        _template_text(weights="w" * 300 + ".pt"),
        "'weights': the file name '" + "w" * 27 + "..." + "w" * 25 + ".pt' "
        "(303 characters) is longer than 255 bytes",
        id="300-character-weights-name",
    ),
    pytest.param(
        _with_layer(3, type="X" * 1_000_000),
        "layer 4: unknown layer type '" + "X" * 27 + "..." + "X" * 28 + "' "
        "(1,000,000 characters); expected one of Conv2D,",
        id="1mb-unknown-type",
    ),
    pytest.param(
        _with_layer(0, padding="p" * 1_000_000),
        "layer 1 (Conv2D): 'padding': expected 'valid', 'same', an int or [h, w]; got "
        "'" + "p" * 27 + "..." + "p" * 28 + "' (1,000,000 characters)",
        id="1mb-value",
    ),
    pytest.param(
        _with_layer(0, kernel_size=list(range(100_000))),
        "layer 1 (Conv2D): 'kernel_size': expected an int or [h, w]; got [0, 1, 2, 3, 4, 5, ...]",
        id="long-list",
    ),
    pytest.param(
        _template_text(training={"k" * 10_000: 1}),
        "training: unknown key '" + "k" * 27 + "..." + "k" * 28 + "' "
        "(10,000 characters) (valid keys: dataset,",
        id="long-key",
    ),
    pytest.param(
        _template_text(training={"dataset": "folder:/data\x00"}),
        "training: 'dataset': 'folder:/data\\x00' contains the control character U+0000",
        id="nul-in-dataset",
    ),
    pytest.param(
        '{"format": "cnn-explorer", "version": 1,',
        "invalid JSON at line 1, column 41: Expecting property name",
        id="cut",
    ),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE)
def test_hostile_files_give_one_short_message_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "hostile.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with pytest.raises(ProjectError) as caught:
        load_project(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert len(str(caught.value)) < 400 + len(str(path))  # long values are shortened
    assert "Traceback" not in str(caught.value)


@pytest.mark.parametrize(("text", "message"), [p for p in HOSTILE if "weights" not in p.id])
def test_the_recovery_file_goes_through_the_same_boundary(text: str, message: str) -> None:
    # The window's recovery file holds a project under "project": same checks, same words.
    # (A recovery file names no weights, so that case is left out.)
    recovery = '{"path": null, "project": ' + text + "}" if text.startswith("{") else text
    with pytest.raises(ProjectError) as caught:
        parse_recovery(recovery)
    assert message.split(": ")[-1] in str(caught.value)


def test_a_recovery_file_round_trips_and_refuses_what_is_not_one() -> None:
    spec = load_template("vgg16")
    assert parse_recovery(recovery_text(spec, "/tmp/net.json")) == (spec, "/tmp/net.json")
    assert parse_recovery(recovery_text(spec, None)) == (spec, None)
    for bad, message in [
        ("[1, 2]", "not a recovery file"),
        ('{"path": 3, "project": {}}', "'path' must be a file path or null, got 3"),
        ('{"path": "a\\u0000b", "project": {}}', "'path': 'a\\x00b' contains the control"),
        ('{"project": {"format": "cnn-explorer", "version": 1, "layers": 3}}', "'layers' must"),
    ]:
        with pytest.raises(ProjectError, match=re.escape(message)):
            parse_recovery(bad)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + (TEMPLATES_DIR / "lenet5.json").read_bytes())
    assert load_project(path) == load_template("lenet5")


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(json.dumps({"name": "café"}, ensure_ascii=False).encode("latin-1"))
    with pytest.raises(ProjectError, match=r"not UTF-8 text \(byte 0xe9 at offset \d+\)"):
        load_project(path)


def test_messages_number_layers_from_1_like_the_default_names(tmp_path: Path) -> None:
    # The second layer is dense_1 in the stack and "layer 2" in every message about it.
    data = _project(layers=[{"type": "Flatten"}, {"type": "Dense", "units": 0}])
    with pytest.raises(ProjectError, match=r"layer 2 \(Dense\): 'units': 0 is out of range"):
        load_project(_write(tmp_path / "bad.json", data))
    spec = parse_project(_project(layers=[{"type": "Flatten"}, {"type": "Dense", "units": 10}]))
    assert spec.layer_names() == ("flatten_1", "dense_1")
    big_kernel = parse_project(
        _project(layers=[{"type": "Conv2D", "filters": 2, "kernel_size": 40}, {"type": "Flatten"}])
    )
    from explorer.core.builder import BuildError, build_model

    with pytest.raises(BuildError, match="layer 1: kernel 40 > input 28"):
        build_model(big_kernel)


@pytest.mark.parametrize(
    "name", ['say """hi"""', "back\\slash\\", "café ☕ \u2028 \u202e", "x" * 200, "\ud83d\ude00"]
)
def test_every_name_the_loader_accepts_exports_source_that_compiles(name: str) -> None:
    from explorer.core.export.source import pytorch_source

    data = json.loads((TEMPLATES_DIR / "lenet5.json").read_text(encoding="utf-8"))
    data["name"] = name
    data["class_names"] = [name[:20] + str(i) for i in range(10)]
    spec = parse_project(json.loads(json.dumps(data)))
    compile(pytorch_source(spec), "model.py", "exec")


def test_layer_names_with_a_trailing_newline_are_refused() -> None:
    from explorer.core.spec import check_layer_name

    assert check_layer_name("conv_1") is None
    assert check_layer_name("conv_1\n") is not None  # `$` would have matched before "\n"
