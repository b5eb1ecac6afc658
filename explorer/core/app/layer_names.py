"""How layer names survive an edit of the stack: no two layers share a name, and no layer
already in the network is renamed by an edit of its neighbours.

A layer's name is its own (`"name"` in the project) or generated Keras-style from its type
and position (`conv2d_1`), see `NetworkSpec.layer_names`. Rows are indices into the
network's top-level layers.
"""

from __future__ import annotations

from collections.abc import Sequence

from explorer.core.app.tree_edits import keep_tree_names, without_taken_tree_names
from explorer.core.paths import LayerPath
from explorer.core.spec import LayerOrBlock, NetworkSpec


def without_taken_names(spec: NetworkSpec, layers: Sequence[LayerOrBlock]) -> list[LayerOrBlock]:
    """`layers` about to be inserted into `spec` (pasted, dropped or duplicated), each
    dropping a name already taken there (given or generated) or by an earlier one of them:
    two layers may not share one. A layer that drops its name gets a generated one."""
    return without_taken_tree_names(spec, layers)


def keep_names(
    old: NetworkSpec, layers: Sequence[LayerOrBlock], origin: Sequence[int | None]
) -> tuple[LayerOrBlock, ...]:
    """`layers` after an edit of `old`, named so that no layer already there is renamed.

    `origin[i]` is the row in `old` that `layers[i]` came from (None: a new layer). Generated
    names (`conv2d_1`) follow position, so inserting before, removing or moving a layer
    would renumber its neighbours: new layers get the next free names instead, and any layer
    whose generated name would still change keeps its old one, written out (see
    `tree_edits.keep_tree_names`, which does so through blocks too).
    """
    by_path = {
        LayerPath.top(i): None if row is None else LayerPath.top(row)
        for i, row in enumerate(origin)
    }
    return keep_tree_names(old, layers, by_path)
