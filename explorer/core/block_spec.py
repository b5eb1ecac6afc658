"""A block of the stack: a row that holds sub-stacks of layers and blocks.

A `BlockSpec` is edited as a layer is (its keys are validated by the same checks, its name
follows the same rules); its `stacks` are a residual block's body or a parallel block's
branches (see `explorer.core.vocabulary.blocks`). An empty sub-stack passes its input on
unchanged (a DenseNet-style branch that concatenates the input itself).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, Union

from explorer.core.layer_spec import (
    LayerSpec,
    _Keyed,
    checked_name,
    checked_values,
    where_text,
)
from explorer.core.params import Param, Value, to_json
from explorer.core.paths import LayerPath
from explorer.core.spec_errors import SpecError
from explorer.core.vocabulary.blocks import BLOCK_TYPES, BlockType

__all__ = ["BlockSpec", "LayerOrBlock", "walk"]

LayerOrBlock: TypeAlias = Union[LayerSpec, "BlockSpec"]


@dataclass(frozen=True)
class BlockSpec(_Keyed):
    """One block: its type, the keys the user set, its sub-stacks and an optional name."""

    type: str
    values: tuple[tuple[str, Value], ...] = ()
    stacks: tuple[tuple[LayerOrBlock, ...], ...] = ()
    name: str | None = None

    @staticmethod
    def create(
        type_name: str,
        values: Mapping[str, Any] | None = None,
        stacks: Sequence[Sequence[LayerOrBlock]] = (),
        *,
        name: str | None = None,
        path: LayerPath | None = None,
        label: str | None = None,
    ) -> BlockSpec:
        """Validate raw (JSON) values and the number of sub-stacks; SpecError naming the
        culprit (`path` and `label` as for `LayerSpec.create`)."""
        if label is None and path is not None:
            label = path.label()
        where = "" if label is None else f"{where_text(label, type_name)}: "
        entry = BLOCK_TYPES[type_name]
        stored = checked_values(entry.params, dict(values or {}), where=where, path=path)
        held = tuple(tuple(stack) for stack in stacks)
        if not entry.min_stacks <= len(held) <= entry.max_stacks:
            wanted = (
                f"exactly {entry.min_stacks}"
                if entry.min_stacks == entry.max_stacks
                else f"{entry.min_stacks} to {entry.max_stacks}"
            )
            raise SpecError(
                f"{where}a {type_name} block holds {wanted} {entry.json_key}, got {len(held)}",
                path=path,
                key=entry.json_key,
            )
        return BlockSpec(type_name, stored, held, checked_name(name, where=where, path=path))

    @staticmethod
    def new(type_name: str, stacks: Sequence[Sequence[LayerOrBlock]] | None = None) -> BlockSpec:
        """A block as the palette drops it: empty sub-stacks (as few as it may hold) unless
        `stacks` are given."""
        entry = BLOCK_TYPES[type_name]
        held = stacks if stacks is not None else [() for _ in range(entry.min_stacks)]
        return BlockSpec.create(type_name, {}, held)

    @property
    def entry(self) -> BlockType:
        return BLOCK_TYPES[self.type]

    @property
    def is_block(self) -> bool:
        return True

    @property
    def declarations(self) -> tuple[Param, ...]:
        return self.entry.params

    @property
    def repeat(self) -> int:
        value: int = self.resolved_view()["repeat"]
        return value

    def with_values(self, **changes: Any) -> BlockSpec:
        """A copy with keys changed; a value of None returns the key to its default."""
        merged: dict[str, Any] = {key: to_json(value) for key, value in self.values}
        merged.update(changes)
        return BlockSpec.create(
            self.type,
            {k: v for k, v in merged.items() if v is not None},
            self.stacks,
            name=self.name,
        )

    def with_name(self, name: str | None) -> BlockSpec:
        return BlockSpec.create(self.type, self.json_values(), self.stacks, name=name)

    def with_stacks(self, stacks: Sequence[Sequence[LayerOrBlock]]) -> BlockSpec:
        return BlockSpec.create(self.type, self.json_values(), stacks, name=self.name)

    def stack_label(self, stack: int) -> str:
        return self.entry.stack_label(stack)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            data["name"] = self.name
        data.update(self.json_values())
        stacks = [[item.to_json() for item in stack] for stack in self.stacks]
        data[self.entry.json_key] = stacks[0] if self.entry.max_stacks == 1 else stacks
        return data

    def describe(self) -> str:
        """One line for the stack, e.g. 'Residual ×3 · auto shortcut · relu'."""
        return self.entry.describe(self.resolved_view(), len(self.stacks))


def walk(
    items: Sequence[LayerOrBlock], prefix: LayerPath | None = None
) -> Iterator[tuple[LayerPath, LayerOrBlock]]:
    """Every layer and block of a stack with its path, in stack order (a block before what
    it holds, its sub-stacks in order)."""
    for index, item in enumerate(items):
        path = LayerPath.top(index) if prefix is None else prefix.sibling(index)
        yield path, item
        if isinstance(item, BlockSpec):
            for which, stack in enumerate(item.stacks):
                if stack:
                    yield from walk(stack, path.child(which, 0))


def label_of(items: Sequence[LayerOrBlock], path: LayerPath) -> str:
    """How messages name the position `path` of `items`, with the sub-stacks named by the
    blocks on the way: 'layer 3 › body 2', 'layer 4 › branch 2 › 1'."""
    labels: list[str] = []
    stack: Sequence[LayerOrBlock] = items
    for level in range(0, len(path.steps) - 1, 2):
        index, which = path.steps[level], path.steps[level + 1]
        block = stack[index] if index < len(stack) else None
        if not isinstance(block, BlockSpec) or which >= len(block.stacks):
            return path.label()
        labels.append(block.stack_label(which))
        stack = block.stacks[which]
    return path.label(labels)
