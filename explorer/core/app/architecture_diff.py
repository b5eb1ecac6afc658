"""What changed between two networks: the input, the class count, the training settings and
the layers added, removed or changed (with each changed key's old and new value).

Rows are matched stack by stack, down through blocks: a row with an explicit name matches the
row of that name; the others are aligned as a sequence (difflib.SequenceMatcher on each row's
type and keys), and within a stretch that does not align, rows of the same type are paired as
changed ones. A block matched to a block is compared key by key and then sub-stack by
sub-stack, so a layer changed inside a residual body is reported at its nested path.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from explorer.core.block_spec import BlockSpec, LayerOrBlock
from explorer.core.params import to_json
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec

ChangeKind = Literal["added", "removed", "changed"]
ADDED: Final = "added"
REMOVED: Final = "removed"
CHANGED: Final = "changed"
_MARKS = {ADDED: "+", REMOVED: "-", CHANGED: "~"}


@dataclass(frozen=True)
class ValueChange:
    """One key with its value before and after (JSON values: lists, not tuples)."""

    key: str
    old: Any
    new: Any

    def describe(self) -> str:
        """'filters 32 → 64'."""
        return f"{self.key} {self.values()}"

    def values(self) -> str:
        """'32 → 64'."""
        return f"{_text(self.old)} → {_text(self.new)}"


@dataclass(frozen=True)
class LayerChange:
    """A row added (only `new_path`), removed (only `old_path`) or changed (both, with the
    keys that differ). `type` and `name` are the row's in the network that has it (the new
    one for a change)."""

    kind: ChangeKind
    old_path: LayerPath | None
    new_path: LayerPath | None
    type: str
    name: str
    changes: tuple[ValueChange, ...] = ()


@dataclass(frozen=True)
class ArchitectureDiff:
    """Every difference between `old` and `new`, rows in the new network's order (removed
    rows where they stood)."""

    old: NetworkSpec
    new: NetworkSpec
    input: ValueChange | None
    num_classes: ValueChange | None
    layers: tuple[LayerChange, ...]
    training: tuple[ValueChange, ...]

    @property
    def same_architecture(self) -> bool:
        return self.input is None and self.num_classes is None and not self.layers

    def lines(self) -> list[str]:
        """The diff as text, one line per difference: '~ layer 1 (Conv2D) conv2d_1:
        filters 32 → 64'; '+' added, '-' removed (at its place in the old network)."""
        lines = [f"  {change.describe()}" for change in (self.input, self.num_classes) if change]
        for change in self.layers:
            removed = change.kind == REMOVED
            spec, path = (self.old, change.old_path) if removed else (self.new, change.new_path)
            assert path is not None
            where = spec.label(path)
            keys = ", ".join(value.describe() for value in change.changes)
            tail = f": {keys}" if keys else ""
            lines.append(f"{_MARKS[change.kind]} {where} {change.name}{tail}")
        if not lines:
            lines.append("  the same architecture")
        if self.training:
            described = ", ".join(change.describe() for change in self.training)
            lines.append(f"  training: {described}")
        return lines

    def summary(self) -> str:
        """'2 added, 1 removed, 3 changed' (or 'the same architecture')."""
        counts = {kind: sum(c.kind == kind for c in self.layers) for kind in _MARKS}
        parts = [f"{count} {kind}" for kind, count in counts.items() if count]
        parts += [change.key for change in (self.input, self.num_classes) if change]
        return ", ".join(parts) if parts else "the same architecture"


def diff_specs(old: NetworkSpec, new: NetworkSpec) -> ArchitectureDiff:
    """The differences from `old` to `new` (see the module docstring for how rows match)."""
    input_change = None
    if old.input != new.input:
        input_change = ValueChange("input", list(old.input.shape), list(new.input.shape))
    classes = None
    if old.num_classes != new.num_classes:
        classes = ValueChange("num_classes", old.num_classes, new.num_classes)
    matcher = _Matcher(old, new)
    matcher.stack(old.layers, new.layers, None, None)
    old_training, new_training = old.training.to_json(), new.training.to_json()
    training = tuple(
        ValueChange(key, old_training[key], new_training[key])
        for key in new_training
        if old_training[key] != new_training[key]
    )
    return ArchitectureDiff(old, new, input_change, classes, tuple(matcher.changes), training)


def _token(item: LayerOrBlock) -> tuple[str, ...]:
    """What aligns rows: an explicit name, else the type and every key (blocks without what
    they hold, so a block whose body changed still aligns with itself)."""
    if item.name:
        return ("name", item.name)
    values = json.dumps({k: to_json(v) for k, v in item.resolved_view().items()}, sort_keys=True)
    return ("row", item.type, values)


def _at(prefix: LayerPath | None, index: int) -> LayerPath:
    return LayerPath.top(index) if prefix is None else prefix.sibling(index)


class _Matcher:
    """Walks two trees side by side, collecting `changes` in the new tree's order."""

    def __init__(self, old: NetworkSpec, new: NetworkSpec) -> None:
        self.old_names = old.names()
        self.new_names = new.names()
        self.changes: list[LayerChange] = []

    def stack(
        self,
        old: Sequence[LayerOrBlock],
        new: Sequence[LayerOrBlock],
        old_first: LayerPath | None,
        new_first: LayerPath | None,
    ) -> None:
        """Compare two stacks whose first positions are `old_first` and `new_first` (None:
        the top-level stack)."""
        tokens = difflib.SequenceMatcher(
            None, [_token(i) for i in old], [_token(i) for i in new], autojunk=False
        )
        for tag, o1, o2, n1, n2 in tokens.get_opcodes():
            if tag == "equal":
                for o, n in zip(range(o1, o2), range(n1, n2), strict=True):
                    self.pair(old[o], new[n], _at(old_first, o), _at(new_first, n))
            else:
                self.unaligned(old, new, range(o1, o2), range(n1, n2), old_first, new_first)

    def unaligned(
        self,
        old: Sequence[LayerOrBlock],
        new: Sequence[LayerOrBlock],
        old_rows: range,
        new_rows: range,
        old_first: LayerPath | None,
        new_first: LayerPath | None,
    ) -> None:
        """A stretch that does not align: rows of the same type pair up in order (changed);
        the rest are removed or added."""
        types = difflib.SequenceMatcher(
            None, [old[o].type for o in old_rows], [new[n].type for n in new_rows], autojunk=False
        )
        for tag, o1, o2, n1, n2 in types.get_opcodes():
            if tag == "equal":
                for o, n in zip(old_rows[o1:o2], new_rows[n1:n2], strict=True):
                    self.pair(old[o], new[n], _at(old_first, o), _at(new_first, n))
                continue
            for o in old_rows[o1:o2]:
                self.removed(old[o], _at(old_first, o))
            for n in new_rows[n1:n2]:
                self.added(new[n], _at(new_first, n))

    def pair(
        self, old: LayerOrBlock, new: LayerOrBlock, old_path: LayerPath, new_path: LayerPath
    ) -> None:
        """Two matched rows: a change when a key, the explicit name or the type (rows matched
        by name) differ, then their sub-stacks, one by one."""
        old_name, new_name = self.old_names[old_path], self.new_names[new_path]
        changes: list[ValueChange] = []
        if old.type != new.type:
            changes.append(ValueChange("type", old.type, new.type))
        # Default names shift as rows come and go; only a name the user gave is a change.
        if old.name != new.name:
            changes.append(ValueChange("name", old_name, new_name))
        old_values, new_values = old.resolved_view(), new.resolved_view()
        for key in [*old_values, *(k for k in new_values if k not in old_values)]:
            before, after = _json(old_values.get(key)), _json(new_values.get(key))
            if not _same(before, after):
                changes.append(ValueChange(key, before, after))
        old_stacks = old.stacks if isinstance(old, BlockSpec) else ()
        new_stacks = new.stacks if isinstance(new, BlockSpec) else ()
        if len(old_stacks) != len(new_stacks) and isinstance(new, BlockSpec):
            changes.append(ValueChange(new.entry.json_key, len(old_stacks), len(new_stacks)))
        if changes:
            self.changes.append(
                LayerChange(CHANGED, old_path, new_path, new.type, new_name, tuple(changes))
            )
        for which in range(max(len(old_stacks), len(new_stacks))):
            old_stack = old_stacks[which] if which < len(old_stacks) else ()
            new_stack = new_stacks[which] if which < len(new_stacks) else ()
            self.stack(old_stack, new_stack, old_path.child(which, 0), new_path.child(which, 0))

    def removed(self, item: LayerOrBlock, path: LayerPath) -> None:
        """A removed row; what a removed block held goes with it and is not listed."""
        name = self.old_names[path]
        self.changes.append(LayerChange(REMOVED, path, None, item.type, name))

    def added(self, item: LayerOrBlock, path: LayerPath) -> None:
        name = self.new_names[path]
        self.changes.append(LayerChange(ADDED, None, path, item.type, name))


def _json(value: Any) -> Any:
    """A key's value as a project file writes it; None for a key the row's type lacks."""
    return None if value is None else to_json(value)


def _same(old: Any, new: Any) -> bool:
    """Equal values, counting a size given once as the same size on every axis (kernel
    3 and [3, 3] build the same layer)."""
    if old == new:
        return True
    for single, pair in ((old, new), (new, old)):
        if isinstance(single, int) and isinstance(pair, list) and pair:
            return all(value == single for value in pair)
    return False


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
