"""Static analysis of a network spec: shapes, parameters, cost, receptive fields, diagnostics.

`analyze` is pure and fast (no torch) so the editor can run it on every edit. Shapes are
(C, H, W) or (N,) without the batch dimension; memory is float32 bytes for one image.
After the first error, later layers are unknown (shapes None) rather than guessed.

The walk goes through blocks: every layer inside one is analysed where it stands (its
path), and a block's row totals what it holds. This module is the walk of the top-level
rows and its results; one row is analysed by stack_walk.py (a block by block_walk.py),
every per-type rule comes from the layer registry, the advice beyond the shape rules from
advice.py, and the reuse of an analysis for an edit of its spec from incremental.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace

from explorer.core.advice import OutputPosition, output_problem, scores_key, size_problems
from explorer.core.diagnostics import Diagnostic, Severity
from explorer.core.incremental import (
    State,
    Takeover,
    Trail,
    common_rows,
    continued_trail,
)
from explorer.core.layer_analysis import LayerAnalysis, ReceptiveField
from explorer.core.memory import (
    BYTES_PER_ELEMENT,
    NodeOrBranches,
    TrainingMemory,
    finished,
    training_memory_steps,
)
from explorer.core.optimizers import DEFAULT_OPTIMIZER
from explorer.core.paths import LayerPath, PathError
from explorer.core.spec import NetworkSpec
from explorer.core.stack_walk import Source, Spatial, Walker, nodes_of
from explorer.core.vocabulary.layer_type import AdviceContext, Shape

__all__ = ["BYTES_PER_ELEMENT", "Analysis", "LayerAnalysis", "ReceptiveField", "analyze"]

_NODES_SLICE = 250  # layers whose autograd nodes one slice of `training_memory_steps` makes


@dataclass(frozen=True)
class Analysis:
    input_shape: Shape
    layers: tuple[LayerAnalysis, ...]
    network_diagnostics: tuple[Diagnostic, ...]
    trainable_params: int
    non_trainable_params: int
    macs: int
    forward_bytes: int
    # per known layer (a block: per copy, holding its contents'), what its autograd nodes
    # are worked out from when the memory estimate is asked (see stack_walk.Source)
    module_sources: tuple[Source, ...] = field(default=(), repr=False, compare=False)
    # how it was reached, for analysing an edit of it (see `analyze(previous=...)`)
    _trail: Trail | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def autograd_nodes(self) -> tuple[NodeOrBranches, ...]:
        """The autograd nodes of the known layers, in order, a block's as `Branches`
        (see memory.py)."""
        return tuple(node for nodes in finished(self._nodes_steps()) for node in nodes)

    def _nodes_steps(self) -> Generator[None, None, tuple[tuple[NodeOrBranches, ...], ...]]:
        """The autograd nodes of each source, worked out a slice of layers at a time and
        kept once all are (an abandoned walk keeps nothing)."""
        done: tuple[tuple[NodeOrBranches, ...], ...] | None = self.__dict__.get("_nodes")
        if done is not None:
            return done
        # The layers an edit left alone keep their sources (the very objects): their nodes
        # are those the analysis before the edit worked out, if it did.
        known: dict[int, tuple[NodeOrBranches, ...]] = {}
        base = self._trail.base if self._trail is not None else None
        if base is not None and "_nodes" in base.__dict__:
            known = {
                id(source): nodes
                for source, nodes in zip(base.module_sources, base.__dict__["_nodes"], strict=True)
            }
        made: list[tuple[NodeOrBranches, ...]] = []
        new = 0
        for source in self.module_sources:
            nodes = known.get(id(source))
            if nodes is None:
                nodes = nodes_of(source)
                new += 1
                if new % _NODES_SLICE == 0:
                    yield
            made.append(nodes)
        if self._trail is not None:
            self._trail.base = None  # no longer needed
        done = tuple(made)
        self.__dict__["_nodes"] = done  # as functools.cached_property keeps its value
        return done

    @functools.cached_property
    def _memory(self) -> dict[tuple[str, float, float], TrainingMemory]:
        return {}

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def param_bytes(self) -> int:
        return self.params * BYTES_PER_ELEMENT

    @functools.cached_property
    def every_layer(self) -> tuple[LayerAnalysis, ...]:
        """`walk()`, kept: every layer's and block's analysis, in stack order."""
        return tuple(self.walk())

    @functools.cached_property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """The network's diagnostics, then every layer's and block's in stack order."""
        per_layer = (d for layer in self.every_layer for d in layer.diagnostics)
        return self.network_diagnostics + tuple(per_layer)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def output_shape(self) -> Shape | None:
        return self.layers[-1].output_shape if self.layers else self.input_shape

    def windows_before(self, index: int) -> tuple[Spatial, ...]:
        """The windowed layers and blocks (a `Fork` per copy) from the input to top-level
        row `index` (all of them for an index past the last row), for the input pixels a
        position there can see (walk_parts.axis_steps, coverage.py)."""
        trail = self._trail
        if trail is None:
            return ()
        if index >= len(trail.states):
            return tuple(trail.spatial)
        return tuple(trail.spatial[: trail.states[index][5]])

    def walk(self) -> Iterator[LayerAnalysis]:
        """Every layer's and block's analysis, in stack order (a block before its contents)."""
        for layer in self.layers:
            yield from layer.walk()

    def at(self, path: LayerPath) -> LayerAnalysis:
        """The analysis of the layer or block at `path`; PathError when there is none."""
        layers: Sequence[LayerAnalysis] = self.layers
        steps = path.steps
        for level in range(0, len(steps) - 1, 2):
            index, stack = steps[level], steps[level + 1]
            if index >= len(layers) or stack >= len(layers[index].children):
                raise PathError(f"the analysis has no {path}")
            layers = layers[index].children[stack]
        if path.index >= len(layers):
            raise PathError(f"the analysis has no {path}")
        return layers[path.index]

    def training_memory(
        self, optimizer: str = DEFAULT_OPTIMIZER, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> TrainingMemory:
        """What one training step holds, as autograd keeps it (see memory.py)."""
        return finished(self.training_memory_steps(optimizer, momentum, weight_decay))

    def training_memory_steps(
        self, optimizer: str = DEFAULT_OPTIMIZER, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> Generator[None, None, TrainingMemory]:
        """`training_memory` a slice at a time (the layers' autograd nodes, then the walk
        over them; see memory.training_memory_steps): a window works it out between its
        events. It returns the estimate, kept once worked out."""
        key = (optimizer, momentum, weight_decay)
        memory = self._memory.get(key)
        if memory is None:
            per_source = yield from self._nodes_steps()
            memory = yield from training_memory_steps(
                math.prod(self.input_shape),
                tuple(node for nodes in per_source for node in nodes),
                self.non_trainable_params,
                optimizer=optimizer,
                momentum=momentum,
                weight_decay=weight_decay,
            )
            self._memory[key] = memory
        return memory

    def training_memory_bytes(
        self,
        batch_size: int,
        optimizer: str = DEFAULT_OPTIMIZER,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> int:
        """Estimated peak memory of a training step with this batch size, in bytes:
        weights, gradients, optimizer state and temporaries, and the activations autograd
        keeps for the backward pass while it frees them as it goes."""
        return self.training_memory(optimizer, momentum, weight_decay).peak_bytes(batch_size)


def analyze(spec: NetworkSpec, previous: Analysis | None = None) -> Analysis:
    """Analyse every layer and block of `spec`; never raises for a well-formed spec.

    `previous`, the analysis of the spec before an edit, lends its results for the
    top-level rows the edit cannot have changed: the result equals the analysis from
    scratch (an edit inside a block analyses that block's row again).
    """
    input_shape: Shape = spec.input.shape
    # an edit of one layer's settings keeps every name: they come from the spec before it
    trail = previous._trail if previous is not None else None
    names = spec.names_after(trail.spec) if trail is not None else spec.names()
    last = len(spec.layers) - 1
    # The last row that can give the class scores does: output advice belongs to it alone.
    output_dense = next(  # looked for from the end: it is most often the last row
        (i for i in range(len(spec.layers) - 1, -1, -1) if scores_key(spec.layers[i])), None
    )
    position = OutputPosition(last, output_dense)
    # what the types' advice may look at, before and after the maps were first shrunk
    contexts = {shrunk: AdviceContext(shrunk, spec.training.batch_size) for shrunk in (False, True)}
    walker = Walker(spec, position, contexts, (spec.input.height, spec.input.width))
    results: list[LayerAnalysis] = []
    flow: tuple[Shape | None, ReceptiveField | None, bool, str | None] = (
        input_shape,
        ReceptiveField((1, 1), (1, 1)),
        False,
        None,
    )
    sources: list[Source] = []
    spatial: list[Spatial] = []  # windowed layers and blocks so far
    states: list[State] = []
    layers = spec.layers

    start, changed_end, delta = 0, -1, 0
    old = continued_trail(previous, spec)
    takeover = None
    if old is not None:
        assert previous is not None
        takeover = Takeover(old, previous, walker, names, position)
        # the rows before the first one the edit changed, and those after the last one
        # (as many rows from the end as before: an insert or removal shifts them); the
        # last row is always analysed again (the network's output advice is added to it)
        start, changed_end = common_rows(layers, old.layers)
        delta = len(layers) - len(old.layers)
        flow = takeover.rows(0, 0, start, results, states, sources, spatial)
        if previous._trail is not None:
            previous._trail.base = None  # one analysis back at most: no chain of them
    else:
        previous = None

    following = start
    while following <= last:
        index = following
        if old is not None and takeover is not None and changed_end < index < last:
            if takeover.converged(index - delta, flow, spatial, start):
                # From here on the rows and the state reaching them are those before the
                # edit: so are their results, up to the last row.
                flow = takeover.rows(
                    index, index - delta, last - index, results, states, sources, spatial
                )
                index = last
                old = None
            else:
                # the same maps as before, seen through more or fewer windows (a
                # convolution inserted or removed): the results with the field grown
                after = takeover.widened(
                    index, index - delta, flow, results, states, sources, spatial
                )
                if after is not None:
                    flow, following = after, index + 1
                    continue
        following = index + 1
        states.append((*flow, len(sources), len(spatial)))
        result, flow = walker.item(LayerPath.top(index), layers[index], flow, sources, spatial)
        results.append(result)

    network: list[Diagnostic] = []
    shape = flow[0]
    if not spec.layers:
        network.append(
            Diagnostic(
                Severity.ERROR,
                "the network has no layers: drag layers from the palette or start from a template",
            )
        )
    elif shape is not None:
        wrong_output = output_problem(spec, shape)
        if wrong_output:
            results[-1] = replace(results[-1], diagnostics=(*results[-1].diagnostics, wrong_output))

    known = [r for r in results if r.known]
    network.extend(size_problems(known, math.prod(input_shape)))
    trainable = non_trainable = macs = elements = 0
    for r in known:  # one pass: thousands of rows are summed on every edit
        trainable += r.trainable_params
        non_trainable += r.non_trainable_params
        macs += r.macs
        elements += r.activation_elements
    return Analysis(
        input_shape=input_shape,
        layers=tuple(results),
        network_diagnostics=tuple(network),
        trainable_params=trainable,
        non_trainable_params=non_trainable,
        macs=macs,
        forward_bytes=(math.prod(input_shape) + elements) * BYTES_PER_ELEMENT,
        module_sources=tuple(sources),
        _trail=Trail(spec, names, position, states, spatial, previous),
    )
