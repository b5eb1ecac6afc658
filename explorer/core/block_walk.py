"""The shape walk through a block: each copy walks its sub-stacks from the copy's input,
then merges them with the rules of `explorer.core.blocks` (a residual block's shortcut,
the merge of branches) and the block's activation.

A block's analysis totals every copy; its children are its first copy's analyses. An
error in a later copy is placed on the block ("copy 2 of 3: body 1 (Conv2D): ..."), and a
merge that cannot be made is an error on the block with a mechanical fix where one works.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from explorer.core.block_spec import label_of
from explorer.core.blocks import (
    merged_shape,
    projection_layers,
    resolve_shortcut,
    shortcut_stride,
    stride_fixes,
)
from explorer.core.diagnostics import Diagnostic, Fix, Severity, ShapeError
from explorer.core.layer_analysis import LayerAnalysis, ReceptiveField
from explorer.core.memory import BYTES_PER_ELEMENT, Node
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerSpec, SpecError
from explorer.core.vocabulary.blocks import Merge, Shortcut
from explorer.core.vocabulary.geometry import Window
from explorer.core.vocabulary.layer_type import Shape
from explorer.core.walk_parts import (
    BlockSource,
    Flow,
    Fork,
    LayerSource,
    Outer,
    Source,
    Spatial,
    grown,
)

if TYPE_CHECKING:
    from explorer.core.stack_walk import Walker

__all__ = ["BlockWalk"]


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


class BlockWalk:
    """The block part of a `Walker` (which it calls back for the sub-stacks)."""

    def __init__(self, walker: Walker) -> None:
        self.walker = walker
        self._trying = False  # analysing a candidate fix: no fixes of fixes

    def block(
        self,
        at: LayerPath,
        block: BlockSpec,
        flow: Flow,
        sources: list[Source],
        spatial: list[Spatial],
        outer: Outer,
        report: bool,
    ) -> tuple[LayerAnalysis, Flow]:
        diagnostics: list[Diagnostic] = []
        misnamed = self.walker.misnamed(at, block) if report else None
        if misnamed:
            diagnostics.append(misnamed)
        repeat = block.repeat
        input_shape = flow[0]
        start = flow
        children: tuple[tuple[LayerAnalysis, ...], ...] = ()
        trainable = frozen = macs = elements = 0
        failed = False  # (a name error alone leaves the block known, as it does a layer)
        for copy in range(repeat):
            before = (*outer, (spatial, len(spatial)))
            outs: list[Flow] = []
            stack_sources: list[list[Source]] = []
            stack_spatial: list[list[Spatial]] = []
            results: list[tuple[LayerAnalysis, ...]] = []
            for which, items in enumerate(block.stacks):
                inner_sources: list[Source] = []
                inner_spatial: list[Spatial] = []
                made, out = self.walker.stack(
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
                later = self._later_errors(at, copy, repeat, results)
                diagnostics.extend(later)
                failed = failed or bool(later)
            if flow[0] is None or any(out[0] is None for out in outs):
                flow = (None, None, flow[2], flow[3])
                break
            try:
                merged = self._merge(at, block, flow, outs, stack_sources, stack_spatial, report)
            except ShapeError as error:
                fix = error.fix.at(at) if error.fix else self._matching_fix(at, block, start)
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
        if flow[0] is None or failed:
            unknown: Flow = (None, None, flow[2], flow[3])
            result = self.walker.unknown(at, block, diagnostics, input_shape, children)
            return replace(result, repeat=repeat), unknown
        result = LayerAnalysis(
            index=at.index,
            name=self.walker.names[at],
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
            repeat=repeat,
        )
        return result, flow

    def _matching_fix(self, at: LayerPath, block: BlockSpec, flow: Flow) -> Fix | None:
        """A fix on one layer of the block's sub-stacks that makes them meet (see
        `blocks.stride_fixes`), placed on that layer; None when none does."""
        if self._trying:
            return None
        self._trying = True
        try:
            for which, index, fix in stride_fixes(block):
                stacks = [list(stack) for stack in block.stacks]
                layer = stacks[which][index]
                try:
                    stacks[which][index] = layer.with_values(**dict(fix.changes))
                except SpecError:
                    continue
                trial = block.with_stacks(stacks)
                result, _ = self.block(at, trial, flow, [], [], (), False)
                if result.known:
                    name = self.walker.names[at.child(which, index)]
                    label = f"match the sizes: {fix.label} on {name}"
                    return replace(fix, label=label).at(at.child(which, index))
        finally:
            self._trying = False
        return None

    def _later_errors(
        self,
        at: LayerPath,
        copy: int,
        repeat: int,
        results: Sequence[tuple[LayerAnalysis, ...]],
    ) -> list[Diagnostic]:
        """The errors of copy `copy` (from 0) of the block at `at`, placed on the block."""
        prefix = label_of(self.walker.spec.layers, at) + " › "
        found = []
        for made in results:
            for result in made:
                for inner in result.walk():
                    for diagnostic in inner.diagnostics:
                        if diagnostic.is_error and inner.path is not None:
                            where = self.walker.spec.label(inner.path).removeprefix(prefix)
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
            merge_node = Node(math.prod(out_shape))  # a sum or a concatenation keeps none
            if kind_of_merge is Merge.MULTIPLY:
                # each product keeps both factors: the branches' outputs, and the partial
                # products of the first k (as large as the largest of them)
                sizes = [math.prod(s) for s in known]
                partial = sum(max(sizes[:k]) for k in range(2, len(sizes)))
                merge_node = Node(
                    math.prod(out_shape), saves_input=True, extra_bytes=partial * BYTES_PER_ELEMENT
                )
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
        return grown(rf, window) if rf.jump is not None else rf

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
