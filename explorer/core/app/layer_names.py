"""How layer names survive an edit of the stack: no two layers share a name, and no layer
already in the network is renamed by an edit of its neighbours.

A layer's name is its own (`"name"` in the project) or generated Keras-style from its type
and position (`conv2d_1`), see `NetworkSpec.layer_names`. Rows are indices into the
network's top-level layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from explorer.core.spec import LayerSpec, NetworkSpec


def without_taken_names(spec: NetworkSpec, layers: Sequence[LayerSpec]) -> list[LayerSpec]:
    """`layers` about to be inserted into `spec` (pasted, dropped or duplicated), each
    dropping a name already taken there (given or generated) or by an earlier one of them:
    two layers may not share one. A layer that drops its name gets a generated one."""
    taken = set(spec.layer_names())
    fresh = []
    for layer in layers:
        if layer.name in taken:
            layer = layer.with_name(None)
        elif layer.name:
            taken.add(layer.name)
        fresh.append(layer)
    return fresh


def keep_names(
    old: NetworkSpec, layers: Sequence[LayerSpec], origin: Sequence[int | None]
) -> tuple[LayerSpec, ...]:
    """`layers` after an edit of `old`, named so that no layer already there is renamed.

    `origin[i]` is the row in `old` that `layers[i]` came from (None: a new layer). Generated
    names (`conv2d_1`) follow position, so inserting before, removing or moving a layer
    would renumber its neighbours: new layers get the next free names instead, and any layer
    whose generated name would still change keeps its old one, written out.
    """
    old_names = old.layer_names()
    items = list(layers)

    def renamed() -> list[int]:
        names = old.with_layers(items).layer_names()
        return [i for i, row in enumerate(origin) if row is not None and names[i] != old_names[row]]

    if not renamed():
        return tuple(items)
    new_rows = [i for i, row in enumerate(origin) if row is None and items[i].name is None]
    if new_rows:
        appended = old.with_layers([*old.layers, *(items[i] for i in new_rows)])
        fresh = appended.layer_names()[len(old.layers) :]
        for i, name in zip(new_rows, fresh, strict=True):
            items[i] = replace(items[i], name=name)  # generated names are valid names
    # Written-out names take no number from the layers after them, so this settles within
    # as many rounds as there are layers (in practice one).
    for _ in range(len(items)):
        changed = renamed()
        if not changed:
            break
        for i in changed:
            row = origin[i]
            assert row is not None
            items[i] = replace(items[i], name=old_names[row])
    return tuple(items)
