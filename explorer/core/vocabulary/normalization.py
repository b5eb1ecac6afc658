"""Normalisation layers: BatchNorm (over images or vectors)."""

from __future__ import annotations

import math
from typing import Any

from explorer.core.diagnostics import RemoveLayer
from explorer.core.memory import Node
from explorer.core.params import Kind, Param
from explorer.core.vocabulary.common import elements, fixed_text, pointwise_type
from explorer.core.vocabulary.layer_type import (
    Advice,
    AdviceContext,
    Resolved,
    Shape,
)

_PARAMS = (
    Param(
        "momentum",
        Kind.FLOAT,
        0.1,
        "Weight of the newest batch in the running "
        "statistics (PyTorch convention; Keras 0.99 is 0.01 here).",
        minimum=0.0,
        maximum=1.0,
        exclusive_minimum=True,
    ),
    Param(
        "eps",
        Kind.FLOAT,
        1e-5,
        "Added to the variance to avoid division by zero.",
        minimum=0.0,
        exclusive_minimum=True,
        maximum=1.0,
    ),
)


def _weights(shape: Shape, p: Resolved) -> tuple[int, int]:
    # Keras counts gamma and beta as trainable, the moving mean and variance as not.
    return 2 * shape[0], 2 * shape[0]


def _autograd(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    return (Node(elements(out), saves_input=True, weights=2 * shape[0]),)


def _build(shape: Shape, p: Resolved) -> Any:
    from torch import nn

    cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return cls(shape[0], eps=float(p["eps"]), momentum=float(p["momentum"]))


def _advice(shape: Shape, out: Shape, p: Resolved, context: AdviceContext) -> tuple[Advice, ...]:
    """In training BatchNorm needs more than one value per channel in a batch: with batch
    size 1 after a Dense layer (or on 1×1 maps) torch refuses to train."""
    batch_size = context.batch_size
    if batch_size * math.prod(shape[1:]) > 1:
        return ()
    where = "a vector" if len(shape) == 1 else "1×1 maps"
    return (
        Advice(
            f"BatchNorm on {where} with batch size {batch_size} sees one value per channel, "
            "so training cannot normalise it: use a batch size of 2 or more, or remove this "
            "layer",
            RemoveLayer("remove this layer"),
        ),
    )


BATCH_NORM = pointwise_type(
    name="BatchNorm",
    family="Regularisation",
    base_name="batch_norm",
    summary="Normalises each channel to zero mean and unit variance over the batch, then "
    "scales and shifts it; speeds up and steadies training.",
    params=_PARAMS,
    weights=_weights,
    autograd=_autograd,
    build=_build,
    describe=fixed_text("BatchNorm"),
    advice=_advice,
)

TYPES = (BATCH_NORM,)
