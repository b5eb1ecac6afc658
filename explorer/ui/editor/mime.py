"""Layers on the clipboard and in drags: our own MIME type plus plain-text JSON.

The text form is a JSON list of layer objects exactly as a project file writes them, so
layers can be pasted between windows and from (or into) a text editor.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QMimeData

from explorer.core.project import ProjectError, decode_json, parse_layer
from explorer.core.spec import LayerSpec, SpecError

LAYERS_MIME = "application/x-cnn-explorer-layers+json"
# Rows of a drag that started in a layer stack, tagged with that stack's document so a
# drop in another window copies instead of moving.
ROWS_MIME = "application/x-cnn-explorer-rows"
# A dragged block that asks for N on the drop: {"block": name, "repeat": the N offered}.
BLOCK_MIME = "application/x-cnn-explorer-block+json"


def layers_to_text(layers: Sequence[LayerSpec]) -> str:
    return json.dumps([layer.to_json() for layer in layers], indent=2, ensure_ascii=False)


def layers_from_text(text: str) -> list[LayerSpec]:
    """Parse a JSON layer object or list of them; SpecError names what is wrong."""
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


def layers_mime_data(layers: Sequence[LayerSpec]) -> QMimeData:
    data = QMimeData()
    text = layers_to_text(layers)
    data.setData(LAYERS_MIME, text.encode("utf-8"))
    data.setText(text)
    return data


def layers_from_mime(data: QMimeData) -> list[LayerSpec]:
    """The layers carried by `data` (ours first, then plain text); SpecError if none."""
    if data.hasFormat(LAYERS_MIME):
        return layers_from_text(bytes(data.data(LAYERS_MIME).data()).decode("utf-8"))
    if data.hasText():
        return layers_from_text(data.text())
    raise SpecError("the clipboard holds no layers")
