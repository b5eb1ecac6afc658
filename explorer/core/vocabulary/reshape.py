"""Layers that only rearrange values: Flatten."""

from __future__ import annotations

from typing import Any

from explorer.core.diagnostics import RemoveLayer
from explorer.core.vocabulary.common import (
    elements,
    fixed_text,
    no_macs,
    no_weights,
    returns_its_input,
    whole_input_type,
)
from explorer.core.vocabulary.layer_type import (
    Advice,
    AdviceContext,
    Resolved,
    Shape,
)


def _output_shape(shape: Shape, p: Resolved) -> Shape:
    return (elements(shape),)


def _build(shape: Shape, p: Resolved) -> Any:
    from torch import nn

    return nn.Flatten()


def _advice(shape: Shape, out: Shape, p: Resolved, context: AdviceContext) -> tuple[Advice, ...]:
    if len(shape) != 1:
        return ()
    return (
        Advice(
            "the input is already a vector, so this Flatten does nothing",
            RemoveLayer("remove this layer"),
        ),
    )


FLATTEN = whole_input_type(
    name="Flatten",
    family="Core",
    base_name="flatten",
    summary="Unrolls the (C, H, W) feature maps into one long vector so Dense layers can use them.",
    params=(),
    output_shape=_output_shape,
    weights=no_weights,
    macs=no_macs,
    autograd=returns_its_input,
    build=_build,
    describe=fixed_text("Flatten"),
    advice=_advice,
)

TYPES = (FLATTEN,)
