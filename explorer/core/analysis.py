"""Static analysis of a network spec: shapes, parameters, cost, receptive fields, diagnostics.

`analyze` is pure and fast (no torch) so the editor can run it on every edit. Shapes are
(C, H, W) or (N,) without the batch dimension; memory is float32 bytes for one image.
After the first error, later layers are unknown (shapes None) rather than guessed.

This module is the shape walk and its results; every per-type rule comes from the layer
registry, the advice beyond the shape rules from advice.py, and the reuse of an analysis
for an edit of its spec from incremental.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from explorer.core.advice import (
    OutputPosition,
    axis_windows,
    layer_warnings,
    name_problem,
    output_problem,
    padding_only_problem,
    size_problems,
    type_advice,
)
from explorer.core.coverage import reached_inputs
from explorer.core.diagnostics import Diagnostic, Severity, ShapeError
from explorer.core.incremental import State, Trail, continued_trail, converged
from explorer.core.memory import BYTES_PER_ELEMENT, Node, TrainingMemory, training_memory
from explorer.core.optimizers import DEFAULT_OPTIMIZER
from explorer.core.paths import LayerPath, PathError
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.core.vocabulary.geometry import Window
from explorer.core.vocabulary.layer_type import AdviceContext, LayerType, Reach, Shape

__all__ = ["BYTES_PER_ELEMENT", "Analysis", "LayerAnalysis", "ReceptiveField", "analyze"]


@dataclass(frozen=True)
class ReceptiveField:
    """How much of the input one output position sees, in input pixels (h, w).

    `jump` is the input-pixel distance between neighbouring output positions; it is None
    once a layer sees the whole input (after Flatten, Dense or global pooling). From there
    `covered` says how many input rows and columns can reach its output: fewer than the
    input's when valid windows or strides never reach the last rows (`size` is the input's).
    """

    size: tuple[int, int]
    jump: tuple[int, int] | None
    covered: tuple[int, int] | None = None

    @property
    def whole_input(self) -> bool:
        """Whether every input pixel can reach this layer's output."""
        return self.covered is not None and self.covered == self.size


@dataclass(frozen=True)
class LayerAnalysis:
    index: int
    name: str
    type: str
    description: str
    input_shape: Shape | None
    output_shape: Shape | None
    trainable_params: int
    non_trainable_params: int
    macs: int
    activation_elements: int
    receptive_field: ReceptiveField | None
    diagnostics: tuple[Diagnostic, ...]
    # Where the layer or block is (`LayerPath.top(index)` at the top level) and, for a
    # block, the analyses of what each sub-stack holds (of its first copy when repeated;
    # the block's own counts are of all copies).
    path: LayerPath | None = None
    children: tuple[tuple[LayerAnalysis, ...], ...] = ()

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def is_block(self) -> bool:
        return bool(self.children)

    def walk(self) -> Iterator[LayerAnalysis]:
        """This analysis and those of everything inside it, in stack order."""
        yield self
        for stack in self.children:
            for child in stack:
                yield from child.walk()

    @property
    def activation_bytes(self) -> int:
        """Bytes of this layer's float32 output for one image."""
        return self.activation_elements * BYTES_PER_ELEMENT

    @property
    def known(self) -> bool:
        return self.output_shape is not None

    @property
    def error(self) -> Diagnostic | None:
        return next((d for d in self.diagnostics if d.is_error), None)

    @property
    def diagnostic(self) -> Diagnostic | None:
        """The most severe diagnostic (the first error, else the first warning)."""
        return self.error or (self.diagnostics[0] if self.diagnostics else None)


@dataclass(frozen=True)
class Analysis:
    input_shape: Shape
    layers: tuple[LayerAnalysis, ...]
    network_diagnostics: tuple[Diagnostic, ...]
    trainable_params: int
    non_trainable_params: int
    macs: int
    forward_bytes: int
    # per known layer: its type, input and output shapes, and the values its module gets
    # (the autograd nodes are worked out from them only when the memory estimate is asked)
    module_sources: tuple[tuple[LayerType, Shape, Shape, dict[str, Any]], ...] = field(
        default=(), repr=False, compare=False
    )
    # how it was reached, for analysing an edit of it (see `analyze(previous=...)`)
    _trail: Trail | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def autograd_nodes(self) -> tuple[Node, ...]:
        """The autograd nodes of the known layers, in order (see memory.py)."""
        return tuple(node for nodes in self._nodes_per_source for node in nodes)

    @functools.cached_property
    def _nodes_per_source(self) -> tuple[tuple[Node, ...], ...]:
        # The layers an edit left alone keep their sources (the very objects): their nodes
        # are those the analysis before the edit worked out, if it did.
        known: dict[int, tuple[Node, ...]] = {}
        base = self._trail.base if self._trail is not None else None
        if base is not None and "_nodes_per_source" in base.__dict__:
            known = {
                id(source): nodes
                for source, nodes in zip(base.module_sources, base._nodes_per_source, strict=True)
            }
        if self._trail is not None:
            self._trail.base = None  # no longer needed
        return tuple(
            known.get(id(source)) or tuple(source[0].autograd(*source[1:]))
            for source in self.module_sources
        )

    @functools.cached_property
    def _memory(self) -> dict[tuple[str, float, float], TrainingMemory]:
        return {}

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def param_bytes(self) -> int:
        return self.params * BYTES_PER_ELEMENT

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        per_layer = tuple(d for layer in self.layers for d in layer.diagnostics)
        return self.network_diagnostics + per_layer

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
        key = (optimizer, momentum, weight_decay)
        memory = self._memory.get(key)
        if memory is None:
            memory = training_memory(
                math.prod(self.input_shape),
                self.autograd_nodes,
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
    """Analyse every layer of `spec`; never raises for a well-formed spec.

    `previous`, the analysis of the spec before an edit, lends its results for the
    layers the edit cannot have changed: the result equals the analysis from scratch.
    """
    input_shape: Shape = spec.input.shape
    image_size = (spec.input.height, spec.input.width)
    names = spec.layer_names()
    last = len(spec.layers) - 1
    # The last layer that can give the class scores does: output advice belongs to it alone.
    output_dense = max(
        (i for i, x in enumerate(spec.layers) if x.entry.scores_key is not None), default=None
    )
    results: list[LayerAnalysis] = []
    shape: Shape | None = input_shape
    rf: ReceptiveField | None = ReceptiveField((1, 1), (1, 1))
    downsampled = False
    previous_activation: str | None = None
    seen_names: dict[str, int] = {}
    sources: list[tuple[LayerType, Shape, Shape, dict[str, Any]]] = []
    position = OutputPosition(last, output_dense)
    spatial: list[tuple[Shape, Shape, Window]] = []  # windowed layers so far
    states: list[State] = []
    layers = spec.layers
    # what the types' advice may look at, before and after the maps were first shrunk
    contexts = {shrunk: AdviceContext(shrunk, spec.training.batch_size) for shrunk in (False, True)}

    start, changed_end = 0, -1
    old = continued_trail(previous, spec, names, position)
    if old is not None:
        old_layers = old.layers
        # the first and the last layer the edit changed (the last one is always analysed
        # again: the network's output advice is added to it)
        while start < last and (
            layers[start] is old_layers[start] or layers[start] == old_layers[start]
        ):
            start += 1
        changed_end = last - 1
        while changed_end >= start and (
            layers[changed_end] is old_layers[changed_end]
            or layers[changed_end] == old_layers[changed_end]
        ):
            changed_end -= 1
        assert previous is not None
        shape, rf, downsampled, previous_activation, n_sources, n_spatial = old.states[start]
        results.extend(previous.layers[:start])
        states.extend(old.states[:start])
        sources.extend(previous.module_sources[:n_sources])
        spatial.extend(old.spatial[:n_spatial])
        for index in range(start):
            seen_names.setdefault(names[index], index)
        if previous._trail is not None:
            previous._trail.base = None  # one analysis back at most: no chain of them
    else:
        previous = None

    following = start
    while following <= last:
        index = following
        if (
            old is not None
            and changed_end < index < last
            and converged(
                old, index, (shape, rf, downsampled, previous_activation), sources, spatial, start
            )
        ):
            # From here on the layers and the state reaching them are those before the
            # edit: so are their results, up to the last layer.
            assert previous is not None
            n_sources, n_spatial = old.states[index][4:]
            end_sources, end_spatial = old.states[last][4:]
            results.extend(previous.layers[index:last])
            states.extend(old.states[index:last])
            sources.extend(previous.module_sources[n_sources:end_sources])
            spatial.extend(old.spatial[n_spatial:end_spatial])
            for between in range(index, last):
                seen_names.setdefault(names[between], between)
            shape, rf, downsampled, previous_activation = old.states[last][:4]
            index = last
            old = None
        following = index + 1
        layer = layers[index]
        states.append((shape, rf, downsampled, previous_activation, len(sources), len(spatial)))
        entry = layer.entry
        p = layer.resolved_view()
        diagnostics: list[Diagnostic] = []
        name = names[index]
        misnamed = name_problem(name, index, layer, seen_names)
        if misnamed:
            diagnostics.append(misnamed)
        seen_names.setdefault(name, index)

        if shape is None or rf is None:
            results.append(_unknown(index, name, layer, tuple(diagnostics)))
            continue
        try:
            out = entry.output_shape(shape, p)
        except ShapeError as error:
            at = LayerPath.top(index)
            fix = error.fix.at(at) if error.fix else None
            diagnostics.append(Diagnostic(Severity.ERROR, error.message, fix, at))
            results.append(_unknown(index, name, layer, tuple(diagnostics), shape))
            shape, rf = None, None
            continue

        trainable, frozen = entry.weights(shape, p)
        sources.append((entry, shape, out, entry.module_values(p, index == last)))
        window = entry.window(shape, p) if entry.window is not None else None
        jump = rf.jump
        if jump is None:
            pass  # already collapsed: the coverage stays
        elif entry.reach is Reach.WHOLE_INPUT:
            covered = image_size
            if spatial:
                rows, columns = zip(*(axis_windows(*w) for w in spatial), strict=True)
                covered = (reached_inputs(rows), reached_inputs(columns))
                if 0 in covered:
                    covered = (0, 0)  # a pixel needs both its row and its column to reach
            rf = ReceptiveField(image_size, None, covered)
        elif window is not None:  # (a pointwise layer leaves the field as it is)
            spatial.append((shape, out, window))
            padding_only = padding_only_problem(index, shape, out, window)
            if padding_only:
                diagnostics.append(padding_only)
            size = (
                rf.size[0] + (window.kernel[0] - 1) * jump[0],
                rf.size[1] + (window.kernel[1] - 1) * jump[1],
            )
            rf = ReceptiveField(size, (jump[0] * window.stride[0], jump[1] * window.stride[1]))

        activation = p[entry.activation_key] if entry.activation_key else None
        diagnostics.extend(
            layer_warnings(
                index,
                layer,
                shape,
                out,
                activation,
                previous_activation,
                position,
            )
        )
        diagnostics.extend(type_advice(index, entry, shape, out, p, contexts[downsampled]))
        if entry.downsamples or (window is not None and window.stride != (1, 1)):
            downsampled = True
        if activation is not None and activation != "linear":
            previous_activation = activation

        results.append(
            LayerAnalysis(
                index=index,
                name=name,
                type=layer.type,
                description=layer.describe(),
                input_shape=shape,
                output_shape=out,
                trainable_params=trainable,
                non_trainable_params=frozen,
                macs=entry.macs(shape, out, p),
                activation_elements=math.prod(out),
                receptive_field=rf,
                diagnostics=tuple(diagnostics),
                path=LayerPath.top(index),
            )
        )
        shape = out

    network: list[Diagnostic] = []
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
    return Analysis(
        input_shape=input_shape,
        layers=tuple(results),
        network_diagnostics=tuple(network),
        trainable_params=sum(r.trainable_params for r in known),
        non_trainable_params=sum(r.non_trainable_params for r in known),
        macs=sum(r.macs for r in known),
        forward_bytes=(math.prod(input_shape) + sum(r.activation_elements for r in known))
        * BYTES_PER_ELEMENT,
        module_sources=tuple(sources),
        _trail=Trail(spec, names, position, states, spatial, previous),
    )


def _unknown(
    index: int,
    name: str,
    layer: LayerSpec,
    diagnostics: tuple[Diagnostic, ...],
    input_shape: Shape | None = None,
) -> LayerAnalysis:
    return LayerAnalysis(
        index,
        name,
        layer.type,
        layer.describe(),
        input_shape,
        None,
        0,
        0,
        0,
        0,
        None,
        diagnostics,
        path=LayerPath.top(index),
    )
