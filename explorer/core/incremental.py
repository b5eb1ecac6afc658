"""How an analysis went, layer by layer, so that the analysis of an edit can reuse it.

`analyze(spec, previous=...)` takes over the results of the layers before the edit and,
once the state after the edited layers is the one it was, of the layers after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from explorer.core.advice import OutputPosition
from explorer.core.spec import NetworkSpec
from explorer.core.vocabulary.geometry import Window
from explorer.core.vocabulary.layer_type import LayerType, Shape

if TYPE_CHECKING:
    from explorer.core.analysis import Analysis, ReceptiveField

# What the analysis of a layer depends on besides the layer, its name and its position:
# the input shape and receptive field reaching it, whether the maps were downsampled
# before it, the last activation before it, and how many sources and windowed layers
# came before it.
State: TypeAlias = "tuple[Shape | None, ReceptiveField | None, bool, str | None, int, int]"


class Trail:
    """How an analysis went, layer by layer, so that the analysis of an edited spec can
    take over the layers before the edit and, once the state after the edited layers is
    the one it was, the layers after it."""

    def __init__(
        self,
        spec: NetworkSpec,
        names: tuple[str, ...],
        position: OutputPosition,
        states: list[State],
        spatial: list[tuple[Shape, Shape, Window]],
        base: Analysis | None,
    ) -> None:
        self.layers = spec.layers
        self.input = spec.input
        self.batch_size = spec.training.batch_size
        self.names = names
        self.position = position
        self.states = states  # before each layer
        self.spatial = spatial
        self.base = base  # the analysis it was made from, until its nodes are reused


def continued_trail(
    previous: Analysis | None, spec: NetworkSpec, names: tuple[str, ...], position: OutputPosition
) -> Trail | None:
    """The trail of `previous` when its layers can stand in for those of `spec`'s that
    did not change: the same input, batch size, layer count, names and output layer."""
    trail = previous._trail if previous is not None else None
    if (
        trail is None
        or not spec.layers
        or trail.input != spec.input
        or trail.batch_size != spec.training.batch_size
        or trail.position != position
        or trail.names != names
    ):
        return None
    return trail


def converged(
    old: Trail,
    index: int,
    state: tuple[Shape | None, ReceptiveField | None, bool, str | None],
    sources: list[tuple[LayerType, Shape, Shape, dict[str, Any]]],
    spatial: list[tuple[Shape, Shape, Window]],
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
    return all(
        (new[0][1:], new[1][1:], new[2]) == (was[0][1:], was[1][1:], was[2])
        for new, was in zip(spatial[first:], old.spatial[first : before[5]], strict=True)
    )
