"""The shape walk through a stack, one layer or block at a time.

`Walker.item` analyses a layer (its type's rules from the registry) or a block (see
block_walk.py, which walks the block's sub-stacks with this walker). What the walk carries
from one row to the next is a `Flow`; what the memory estimate and the coverage need later
is appended to the lists of sources and windows it is given (see walk_parts.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from explorer.core.advice import (
    OutputPosition,
    layer_warnings,
    name_problem,
    padding_only_problem,
    type_advice,
)
from explorer.core.block_spec import label_of
from explorer.core.block_walk import BlockWalk
from explorer.core.coverage import reached_inputs
from explorer.core.diagnostics import Diagnostic, Severity, ShapeError
from explorer.core.layer_analysis import LayerAnalysis, ReceptiveField
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerOrBlock, LayerSpec, NetworkSpec
from explorer.core.vocabulary.geometry import Window
from explorer.core.vocabulary.layer_type import AdviceContext, Reach, Shape
from explorer.core.walk_parts import (
    BlockSource,
    Flow,
    Fork,
    Outer,
    Source,
    Spatial,
    axis_steps,
    grown,
    nodes_of,
    same_windows,
)

# Re-exported: the walk's import path for what it carries.
__all__ = [
    "BlockSource",
    "Flow",
    "Fork",
    "Source",
    "Spatial",
    "Walker",
    "nodes_of",
    "same_windows",
]


class Walker:
    """Analyses the layers and blocks of one spec (see module docstring)."""

    def __init__(
        self,
        spec: NetworkSpec,
        position: OutputPosition,
        contexts: dict[bool, AdviceContext],
        image_size: tuple[int, int],
    ) -> None:
        self.spec = spec
        self.names = spec.names()
        self.position = position
        self.contexts = contexts
        self.image_size = image_size
        self.last = LayerPath.top(len(spec.layers) - 1) if spec.layers else None
        first: dict[str, LayerPath] = {}
        for path, name in self.names.items():
            first.setdefault(name, path)
        self._first = first
        self.blocks = BlockWalk(self)

    def item(
        self,
        at: LayerPath,
        item: LayerOrBlock,
        flow: Flow,
        sources: list[Source],
        spatial: list[Spatial],
        outer: Outer = (),
        report: bool = True,
    ) -> tuple[LayerAnalysis, Flow]:
        """The analysis of the layer or block at `at` reached by `flow`, and the flow after
        it. `outer`: the windows before the stack `spatial` belongs to; `report`: give its
        warnings (a later copy of a block gives only errors)."""
        if isinstance(item, BlockSpec):
            return self.blocks.block(at, item, flow, sources, spatial, outer, report)
        return self._layer(at, item, flow, sources, spatial, outer, report)

    def misnamed(self, at: LayerPath, item: LayerOrBlock) -> Diagnostic | None:
        if item.name is None:
            return None
        name = self.names[at]
        first = self._first[name]
        earlier = None if first == at else label_of(self.spec.layers, first)
        return name_problem(name, at, item, earlier)

    def unknown(
        self,
        at: LayerPath,
        item: LayerOrBlock,
        diagnostics: Sequence[Diagnostic],
        input_shape: Shape | None = None,
        children: tuple[tuple[LayerAnalysis, ...], ...] = (),
    ) -> LayerAnalysis:
        return LayerAnalysis(
            at.index,
            self.names[at],
            item.type,
            item.describe(),
            input_shape,
            None,
            0,
            0,
            0,
            0,
            None,
            tuple(diagnostics),
            path=at,
            children=children,
        )

    def _layer(
        self,
        at: LayerPath,
        layer: LayerSpec,
        flow: Flow,
        sources: list[Source],
        spatial: list[Spatial],
        outer: Outer,
        report: bool,
    ) -> tuple[LayerAnalysis, Flow]:
        shape, rf, downsampled, previous_activation = flow
        entry = layer.entry
        p = layer.resolved_view()
        diagnostics: list[Diagnostic] = []
        misnamed = self.misnamed(at, layer) if report else None
        if misnamed:
            diagnostics.append(misnamed)
        if shape is None or rf is None:
            return self.unknown(at, layer, diagnostics), flow
        try:
            out = entry.output_shape(shape, p)
        except ShapeError as error:
            fix = error.fix.at(at) if error.fix else None
            diagnostics.append(Diagnostic(Severity.ERROR, error.message, fix, at))
            unknown: Flow = (None, None, downsampled, previous_activation)
            return self.unknown(at, layer, diagnostics, shape), unknown

        trainable, frozen = entry.weights(shape, p)
        sources.append((entry, shape, out, entry.module_values(p, at == self.last)))
        window = entry.window(shape, p) if entry.window is not None else None
        if rf.jump is None:
            pass  # already collapsed: the coverage stays
        elif entry.reach is Reach.WHOLE_INPUT:
            rf = self._collapsed(shape, out, spatial, outer)
        elif window is not None:  # (a pointwise layer leaves the field as it is)
            spatial.append((shape, out, window))
            blind = padding_only_problem(at, shape, out, window) if report else None
            if blind:
                diagnostics.append(blind)
            rf = grown(rf, window)

        activation = p[entry.activation_key] if entry.activation_key else None
        if report:
            diagnostics.extend(
                layer_warnings(
                    at, layer, shape, out, activation, previous_activation, self.position
                )
            )
            diagnostics.extend(type_advice(at, entry, shape, out, p, self.contexts[downsampled]))
        if entry.downsamples or (window is not None and window.stride != (1, 1)):
            downsampled = True
        if activation is not None and activation != "linear":
            previous_activation = activation
        result = LayerAnalysis(
            index=at.index,
            name=self.names[at],
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
            path=at,
        )
        return result, (out, rf, downsampled, previous_activation)

    def _collapsed(
        self, shape: Shape, out: Shape, spatial: list[Spatial], outer: Outer
    ) -> ReceptiveField:
        """The field of a layer that sees its whole input: how much of the image reaches it
        through the windows before it."""
        size = self.image_size
        covered = size
        windows = [use for stack, length in outer for use in stack[:length]] + spatial
        if windows:
            rows, columns = axis_steps(windows)
            covered = (reached_inputs(rows), reached_inputs(columns))
            if 0 in covered:
                covered = (0, 0)  # a pixel needs both its row and its column to reach
        if len(shape) == 3:
            # as a window over the whole map, for a block whose other branches keep maps
            spatial.append((shape, (shape[0], 1, 1), Window((shape[1], shape[2]), (1, 1))))
        return ReceptiveField(size, None, covered)

    # ---- blocks ------------------------------------------------------------------------

    def stack(
        self,
        at: LayerPath,
        which: int,
        items: Sequence[LayerOrBlock],
        flow: Flow,
        sources: list[Source],
        spatial: list[Spatial],
        outer: Outer,
        report: bool,
    ) -> tuple[tuple[LayerAnalysis, ...], Flow]:
        results = []
        for index, item in enumerate(items):
            result, flow = self.item(
                at.child(which, index), item, flow, sources, spatial, outer, report
            )
            results.append(result)
        return tuple(results), flow
