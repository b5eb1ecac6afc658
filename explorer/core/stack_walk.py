"""The shape walk through a stack and the blocks in it, one layer or block at a time.

`Walker.item` analyses a layer (its type's rules from the registry) or a block: each copy
of the block walks its sub-stacks from the copy's input, then merges them with the rules
of `explorer.core.blocks` (the shortcut of a residual block, the merge of branches). What
the walk carries from one row to the next is a `Flow`; what the memory estimate and the
coverage need later is appended to the lists of sources and windows it is given (a block
appends one entry holding those of its sub-stacks).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from explorer.core.advice import (
    OutputPosition,
    axis_windows,
    layer_warnings,
    name_problem,
    padding_only_problem,
    type_advice,
)
from explorer.core.block_spec import label_of
from explorer.core.blocks import merged_shape, projection_layers, resolve_shortcut, shortcut_stride
from explorer.core.coverage import AxisFork, AxisStep, reached_inputs
from explorer.core.diagnostics import Diagnostic, Severity, ShapeError
from explorer.core.layer_analysis import LayerAnalysis, ReceptiveField
from explorer.core.memory import Branches, Node, NodeOrBranches
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerOrBlock, LayerSpec, NetworkSpec
from explorer.core.vocabulary.blocks import Merge, Shortcut
from explorer.core.vocabulary.geometry import Window
from explorer.core.vocabulary.layer_type import AdviceContext, LayerType, Reach, Shape

__all__ = ["BlockSource", "Flow", "Fork", "Source", "Spatial", "Walker", "nodes_of"]

# What reaches a row: the input shape and receptive field (None once unknown), whether the
# maps were downsampled before it, and the last activation before it.
Flow: TypeAlias = tuple[Shape | None, ReceptiveField | None, bool, str | None]

# A layer's type, input and output shapes, and the values its module gets; the autograd
# nodes are worked out from them only when the memory estimate is asked for.
LayerSource: TypeAlias = tuple[LayerType, Shape, Shape, dict[str, Any]]
# A windowed layer's input and output shapes and its window.
WindowUse: TypeAlias = tuple[Shape, Shape, Window]


@dataclass(frozen=True)
class BlockSource:
    """The sources of one copy of a block: those of each sub-stack (a residual block's
    second is its shortcut), and the node that merges them."""

    stacks: tuple[tuple[Source, ...], ...]
    merge: Node


@dataclass(frozen=True)
class Fork:
    """The windows of one copy of a block: those of each sub-stack (or shortcut), from
    maps of `shape_in` merged into maps of `shape_out`."""

    shape_in: Shape
    shape_out: Shape
    stacks: tuple[tuple[Spatial, ...], ...]


Source: TypeAlias = LayerSource | Node | BlockSource
Spatial: TypeAlias = WindowUse | Fork


def nodes_of(source: Source) -> tuple[NodeOrBranches, ...]:
    """The autograd nodes a source runs in training (see memory.py)."""
    if isinstance(source, Node):
        return (source,)
    if isinstance(source, BlockSource):
        stacks = tuple(
            tuple(node for inner in stack for node in nodes_of(inner)) for stack in source.stacks
        )
        return (Branches(stacks, source.merge),)
    return tuple(source[0].autograd(*source[1:]))


def axis_steps(spatial: Sequence[Spatial]) -> tuple[tuple[AxisStep, ...], tuple[AxisStep, ...]]:
    """The windows along the rows and along the columns (see coverage.py)."""
    rows: list[AxisStep] = []
    columns: list[AxisStep] = []
    for use in spatial:
        if isinstance(use, Fork):
            stacks = [axis_steps(stack) for stack in use.stacks]
            rows.append(AxisFork(use.shape_in[1], use.shape_out[1], tuple(s[0] for s in stacks)))
            columns.append(AxisFork(use.shape_in[2], use.shape_out[2], tuple(s[1] for s in stacks)))
        else:
            row, column = axis_windows(*use)
            rows.append(row)
            columns.append(column)
    return tuple(rows), tuple(columns)


def same_windows(new: Spatial, was: Spatial) -> bool:
    """Whether two windowed layers (or blocks) see the same sizes through the same windows
    (their channels aside)."""
    if isinstance(new, Fork) or isinstance(was, Fork):
        return (
            isinstance(new, Fork)
            and isinstance(was, Fork)
            and new.shape_in[1:] == was.shape_in[1:]
            and new.shape_out[1:] == was.shape_out[1:]
            and len(new.stacks) == len(was.stacks)
            and all(
                len(a) == len(b) and all(map(same_windows, a, b))
                for a, b in zip(new.stacks, was.stacks, strict=True)
            )
        )
    return (new[0][1:], new[1][1:], new[2]) == (was[0][1:], was[1][1:], was[2])


def _grown(rf: ReceptiveField, window: Window) -> ReceptiveField:
    """The field after a window (rf has a jump)."""
    assert rf.jump is not None
    jump = rf.jump
    size = (
        rf.size[0] + (window.kernel[0] - 1) * jump[0],
        rf.size[1] + (window.kernel[1] - 1) * jump[1],
    )
    return ReceptiveField(size, (jump[0] * window.stride[0], jump[1] * window.stride[1]))


@functools.cache
def _activation_layer(function: str) -> LayerSpec:
    """The Activation layer a block's merge activation is (its counts and module)."""
    return LayerSpec.create("Activation", {"function": function})


@dataclass
class _Merged:
    """What a block's merge made, beside its sub-stacks: totals and what follows."""

    flow: Flow
    merge: Node | None = None
    after: LayerSource | None = None  # the merge's activation
    warnings: list[Diagnostic] = field(default_factory=list)
    trainable: int = 0
    frozen: int = 0
    macs: int = 0
    elements: int = 0

    def sources(self, stacks: list[list[Source]]) -> list[Source]:
        """What the block's copy appends to the sources: its sub-stacks and merge, then
        the activation after the merge."""
        assert self.merge is not None
        made: list[Source] = [BlockSource(tuple(tuple(stack) for stack in stacks), self.merge)]
        if self.after is not None:
            made.append(self.after)
        return made


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

    def item(
        self,
        at: LayerPath,
        item: LayerOrBlock,
        flow: Flow,
        sources: list[Source],
        spatial: list[Spatial],
        outer: tuple[Spatial, ...] = (),
        report: bool = True,
    ) -> tuple[LayerAnalysis, Flow]:
        """The analysis of the layer or block at `at` reached by `flow`, and the flow after
        it. `outer`: the windows before the stack `spatial` belongs to; `report`: give its
        warnings (a later copy of a block gives only errors)."""
        if isinstance(item, BlockSpec):
            return self._block(at, item, flow, sources, spatial, outer, report)
        return self._layer(at, item, flow, sources, spatial, outer, report)

    def _misnamed(self, at: LayerPath, item: LayerOrBlock) -> Diagnostic | None:
        if item.name is None:
            return None
        name = self.names[at]
        first = self._first[name]
        earlier = None if first == at else label_of(self.spec.layers, first)
        return name_problem(name, at, item, earlier)

    def _unknown(
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
        outer: tuple[Spatial, ...],
        report: bool,
    ) -> tuple[LayerAnalysis, Flow]:
        shape, rf, downsampled, previous_activation = flow
        entry = layer.entry
        p = layer.resolved_view()
        diagnostics: list[Diagnostic] = []
        misnamed = self._misnamed(at, layer) if report else None
        if misnamed:
            diagnostics.append(misnamed)
        if shape is None or rf is None:
            return self._unknown(at, layer, diagnostics), flow
        try:
            out = entry.output_shape(shape, p)
        except ShapeError as error:
            fix = error.fix.at(at) if error.fix else None
            diagnostics.append(Diagnostic(Severity.ERROR, error.message, fix, at))
            unknown: Flow = (None, None, downsampled, previous_activation)
            return self._unknown(at, layer, diagnostics, shape), unknown

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
            rf = _grown(rf, window)

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
        self, shape: Shape, out: Shape, spatial: list[Spatial], outer: tuple[Spatial, ...]
    ) -> ReceptiveField:
        """The field of a layer that sees its whole input: how much of the image reaches it
        through the windows before it."""
        size = self.image_size
        covered = size
        windows = [*outer, *spatial]
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

    def _stack(
        self,
        at: LayerPath,
        which: int,
        items: Sequence[LayerOrBlock],
        flow: Flow,
        sources: list[Source],
        spatial: list[Spatial],
        outer: tuple[Spatial, ...],
        report: bool,
    ) -> tuple[tuple[LayerAnalysis, ...], Flow]:
        results = []
        for index, item in enumerate(items):
            result, flow = self.item(
                at.child(which, index), item, flow, sources, spatial, outer, report
            )
            results.append(result)
        return tuple(results), flow

    def _block(
        self,
        at: LayerPath,
        block: BlockSpec,
        flow: Flow,
        sources: list[Source],
        spatial: list[Spatial],
        outer: tuple[Spatial, ...],
        report: bool,
    ) -> tuple[LayerAnalysis, Flow]:
        diagnostics: list[Diagnostic] = []
        misnamed = self._misnamed(at, block) if report else None
        if misnamed:
            diagnostics.append(misnamed)
        repeat = block.repeat
        input_shape = flow[0]
        children: tuple[tuple[LayerAnalysis, ...], ...] = ()
        trainable = frozen = macs = elements = 0
        for copy in range(repeat):
            before = (*outer, *spatial)
            outs: list[Flow] = []
            stack_sources: list[list[Source]] = []
            stack_spatial: list[list[Spatial]] = []
            results: list[tuple[LayerAnalysis, ...]] = []
            for which, items in enumerate(block.stacks):
                inner_sources: list[Source] = []
                inner_spatial: list[Spatial] = []
                made, out = self._stack(
                    at,
                    which,
                    items,
                    flow,
                    inner_sources,
                    inner_spatial,
                    before,
                    report and not copy,
                )
                results.append(made)
                outs.append(out)
                stack_sources.append(inner_sources)
                stack_spatial.append(inner_spatial)
            if copy == 0:
                children = tuple(results)
            else:
                diagnostics.extend(self._later_errors(at, copy, repeat, results))
            if flow[0] is None or any(out[0] is None for out in outs):
                flow = (None, None, flow[2], flow[3])
                break
            try:
                merged = self._merge(at, block, flow, outs, stack_sources, stack_spatial, report)
            except ShapeError as error:
                fix = error.fix.at(at) if error.fix else None
                message = (
                    error.message if not copy else f"copy {copy + 1} of {repeat}: {error.message}"
                )
                diagnostics.append(Diagnostic(Severity.ERROR, message, fix, at))
                flow = (None, None, flow[2], flow[3])
                break
            sources.extend(merged.sources(stack_sources))
            spatial.append(self._fork(flow, merged.flow, stack_spatial))
            for made in results:
                for result in made:
                    trainable += result.trainable_params
                    frozen += result.non_trainable_params
                    macs += result.macs
                    elements += result.activation_elements
            trainable += merged.trainable
            frozen += merged.frozen
            macs += merged.macs
            elements += merged.elements
            flow = merged.flow
            if not copy:
                diagnostics.extend(merged.warnings)
        if flow[0] is None or any(d.is_error for d in diagnostics):
            unknown: Flow = (None, None, flow[2], flow[3])
            return self._unknown(at, block, diagnostics, input_shape, children), unknown
        result = LayerAnalysis(
            index=at.index,
            name=self.names[at],
            type=block.type,
            description=block.describe(),
            input_shape=input_shape,
            output_shape=flow[0],
            trainable_params=trainable,
            non_trainable_params=frozen,
            macs=macs,
            activation_elements=elements,
            receptive_field=flow[1],
            diagnostics=tuple(diagnostics),
            path=at,
            children=children,
        )
        return result, flow

    def _later_errors(
        self,
        at: LayerPath,
        copy: int,
        repeat: int,
        results: Sequence[tuple[LayerAnalysis, ...]],
    ) -> list[Diagnostic]:
        """The errors of copy `copy` (from 0) of the block at `at`, placed on the block."""
        prefix = label_of(self.spec.layers, at) + " › "
        found = []
        for made in results:
            for result in made:
                for inner in result.walk():
                    for diagnostic in inner.diagnostics:
                        if diagnostic.is_error and inner.path is not None:
                            where = self.spec.label(inner.path).removeprefix(prefix)
                            found.append(
                                Diagnostic(
                                    Severity.ERROR,
                                    f"copy {copy + 1} of {repeat}: {where}: {diagnostic.message}",
                                    diagnostic.fix,
                                    at,
                                )
                            )
        return found

    def _fork(self, flow: Flow, merged: Flow, stacks: list[list[Spatial]]) -> Fork:
        assert flow[0] is not None and merged[0] is not None
        shape_in, shape_out = flow[0], merged[0]
        if len(shape_in) != 3 or len(shape_out) != 3:
            # vectors: nothing of the windows is left to reach (the field has collapsed)
            shape_in = shape_out = (0, 0, 0)
        return Fork(shape_in, shape_out, tuple(tuple(stack) for stack in stacks))

    def _merge(
        self,
        at: LayerPath,
        block: BlockSpec,
        flow: Flow,
        outs: list[Flow],
        stack_sources: list[list[Source]],
        stack_spatial: list[list[Spatial]],
        report: bool,
    ) -> _Merged:
        """Combine the sub-stacks' outputs (appending a residual block's shortcut to the
        sub-stacks' lists); ShapeError when they cannot be."""
        shape = flow[0]
        assert shape is not None and flow[1] is not None
        shapes = [out[0] for out in outs]
        assert all(s is not None for s in shapes)
        known = [s for s in shapes if s is not None]
        merged = _Merged(flow)
        if block.entry.name == "Residual":
            body = outs[0]
            assert body[0] is not None
            kind = resolve_shortcut(str(block.get("shortcut")), shape, body[0])
            shortcut_sources: list[Source] = []
            shortcut_spatial: list[Spatial] = []
            shortcut_field = self._shortcut(
                kind, shape, body[0], merged, shortcut_sources, shortcut_spatial, flow[1]
            )
            stack_sources.append(shortcut_sources)
            stack_spatial.append(shortcut_spatial)
            out_shape = body[0]
            fields = [body[1], shortcut_field]
            downsampled = body[2]  # a strided shortcut follows a strided body
            activation = body[3]
            merge_node = Node(math.prod(out_shape))  # a sum keeps none of its inputs
        else:
            kind_of_merge = Merge(str(block.get("merge")))
            out_shape = merged_shape(kind_of_merge.value, known)
            fields = [out[1] for out in outs]
            downsampled = any(out[2] for out in outs)
            activation = outs[0][3]
            merge_node = Node(math.prod(out_shape), saves_input=kind_of_merge is Merge.MULTIPLY)
        merged.elements += math.prod(out_shape)
        merged_field = self._merged_field(at, fields, merged, report)
        function = str(block.get("activation"))
        if function != "linear":
            layer = _activation_layer(function)
            p = layer.resolved_view()
            trainable, frozen = layer.entry.weights(out_shape, p)
            merged.trainable += trainable
            merged.frozen += frozen
            merged.elements += math.prod(out_shape)
            activation = function
            merged.after = (layer.entry, out_shape, out_shape, dict(p))
        merged.merge = merge_node
        merged.flow = (out_shape, merged_field, downsampled, activation)
        return merged

    def _shortcut(
        self,
        kind: Shortcut,
        shape: Shape,
        body: Shape,
        merged: _Merged,
        sources: list[Source],
        spatial: list[Spatial],
        rf: ReceptiveField,
    ) -> ReceptiveField:
        """Count a residual block's shortcut into `merged` and its lists; its field."""
        if kind is Shortcut.IDENTITY:
            return rf
        if kind is Shortcut.PAD:
            stride = shortcut_stride(shape, body)
            assert stride is not None
            window = Window((1, 1), stride)
            extra = body[0] - shape[0]
            # the subsample is a view; the zero channels make a new tensor
            sources.append(Node(math.prod(body) if extra else None))
            merged.elements += math.prod(body) if extra else 0
        else:
            current = shape
            window = Window((1, 1), (1, 1))
            for part in projection_layers(shape, body):
                entry, p = part.entry, part.resolved_view()
                out = entry.output_shape(current, p)
                trainable, frozen = entry.weights(current, p)
                merged.trainable += trainable
                merged.frozen += frozen
                merged.macs += entry.macs(current, out, p)
                merged.elements += math.prod(out)
                sources.append((entry, current, out, dict(p)))
                if entry.window is not None:
                    window = entry.window(current, p)
                current = out
        spatial.append((shape, body, window))
        return _grown(rf, window) if rf.jump is not None else rf

    def _merged_field(
        self,
        at: LayerPath,
        fields: Sequence[ReceptiveField | None],
        merged: _Merged,
        report: bool,
    ) -> ReceptiveField:
        """The field after a merge: the larger of the maps' fields (a branch that sees the
        whole input only scales them, as squeeze-and-excite does), with a warning when
        their positions do not line up (their jumps differ)."""
        known = [f for f in fields if f is not None]
        maps = [f for f in known if f.jump is not None]
        if not maps:
            return max(known, key=lambda f: f.covered or (0, 0))
        jumps = sorted({f.jump for f in maps if f.jump is not None})
        if len(jumps) > 1 and report:
            steps = " and ".join("×".join(str(n) for n in jump) for jump in jumps)
            merged.warnings.append(
                Diagnostic(
                    Severity.WARNING,
                    f"the merged outputs step {steps} input pixels apart, so their positions "
                    "do not line up: match the strides of the block's layers",
                    None,
                    at,
                )
            )
        return max(maps, key=lambda f: (f.size[0] * f.size[1], f.jump))
