"""Layers that only act while training, to keep the network from overfitting: Dropout."""

from __future__ import annotations

from typing import Any

from explorer.core.diagnostics import SetParams
from explorer.core.memory import Node
from explorer.core.params import Kind, Param
from explorer.core.vocabulary.common import elements, no_weights, pointwise_type
from explorer.core.vocabulary.layer_type import (
    Advice,
    AdviceContext,
    Resolved,
    Shape,
)

_PARAMS = (
    Param(
        "rate",
        Kind.FLOAT,
        0.5,
        "Fraction of inputs dropped while training.",
        minimum=0.0,
        maximum=1.0,
        exclusive_maximum=True,
    ),
)


def _autograd(shape: Shape, out: Shape, p: Resolved) -> tuple[Node, ...]:
    if float(p["rate"]) == 0:
        return (Node(None),)  # rate 0 returns the input itself
    # on the CPU dropout multiplies by a float32 noise tensor and keeps the noise
    return (Node(elements(out), extra_bytes=4 * elements(out)),)


def _build(shape: Shape, p: Resolved) -> Any:
    from torch import nn

    return nn.Dropout(float(p["rate"]))


def _describe(p: Resolved) -> str:
    return f"Dropout {p['rate']:g}"


def _advice(shape: Shape, out: Shape, p: Resolved, context: AdviceContext) -> tuple[Advice, ...]:
    if p["rate"] < 0.8:
        return ()
    return (
        Advice(
            f"dropping {p['rate']:.0%} of inputs makes training slow and noisy; 0.2–0.5 is usual",
            SetParams("use rate 0.5", (("rate", 0.5),)),
        ),
    )


DROPOUT = pointwise_type(
    name="Dropout",
    family="Regularisation",
    base_name="dropout",
    summary="While training, zeroes a random fraction of its inputs (rate) so the network "
    "cannot rely on any single feature; does nothing at inference.",
    params=_PARAMS,
    weights=no_weights,
    autograd=_autograd,
    build=_build,
    describe=_describe,
    advice=_advice,
)

TYPES = (DROPOUT,)
