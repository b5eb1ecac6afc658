"""Fully connected layers: Dense."""

from __future__ import annotations

from typing import Any

from explorer.core.diagnostics import InsertLayer, ShapeError
from explorer.core.memory import Node
from explorer.core.params import Kind, Param
from explorer.core.vocabulary.activation_functions import ACTIVATIONS
from explorer.core.vocabulary.common import (
    USE_BIAS,
    activation_param,
    activation_weights,
    penalty_params,
    whole_input_type,
    with_activation,
)
from explorer.core.vocabulary.layer_type import (
    Advice,
    AdviceContext,
    Resolved,
    Shape,
)

# Beyond this many weights on maps nothing has shrunk, a Dense layer is worth a warning.
_HUGE_WEIGHTS = 1_000_000

_PARAMS = (
    Param(
        "units",
        Kind.INT,
        None,
        "Number of outputs.",
        minimum=1,
        maximum=1 << 20,
        required=True,
        initial=128,
    ),
    activation_param(),
    USE_BIAS,
    *penalty_params(),
)


def _output_shape(shape: Shape, p: Resolved) -> Shape:
    if len(shape) != 1:
        raise ShapeError(
            f"Dense needs a vector but its input is {shape}: insert a Flatten layer before it",
            InsertLayer("insert a Flatten layer before it", "Flatten"),
        )
    return (int(p["units"]),)


def _weights(shape: Shape, p: Resolved) -> tuple[int, int]:
    units = int(p["units"])
    return units * shape[0] + (units if p["use_bias"] else 0) + activation_weights(p), 0


def _macs(shape: Shape, out: Shape, p: Resolved) -> int:
    return shape[0] * out[0]


def _autograd(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    linear = Node(out[0], saves_input=True, weights=_weights(shape, p)[0])
    return (linear, *ACTIVATIONS[p["activation"]].nodes(out[0]))


def _build(shape: Shape, p: Resolved) -> Any:
    from torch import nn

    return with_activation(
        [("linear", nn.Linear(shape[0], int(p["units"]), bias=bool(p["use_bias"])))], p
    )


def _describe(p: Resolved) -> str:
    return f"Dense {p['units']} · {p['activation']}"


def _advice(shape: Shape, out: Shape, p: Resolved, context: AdviceContext) -> tuple[Advice, ...]:
    weights = shape[0] * out[0]
    if context.downsampled or weights <= _HUGE_WEIGHTS:
        return ()
    return (
        Advice(
            f"Dense on {shape[0]:,} features has {weights / 1e6:.1f}M weights and nothing "
            "before it shrinks the maps: add pooling or a strided convolution"
        ),
    )


DENSE = whole_input_type(
    name="Dense",
    family="Core",
    base_name="dense",
    summary="Fully connected layer: every output is a weighted sum of all inputs (units, "
    "activation); the last one gives the class scores.",
    params=_PARAMS,
    output_shape=_output_shape,
    weights=_weights,
    macs=_macs,
    autograd=_autograd,
    build=_build,
    describe=_describe,
    advice=_advice,
    activation_key="activation",
    scores_key="units",
)

TYPES = (DENSE,)
