"""The Activation layer: one activation function on its own, element by element."""

from __future__ import annotations

from typing import Any

from explorer.core.memory import Node
from explorer.core.params import Kind, Param
from explorer.core.vocabulary.activation_functions import ACTIVATIONS, build_activation
from explorer.core.vocabulary.common import (
    activation_param,
    activation_weights,
    elements,
    no_advice,
    pointwise_type,
)
from explorer.core.vocabulary.layer_type import Resolved, Shape

_ALPHA_HELP = (
    "The activation's alpha: "
    + ", ".join(
        f"{a.name} (default {a.default_alpha:g})"
        for a in ACTIVATIONS.values()
        if a.default_alpha is not None
    )
    + " — the negative slope, initial learned slope or saturation."
)

_PARAMS = (
    activation_param(required=True),
    Param("alpha", Kind.FLOAT, None, _ALPHA_HELP, minimum=0.0, maximum=100.0),
)


def _weights(shape: Shape, p: Resolved) -> tuple[int, int]:
    return activation_weights(p, "function"), 0


def _autograd(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    return ACTIVATIONS[p["function"]].nodes(elements(out))


def _build(shape: Shape, p: Resolved) -> Any:
    return build_activation(p["function"], p["alpha"])


def _describe(p: Resolved) -> str:
    return f"Activation · {p['function']}"


ACTIVATION = pointwise_type(
    name="Activation",
    family="Activation",
    base_name="activation",
    summary="Applies a non-linearity element by element (function); without one, stacked "
    "layers collapse into a single linear map.",
    params=_PARAMS,
    weights=_weights,
    autograd=_autograd,
    build=_build,
    describe=_describe,
    advice=no_advice,
    activation_key="function",
    pure_activation=True,
)

TYPES = (ACTIVATION,)
