"""How an analysis went, layer by layer, so that the analysis of an edit can reuse it.

`analyze(spec, previous=...)` takes over the results of the layers before the edit and,
once the state after the edited layers is the one it was, of the layers after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from explorer.core.advice import OutputPosition
from explorer.core.layer_analysis import ReceptiveField
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.core.stack_walk import Flow, Source, Spatial, same_windows
from explorer.core.vocabulary.layer_type import Shape

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


def continued_trail(
    previous: Analysis | None, spec: NetworkSpec, names: Names, position: OutputPosition
) -> Trail | None:
    """The trail of `previous` when its layers can stand in for those of `spec`'s that
    did not change: the same input, batch size, rows, names (and paths) and output row."""
    trail = previous._trail if previous is not None else None
    if (
        trail is None
        or not spec.layers
        or trail.input != spec.input
        or trail.batch_size != spec.training.batch_size
        or trail.position != position
        or (trail.names is not names and trail.names != names)
    ):
        return None
    return trail


def converged(
    old: Trail,
    index: int,
    state: Flow,
    sources: list[Source],
    spatial: list[Spatial],
    start: int,
) -> bool:
    """Whether the state reaching layer `index` is the one that reached it before the
    edit (analysed again from layer `start`), down to the windows whose coverage a later
    Flatten or Dense works out."""
    before = old.states[index]
    if before[:4] != state or before[4:] != (len(sources), len(spatial)):
        return False
    # the windowed layers since the edit: their maps' sizes and windows (not channels)
    first = old.states[start][5]
    pairs = zip(spatial[first:], old.spatial[first : before[5]], strict=True)
    return all(same_windows(new, was) for new, was in pairs)
