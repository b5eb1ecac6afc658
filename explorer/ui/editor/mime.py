"""Layers on the clipboard and in drags: our own MIME type plus plain-text JSON.

The text form is a JSON list of layer objects exactly as a project file writes them (a
block with its `"body"` or `"branches"`, so a pasted block keeps its contents), so layers
can be pasted between windows and from (or into) a text editor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import QByteArray, QMimeData

from explorer.core.paths import LayerPath
from explorer.core.project import ProjectError, decode_json, parse_layer
from explorer.core.spec import LayerOrBlock, SpecError

LAYERS_MIME = "application/x-cnn-explorer-layers+json"
# The layer paths of a drag that started in a layer stack, tagged with that stack's
# document so a drop in another window copies instead of moving:
# {"document": id, "paths": [[2], [3]]}. The tag is an object id, so the marker means
# something only in the process that wrote it; nothing reads markers from elsewhere (or
# the rows of older versions), and a drop from elsewhere copies the layers' JSON.
PATHS_MIME = "application/x-cnn-explorer-paths+json"
# A dragged block that asks for N on the drop: {"block": name, "repeat": the N offered}.
BLOCK_MIME = "application/x-cnn-explorer-block+json"


def layers_to_text(layers: Sequence[LayerOrBlock]) -> str:
    return json.dumps([layer.to_json() for layer in layers], indent=2, ensure_ascii=False)


def layers_from_text(text: str) -> list[LayerOrBlock]:
    """Parse a JSON layer (or block) object or list of them; SpecError names what is wrong
    (inside a block, by its path: 'layer 1 › body 2 (Conv2D): ...')."""
    try:
        data: Any = decode_json(text)  # the project files' checks: line and column included
    except ProjectError as error:
        raise SpecError(f"not layer JSON: {error}") from None
    if isinstance(data, dict) and "layers" in data:  # a whole project file
        data = data["layers"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise SpecError("expected a layer object or a list of them")
    return [parse_layer(index, raw) for index, raw in enumerate(data)]


def layers_mime_data(layers: Sequence[LayerOrBlock]) -> QMimeData:
    data = QMimeData()
    text = layers_to_text(layers)
    data.setData(LAYERS_MIME, text.encode("utf-8"))
    data.setText(text)
    return data


def layers_from_mime(data: QMimeData) -> list[LayerOrBlock]:
    """The layers carried by `data` (ours first, then plain text); SpecError if none."""
    if data.hasFormat(LAYERS_MIME):
        return layers_from_text(bytes(data.data(LAYERS_MIME).data()).decode("utf-8"))
    if data.hasText():
        return layers_from_text(data.text())
    raise SpecError("the clipboard holds no layers")


def mark_dragged_paths(data: QMimeData, document: object, paths: Iterable[LayerPath]) -> None:
    """Tag `data` as a drag of the layers at `paths` of `document`'s stack."""
    marker = {"document": id(document), "paths": [path.to_json() for path in paths]}
    data.setData(PATHS_MIME, QByteArray(json.dumps(marker).encode()))


def dragged_paths(data: QMimeData, document: object) -> list[LayerPath] | None:
    """The paths of the dragged layers when the drag started in `document`'s stack."""
    if not data.hasFormat(PATHS_MIME):
        return None
    try:
        marker = json.loads(bytes(data.data(PATHS_MIME).data()).decode())
        if marker["document"] != id(document):
            return None
        return [LayerPath.from_json(path) for path in marker["paths"]]
    except (ValueError, KeyError, TypeError):
        return None
