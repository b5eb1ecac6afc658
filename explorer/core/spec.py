"""Immutable network and layer specs; every edit returns a new spec.

A network is a stack of layers (`LayerSpec`, layer_spec.py) and blocks that hold sub-stacks
(`BlockSpec`, block_spec.py); positions in it are `LayerPath`s (paths.py).

The parts live beside it and are re-exported here, so `explorer.core.spec` stays the one
import path for a spec: the training settings (`training_spec`), what may name a layer
(`names`) and the error with its quoting of values (`spec_errors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from explorer.core.block_spec import BlockSpec, LayerOrBlock, label_of, walk
from explorer.core.layer_spec import LayerSpec, layer_label, where_text
from explorer.core.names import RESERVED_NAMES, check_layer_name, control_character
from explorer.core.params import Kind, Param, ParamError
from explorer.core.paths import LayerPath, insert_at, item_at, move_to, remove_at, replace_at
from explorer.core.spec_errors import SpecError, brief
from explorer.core.training_spec import TRAINING_PARAMS, TrainingSpec

# Re-exported: the spec's import path for everything a spec is made of.
__all__ = [
    "INPUT_PARAMS",
    "NUM_CLASSES",
    "RESERVED_NAMES",
    "TRAINING_PARAMS",
    "BlockSpec",
    "InputSpec",
    "LayerOrBlock",
    "LayerSpec",
    "NetworkSpec",
    "SpecError",
    "TrainingSpec",
    "brief",
    "check_bounded_int",
    "check_layer_name",
    "control_character",
    "layer_label",
]


# ---- the input and the class count --------------------------------------------------------

# Declared once: the project loader checks these bounds, the Input header's spin boxes take
# their ranges and help from them, and `InputSpec.create` / `NetworkSpec.with_num_classes`
# enforce them.
INPUT_PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param(
            "channels",
            Kind.INT,
            1,
            "Input channels (1 for grey images, 3 for colour).",
            minimum=1,
            maximum=4096,
        ),
        Param("height", Kind.INT, 28, "Input image height in pixels.", minimum=1, maximum=16384),
        Param("width", Kind.INT, 28, "Input image width in pixels.", minimum=1, maximum=16384),
    )
}
NUM_CLASSES = Param(
    "num_classes",
    Kind.INT,
    10,
    "Number of classes the network must score.",
    minimum=2,
    maximum=100_000,
)


def check_bounded_int(param: Param, value: object, key: str) -> int:
    """`value` when it is an integer (not a bool, not 28.0) within `param`'s range;
    SpecError naming `key` (as a project file spells it, e.g. 'input.height') otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{key!r}: expected an integer, got {brief(value)}", key=key)
    try:
        param.coerce(value)
    except ParamError as error:
        raise SpecError(f"{key!r}: {error}", key=key) from None
    return value


def _default(param: Param) -> Any:
    return field(default=param.default)


@dataclass(frozen=True)
class InputSpec:
    """The shape of one input image, (C, H, W); defaults and bounds in INPUT_PARAMS."""

    channels: int = _default(INPUT_PARAMS["channels"])
    height: int = _default(INPUT_PARAMS["height"])
    width: int = _default(INPUT_PARAMS["width"])

    @staticmethod
    def create(channels: object, height: object, width: object) -> InputSpec:
        """An input shape from raw values; SpecError naming the key of one out of bounds."""
        raw = {"channels": channels, "height": height, "width": width}
        checked = {
            key: check_bounded_int(INPUT_PARAMS[key], value, f"input.{key}")
            for key, value in raw.items()
        }
        return InputSpec(**checked)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


# ---- the network --------------------------------------------------------------------------

_DEFAULT_TRAINING = TrainingSpec()


@dataclass(frozen=True)
class NetworkSpec:
    """A whole project: input, layers (and blocks), class count and training settings."""

    name: str = "Untitled"
    input: InputSpec = InputSpec()
    num_classes: int = _default(NUM_CLASSES)
    layers: tuple[LayerOrBlock, ...] = ()
    training: TrainingSpec = _DEFAULT_TRAINING
    class_names: tuple[str, ...] = ()

    def with_num_classes(self, count: object) -> NetworkSpec:
        """A copy scoring `count` classes (SpecError when out of bounds); class names that
        no longer fit the count are dropped."""
        count = check_bounded_int(NUM_CLASSES, count, "num_classes")
        names = self.class_names if len(self.class_names) == count else ()
        return replace(self, num_classes=count, class_names=names)

    def architecture(self) -> NetworkSpec:
        """What trained weights depend on: input, layers and class count (not the name,
        class names or training settings). Equal architectures can share weights."""
        return NetworkSpec(input=self.input, num_classes=self.num_classes, layers=self.layers)

    @property
    def has_blocks(self) -> bool:
        """Whether any row is a block (the file then needs format version 2)."""
        return any(isinstance(layer, BlockSpec) for layer in self.layers)

    @property
    def size(self) -> int:
        """How many layers and blocks the tree holds, those in blocks counted (no paths
        made: windows ask this of whatever network they open or edit)."""
        cached: int | None = self.__dict__.get("_size")
        if cached is None:  # worked out once per spec (it never changes)
            cached = _count(self.layers)
            object.__setattr__(self, "_size", cached)
        return cached

    def walk(self) -> Iterator[tuple[LayerPath, LayerOrBlock]]:
        """Every layer and block with its path, in stack order (see `block_spec.walk`)."""
        return walk(self.layers)

    def at(self, path: LayerPath) -> LayerOrBlock:
        """The layer or block at `path`; PathError when there is none."""
        return item_at(self.layers, path)

    def label(self, path: LayerPath) -> str:
        """How messages name a position: 'layer 3', 'layer 3 › body 2 (Conv2D)' with its type
        when there is a layer at it."""
        try:
            type_name: str | None = self.at(path).type
        except LookupError:
            type_name = None
        return where_text(label_of(self.layers, path), type_name)

    def layer_names(self) -> tuple[str, ...]:
        """Each top-level row's name: its own, or Keras-style `<type>_<n>` avoiding taken
        names (numbered across the whole tree, see `names`)."""
        cached: tuple[str, ...] | None = self.__dict__.get("_top_names")
        if cached is None:  # worked out once per spec (it never changes)
            # `names` holds the rows in stack order: the top-level ones are those of one step
            cached = tuple(name for path, name in self.names().items() if len(path.steps) == 1)
            object.__setattr__(self, "_top_names", cached)
        return cached

    def names(self) -> dict[LayerPath, str]:
        """Every layer's and block's name by path, in stack order: its own, or Keras-style
        `<type>_<n>` avoiding taken names, numbered in stack order through the blocks."""
        cached: dict[LayerPath, str] | None = self.__dict__.get("_names")
        if cached is None:  # worked out once per spec (it never changes)
            cached = self._names()
            object.__setattr__(self, "_names", cached)
        return cached

    def names_after(self, before: NetworkSpec) -> dict[LayerPath, str]:
        """`names()`, taken over from `before` (the spec before an edit, say) when it has
        worked its own out and the edit cannot have changed them: as many rows, and each
        row that is not `before`'s very one a layer (not a block) with the same own name
        and the same base of automatic names (`conv2d` of `conv2d_7`) as the row it
        replaces. Numbering counts rows by base name, so it numbers them as before.

        Editing one layer's settings in a network of thousands leaves every name as it
        was, and working them out again takes tens of milliseconds."""
        cached: dict[LayerPath, str] | None = self.__dict__.get("_names")
        known: dict[LayerPath, str] | None = before.__dict__.get("_names")
        if cached is not None or known is None or len(self.layers) != len(before.layers):
            return self.names()
        for mine, theirs in zip(self.layers, before.layers, strict=True):
            if mine is not theirs and (
                isinstance(mine, BlockSpec)
                or isinstance(theirs, BlockSpec)
                or mine.name != theirs.name
                or mine.entry.base_name != theirs.entry.base_name
            ):
                return self.names()
        # Shared, as `names()` shares its own: neither spec changes, nor may its callers.
        object.__setattr__(self, "_names", known)
        for kept in ("_top_names", "_names_end"):  # (numbered alike: where it ended too)
            value = before.__dict__.get(kept)
            if value is not None:
                object.__setattr__(self, kept, value)
        return known

    def name_of(self, path: LayerPath) -> str:
        return self.names()[path]

    def _names(self) -> dict[LayerPath, str]:
        # Run on every edit that adds, removes or renames rows of networks of thousands of
        # layers: one pass with local lookups, and the walk only where there are blocks.
        rows = (
            list(self.walk())
            if self.has_blocks
            else list(zip(map(LayerPath.top, range(len(self.layers))), self.layers, strict=True))
        )
        taken = {item.name for _, item in rows if item.name}
        counters: dict[str, int] = {}
        names = _numbered(rows, counters, taken)
        # where the numbering ended, for the names of rows appended (`names_appended`)
        object.__setattr__(self, "_names_end", (counters, taken))
        return names

    def names_appended(self, items: Sequence[LayerOrBlock]) -> dict[LayerPath, str]:
        """The names `items` (and what they hold) would get appended after the last row, by
        path there: `names()` of the spec with them appended, for them alone. Their own
        names must be free in this spec (as `tree_edits.without_taken_tree_names` leaves
        them): then they change no name of the rows before them."""
        end = self.__dict__.get("_names_end")
        if end is None:  # (names taken over from another spec: `names_after`)
            self._names()
            end = self.__dict__["_names_end"]
        counters, taken = end
        count = len(self.layers)
        rows = [
            (LayerPath((count + path.steps[0], *path.steps[1:])), item)
            for path, item in walk(items)
        ]
        taken = taken | {item.name for _, item in rows if item.name}
        return _numbered(rows, dict(counters), taken)

    def with_layers(self, layers: Iterable[LayerOrBlock]) -> NetworkSpec:
        return replace(self, layers=tuple(layers))

    # ---- edits by path (a layer anywhere in the tree) ----------------------------------

    def insert_at(self, path: LayerPath, *layers: LayerOrBlock) -> NetworkSpec:
        """Insert before the position `path` (one past the last of its stack appends)."""
        return self.with_layers(insert_at(self.layers, path, layers))

    def remove_paths(self, paths: Iterable[LayerPath]) -> NetworkSpec:
        """Remove the layers and blocks at `paths` (a block with what it holds)."""
        return self.with_layers(remove_at(self.layers, paths))

    def replace_at(self, path: LayerPath, layer: LayerOrBlock) -> NetworkSpec:
        return self.with_layers(replace_at(self.layers, path, layer))

    def move_paths(self, paths: Iterable[LayerPath], destination: LayerPath) -> NetworkSpec:
        """Move the rows at `paths` (kept in order) to sit before `destination` of the tree
        as it is now; into, out of and between sub-stacks alike (see paths.move_to)."""
        return self.with_layers(move_to(self.layers, paths, destination))

    # ---- edits of the top-level stack by row index -------------------------------------

    def insert(self, index: int, *layers: LayerOrBlock) -> NetworkSpec:
        return self.insert_at(LayerPath.top(index), *layers)

    def remove(self, indices: Iterable[int]) -> NetworkSpec:
        return self.remove_paths(map(LayerPath.top, indices))

    def replace_layer(self, index: int, layer: LayerOrBlock) -> NetworkSpec:
        return self.replace_at(LayerPath.top(index), layer)

    def move(self, indices: Iterable[int], destination: int) -> NetworkSpec:
        """Move the layers at `indices` (kept in order) to sit before row `destination`
        of the current list (len(layers) moves them to the end)."""
        return self.move_paths(map(LayerPath.top, indices), LayerPath.top(destination))

    def validate_names(self) -> None:
        """Raise SpecError when two layers or blocks share an explicit name."""
        seen: dict[str, LayerPath] = {}
        for path, name in self.names().items():
            if name in seen:
                raise SpecError(
                    f"{self.label(path)}: name {name!r} is already used by "
                    f"{label_of(self.layers, seen[name])}",
                    path=path,
                    key="name",
                )
            seen[name] = path


def _numbered(
    rows: Sequence[tuple[LayerPath, LayerOrBlock]], counters: dict[str, int], taken: set[str]
) -> dict[LayerPath, str]:
    """Each row's name: its own, or Keras-style `<type>_<n>` numbered on from `counters`
    (by base name) and avoiding `taken`; both are updated as names are given."""
    names: dict[LayerPath, str] = {}
    bases: dict[str, str] = {}  # type -> base name
    for path, item in rows:
        if item.name:
            names[path] = item.name
            continue
        base = bases.get(item.type)
        if base is None:
            base = bases[item.type] = item.entry.base_name
        n = counters.get(base, 0) + 1
        candidate = f"{base}_{n}"
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        counters[base] = n
        taken.add(candidate)
        names[path] = candidate
    return names


def _count(items: Sequence[LayerOrBlock]) -> int:
    return len(items) + sum(
        _count(stack) for item in items if isinstance(item, BlockSpec) for stack in item.stacks
    )
