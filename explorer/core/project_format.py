"""Reading the project format of DESIGN.md: the boundary every piece of project JSON crosses
and one loader per format version.

One boundary checks everything that arrives as project JSON (a file, the window's recovery
file, pasted layers, a checkpoint's copy): `decode_json` turns text into data and
`parse_project` / `parse_layer` turn data into a spec. Between them, whatever the input,
the only exception is ProjectError (SpecError for a pasted layer) with a message that names
the key; long values are shortened in messages.

Every format version has its own loader that upgrades to the current in-memory spec, so
old files keep opening (`explorer.core.project` writes the current version). Files hold data
only; nothing in them is executed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from explorer.core.layer_spec import where_text
from explorer.core.names import control_character
from explorer.core.paths import LayerPath
from explorer.core.spec import (
    INPUT_PARAMS,
    NUM_CLASSES,
    BlockSpec,
    InputSpec,
    LayerOrBlock,
    LayerSpec,
    NetworkSpec,
    check_bounded_int,
)
from explorer.core.spec_errors import SpecError, brief
from explorer.core.training_spec import TrainingSpec
from explorer.core.vocabulary.blocks import BLOCK_TYPES

FORMAT = "cnn-explorer"
VERSION = 2  # the newest version; every version up to it has a loader in _LOADERS
# Version 1 holds a flat list of layers; version 2 adds blocks with nested "body" and
# "branches" lists. A project without blocks is written as version 1, which older
# releases read too (`format_version`).

# Far beyond any real project (a layer object inside the layer list is 3 deep) and far
# below Python's recursion limit, so neither the decoder nor the checks below can overflow.
MAX_DEPTH = 64
# Any integer a project can use fits in 64 bits; beyond that it is a typo or an attack
# (and past 4,300 digits Python refuses to convert it at all).
MAX_INTEGER = 2**63 - 1
MAX_PROJECT_NAME = 200  # characters


class ProjectError(ValueError):
    """A project file that cannot be read; the message is meant for the user."""


class _HugeInteger(int):
    """An integer literal too long to be a real value, kept as its digit count so the
    checks can name its key (parse_int gives no position)."""

    digits: int


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > 30:
        huge = _HugeInteger(0)
        huge.digits = digits
        return huge
    return int(text)


def decode_json(text: str) -> Any:
    """JSON text as data, or ProjectError with the line and column of the problem.

    A UTF-8 byte order mark is accepted; deep nesting, absurdly long integers, control
    characters and lone surrogates are refused (see `check_json`) with a message instead of
    Python's RecursionError or ValueError, or an error later on.
    """
    text = text.removeprefix("\ufeff")
    try:
        data = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as error:
        raise ProjectError(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:
        raise ProjectError(f"invalid JSON: nested more than {MAX_DEPTH} levels deep") from None
    try:
        check_json(data)
    except SpecError as error:
        raise ProjectError(error.message) from None
    return data


def _where(path: tuple[str | int, ...]) -> str:
    """A location in project data for messages: 'layer 3: 'filters'', "'input.height'"."""
    if not path:
        return "the project"
    if isinstance(path[0], int):  # a list of layers (pasted), not a whole project
        path = ("layers", *path)
    if path[0] == "layers" and len(path) > 1 and isinstance(path[1], int):
        head, rest = _nested_label(path[1:])
    elif path[0] == "training" and len(path) > 1:
        head, rest = "training", path[1:]
    else:
        head, rest = "", path
    text = ""
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if not text:
        return head
    quoted = brief(text) if len(text) > 60 else repr(text)
    return f"{head}: {quoted}" if head else quoted


def _nested_label(path: tuple[str | int, ...]) -> tuple[str, tuple[str | int, ...]]:
    """The label of the layer a data path below "layers" leads to ('layer 3 › body 2'), and
    the rest of the path (the key inside that layer)."""
    assert isinstance(path[0], int)
    steps, rest = [path[0]], path[1:]
    labels: list[str] = []
    while rest:
        if rest[0] == "body" and len(rest) > 1 and isinstance(rest[1], int):
            labels.append("body")
            steps.extend((0, rest[1]))
            rest = rest[2:]
        elif (
            rest[0] == "branches"
            and len(rest) > 2
            and isinstance(rest[1], int)
            and isinstance(rest[2], int)
        ):
            labels.append(f"branch {rest[1] + 1} ›")
            steps.extend((rest[1], rest[2]))
            rest = rest[3:]
        else:
            break
    return LayerPath(tuple(int(step) for step in steps)).label(labels), rest


def check_json(data: Any, path: tuple[str | int, ...] = ()) -> None:
    """Refuse decoded JSON that no part of the program should see: nesting deeper than
    MAX_DEPTH, integers beyond 64 bits, text holding control characters or lone surrogates.

    Raises SpecError naming where the problem is (`path` is where `data` sits).
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, path)]
    while stack:
        value, where = stack.pop()
        if len(where) - len(path) > MAX_DEPTH:
            raise SpecError(f"{_where(where[:3])}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, _HugeInteger):
            raise SpecError(f"{_where(where)}: an integer of {value.digits:,} digits is too large")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
            raise SpecError(f"{_where(where)}: the integer {brief(value)} is too large")
        if isinstance(value, str):
            char = control_character(value)
            if char:
                raise SpecError(f"{_where(where)}: {brief(value)} contains {char}")
        elif isinstance(value, dict):
            for key, item in value.items():
                key_text = key if isinstance(key, str) else str(key)
                char = control_character(key_text)
                if char:
                    raise SpecError(f"{_where(where)}: the key {brief(key_text)} contains {char}")
                stack.append((item, (*where, key_text)))
        elif isinstance(value, list | tuple):
            stack.extend((item, (*where, i)) for i, item in enumerate(value))


def parse_project(data: Any) -> NetworkSpec:
    """Build a spec from decoded JSON of any supported version; ProjectError if it is bad."""
    try:
        check_json(data)
    except SpecError as error:
        raise ProjectError(error.message) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProjectError(f'not a CNN Explorer project (expected "format": "{FORMAT}")')
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProjectError(f"'version' must be a positive integer, got {brief(version)}")
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
    """Version 1: a flat list of layers."""
    return _load(data, blocks=False)


def _load_v2(data: Mapping[str, Any]) -> NetworkSpec:
    """Version 2: version 1 with blocks (nested "body" and "branches" lists)."""
    return _load(data, blocks=True)


def _load(data: Mapping[str, Any], *, blocks: bool) -> NetworkSpec:
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
        "weights_sha256",
    }
    unknown = [key for key in data if key not in known]
    if unknown:
        raise SpecError(
            f"unknown top-level key {brief(unknown[0])} (valid keys: {', '.join(sorted(known))})"
        )
    # The name suggests file names (Save As, exports, run folders): keep them possible.
    name = _text(data.get("name", "Untitled"), "name", MAX_PROJECT_NAME)
    input_spec = _parse_input(data.get("input", {}))
    num_classes = check_bounded_int(
        NUM_CLASSES, data.get("num_classes", NUM_CLASSES.default), "num_classes"
    )
    class_names = data.get("class_names", [])
    if not isinstance(class_names, list):
        raise SpecError(f"'class_names' must be a list of strings, got {brief(class_names)}")
    class_names = [_text(c, f"class_names[{i}]") for i, c in enumerate(class_names)]
    if class_names and len(class_names) != num_classes:
        raise SpecError(
            f"'class_names' has {len(class_names)} names but num_classes is {num_classes}"
        )
    raw_layers = data.get("layers", [])
    if not isinstance(raw_layers, list):
        raise SpecError(f"'layers' must be a list, got {type(raw_layers).__name__}")
    layers = tuple(
        _parse_item(raw, LayerPath.top(index), (), blocks=blocks)
        for index, raw in enumerate(raw_layers)
    )
    training_data = data.get("training", {})
    if not isinstance(training_data, dict):
        raise SpecError(f"'training' must be an object, got {brief(training_data)}")
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


_LOADERS: dict[int, Callable[[Mapping[str, Any]], NetworkSpec]] = {1: _load_v1, 2: _load_v2}


def format_version(spec: NetworkSpec) -> int:
    """The oldest format version that holds `spec`: 1 without blocks, else 2."""
    return 2 if spec.has_blocks else 1


def parse_layer(index: int, raw: Any) -> LayerOrBlock:
    """One layer or block object of a project file (also pasted layer JSON) at 0-based
    `index` of the top-level stack; SpecError if bad."""
    check_json(raw, ("layers", index))
    return _parse_item(raw, LayerPath.top(index), (), blocks=True)


def _parse_item(
    raw: Any, path: LayerPath, labels: tuple[str, ...], *, blocks: bool
) -> LayerOrBlock:
    """The layer or block object `raw` at `path` (`labels` name the sub-stacks on the way);
    `blocks` says whether the format version holds blocks."""
    label = path.label(labels)
    if not isinstance(raw, dict):
        raise SpecError(
            f'{label}: expected an object like {{"type": "Conv2D", ...}}, got {brief(raw)}',
            path=path,
        )
    if "type" not in raw:
        raise SpecError(f"{label}: missing key 'type'", path=path, key="type")
    type_name = raw["type"]
    is_block = isinstance(type_name, str) and type_name in BLOCK_TYPES
    if is_block and not blocks:
        raise SpecError(
            f"{label}: {type_name} blocks need format version 2, but the file says version 1",
            path=path,
            key="type",
        )
    if not is_block:
        values = {key: value for key, value in raw.items() if key not in ("type", "name")}
        return LayerSpec.create(type_name, values, name=raw.get("name"), path=path, label=label)
    entry = BLOCK_TYPES[type_name]
    where = f"{where_text(label, type_name)}: "
    key = entry.json_key
    held = raw.get(key, [] if entry.max_stacks == 1 else None)
    if entry.max_stacks == 1:
        if not isinstance(held, list):
            raise SpecError(
                f"{where}{key!r} must be a list of layers, got {brief(held)}", path=path, key=key
            )
        raw_stacks = [held]
    else:
        if not isinstance(held, list) or not all(isinstance(stack, list) for stack in held):
            raise SpecError(
                f"{where}{key!r} must be a list of lists of layers, got {brief(held)}",
                path=path,
                key=key,
            )
        raw_stacks = held
    values = {k: v for k, v in raw.items() if k not in ("type", "name", key)}
    # The block's own keys first: a message about them should not wait on its contents.
    shell = BlockSpec.create(
        type_name, values, [[] for _ in raw_stacks], name=raw.get("name"), path=path, label=label
    )
    stacks = [
        [
            _parse_item(
                item, path.child(which, position), (*labels, entry.stack_label(which)), blocks=True
            )
            for position, item in enumerate(stack)
        ]
        for which, stack in enumerate(raw_stacks)
    ]
    return shell.with_stacks(stacks)


def _text(value: Any, key: str, limit: int | None = None) -> str:
    """A name-like string: the project's name or a class name (shown, printed, exported;
    control characters were refused by check_json)."""
    if not isinstance(value, str):
        raise SpecError(f"{key!r} must be a string, got {brief(value)}")
    if limit is not None and len(value) > limit:
        raise SpecError(f"{key!r}: {brief(value)} is longer than {limit} characters")
    return value


def _parse_input(raw: Any) -> InputSpec:
    if not isinstance(raw, dict):
        raise SpecError(
            f"'input' must be an object with channels, height and width, got {brief(raw)}"
        )
    unknown = [key for key in raw if key not in INPUT_PARAMS]
    if unknown:
        raise SpecError(
            f"input: unknown key {brief(unknown[0])} (valid keys: {', '.join(INPUT_PARAMS)})"
        )
    values = {key: raw.get(key, param.default) for key, param in INPUT_PARAMS.items()}
    return InputSpec.create(**values)
