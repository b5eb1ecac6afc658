"""Project files: the versioned JSON format of DESIGN.md.

Files are read with clear errors and saved atomically.

Every format version has its own loader that upgrades to the current in-memory spec, so
old files keep opening. Files hold data only; nothing in them is executed.

One boundary checks everything that arrives as project JSON (a file, the window's recovery
file, pasted layers, a checkpoint's copy): `decode_json` turns text into data and
`parse_project` / `parse_layer` turn data into a spec. Between them, whatever the input,
the only exception is ProjectError (SpecError for a pasted layer) with a message that names
the key; long values are shortened in messages.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from explorer.core.files import write_text_atomic
from explorer.core.spec import (
    InputSpec,
    LayerSpec,
    NetworkSpec,
    SpecError,
    TrainingSpec,
    brief,
    control_character,
    layer_label,
)

log = logging.getLogger(__name__)

FORMAT = "cnn-explorer"
VERSION = 1

# Far beyond any real project (a layer object inside the layer list is 3 deep) and far
# below Python's recursion limit, so neither the decoder nor the checks below can overflow.
MAX_DEPTH = 64
# Any integer a project can use fits in 64 bits; beyond that it is a typo or an attack
# (and past 4,300 digits Python refuses to convert it at all).
MAX_INTEGER = 2**63 - 1
MAX_PROJECT_NAME = 200  # characters
MAX_FILE_NAME_BYTES = 255  # NAME_MAX of common file systems
_SHA256 = re.compile(r"[0-9a-f]{64}")


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
        head, rest = layer_label(path[1]), path[2:]
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


def load_project(path: str | os.PathLike[str]) -> NetworkSpec:
    """Read a project file, raising ProjectError with a message that names the problem."""
    return read_project(path)[0]


def read_project(path: str | os.PathLike[str]) -> tuple[NetworkSpec, str | None]:
    """Read a project file: its spec and the file name of its saved weights, if any.

    The weights name is relative to the project file's folder (see explorer.core.weights).
    """
    spec, weights = read_project_weights_entry(path)
    return spec, weights[0] if weights is not None else None


def read_project_weights_entry(
    path: str | os.PathLike[str],
) -> tuple[NetworkSpec, tuple[str, str | None] | None]:
    """Read a project file: its spec and its weights entry, (file name, SHA-256 or None).

    Projects saved before the hash was recorded name a weights file without one.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder, not a project file") from None
    except UnicodeDecodeError as error:
        raise ProjectError(
            f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start})"
        ) from None
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        raise ProjectError(f"{path}: cannot read: {error}") from None
    try:
        data = decode_json(text)
        return parse_project(data), _weights_entry(data)
    except ProjectError as error:
        raise ProjectError(f"{path}: {error}") from None


def _weights_entry(data: Mapping[str, Any]) -> tuple[str, str | None] | None:
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
        raise ProjectError(f"'weights' must be a file name beside the project, got {brief(name)}")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME_BYTES:
        raise ProjectError(
            f"'weights': the file name {brief(name)} is longer than {MAX_FILE_NAME_BYTES} bytes"
        )
    digest = data.get("weights_sha256")
    if digest is not None and not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
        raise ProjectError(f"'weights_sha256' must be 64 hexadecimal digits, got {brief(digest)}")
    return name, digest


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
    input_spec = _parse_input(data.get("input", {"channels": 1, "height": 28, "width": 28}))
    num_classes = _positive_int(data.get("num_classes", 10), "num_classes", 2, 100_000)
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
    layers = tuple(parse_layer(index, raw) for index, raw in enumerate(raw_layers))
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


_LOADERS: dict[int, Callable[[Mapping[str, Any]], NetworkSpec]] = {1: _load_v1}


def parse_layer(index: int, raw: Any) -> LayerSpec:
    """One layer object of a project file (also pasted layer JSON) at 0-based `index`;
    SpecError if bad."""
    check_json(raw, ("layers", index))
    if not isinstance(raw, dict):
        raise SpecError(
            f'{layer_label(index)}: expected an object like {{"type": "Conv2D", ...}}, '
            f"got {brief(raw)}",
            layer_index=index,
        )
    if "type" not in raw:
        raise SpecError(f"{layer_label(index)}: missing key 'type'", layer_index=index, key="type")
    values = {key: value for key, value in raw.items() if key not in ("type", "name")}
    return LayerSpec.create(raw["type"], values, name=raw.get("name"), index=index)


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
    unknown = [key for key in raw if key not in ("channels", "height", "width")]
    if unknown:
        raise SpecError(
            f"input: unknown key {brief(unknown[0])} (valid keys: channels, height, width)"
        )
    return InputSpec(
        channels=_positive_int(raw.get("channels", 1), "input.channels", 1, 4096),
        height=_positive_int(raw.get("height", 28), "input.height", 1, 16384),
        width=_positive_int(raw.get("width", 28), "input.width", 1, 16384),
    )


def _positive_int(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{key!r}: expected an integer, got {brief(value)}")
    if not low <= value <= high:
        raise SpecError(f"{key!r}: {value} is out of range: must be in [{low}, {high}]")
    return value


def project_to_json(
    spec: NetworkSpec, *, weights: str | None = None, weights_sha256: str | None = None
) -> dict[str, Any]:
    """The current-version JSON object for a spec; `weights` names a weights file beside it
    and `weights_sha256` its hash (which ties the two together, see save_project)."""
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
        if weights_sha256 is not None:
            data["weights_sha256"] = weights_sha256
    return data


def dumps_project(
    spec: NetworkSpec, *, weights: str | None = None, weights_sha256: str | None = None
) -> str:
    data = project_to_json(spec, weights=weights, weights_sha256=weights_sha256)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def save_project(
    spec: NetworkSpec,
    path: str | os.PathLike[str],
    *,
    weights: str | None = None,
    weights_sha256: str | None = None,
    keep_weights: bool = False,
) -> None:
    """Write atomically: a temporary file in the same folder, flushed, then renamed over.

    The rename is the commit of a save with weights: the weights file (named by its hash,
    see `versioned_weights_name`) is complete before the JSON naming it replaces the old
    one, so a crash leaves the old pair or the new pair. Leftovers of earlier saves that
    were killed (temporaries, weights files the project does not name) are removed, and so
    is the weights file this save replaces.

    With `keep_weights` and no `weights`, a project on disk whose weights fit `spec`'s
    architecture keeps naming them (saving the same network again must not drop them).
    """
    path = Path(path)
    before = _saved_weights(path)
    if weights is None and keep_weights and before and before[2] == spec.architecture():
        weights, weights_sha256 = before[0], before[1]
    keep = {name for name in (weights, before[0] if before else None) if name}
    remove_save_leftovers(path, keep)  # first, so that a nearly full disk gets the space
    write_text_atomic(path, dumps_project(spec, weights=weights, weights_sha256=weights_sha256))
    remove_save_leftovers(path, {weights} if weights else set())
    if before is not None and weights is not None and before[0] != weights:
        legacy = path.with_name(f"{path.stem}.weights.pt")  # (a name short enough to exist)
        if before[0] == legacy.name:  # the pre-hash name, replaced by this save
            _remove(legacy)


def versioned_weights_name(project_path: str | os.PathLike[str], sha256: str) -> str:
    """`net.json` -> `net.weights-<first 16 hex digits of the hash>.pt`."""
    return f"{_weights_stem(Path(project_path))}.weights-{sha256[:16]}.pt"


def temporary_weights_path(project_path: str | os.PathLike[str], token: str) -> Path:
    """Where a weights file is written before it gets its versioned name."""
    path = Path(project_path)
    return path.with_name(f".{_weights_stem(path)}.weights.{token}.tmp.pt")


def _weights_stem(path: Path) -> str:
    """The project's stem, cut so that the weights names made from it (30 bytes longer)
    still fit in MAX_FILE_NAME_BYTES."""
    room = MAX_FILE_NAME_BYTES - 30
    return path.stem.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")


def remove_save_leftovers(path: str | os.PathLike[str], keep: set[str]) -> list[Path]:
    """Delete what killed saves of the project at `path` left beside it: temporaries of
    the JSON and of weights, and versioned weights files other than those in `keep`.

    Only names this module writes are touched. Returns the paths removed.
    """
    path = Path(path)
    stem, suffix = re.escape(path.stem), re.escape(path.suffix)
    weights_stem = re.escape(_weights_stem(path))
    ours = re.compile(
        rf"\.{stem}\.[0-9a-f]{{8}}\.tmp{suffix}"  # write_text_atomic's temporary JSON
        rf"|\.{weights_stem}\.weights\.[0-9a-f]{{8}}\.tmp\.pt"  # a weights temporary
        rf"|{weights_stem}\.weights-[0-9a-f]{{16}}\.pt"  # a versioned weights file
    )
    try:
        names = [entry.name for entry in path.parent.iterdir()]
    except OSError:
        return []
    removed = []
    for name in names:
        if name not in keep and ours.fullmatch(name) and _remove(path.with_name(name)):
            removed.append(path.with_name(name))
    return removed


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as error:  # cleaning up must never fail the save that asked for it
        log.warning("cannot remove %s: %s", path, error)
        return False
    return True


def _saved_weights(path: Path) -> tuple[str, str | None, NetworkSpec] | None:
    """The weights entry of the project now at `path` and its architecture, if readable."""
    if not path.is_file():
        return None
    try:
        spec, entry = read_project_weights_entry(path)
    except ProjectError:
        return None
    return (entry[0], entry[1], spec.architecture()) if entry is not None else None


# ---- the window's recovery file -----------------------------------------------------------


def recovery_text(spec: NetworkSpec, path: str | None) -> str:
    """The content of a recovery file: the unsaved spec and the file it belongs to."""
    return json.dumps({"path": path, "project": project_to_json(spec)}, indent=1)


def parse_recovery(text: str) -> tuple[NetworkSpec, str | None]:
    """A recovery file's spec and file path, through the same checks as a project file.

    Raises ProjectError, whatever the text holds; keys other than path and project are
    left to the caller.
    """
    data = decode_json(text)
    if not isinstance(data, dict) or not isinstance(data.get("project"), dict):
        raise ProjectError('not a recovery file (expected {"path": ..., "project": {...}})')
    path = data.get("path")
    if path is not None and not (isinstance(path, str) and path):
        raise ProjectError(f"'path' must be a file path or null, got {brief(path)}")
    return parse_project(data["project"]), path
