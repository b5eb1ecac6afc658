"""How layer names survive an edit of the stack: no two layers share a name, and no layer
already in the network is renamed by an edit of its neighbours.

A layer's or block's name is its own (`"name"` in the project) or generated Keras-style
from its type and position in the whole tree (`conv2d_1`), see `NetworkSpec.names`. Rows
are indices into the network's top-level layers; the layers inside a block go with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from explorer.core.block_spec import walk
from explorer.core.paths import LayerPath, item_at, replace_at
from explorer.core.spec import BlockSpec, LayerOrBlock, NetworkSpec


def _without(item: LayerOrBlock, taken: set[str]) -> LayerOrBlock:
    """`item` (and what it holds) dropping the names in `taken`, taking the others."""
    if item.name in taken:
        item = replace(item, name=None)
    elif item.name:
        taken.add(item.name)
    if isinstance(item, BlockSpec):
        stacks = [[_without(inner, taken) for inner in stack] for stack in item.stacks]
        if stacks != [list(stack) for stack in item.stacks]:
            item = replace(item, stacks=tuple(tuple(stack) for stack in stacks))
    return item


def without_taken_names(spec: NetworkSpec, layers: Sequence[LayerOrBlock]) -> list[LayerOrBlock]:
    """`layers` about to be inserted into `spec` (pasted, dropped or duplicated), each
    (and each layer inside a block) dropping a name already taken there (given or
    generated) or by an earlier one of them: two layers may not share one. A layer that
    drops its name gets a generated one."""
    taken = set(spec.names().values())
    return [_without(layer, taken) for layer in layers]


def _relative(item: LayerOrBlock) -> list[LayerPath]:
    """The paths inside a row (the row itself is `(0,)`), in stack order."""
    return [path for path, _ in walk([item])]


def keep_names(
    old: NetworkSpec, layers: Sequence[LayerOrBlock], origin: Sequence[int | None]
) -> tuple[LayerOrBlock, ...]:
    """`layers` after an edit of `old`, named so that no layer already there is renamed.

    `origin[i]` is the row in `old` that `layers[i]` came from (None: a new row). Generated
    names (`conv2d_1`) follow position, so inserting before, removing or moving a layer
    would renumber its neighbours (and the layers inside blocks after it): new layers get
    the next free names instead, and any layer whose generated name would still change
    keeps its old one, written out.
    """
    old_names = old.names()
    items = list(layers)

    def shifted(path: LayerPath, top: int) -> LayerPath:
        return LayerPath((top, *path.steps[1:]))

    def renamed() -> list[tuple[int, LayerPath]]:
        names = old.with_layers(items).names()
        found = []
        for i, row in enumerate(origin):
            if row is None:
                continue
            for path in _relative(items[i]):
                if names[shifted(path, i)] != old_names[shifted(path, row)]:
                    found.append((i, path))
        return found

    if not renamed():
        return tuple(items)
    new_rows = [i for i, row in enumerate(origin) if row is None]
    if new_rows:
        appended = old.with_layers([*old.layers, *(items[i] for i in new_rows)])
        fresh = appended.names()
        for offset, i in enumerate(new_rows):
            top = len(old.layers) + offset
            for path in _relative(items[i]):
                inner = item_at([items[i]], path)
                if inner.name is None:  # generated names are valid names
                    named = replace(inner, name=fresh[shifted(path, top)])
                    items[i] = replace_at([items[i]], path, named)[0]
    # Written-out names take no number from the layers after them, so this settles within
    # as many rounds as there are layers (in practice one).
    for _ in range(sum(len(_relative(item)) for item in items)):
        changed = renamed()
        if not changed:
            break
        for i, path in changed:
            row = origin[i]
            assert row is not None
            inner = item_at([items[i]], path)
            named = replace(inner, name=old_names[shifted(path, row)])
            items[i] = replace_at([items[i]], path, named)[0]
    return tuple(items)
