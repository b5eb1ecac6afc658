"""Project files: reading them from disk and writing the current format version atomically,
with the weights file saved beside a project, and the window's recovery file.

Decoding and the loader of each format version are in `explorer.core.project_format`
(re-exported here, so this stays the one import path for project files).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from explorer.core.files import write_text_atomic
from explorer.core.project_format import (
    FORMAT,
    MAX_DEPTH,
    MAX_INTEGER,
    MAX_PROJECT_NAME,
    VERSION,
    ProjectError,
    check_json,
    decode_json,
    format_version,
    parse_layer,
    parse_project,
)
from explorer.core.spec import NetworkSpec
from explorer.core.spec_errors import brief

__all__ = [
    "FORMAT",
    "MAX_DEPTH",
    "MAX_FILE_NAME_BYTES",
    "MAX_INTEGER",
    "MAX_PROJECT_NAME",
    "VERSION",
    "ProjectError",
    "check_json",
    "decode_json",
    "dumps_project",
    "load_project",
    "parse_layer",
    "parse_project",
    "parse_recovery",
    "project_to_json",
    "read_project",
    "read_project_weights_entry",
    "recovery_text",
    "remove_save_leftovers",
    "save_project",
    "temporary_weights_path",
    "versioned_weights_name",
]

log = logging.getLogger(__name__)

MAX_FILE_NAME_BYTES = 255  # NAME_MAX of common file systems
_SHA256 = re.compile(r"[0-9a-f]{64}")


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


def project_to_json(
    spec: NetworkSpec, *, weights: str | None = None, weights_sha256: str | None = None
) -> dict[str, Any]:
    """The JSON object for a spec, in the oldest format version that holds it (see
    `format_version`); `weights` names a weights file beside it and `weights_sha256` its
    hash (which ties the two together, see save_project)."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "version": format_version(spec),
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
