"""How an analysis went, layer by layer, so that the analysis of an edit can reuse it.

`analyze(spec, previous=...)` takes over the results of the rows before the edit and,
once the state after the edited rows is the one it was, of the rows after it, even where
an insert, removal or move shifted them and their automatic names: a row's results do not
depend on its name or its place, apart from the name and path they carry (set again here),
its diagnostics (a row that has any is analysed again) and whether it is the output.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, TypeAlias

from explorer.core.advice import OutputPosition
from explorer.core.layer_analysis import LayerAnalysis, ReceptiveField
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerOrBlock, NetworkSpec
from explorer.core.stack_walk import Flow, Fork, Source, Spatial, Walker, same_windows
from explorer.core.vocabulary.layer_type import Reach, Shape
from explorer.core.walk_parts import grown

if TYPE_CHECKING:
    from explorer.core.analysis import Analysis

# What the analysis of a row depends on besides the row, the names and its position: the
# flow reaching it (stack_walk.Flow), and how many sources and windowed layers came
# before it.
State: TypeAlias = tuple[Shape | None, ReceptiveField | None, bool, str | None, int, int]
Names: TypeAlias = dict[LayerPath, str]


class Trail:
    """How an analysis went, layer by layer, so that the analysis of an edited spec can
    take over the layers before the edit and, once the state after the edited layers is
    the one it was, the layers after it."""

    def __init__(
        self,
        spec: NetworkSpec,
        names: Names,
        position: OutputPosition,
        states: list[State],
        spatial: list[Spatial],
        base: Analysis | None,
    ) -> None:
        self.spec = spec  # whose names the spec of an edit may take over (names_after)
        self.layers = spec.layers
        self.input = spec.input
        self.batch_size = spec.training.batch_size
        self.names = names
        self.position = position
        self.states = states  # before each layer
        self.spatial = spatial
        self.base = base  # the analysis it was made from, until its nodes are reused


def continued_trail(previous: Analysis | None, spec: NetworkSpec) -> Trail | None:
    """The trail of `previous` when its rows can stand in for those of `spec`'s that did
    not change: the same input and batch size."""
    trail = previous._trail if previous is not None else None
    if (
        trail is None
        or not spec.layers
        or not trail.layers
        or trail.input != spec.input
        or trail.batch_size != spec.training.batch_size
    ):
        return None
    return trail


def alike(new: LayerOrBlock, old: LayerOrBlock) -> bool:
    """Whether two items are the same apart from names (theirs and those inside them)."""
    if new is old:
        return True
    if type(new) is not type(old) or new.type != old.type or new.values != old.values:
        return False
    if isinstance(new, BlockSpec):
        assert isinstance(old, BlockSpec)
        return len(new.stacks) == len(old.stacks) and all(
            len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b, strict=True))
            for a, b in zip(new.stacks, old.stacks, strict=True)
        )
    return True


def common_rows(
    layers: tuple[LayerOrBlock, ...], old_layers: tuple[LayerOrBlock, ...]
) -> tuple[int, int]:
    """(start, end): rows before `start` are alike at the same place, and rows after `end`
    (up to the last, which is always analysed again) are alike to the old rows as many
    rows from the old end. Neither reaches the old or the new last row."""
    last, old_last = len(layers) - 1, len(old_layers) - 1
    start, limit = 0, min(last, old_last)
    while start < limit and alike(layers[start], old_layers[start]):
        start += 1
    delta = last - old_last
    end = last - 1
    while end >= start and end - delta >= start and alike(layers[end], old_layers[end - delta]):
        end -= 1
    return start, end


class Takeover:
    """Hands the results of old rows to the rows of the edited spec that stand where they
    did or moved: the very results where nothing around them changed, the results with
    their new name and place where that is all that changed, else the row analysed again."""

    def __init__(
        self,
        old: Trail,
        previous: Analysis,
        walker: Walker,
        names: Names,
        position: OutputPosition,
    ) -> None:
        self.old = old
        self.previous = previous
        self.walker = walker
        self.names = names
        self.position = position
        self.same_names = old.names is names or old.names == names
        # rows before this one have the names they had: their results stand as they are
        self.same_until = (
            len(old.layers) if self.same_names else _same_names_until(old.names, names)
        )
        self.same_position = old.position == position
        self._first: dict[str, LayerPath] | None = None  # each name's first path, once asked
        # windows since the edit found the same as before (up to), or not
        self._windows_same = 0
        self._windows_differ = False
        # With as many rows, where the names differ: the rows at those paths, and the
        # names, whose layers' name errors (a name used twice) may come or go.
        self.renamed_rows: set[int] | None = None
        self.renamed: set[str] = set()
        if not self.same_names and len(old.names) == len(names):
            self.renamed_rows = set()
            for (path, name), (old_path, old_name) in zip(
                names.items(), old.names.items(), strict=True
            ):
                if path != old_path or name != old_name:
                    self.renamed_rows.update((path.steps[0], old_path.steps[0]))
                    self.renamed.update((name, old_name))

    def rows(
        self,
        row: int,
        old_row: int,
        count: int,
        results: list[LayerAnalysis],
        states: list[State],
        sources: list[Source],
        spatial: list[Spatial],
    ) -> Flow:
        """Results for the `count` rows from `row`, which are alike to those from `old_row`
        and reached by the state that reached them; returns the flow after them."""
        old, previous = self.old, self.previous
        end = old_row + count
        bulk = min(count, self.same_until - row) if row == old_row else 0
        if bulk > 0 and self._hidden(row + bulk - 1, old_row + bulk - 1):
            # Nothing a row's results depend on changed: the very results, in one slice.
            stop = old_row + bulk
            n_sources, n_spatial = old.states[old_row][4:]
            end_sources, end_spatial = old.states[stop][4:]
            results.extend(previous.layers[old_row:stop])
            more_sources, more_spatial = len(sources) - n_sources, len(spatial) - n_spatial
            if more_sources or more_spatial:  # (the rows before hold more or fewer)
                states.extend(
                    (*state[:4], state[4] + more_sources, state[5] + more_spatial)
                    for state in old.states[old_row:stop]
                )
            else:
                states.extend(old.states[old_row:stop])
            sources.extend(previous.module_sources[n_sources:end_sources])
            spatial.extend(old.spatial[n_spatial:end_spatial])
        else:
            bulk = 0
        layers = self.walker.spec.layers
        for offset in range(bulk, count):
            new, was = row + offset, old_row + offset
            before, after = old.states[was], old.states[was + 1]
            flow: Flow = (before[0], before[1], before[2], before[3])
            taken = (
                previous.layers[was]
                if self._unchanged(new, was, layers[new])
                else self._taken(new, was, layers[new])
            )
            if taken is None:
                states.append((*flow, len(sources), len(spatial)))
                result, _ = self.walker.item(
                    LayerPath.top(new), layers[new], flow, sources, spatial
                )
                results.append(result)
                continue
            states.append((*flow, len(sources), len(spatial)))
            results.append(taken)
            sources.extend(previous.module_sources[before[4] : after[4]])
            spatial.extend(old.spatial[before[5] : after[5]])
        after = old.states[end]
        return (after[0], after[1], after[2], after[3])

    def converged(self, row: int, state: Flow, spatial: list[Spatial], start: int) -> bool:
        """Whether the state reaching old row `row` is the one reaching the row being
        analysed now (analysed again from row `start`), down to the windows whose coverage
        a later Flatten or Dense works out."""
        old = self.old
        before = old.states[row]
        if before[:4] != state:
            return False
        # the windowed layers since the edit: their maps' sizes and windows (not channels);
        # those compared stay as they are, so each pair is compared once
        first = old.states[start][5]
        if before[5] != len(spatial) or self._windows_differ:
            return False
        for index in range(max(first, self._windows_same), len(spatial)):
            if not same_windows(spatial[index], old.spatial[index]):
                self._windows_differ = True
                return False
        self._windows_same = len(spatial)
        return True

    def widened(
        self,
        row: int,
        old_row: int,
        flow: Flow,
        results: list[LayerAnalysis],
        states: list[State],
        sources: list[Source],
        spatial: list[Spatial],
    ) -> Flow | None:
        """The results for layer `row`, alike to old row `old_row`, when the flow reaching
        it is the one that reached that row but for the receptive field, taken from that
        row with the field grown by its window; returns the flow after it. None (nothing
        done) where more than the field changed, or the row works out a coverage (a
        block, Flatten or Dense), or its results may not stand in (see `_taken`)."""
        old = self.old
        before, after = old.states[old_row], old.states[old_row + 1]
        shape, rf, downsampled, activation = flow
        if (
            before[0] != shape
            or before[2] != downsampled
            or before[3] != activation
            or rf is None
            or before[1] is None
            or (rf.jump is None) != (before[1].jump is None)
        ):
            return None
        item = self.walker.spec.layers[row]
        if isinstance(item, BlockSpec) or (
            rf.jump is not None and item.entry.reach is Reach.WHOLE_INPUT
        ):
            return None
        windows = old.spatial[before[5] : after[5]]
        grown_rf = rf
        if rf.jump is not None and windows:
            window = windows[0]
            assert not isinstance(window, Fork)
            grown_rf = grown(rf, window[2])
        taken = self._taken(row, old_row, item, grown_rf)
        if taken is None:
            return None
        states.append((*flow, len(sources), len(spatial)))
        results.append(taken)
        sources.extend(self.previous.module_sources[before[4] : after[4]])
        spatial.extend(windows)
        return (after[0], grown_rf, after[2], after[3])

    def _hidden(self, row: int, old_row: int) -> bool:
        """Whether rows up to `row` (now) and `old_row` (before) are before the output in
        both specs, or the output is where it was: their output advice is the same."""
        return self.same_position or (
            self.position.hidden(row) and self.old.position.hidden(old_row)
        )

    def _unchanged(self, row: int, old_row: int, item: LayerOrBlock) -> bool:
        """Whether the results of old row `old_row` stand as they are for `item` at `row`:
        the same place and names, no name of its own that the edit used or freed."""
        if row != old_row or self.renamed_rows is None or row in self.renamed_rows:
            return False
        if not self._hidden(row, old_row):
            return False
        if isinstance(item, BlockSpec):
            return not any(
                inner.name in self.renamed for _, inner in _walk_item(LayerPath.top(row), item)
            )
        return item.name is None or item.name not in self.renamed

    def _taken(
        self, row: int, old_row: int, item: LayerOrBlock, field: ReceptiveField | None = None
    ) -> LayerAnalysis | None:
        """Old row `old_row`'s results for `item` at `row` (with the receptive field
        `field`, if given), or None when they may not stand in (they carry diagnostics,
        the output moved past it, its new names are wrong)."""
        result = self.previous.layers[old_row]
        if not (self.position.hidden(row) and self.old.position.hidden(old_row)):
            return None
        if not isinstance(item, BlockSpec) and not result.children:
            return self._moved_layer(row, item, result, field)
        if result.diagnostics or (
            result.children and any(inner.diagnostics for inner in result.walk())
        ):
            return None
        at = LayerPath.top(row)
        if isinstance(item, BlockSpec):
            if any(self.walker.misnamed(path, inner) for path, inner in _walk_item(at, item)):
                return None
        elif not self._well_named(at, item, result):
            return None
        if (
            field is None
            and row == old_row
            and not result.children
            and result.name == self.names[at]
        ):
            return result  # where it was, as it was
        return _relocated(result, row, self.names, field)

    def _moved_layer(
        self, row: int, layer: LayerOrBlock, result: LayerAnalysis, field: ReceptiveField | None
    ) -> LayerAnalysis | None:
        """`_taken` of a layer (before the output in both specs): thousands of rows after an
        insert or removal go through here, so it is `_taken` and `_relocated` in one."""
        if result.diagnostics:
            return None
        at = LayerPath.top(row)
        if layer.name is not None and not self._well_named(at, layer, result):
            return None
        name = self.names[at]
        if field is None and result.index == row and result.name == name:
            return result  # where it was, as it was
        moved = object.__new__(LayerAnalysis)  # a copy: `replace` would check every field
        values = moved.__dict__
        values.update(result.__dict__)
        values["index"], values["name"], values["path"] = row, name, at
        if field is not None:
            values["receptive_field"] = field
        return moved

    def _well_named(self, at: LayerPath, layer: LayerOrBlock, result: LayerAnalysis) -> bool:
        """Whether the layer at `at` has no name error. An edit writes out the names of
        thousands of layers it would renumber: a layer whose results had no error under
        the same name, and where no earlier one takes it, has none (its name is valid)."""
        if layer.name is None:
            return True
        if layer.name == result.name:
            if self._first is None:
                first: dict[str, LayerPath] = {}
                for path, name in self.names.items():
                    first.setdefault(name, path)
                self._first = first
            if self._first.get(layer.name) == at:
                return True
        return self.walker.misnamed(at, layer) is None


def _same_names_until(old: Names, new: Names) -> int:
    """The first top-level row whose names (its own, or inside it) are not what they
    were at the same paths (both name tables list the rows in stack order)."""
    pairs = 0
    for (path, name), (old_path, old_name) in zip(new.items(), old.items(), strict=False):
        if path != old_path or name != old_name:
            return min(path.steps[0], old_path.steps[0])
        pairs += 1
    longer = new if len(new) > len(old) else old
    if pairs == len(longer):
        return next(reversed(longer)).steps[0] + 1 if longer else 0
    return next(itertools.islice(longer, pairs, None)).steps[0]


def _walk_item(at: LayerPath, item: LayerOrBlock) -> list[tuple[LayerPath, LayerOrBlock]]:
    found = [(at, item)]
    if isinstance(item, BlockSpec):
        for which, stack in enumerate(item.stacks):
            for index, inner in enumerate(stack):
                found += _walk_item(at.child(which, index), inner)
    return found


def _relocated(
    result: LayerAnalysis, row: int, names: Names, field: ReceptiveField | None = None
) -> LayerAnalysis:
    """`result` (of a top-level row, or of something inside one) as the results of the
    same item in top-level row `row`, under its name there (and with the receptive field
    `field`, if given, for a layer)."""
    assert result.path is not None
    steps = result.path.steps
    path = LayerPath.top(row) if len(steps) == 1 else LayerPath((row, *steps[1:]))
    children = tuple(
        tuple(_relocated(inner, row, names) for inner in stack) for stack in result.children
    )
    moved = object.__new__(LayerAnalysis)  # a copy: `replace` would check every field again
    moved.__dict__.update(result.__dict__)
    moved.__dict__.update(
        index=row if len(steps) == 1 else result.index,
        name=names[path],
        path=path,
        children=children,
    )
    if field is not None:
        moved.__dict__["receptive_field"] = field
    return moved
