"""What a layer type declares: one `LayerType` holds every rule of one type.

Shapes are (C, H, W) for images and (N,) for vectors, without the batch dimension. The
rules get the layer's resolved values (every key, defaults filled in) as the module is
built with them (`LayerType.module_values`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from explorer.core.diagnostics import Fix
from explorer.core.memory import Node
from explorer.core.params import Param
from explorer.core.vocabulary.geometry import Window

Shape = tuple[int, ...]
Resolved = Mapping[str, Any]


class Reach(Enum):
    """How much of its input one output value depends on."""

    POINTWISE = "pointwise"  # the value at its own position (activations, dropout, BatchNorm)
    WINDOW = "window"  # a sliding window (convolution, pooling): the type declares it
    WHOLE_INPUT = "whole input"  # all of it (Flatten, Dense, global pooling)


@dataclass(frozen=True)
class Advice:
    """A warning a type's own rule gives about one layer: legal, but probably a mistake."""

    message: str
    fix: Fix | None = None


@dataclass(frozen=True)
class AdviceContext:
    """What a type's advice may look at besides the layer: whether anything before it
    shrank the maps, and the batch size the network trains with."""

    downsampled: bool
    batch_size: int


@dataclass(frozen=True, kw_only=True)
class LayerType:
    """Every rule of one layer type; the rules have no defaults, so none can be forgotten.

    - `output_shape(input, p)`: the output shape; raises ShapeError (with a fix where one
      exists) when the input makes the layer impossible;
    - `weights(input, p)`: (trainable, non-trainable) parameter counts, as Keras counts;
    - `macs(input, output, p)`: multiply-accumulates for one image;
    - `reach` and `window(input, p)`: what one output sees, for receptive fields, coverage
      and the output-size arithmetic (`window` is given exactly for `Reach.WINDOW`);
    - `autograd(input, output, p)`: the autograd nodes its module runs in training, per
      image (see memory.py);
    - `build(input, p)`: a fresh torch module (torch imported inside, so the editor can
      start before torch loads);
    - `describe(p)`: one line for the layer stack;
    - `advice(input, output, p, context)`: warnings about this type's own choices.

    The roles say what the analysis may rely on: `activation_key` names the key holding
    its activation function; `pure_activation` marks a layer that is its activation and
    nothing else (removing it removes the activation); `downsamples` a layer that always
    shrinks the maps; `scores_key` the key that sets how many values a layer that can give
    the class scores outputs (the network's last such layer is its output layer).
    """

    name: str
    family: str
    base_name: str
    summary: str
    params: tuple[Param, ...]
    output_shape: Callable[[Shape, Resolved], Shape]
    weights: Callable[[Shape, Resolved], tuple[int, int]]
    macs: Callable[[Shape, Shape, Resolved], int]
    reach: Reach
    window: Callable[[Shape, Resolved], Window] | None
    autograd: Callable[[Shape, Shape, Resolved], tuple[Node, ...]]
    build: Callable[[Shape, Resolved], Any]
    describe: Callable[[Resolved], str]
    advice: Callable[[Shape, Shape, Resolved, AdviceContext], tuple[Advice, ...]]
    activation_key: str | None = None
    pure_activation: bool = False
    downsamples: bool = False
    scores_key: str | None = None

    def __post_init__(self) -> None:
        if (self.reach is Reach.WINDOW) != (self.window is not None):
            raise ValueError(f"{self.name}: a window is declared exactly for Reach.WINDOW")
        for key in (self.activation_key, self.scores_key):
            if key is not None and key not in self.keys:
                raise ValueError(f"{self.name}: role key {key!r} is not one of its params")

    def param(self, key: str) -> Param:
        for param in self.params:
            if param.name == key:
                return param
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(param.name for param in self.params)

    def module_values(self, p: Resolved, last: bool) -> dict[str, Any]:
        """The values the layer's module is built with: a softmax on the network's last
        layer is left out of the module, since the loss takes the logits (see builder.py)."""
        key = self.activation_key
        if last and key is not None and p[key] == "softmax":
            return {**p, key: "linear"}
        return dict(p)
