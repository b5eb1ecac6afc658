"""What each row of the layer stack shows, by role: a layer's or a block's row (from the
analysis result the row holds) and a block's own rows (branch header, empty sub-stack,
merge)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from explorer.core.blocks import resolve_shortcut
from explorer.core.diagnostics import ShapeError
from explorer.core.spec import BlockSpec, NetworkSpec
from explorer.core.summary import format_count, format_shape
from explorer.core.vocabulary.blocks import RESIDUAL
from explorer.ui.editor.stack_tree import Node, RowKind

NAME_ROLE = Qt.ItemDataRole.UserRole + 1
SHAPE_ROLE = Qt.ItemDataRole.UserRole + 2
PARAMS_ROLE = Qt.ItemDataRole.UserRole + 3
TYPE_ROLE = Qt.ItemDataRole.UserRole + 4
SEVERITY_ROLE = Qt.ItemDataRole.UserRole + 5  # "error", "warning" or None
KIND_ROLE = Qt.ItemDataRole.UserRole + 6  # "item", "block", "header", "empty" or "merge"
MACS_ROLE = Qt.ItemDataRole.UserRole + 7
MERGE_ROLE = Qt.ItemDataRole.UserRole + 8  # a block's shortcut or merge
HEALTH_ROLE = Qt.ItemDataRole.UserRole + 9  # the live run's badge: "61% dead", or None
CONTENT_ROLES = [
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.ToolTipRole,
    NAME_ROLE,
    SHAPE_ROLE,
    PARAMS_ROLE,
    TYPE_ROLE,
    SEVERITY_ROLE,
    MACS_ROLE,
    MERGE_ROLE,
]


def item_data(node: Node, role: int, spec: NetworkSpec) -> Any:
    """What an item row (a layer or a block) shows in `role`."""
    item = node.item
    assert item is not None
    if role == TYPE_ROLE:
        return item.type
    if role == NAME_ROLE:
        return node.name
    layer = node.shown
    if role == Qt.ItemDataRole.DisplayRole:
        if isinstance(item, BlockSpec) or layer is None:
            return item.describe()
        return layer.description
    if role == SHAPE_ROLE:
        return format_shape(layer.output_shape) if layer is not None else "?"
    if role == PARAMS_ROLE:
        return f"{layer.params:,}" if layer is not None and layer.known else "?"
    if role == MACS_ROLE:
        return format_count(layer.macs) if layer is not None and layer.known else "?"
    if role == SEVERITY_ROLE:
        diagnostic = None if layer is None else layer.diagnostic
        return None if diagnostic is None else diagnostic.severity.value
    if role == Qt.ItemDataRole.ToolTipRole:
        name = node.name
        lines = [f"{name}: {spec.label(node.position())} · {item.describe()}"]
        if layer is None:
            return "\n".join(lines)
        lines += [f"{'Error' if d.is_error else 'Warning'}: {d.text()}" for d in layer.diagnostics]
        if not layer.known and not layer.error:
            lines.append("Output shape unknown: an earlier layer has an error.")
        return "\n".join(lines)
    return None


def other_data(node: Node, role: int) -> Any:
    """What a block's other rows show in `role`: a branch header, an empty sub-stack, the
    merge."""
    block_node = node.block_node() if node.kind is RowKind.EMPTY else node.parent
    block = block_node.item if block_node is not None else None
    if not isinstance(block, BlockSpec):
        return None
    if role == TYPE_ROLE:
        return block.type
    if role == MERGE_ROLE:
        return block.get("shortcut") if block.type == RESIDUAL.name else block.get("merge")
    if node.kind is RowKind.EMPTY:
        if role == Qt.ItemDataRole.DisplayRole:
            return "drop layers here"
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"An empty {block.entry.stack_name}: it passes its input on unchanged. "
                "Drag layers here to fill it."
            )
        return None
    assert block_node is not None
    if node.kind is RowKind.HEADER:
        return _header_data(node, block, role)
    return _merge_data(block_node, block, role)


def _header_data(node: Node, block: BlockSpec, role: int) -> Any:
    held = block.stacks[node.stack] if node.stack < len(block.stacks) else ()
    if role == Qt.ItemDataRole.DisplayRole:
        count = len(held)
        if not count:
            return f"Branch {node.stack + 1} · empty: its input as it is"
        return f"Branch {node.stack + 1} · {count} layer{'s' if count != 1 else ''}"
    if role == SHAPE_ROLE:
        last = node.children[-1].shown if held else None
        if last is None:
            whole = _up(node).shown
            return format_shape(whole.input_shape) if whole is not None and not held else "?"
        return format_shape(last.output_shape)
    if role == Qt.ItemDataRole.ToolTipRole:
        return f"Branch {node.stack + 1} of {_up(node).name}"
    return None


def _merge_data(block_node: Node, block: BlockSpec, role: int) -> Any:
    whole = block_node.shown
    if role == Qt.ItemDataRole.DisplayRole:
        activation = block.get("activation")
        then = f", then {activation}" if activation != "linear" else ""
        if block.type == RESIDUAL.name:
            return f"add the shortcut: {_shortcut_text(block_node, block)}{then}"
        return f"{block.get('merge')} the {len(block.stacks)} branches{then}"
    if role == SHAPE_ROLE:
        return format_shape(whole.output_shape) if whole is not None else "?"
    if role == SEVERITY_ROLE:
        diagnostic = None if whole is None else whole.diagnostic
        return None if diagnostic is None else diagnostic.severity.value
    if role == Qt.ItemDataRole.ToolTipRole:
        name = block_node.name
        repeat = f", ×{block.repeat}" if block.repeat > 1 else ""
        return f"Where {name}'s {block.entry.json_key} merge{repeat}: its output"
    return None


def _shortcut_text(block_node: Node, block: BlockSpec) -> str:
    """The shortcut a residual block asks for, with what `auto` picks for its first copy
    when the shapes are known: 'identity (auto)'."""
    requested = str(block.get("shortcut"))
    whole = block_node.shown
    body = [child for child in block_node.children if child.kind is RowKind.ITEM]
    body_shape = (
        body[-1].shown.output_shape
        if body and body[-1].shown is not None
        else (whole.input_shape if whole is not None and not body else None)
    )
    if requested != "auto" or whole is None or whole.input_shape is None or body_shape is None:
        return requested
    try:
        return f"{resolve_shortcut(requested, whole.input_shape, body_shape).value} (auto)"
    except ShapeError:
        return requested


def _up(node: Node) -> Node:
    assert node.parent is not None
    return node.parent
