"""Applying a diagnostic's fix: the one place that turns each kind of fix into an edit."""

from __future__ import annotations

from typing import assert_never

from explorer.core.diagnostics import Fix, InsertLayer, RemoveLayer, SetParams, UseAutomaticName
from explorer.core.paths import LayerPath, insert_at, item_at, remove_at, replace_at
from explorer.core.spec import BlockSpec, LayerSpec, NetworkSpec

__all__ = ["apply_fix", "selection_after"]


def _placed(fix: Fix) -> LayerPath:
    if fix.path is None:
        raise ValueError(f"the fix {fix.label!r} names no layer: the analysis places fixes")
    return fix.path


def apply_fix(spec: NetworkSpec, fix: Fix) -> NetworkSpec:
    """The spec with a diagnostic's fix applied; PathError when its layer is not there."""
    path = _placed(fix)
    layers = spec.layers
    match fix:
        case SetParams(changes=changes):
            layer = item_at(layers, path).with_values(**dict(changes))
            return spec.with_layers(replace_at(layers, path, layer))
        case UseAutomaticName():
            layer = item_at(layers, path).with_name(None)
            return spec.with_layers(replace_at(layers, path, layer))
        case InsertLayer(layer_type=layer_type):
            return spec.with_layers(insert_at(layers, path, [LayerSpec.new(layer_type)]))
        case RemoveLayer():
            return spec.with_layers(remove_at(layers, [path]))
        case _:
            assert_never(fix)


def selection_after(spec: NetworkSpec, fix: Fix) -> LayerPath | None:
    """The layer to select once `fix` is applied to `spec`: the one it edited or
    inserted, or the one that took a removed layer's place in its stack (the block holding
    it when its sub-stack is left empty; None when the network is)."""
    path = _placed(fix)
    if isinstance(fix, RemoveLayer):
        parent = path.parent
        if parent is None:
            stack: tuple[object, ...] = spec.layers
        else:
            block = item_at(spec.layers, parent)
            assert isinstance(block, BlockSpec) and path.stack is not None
            stack = block.stacks[path.stack]
        remaining = len(stack) - 1
        if remaining == 0:
            return parent  # the block whose sub-stack it emptied (None: nothing is left)
        return path.sibling(min(path.index, remaining - 1))
    return path
