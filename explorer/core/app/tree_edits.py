"""Edits of the layer tree as the window makes them, with what each did: where every item
came from, and names that no edit of a neighbour changes.

An edit is written once, as a function of the items and a `Maker`; it is run on the real
items and on a *shadow* tree of `Origin`s, where each item is replaced by where it was. The
shadow after the edit says, for every position, which item of the old tree is there (None:
a new one), deep inside blocks too: the names of the old items are kept from it (as
`layer_names.keep_names` does for the top-level rows), and the window's stack moves just
the rows that moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from explorer.core.paths import LayerPath, insert_at, item_at, outermost, remove_at, replace_at
from explorer.core.spec import BlockSpec, LayerOrBlock, NetworkSpec

__all__ = [
    "REAL",
    "Edit",
    "EditResult",
    "Maker",
    "Origin",
    "add_branch_edit",
    "apply_edit",
    "can_wrap",
    "keep_tree_names",
    "remove_branch_edit",
    "unwrap_edit",
    "unwrap_text",
    "without_taken_tree_names",
    "wrap_edit",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Origin:
    """Stands for one item of the tree in the shadow of an edit: where it was before the
    edit (None: it is new), with the shadows of its sub-stacks (a block's)."""

    was: LayerPath | None
    stacks: tuple[tuple[Origin, ...], ...] = ()

    def with_stacks(self, stacks: Sequence[Sequence[Origin]]) -> Origin:
        return Origin(self.was, tuple(tuple(stack) for stack in stacks))


class Maker(Protocol, Generic[T]):
    """What an edit needs to make items of the tree it runs on (real items or shadows)."""

    def new(self, item: LayerOrBlock) -> T:
        """A new item (pasted, dropped, duplicated) as the tree holds it."""
        ...

    def block(self, template: BlockSpec, stacks: Sequence[Sequence[T]]) -> T:
        """A new block like `template`, holding `stacks`."""
        ...


class _Real:
    def new(self, item: LayerOrBlock) -> LayerOrBlock:
        return item

    def block(self, template: BlockSpec, stacks: Sequence[Sequence[Any]]) -> Any:
        return template.with_stacks(stacks)


class _Shadow:
    def new(self, item: LayerOrBlock) -> Origin:
        return _fresh(item)

    def block(self, template: BlockSpec, stacks: Sequence[Sequence[Any]]) -> Any:
        return Origin(None, tuple(tuple(stack) for stack in stacks))


REAL = _Real()
_SHADOW = _Shadow()

# An edit: the items after it, from the items before and a maker of new ones.
Edit = Callable[[Sequence[Any], "Maker[Any]"], tuple[Any, ...]]


def _fresh(item: LayerOrBlock) -> Origin:
    if isinstance(item, BlockSpec):
        return Origin(None, tuple(tuple(_fresh(x) for x in stack) for stack in item.stacks))
    return Origin(None)


# The shadows of top-level layers (not blocks), made once each: every edit of a network of
# thousands of rows runs on a shadow of all of them.
_TOP_SHADOWS: list[Origin] = []


def _shadow(items: Sequence[LayerOrBlock], prefix: LayerPath | None = None) -> tuple[Origin, ...]:
    if prefix is None:
        while len(_TOP_SHADOWS) < len(items):
            _TOP_SHADOWS.append(Origin(LayerPath.top(len(_TOP_SHADOWS))))
        if not any(isinstance(item, BlockSpec) for item in items):
            return tuple(_TOP_SHADOWS[: len(items)])
    shadows = []
    for index, item in enumerate(items):
        path = LayerPath.top(index) if prefix is None else prefix.sibling(index)
        stacks: tuple[tuple[Origin, ...], ...] = ()
        if isinstance(item, BlockSpec):
            stacks = tuple(
                _shadow(stack, path.child(which, 0)) for which, stack in enumerate(item.stacks)
            )
        shadows.append(Origin(path, stacks))
    return tuple(shadows)


def _walk(
    items: Sequence[Origin], prefix: LayerPath | None = None
) -> Iterator[tuple[LayerPath, Origin]]:
    for index, item in enumerate(items):
        path = LayerPath.top(index) if prefix is None else prefix.sibling(index)
        yield path, item
        for which, stack in enumerate(item.stacks):
            yield from _walk(stack, path.child(which, 0))


@dataclass(frozen=True)
class EditResult:
    """The items after an edit, named, and where each came from: `origin` by path (every
    position in the tree), `top_origin` the top-level row each top-level row was (None:
    new, or come from inside a block). `spec` is the spec before the edit holding them, its
    names worked out already (see `NetworkSpec.names`)."""

    layers: tuple[LayerOrBlock, ...]
    origin: dict[LayerPath, LayerPath | None]
    top_origin: tuple[int | None, ...]
    spec: NetworkSpec


def apply_edit(spec: NetworkSpec, edit: Edit) -> EditResult:
    """Run `edit` on `spec`'s items and on their shadow; the result keeps every old item's
    name (see `keep_tree_names`)."""
    layers = edit(spec.layers, REAL)
    shadow = edit(_shadow(spec.layers), _SHADOW)
    if any(item.stacks for item in shadow):
        origin = {path: item.was for path, item in _walk(shadow)}
    else:  # (top-level rows alone: no walk through them)
        paths = map(LayerPath.top, range(len(shadow)))
        origin = dict(zip(paths, [item.was for item in shadow], strict=True))
    top = tuple(
        item.was.steps[0] if item.was is not None and item.was.depth == 1 else None
        for item in shadow
    )
    named = _kept_names(spec, layers, origin)
    return EditResult(named.layers, origin, top, named)


def keep_tree_names(
    old: NetworkSpec,
    layers: Sequence[LayerOrBlock],
    origin: dict[LayerPath, LayerPath | None],
) -> tuple[LayerOrBlock, ...]:
    """`layers` after an edit of `old`, named so that no item already there is renamed.

    `origin[path]` is where the item at `path` was in `old` (None: a new item). Generated
    names follow position through the whole tree, so an edit would renumber items after it:
    new items get the next free names instead (as if appended), and any old item whose
    generated name would still change keeps its old one, written out."""
    return _kept_names(old, layers, origin).layers


def _kept_names(
    old: NetworkSpec,
    layers: Sequence[LayerOrBlock],
    origin: dict[LayerPath, LayerPath | None],
) -> NetworkSpec:
    """`keep_tree_names`, as `old` holding the named items, whose names are worked out (an
    edit of thousands of rows works them out once or twice, not once more per use)."""
    old_names = old.names()
    spec = old.with_layers(layers)

    def renamed() -> list[LayerPath]:
        names = spec.names()
        return [
            path
            for path, was in origin.items()
            if was is not None and names.get(path) != old_names.get(was)
        ]

    # A new row before an old one of its type renumbers it (and every later one): then the
    # new rows are named at once, and the names worked out once, not twice.
    renumbers = _renumbers_later_rows(spec, origin)
    changed = [] if renumbers else renamed()
    if not changed and not renumbers:
        return spec
    items = spec.layers
    new_paths = [
        path for path, was in origin.items() if was is None and item_at(items, path).name is None
    ]
    if new_paths:
        tops = outermost(path for path, was in origin.items() if was is None)
        fresh_names = old.names_appended([item_at(items, top) for top in tops])
        named: dict[LayerPath, str] = {}
        for path in new_paths:
            top = next(top for top in tops if top.contains(path))
            row = len(old.layers) + tops.index(top)
            named[path] = fresh_names[LayerPath((row, *path.steps[len(top.steps) :]))]
        spec = old.with_layers(_named(items, named))
        changed = renamed()
    for _ in range(len(origin)):  # settles in as many rounds as there are items (in practice one)
        if not changed:
            break
        kept: dict[LayerPath, str] = {}
        for path in changed:
            was = origin[path]
            assert was is not None
            kept[path] = old_names[was]
        spec = old.with_layers(_named(spec.layers, kept))
        changed = renamed()
    return spec


def _renumbers_later_rows(spec: NetworkSpec, origin: dict[LayerPath, LayerPath | None]) -> bool:
    """Whether, in a stack without blocks, a new row without a name of its own comes before
    an old one of the same type, which then takes another automatic number."""
    if spec.has_blocks:
        return False
    layers = spec.layers
    new_types: set[str] = set()
    for path, was in origin.items():  # in row order
        item = layers[path.steps[0]]
        if item.name is None:
            if was is None:
                new_types.add(item.type)
            elif item.type in new_types:
                return True
    return False


def _named(
    items: tuple[LayerOrBlock, ...], names: dict[LayerPath, str]
) -> tuple[LayerOrBlock, ...]:
    """`items` with the item at each path of `names` given that name: the top-level rows in
    one copy of the stack (an edit may write out the names of thousands of them)."""
    rows = list(items)
    deeper = []
    for path, name in names.items():
        if path.depth == 1:
            rows[path.steps[0]] = replace(rows[path.steps[0]], name=name)
        else:
            deeper.append((path, name))
    named = tuple(rows)
    for path, name in deeper:  # (a block's row renamed above keeps its sub-stacks)
        named = replace_at(named, path, replace(item_at(named, path), name=name))
    return named


def without_taken_tree_names(
    spec: NetworkSpec, items: Sequence[LayerOrBlock]
) -> list[LayerOrBlock]:
    """`items` about to be inserted into `spec` (pasted, dropped, duplicated), each of them
    and everything inside them dropping a name already taken in `spec` or by an earlier
    one: no two items share a name."""
    taken = set(spec.names().values())

    def fresh(item: LayerOrBlock) -> LayerOrBlock:
        if item.name in taken:
            item = item.with_name(None)
        elif item.name:
            taken.add(item.name)
        if isinstance(item, BlockSpec):
            item = item.with_stacks([[fresh(x) for x in stack] for stack in item.stacks])
        return item

    return [fresh(item) for item in items]


# ---- the edits of blocks ------------------------------------------------------------------


def can_wrap(paths: Sequence[LayerPath]) -> bool:
    """Whether the items at `paths` can go into one new block: all in one stack."""
    chosen = outermost(paths)
    return bool(chosen) and all(p.steps[:-1] == chosen[0].steps[:-1] for p in chosen)


def wrap_edit(paths: Sequence[LayerPath], type_name: str) -> Edit:
    """The items at `paths` (of one stack) into a new block at the first's place: its first
    sub-stack (a residual block's body, a parallel block's branch 1 beside an empty one)."""
    chosen = outermost(paths)
    template = BlockSpec.new(type_name)

    def wrap(items: Sequence[Any], maker: Maker[Any]) -> tuple[Any, ...]:
        moved = [item_at(items, path) for path in chosen]
        stacks = [moved, *([] for _ in template.stacks[1:])]
        rest = remove_at(items, chosen)
        return insert_at(rest, chosen[0], [maker.block(template, stacks)])

    return wrap


def unwrap_edit(path: LayerPath) -> Edit:
    """The block at `path` replaced by what its first sub-stack holds."""

    def unwrap(items: Sequence[Any], maker: Maker[Any]) -> tuple[Any, ...]:
        body = item_at(items, path).stacks[0]
        return insert_at(remove_at(items, [path]), path, body)

    return unwrap


def unwrap_text(spec: NetworkSpec, path: LayerPath) -> str:
    """What unwrapping the block at `path` does, naming what goes with it: 'Unwrap
    residual_1, dropping its shortcut, the relu after the merge'."""
    block = spec.at(path)
    assert isinstance(block, BlockSpec)
    if block.entry.max_stacks == 1:
        dropped = ["its shortcut"]
    else:
        others = sum(len(stack) for stack in block.stacks[1:])
        last = len(block.stacks)
        which = "branch 2" if last == 2 else f"branches 2–{last}"
        dropped = [f"{which} ({others} layer{'s' if others != 1 else ''})"]
    if block.get("activation") != "linear":
        dropped.append(f"the {block.get('activation')} after the merge")
    if block.repeat > 1:
        dropped.append(f"its ×{block.repeat}")
    return f"Unwrap {spec.name_of(path)}, dropping {', '.join(dropped)}"


def add_branch_edit(path: LayerPath) -> Edit:
    """An empty sub-stack after the last of the block at `path`."""

    def add(items: Sequence[Any], maker: Maker[Any]) -> tuple[Any, ...]:
        block = item_at(items, path)
        return replace_at(items, path, block.with_stacks([*block.stacks, ()]))

    return add


def remove_branch_edit(path: LayerPath, stack: int) -> Edit:
    """The block at `path` without its sub-stack `stack` (and what that holds)."""

    def remove(items: Sequence[Any], maker: Maker[Any]) -> tuple[Any, ...]:
        block = item_at(items, path)
        held = block.stacks
        return replace_at(items, path, block.with_stacks([*held[:stack], *held[stack + 1 :]]))

    return remove
