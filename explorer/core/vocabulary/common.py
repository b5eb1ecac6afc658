"""Parameter declarations and rules that several layer types share.

The explicit "nothing" rules (`no_weights`, `no_macs`, ...) let a type say that it has no
weights or no advice in so many words, instead of through a default nobody wrote.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from explorer.core.memory import Node
from explorer.core.params import Kind, Param
from explorer.core.vocabulary.activation_functions import (
    ACTIVATION_NAMES,
    ACTIVATIONS,
    build_activation,
)
from explorer.core.vocabulary.layer_type import (
    Advice,
    AdviceContext,
    LayerType,
    Reach,
    Resolved,
    Shape,
)

# Upper bounds that keep every value far inside what torch can take (a stride of 10**30
# overflows its int64 arithmetic) while allowing anything a real network uses.
MAX_WINDOW = 1024  # kernel, pool, stride, padding and dilation, in pixels
MAX_PENALTY = 10.0  # l1 and l2; usual values are 1e-5 to 1e-2


def activation_param(default: str = "linear", required: bool = False) -> Param:
    """The `activation` key of Conv2D and Dense, or the `function` key of Activation."""
    return Param(
        "activation" if not required else "function",
        Kind.CHOICE,
        None if required else default,
        "Non-linearity applied to the output: " + ", ".join(ACTIVATION_NAMES) + ".",
        # A dropped layer starts with relu, the usual hidden-layer choice.
        choices=ACTIVATION_NAMES,
        required=required,
        initial="relu",
    )


def penalty_params() -> tuple[Param, ...]:
    """`l1` and `l2` on the kernel weights."""
    return (
        Param(
            "l1",
            Kind.FLOAT,
            0.0,
            "L1 penalty on the weights, added to the loss as "
            "l1·Σ|w| (drives weights to exactly zero).",
            minimum=0.0,
            maximum=MAX_PENALTY,
        ),
        Param(
            "l2",
            Kind.FLOAT,
            0.0,
            "L2 penalty on the weights, added to the loss as "
            "l2·Σw² (weight decay, Keras convention).",
            minimum=0.0,
            maximum=MAX_PENALTY,
        ),
    )


USE_BIAS = Param("use_bias", Kind.BOOL, True, "Add a learned bias per output.")


def activation_weights(p: Resolved, key: str = "activation") -> int:
    """Trainable parameters of the layer's activation (PReLU's slope)."""
    return ACTIVATIONS[p[key]].trainable_params


def with_activation(parts: list[tuple[str, Any]], p: Resolved) -> Any:
    """A Sequential of the layer's modules, named, and its activation (when not linear)."""
    from torch import nn

    named: OrderedDict[str, Any] = OrderedDict(parts)
    if p["activation"] != "linear":
        named["act"] = build_activation(p["activation"])
    return nn.Sequential(named)


def elements(shape: Shape) -> int:
    return math.prod(shape)


def same_shape(shape: Shape, p: Resolved) -> Shape:
    return shape


def no_weights(shape: Shape, p: Resolved) -> tuple[int, int]:
    return (0, 0)


def no_macs(shape: Shape, out: Shape, p: Resolved) -> int:
    return 0


def returns_its_input(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    """The autograd nodes of a module that returns its input or a view of it."""
    return (Node(None),)


def no_advice(shape: Shape, out: Shape, p: Resolved, context: AdviceContext) -> tuple[Advice, ...]:
    return ()


def fixed_text(text: str) -> Callable[[Resolved], str]:
    """A `describe` rule for a type without values to show."""

    def describe(p: Resolved) -> str:
        return text

    return describe


# Declaring a type by its reach: the rules that follow from it are given here, the type
# names the rest. A pointwise output value depends on the input value at its own position,
# so the shape passes through, there is no window and nothing is multiplied and added.
pointwise_type = functools.partial(
    LayerType,
    reach=Reach.POINTWISE,
    window=None,
    output_shape=same_shape,
    macs=no_macs,
)
# Every output value of a whole-input type sees all of its input: there is no window.
whole_input_type = functools.partial(LayerType, reach=Reach.WHOLE_INPUT, window=None)
