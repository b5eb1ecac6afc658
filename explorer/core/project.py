"""Project files: the versioned JSON format of DESIGN.md.

Files are read with clear errors and saved atomically.

Every format version has its own loader that upgrades to the current in-memory spec, so
old files keep opening. Files hold data only; nothing in them is executed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from explorer.core.files import write_text_atomic
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, SpecError, TrainingSpec

FORMAT = "cnn-explorer"
VERSION = 1


class ProjectError(ValueError):
    """A project file that cannot be read; the message is meant for the user."""


def load_project(path: str | os.PathLike[str]) -> NetworkSpec:
    """Read a project file, raising ProjectError with a message that names the problem."""
    return read_project(path)[0]


def read_project(path: str | os.PathLike[str]) -> tuple[NetworkSpec, str | None]:
    """Read a project file: its spec and the file name of its saved weights, if any.

    The weights name is relative to the project file's folder (see explorer.core.weights).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder, not a project file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"{path}: cannot read: {error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProjectError(
            f"{path}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    try:
        return parse_project(data), _weights_name(data)
    except ProjectError as error:
        raise ProjectError(f"{path}: {error}") from None


def _weights_name(data: Mapping[str, Any]) -> str | None:
    name = data.get("weights")
    if name is None:
        return None
    # A bare file name beside the project: a project file never points elsewhere on disk.
    if (
        not isinstance(name, str)
        or name != Path(name).name
        or name in ("", ".", "..")
        or ("\\" in name)
    ):
        raise ProjectError(f"'weights' must be a file name beside the project, got {name!r}")
    return name


def parse_project(data: Any) -> NetworkSpec:
    """Build a spec from decoded JSON of any supported version."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProjectError(f'not a CNN Explorer project (expected "format": "{FORMAT}")')
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProjectError(f"'version' must be a positive integer, got {version!r}")
    if version > VERSION:
        raise ProjectError(
            f"saved by a newer CNN Explorer (format version {version}); this "
            f"version reads format versions up to {VERSION}"
        )
    try:
        return _LOADERS[version](data)
    except SpecError as error:
        raise ProjectError(error.message) from None


def _load_v1(data: Mapping[str, Any]) -> NetworkSpec:
    known = {
        "format",
        "version",
        "name",
        "input",
        "num_classes",
        "class_names",
        "layers",
        "training",
        "weights",
    }
    unknown = [key for key in data if key not in known]
    if unknown:
        raise SpecError(
            f"unknown top-level key {unknown[0]!r} (valid keys: {', '.join(sorted(known))})"
        )
    name = data.get("name", "Untitled")
    if not isinstance(name, str):
        raise SpecError(f"'name' must be a string, got {name!r}")
    input_spec = _parse_input(data.get("input", {"channels": 1, "height": 28, "width": 28}))
    num_classes = _positive_int(data.get("num_classes", 10), "num_classes", 2, 100_000)
    class_names = data.get("class_names", [])
    if not isinstance(class_names, list) or not all(isinstance(c, str) for c in class_names):
        raise SpecError(f"'class_names' must be a list of strings, got {class_names!r}")
    if class_names and len(class_names) != num_classes:
        raise SpecError(
            f"'class_names' has {len(class_names)} names but num_classes is {num_classes}"
        )
    raw_layers = data.get("layers", [])
    if not isinstance(raw_layers, list):
        raise SpecError(f"'layers' must be a list, got {type(raw_layers).__name__}")
    layers = tuple(parse_layer(index, raw) for index, raw in enumerate(raw_layers))
    training_data = data.get("training", {})
    if not isinstance(training_data, dict):
        raise SpecError(f"'training' must be an object, got {training_data!r}")
    spec = NetworkSpec(
        name=name,
        input=input_spec,
        num_classes=num_classes,
        layers=layers,
        training=TrainingSpec.create(training_data),
        class_names=tuple(class_names),
    )
    spec.validate_names()
    return spec


_LOADERS: dict[int, Callable[[Mapping[str, Any]], NetworkSpec]] = {1: _load_v1}


def parse_layer(index: int, raw: Any) -> LayerSpec:
    """One layer object of a project file (also pasted layer JSON); SpecError if bad."""
    if not isinstance(raw, dict):
        raise SpecError(
            f'layer {index}: expected an object like {{"type": "Conv2D", ...}}, got {raw!r}',
            layer_index=index,
        )
    if "type" not in raw:
        raise SpecError(f"layer {index}: missing key 'type'", layer_index=index, key="type")
    values = {key: value for key, value in raw.items() if key not in ("type", "name")}
    return LayerSpec.create(raw["type"], values, name=raw.get("name"), index=index)


def _parse_input(raw: Any) -> InputSpec:
    if not isinstance(raw, dict):
        raise SpecError(f"'input' must be an object with channels, height and width, got {raw!r}")
    unknown = [key for key in raw if key not in ("channels", "height", "width")]
    if unknown:
        raise SpecError(f"input: unknown key {unknown[0]!r} (valid keys: channels, height, width)")
    return InputSpec(
        channels=_positive_int(raw.get("channels", 1), "input.channels", 1, 4096),
        height=_positive_int(raw.get("height", 28), "input.height", 1, 16384),
        width=_positive_int(raw.get("width", 28), "input.width", 1, 16384),
    )


def _positive_int(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{key!r}: expected an integer, got {value!r}")
    if not low <= value <= high:
        raise SpecError(f"{key!r}: {value} is out of range: must be in [{low}, {high}]")
    return value


def project_to_json(spec: NetworkSpec, *, weights: str | None = None) -> dict[str, Any]:
    """The current-version JSON object for a spec; `weights` names a weights file beside it."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "name": spec.name,
        "input": {
            "channels": spec.input.channels,
            "height": spec.input.height,
            "width": spec.input.width,
        },
        "num_classes": spec.num_classes,
    }
    if spec.class_names:
        data["class_names"] = list(spec.class_names)
    data["layers"] = [layer.to_json() for layer in spec.layers]
    data["training"] = spec.training.to_json()
    if weights is not None:
        data["weights"] = weights
    return data


def dumps_project(spec: NetworkSpec, *, weights: str | None = None) -> str:
    return json.dumps(project_to_json(spec, weights=weights), indent=2, ensure_ascii=False) + "\n"


def save_project(
    spec: NetworkSpec, path: str | os.PathLike[str], *, weights: str | None = None
) -> None:
    """Write atomically: a temporary file in the same folder, flushed, then renamed over."""
    write_text_atomic(Path(path), dumps_project(spec, weights=weights))
