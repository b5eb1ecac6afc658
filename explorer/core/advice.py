"""What the analysis says about a layer beyond its shape rule: names, activations in the
wrong place, windows that see only padding, the output layer, the network's size.

Each function returns diagnostics (with a mechanical fix where one exists); the shape walk
in analysis.py calls them with what it worked out for the layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from explorer.core.coverage import AxisWindow, padding_only_outputs
from explorer.core.diagnostics import (
    Diagnostic,
    Fix,
    RemoveLayer,
    SetParams,
    Severity,
    UseAutomaticName,
)
from explorer.core.memory import BYTES_PER_ELEMENT, format_bytes
from explorer.core.paths import LayerPath
from explorer.core.spec import LayerOrBlock, LayerSpec, NetworkSpec, check_layer_name
from explorer.core.vocabulary.geometry import Window
from explorer.core.vocabulary.layer_type import AdviceContext, LayerType, Resolved, Shape

if TYPE_CHECKING:
    from explorer.core.analysis import LayerAnalysis

# The largest network the program builds: beyond these no machine it runs on could hold the
# weights, or one image's activations, so the builder refuses before allocating anything.
MAX_PARAMETER_BYTES = 16 * 2**30
MAX_IMAGE_ACTIVATION_BYTES = 16 * 2**30
_SQUASHING = ("sigmoid",)


def size_problems(known: list[LayerAnalysis], input_elements: int) -> list[Diagnostic]:
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


def name_problem(
    name: str, at: LayerPath, layer: LayerOrBlock, earlier: str | None
) -> Diagnostic | None:
    """An error for a name of the layer's own that no layer may have, or that `earlier`
    (the label of an earlier layer or block, None when there is none) already has."""
    if layer.name is None:
        return None
    problem = check_layer_name(name)
    if problem:
        message = f"name {name!r} {problem}"
    elif earlier is not None:
        message = f"name {name!r} is already used by {earlier}"
    else:
        return None
    return Diagnostic(
        Severity.ERROR, message, UseAutomaticName("use the automatic name", path=at), at
    )


@dataclass(frozen=True)
class OutputPosition:
    """Where the output is: the network's last layer and its last Dense layer (if any)."""

    last: int
    output_dense: int | None

    def hidden(self, index: int) -> bool:
        """Before the layer that gives the class scores."""
        if self.output_dense is None:
            return index != self.last
        return index < self.output_dense


def layer_warnings(
    at: LayerPath,
    layer: LayerSpec,
    shape: Shape,
    out: Shape,
    activation: str | None,
    previous_activation: str | None,
    position: OutputPosition,
) -> list[Diagnostic]:
    """Legal but suspicious choices of activation on one layer (its type's own advice is
    `type_advice`).

    Every fix moves one way (softmax → relu or linear, squashing → relu, output → linear or
    a final softmax, away from such layers), so applying the offered fixes always ends.
    """
    found: list[Diagnostic] = []
    entry = layer.entry
    key = entry.activation_key
    # A layer inside a block is hidden: the output is a row of the top-level stack.
    index = at.steps[0] if len(at.steps) == 1 else None
    is_last = index is not None and index == position.last
    hidden = index is None or position.hidden(index)

    def warn(message: str, fix: Fix | None = None) -> None:
        found.append(Diagnostic(Severity.WARNING, message, fix.at(at) if fix else None, at))

    # On the output side: the output layer and the layers after it.
    output_side = not hidden and position.output_dense is not None
    scores_fix = (
        RemoveLayer("remove this layer")
        if entry.pure_activation
        else SetParams("use linear", ((key, "linear"),))
        if key
        else None
    )
    if key and activation == "softmax" and not is_last:
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
    if key and hidden and activation in _SQUASHING and previous_activation in _SQUASHING:
        warn(
            "stacked sigmoids saturate and learn slowly (vanishing gradients): use relu",
            SetParams("use relu", ((key, "relu"),)),
        )
    if key and output_side and activation not in ("linear", "softmax", None):
        what = "output layer" if index == position.output_dense else "class scores"
        if is_last and entry.scores_key is not None:
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
    return found


def axis_windows(shape: Shape, out: Shape, window: Window) -> tuple[AxisWindow, AxisWindow]:
    return (
        AxisWindow(
            shape[1], out[1], window.taps[0], window.dilation[0], window.stride[0], window.before[0]
        ),
        AxisWindow(
            shape[2], out[2], window.taps[1], window.dilation[1], window.stride[1], window.before[1]
        ),
    )


def padding_only_problem(
    at: LayerPath, shape: Shape, out: Shape, window: Window
) -> Diagnostic | None:
    """A warning when some of the layer's windows see only padding: those outputs do not
    depend on the input at all (padding wider than the kernel, or a dilated kernel whose
    taps step over a small map)."""
    dilated = window.dilation != (1, 1)
    if not dilated and window.before[0] < window.taps[0] and window.before[1] < window.taps[1]:
        # contiguous taps with less padding than the kernel (the far side pads no more)
        # always reach the input: the common case, without the bit arithmetic
        return None
    axes = axis_windows(shape, out, window)
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
    return Diagnostic(Severity.WARNING, f"{what} ({cause})", fix.at(at), at)


def type_advice(
    at: LayerPath, entry: LayerType, shape: Shape, out: Shape, p: Resolved, context: AdviceContext
) -> list[Diagnostic]:
    """The warnings of the layer type's own advice rule, placed on the layer at `at`."""
    return [
        Diagnostic(Severity.WARNING, advice.message, advice.fix.at(at) if advice.fix else None, at)
        for advice in entry.advice(shape, out, p, context)
    ]


def output_problem(spec: NetworkSpec, shape: Shape) -> Diagnostic | None:
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
    scores = next((i for i in range(last, -1, -1) if scores_key(spec.layers[i])), None)
    fix = None
    key = scores_key(spec.layers[scores]) if scores is not None else None
    if scores is not None and key is not None:
        fix = SetParams(f"set {key} to {n}", ((key, n),), path=LayerPath.top(scores))
    return Diagnostic(
        Severity.ERROR,
        f"the output has {shape[0]} values but there are {n} classes",
        fix,
        LayerPath.top(last),
    )


def scores_key(item: LayerOrBlock) -> str | None:
    """The key setting how many class scores a layer gives (None: it cannot give them;
    a block never does, its last layer does not end the network)."""
    return item.entry.scores_key if isinstance(item, LayerSpec) else None
