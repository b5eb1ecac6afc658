"""Static analysis of a network spec: shapes, parameters, cost, receptive fields, diagnostics.

`analyze` is pure and fast (no torch) so the editor can run it on every edit. Shapes are
(C, H, W) or (N,) without the batch dimension; memory is float32 bytes for one image.
After the first error, later layers are unknown (shapes None) rather than guessed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Any

from explorer.core.coverage import AxisWindow, padding_only_outputs, reached_inputs
from explorer.core.diagnostics import (
    Diagnostic,
    Fix,
    RemoveLayer,
    SetParams,
    Severity,
    ShapeError,
    UseAutomaticName,
)
from explorer.core.layers import IDENTITY_WINDOW, LayerType, Shape, Window, module_values
from explorer.core.memory import (
    BYTES_PER_ELEMENT,
    Node,
    TrainingMemory,
    format_bytes,
    training_memory,
)
from explorer.core.paths import LayerPath
from explorer.core.spec import LayerSpec, NetworkSpec, check_layer_name, layer_label

__all__ = ["BYTES_PER_ELEMENT", "Analysis", "LayerAnalysis", "ReceptiveField", "analyze"]
_HUGE_DENSE_WEIGHTS = 1_000_000
# The largest network the program builds: beyond these no machine it runs on could hold the
# weights, or one image's activations, so the builder refuses before allocating anything.
MAX_PARAMETER_BYTES = 16 * 2**30
MAX_IMAGE_ACTIVATION_BYTES = 16 * 2**30
_SQUASHING = ("sigmoid",)


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

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

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
    _trail: _Trail | None = field(default=None, repr=False, compare=False)

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

    def training_memory(
        self, optimizer: str = "sgd", momentum: float = 0.0, weight_decay: float = 0.0
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
        optimizer: str = "sgd",
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> int:
        """Estimated peak memory of a training step with this batch size, in bytes:
        weights, gradients, optimizer state and temporaries, and the activations autograd
        keeps for the backward pass while it frees them as it goes."""
        return self.training_memory(optimizer, momentum, weight_decay).peak_bytes(batch_size)


# What the analysis of a layer depends on besides the layer, its name and its position:
# the input shape and receptive field reaching it, whether the maps were downsampled
# before it, the last activation before it, and how many sources and windowed layers
# came before it.
_State = tuple[Shape | None, ReceptiveField | None, bool, str | None, int, int]


class _Trail:
    """How an analysis went, layer by layer, so that the analysis of an edited spec can
    take over the layers before the edit and, once the state after the edited layers is
    the one it was, the layers after it."""

    def __init__(
        self,
        spec: NetworkSpec,
        names: tuple[str, ...],
        position: _Position,
        states: list[_State],
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


def _continues(
    previous: Analysis | None, spec: NetworkSpec, names: tuple[str, ...], position: _Position
) -> _Trail | None:
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


def analyze(spec: NetworkSpec, previous: Analysis | None = None) -> Analysis:
    """Analyse every layer of `spec`; never raises for a well-formed spec.

    `previous`, the analysis of the spec before an edit, lends its results for the
    layers the edit cannot have changed: the result equals the analysis from scratch.
    """
    input_shape: Shape = spec.input.shape
    image_size = (spec.input.height, spec.input.width)
    names = spec.layer_names()
    last = len(spec.layers) - 1
    # The last Dense layer gives the class scores: output advice belongs to it alone.
    output_dense = max((i for i, x in enumerate(spec.layers) if x.type == "Dense"), default=None)
    results: list[LayerAnalysis] = []
    shape: Shape | None = input_shape
    rf: ReceptiveField | None = ReceptiveField((1, 1), (1, 1))
    downsampled = False
    previous_activation: str | None = None
    seen_names: dict[str, int] = {}
    sources: list[tuple[LayerType, Shape, Shape, dict[str, Any]]] = []
    position = _Position(last, output_dense)
    spatial: list[tuple[Shape, Shape, Window]] = []  # windowed layers so far
    states: list[_State] = []
    layers = spec.layers

    start, changed_end = 0, -1
    old = _continues(previous, spec, names, position)
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
            and _converged(
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
        name_problem = _name_problem(name, index, layer, seen_names)
        if name_problem:
            diagnostics.append(name_problem)
        seen_names.setdefault(name, index)

        if shape is None or rf is None:
            results.append(_unknown(index, name, layer, tuple(diagnostics)))
            continue
        try:
            out = entry.shape(shape, p)
        except ShapeError as error:
            at = LayerPath.top(index)
            fix = error.fix.at(at) if error.fix else None
            diagnostics.append(Diagnostic(Severity.ERROR, error.message, fix, at))
            results.append(_unknown(index, name, layer, tuple(diagnostics), shape))
            shape, rf = None, None
            continue

        trainable, frozen = entry.count(shape, p)
        sources.append((entry, shape, out, module_values(entry, p, index == last)))
        window = entry.window(shape, p)
        jump = rf.jump
        if jump is None:
            pass  # already collapsed: the coverage stays
        elif window is None:
            covered = image_size
            if spatial:
                rows, columns = zip(*(_axis_windows(*w) for w in spatial), strict=True)
                covered = (reached_inputs(rows), reached_inputs(columns))
                if 0 in covered:
                    covered = (0, 0)  # a pixel needs both its row and its column to reach
            rf = ReceptiveField(image_size, None, covered)
        else:
            if window is not IDENTITY_WINDOW:
                spatial.append((shape, out, window))
                padding_only = _padding_only_problem(index, shape, out, window)
                if padding_only:
                    diagnostics.append(padding_only)
            size = (
                rf.size[0] + (window.kernel[0] - 1) * jump[0],
                rf.size[1] + (window.kernel[1] - 1) * jump[1],
            )
            rf = ReceptiveField(size, (jump[0] * window.stride[0], jump[1] * window.stride[1]))

        activation = p[entry.activation_key] if entry.activation_key else None
        diagnostics.extend(
            _warnings(
                index,
                layer,
                shape,
                out,
                activation,
                previous_activation,
                downsampled,
                position,
            )
        )
        batchnorm = _batchnorm_problem(index, layer, shape, spec.training.batch_size)
        if batchnorm:
            diagnostics.append(batchnorm)
        if entry.family == "Pooling" or (window is not None and window.stride != (1, 1)):
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
        output_problem = _output_problem(spec, shape)
        if output_problem:
            results[-1] = replace(
                results[-1], diagnostics=(*results[-1].diagnostics, output_problem)
            )

    known = [r for r in results if r.known]
    network.extend(_size_problems(known, math.prod(input_shape)))
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
        _trail=_Trail(spec, names, position, states, spatial, previous),
    )


def _converged(
    old: _Trail,
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


def _size_problems(known: list[LayerAnalysis], input_elements: int) -> list[Diagnostic]:
    """Errors for a network too large to build: its weights, or one image's activations,
    beyond the limits above (the numbers quoted, the largest layer named)."""
    problems: list[Diagnostic] = []
    params = sum(r.params for r in known)
    if params * BYTES_PER_ELEMENT > MAX_PARAMETER_BYTES:
        largest = max(known, key=lambda r: r.params)
        problems.append(
            Diagnostic(
                Severity.ERROR,
                f"the network has {params:,} parameters "
                f"({format_bytes(params * BYTES_PER_ELEMENT)} of weights), more than the "
                f"{format_bytes(MAX_PARAMETER_BYTES)} it can build; {largest.name} alone has "
                f"{largest.params:,}: use fewer units or filters",
            )
        )
    elements = input_elements + sum(r.activation_elements for r in known)
    if elements * BYTES_PER_ELEMENT > MAX_IMAGE_ACTIVATION_BYTES:
        largest = max(known, key=lambda r: r.activation_elements)
        problems.append(
            Diagnostic(
                Severity.ERROR,
                f"one image's activations take {format_bytes(elements * BYTES_PER_ELEMENT)}, "
                f"more than the {format_bytes(MAX_IMAGE_ACTIVATION_BYTES)} it can run; "
                f"{largest.name} alone makes {largest.activation_elements:,} values: "
                "use a smaller input, fewer filters or an earlier stride",
            )
        )
    return problems


def _unknown(
    index: int,
    name: str,
    layer: LayerSpec,
    diagnostics: tuple[Diagnostic, ...],
    input_shape: Shape | None = None,
) -> LayerAnalysis:
    return LayerAnalysis(
        index, name, layer.type, layer.describe(), input_shape, None, 0, 0, 0, 0, None, diagnostics
    )


def _name_problem(
    name: str, index: int, layer: LayerSpec, seen: dict[str, int]
) -> Diagnostic | None:
    if layer.name is None:
        return None
    problem = check_layer_name(name)
    if problem:
        return Diagnostic(
            Severity.ERROR,
            f"name {name!r} {problem}",
            UseAutomaticName("use the automatic name", path=LayerPath.top(index)),
            LayerPath.top(index),
        )
    if name in seen:
        return Diagnostic(
            Severity.ERROR,
            f"name {name!r} is already used by {layer_label(seen[name])}",
            UseAutomaticName("use the automatic name", path=LayerPath.top(index)),
            LayerPath.top(index),
        )
    return None


@dataclass(frozen=True)
class _Position:
    """Where the output is: the network's last layer and its last Dense layer (if any)."""

    last: int
    output_dense: int | None

    def hidden(self, index: int) -> bool:
        """Before the layer that gives the class scores."""
        if self.output_dense is None:
            return index != self.last
        return index < self.output_dense


def _warnings(
    index: int,
    layer: LayerSpec,
    shape: Shape,
    out: Shape,
    activation: str | None,
    previous_activation: str | None,
    downsampled: bool,
    position: _Position,
) -> list[Diagnostic]:
    """Legal but suspicious choices on one layer.

    Every fix moves one way (softmax → relu or linear, squashing → relu, output → linear or
    a final softmax, away from such layers), so applying the offered fixes always ends.
    """
    found: list[Diagnostic] = []
    entry = layer.entry
    key = entry.activation_key
    last = position.last

    def warn(message: str, fix: Fix | None = None) -> None:
        at = LayerPath.top(index)
        found.append(Diagnostic(Severity.WARNING, message, fix.at(at) if fix else None, at))

    # On the output side: the last Dense layer and the layers after it.
    output_side = not position.hidden(index) and position.output_dense is not None
    scores_fix: Fix | None = (
        RemoveLayer("remove this layer")
        if layer.type == "Activation"
        else SetParams("use linear", ((key, "linear"),))
        if key
        else None
    )
    if key and activation == "softmax" and index != last:
        if output_side:
            warn(
                "softmax before the last layer turns the class scores into probabilities "
                "that the layers after it distort: keep softmax on the last layer only",
                scores_fix,
            )
        else:
            warn(
                "softmax before the last layer squashes features into probabilities: use relu "
                "here and softmax only on the output",
                SetParams("use relu", ((key, "relu"),)),
            )
    if (
        key
        and position.hidden(index)
        and activation in _SQUASHING
        and previous_activation in _SQUASHING
    ):
        warn(
            "stacked sigmoids saturate and learn slowly (vanishing gradients): use relu",
            SetParams("use relu", ((key, "relu"),)),
        )
    if key and output_side and activation not in ("linear", "softmax", None):
        what = "output layer" if index == position.output_dense else "class scores"
        if index == last and layer.type == "Dense":
            fix: Fix | None = SetParams("use softmax", ((key, "softmax"),))
            advice = "use softmax (or linear)"
        else:
            fix = scores_fix
            advice = fix.label if fix else "remove it"
        warn(
            f"the loss expects raw class scores; {activation} on the {what} distorts them: "
            f"{advice}",
            fix,
        )
    if layer.type == "Dense" and not downsampled:
        weights = shape[0] * out[0]
        if weights > _HUGE_DENSE_WEIGHTS:
            warn(
                f"Dense on {shape[0]:,} features has {weights / 1e6:.1f}M weights and nothing "
                "before it shrinks the maps: add pooling or a strided convolution"
            )
    if layer.type == "Flatten" and len(shape) == 1:
        warn(
            "the input is already a vector, so this Flatten does nothing",
            RemoveLayer("remove this layer"),
        )
    if layer.type == "Dropout" and layer.get("rate") >= 0.8:
        warn(
            f"dropping {layer.get('rate'):.0%} of inputs makes training slow and noisy; "
            "0.2–0.5 is usual",
            SetParams("use rate 0.5", (("rate", 0.5),)),
        )
    return found


def _axis_windows(shape: Shape, out: Shape, window: Window) -> tuple[AxisWindow, AxisWindow]:
    return (
        AxisWindow(
            shape[1], out[1], window.taps[0], window.dilation[0], window.stride[0], window.before[0]
        ),
        AxisWindow(
            shape[2], out[2], window.taps[1], window.dilation[1], window.stride[1], window.before[1]
        ),
    )


def _padding_only_problem(
    index: int, shape: Shape, out: Shape, window: Window
) -> Diagnostic | None:
    """A warning when some of the layer's windows see only padding: those outputs do not
    depend on the input at all (padding wider than the kernel, or a dilated kernel whose
    taps step over a small map)."""
    dilated = window.dilation != (1, 1)
    if not dilated and window.before[0] < window.taps[0] and window.before[1] < window.taps[1]:
        # contiguous taps with less padding than the kernel (the far side pads no more)
        # always reach the input: the common case, without the bit arithmetic
        return None
    axes = _axis_windows(shape, out, window)
    rows, columns = (padding_only_outputs(axis) for axis in axes)
    if not rows and not columns:
        return None
    total = out[1] * out[2]
    blind = total - (out[1] - rows) * (out[2] - columns)
    fix = (
        SetParams("use dilation 1", (("dilation", 1),))
        if dilated
        else SetParams("use padding 'same'", (("padding", "same"),))
    )
    cause = (
        f"the dilated kernel steps over the {axes[0].size_in}×{axes[1].size_in} map"
        if dilated
        else "the padding is wider than the kernel"
    )
    if blind == total:
        what = (
            "every window of this layer sees only padding, so its output does not depend "
            "on the input"
        )
    else:
        what = (
            f"{blind:,} of {total:,} output positions see only padding, so they do not "
            "depend on the input"
        )
    at = LayerPath.top(index)
    return Diagnostic(Severity.WARNING, f"{what} ({cause})", fix.at(at), at)


def _batchnorm_problem(
    index: int, layer: LayerSpec, shape: Shape, batch_size: int
) -> Diagnostic | None:
    """BatchNorm in training needs more than one value per channel in a batch: with batch
    size 1 after a Dense layer (or on 1×1 maps) torch refuses to train."""
    if layer.type != "BatchNorm" or batch_size * math.prod(shape[1:]) > 1:
        return None
    where = "a vector" if len(shape) == 1 else "1×1 maps"
    return Diagnostic(
        Severity.WARNING,
        f"BatchNorm on {where} with batch size {batch_size} sees one value per channel, "
        "so training cannot normalise it: use a batch size of 2 or more, or remove this layer",
        RemoveLayer("remove this layer", path=LayerPath.top(index)),
        LayerPath.top(index),
    )


def _output_problem(spec: NetworkSpec, shape: Shape) -> Diagnostic | None:
    """The last layer must give one score per class."""
    last = len(spec.layers) - 1
    n = spec.num_classes
    if len(shape) != 1:
        return Diagnostic(
            Severity.ERROR,
            f"the network must end in {n} class scores but ends "
            f"in maps of shape {shape}: add Flatten and Dense {n}",
            None,
            LayerPath.top(last),
        )
    if shape[0] == n:
        return None
    dense = next((i for i in range(last, -1, -1) if spec.layers[i].type == "Dense"), None)
    fix = (
        SetParams(f"set units to {n}", (("units", n),), path=LayerPath.top(dense))
        if dense is not None
        else None
    )
    return Diagnostic(
        Severity.ERROR,
        f"the output has {shape[0]} values but there are {n} classes",
        fix,
        LayerPath.top(last),
    )
