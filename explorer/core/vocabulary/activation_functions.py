"""The activation functions the vocabulary offers, each declared once.

(Not to be confused with activations in the sense of a layer's outputs, which capture.py
records.)

Torch is imported inside the factories so the editor can analyse specs before torch loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from explorer.core.memory import Node


@dataclass(frozen=True)
class ActivationType:
    """One activation function: its help text, how to build it, its trainable parameters,
    and what autograd keeps of it in training (`saves`: "input", "output" or "nothing";
    `extra_copies`: input-sized tensors it keeps beside, as RReLU's random slopes;
    `backward_copies`: input-sized temporaries its backward pass makes beside the gradient)."""

    name: str
    help: str
    factory: Callable[[float | None], Any]
    trainable_params: int = 0
    default_alpha: float | None = None
    saves: str = "input"
    extra_copies: int = 0
    backward_copies: int = 0

    def nodes(self, elements: int) -> tuple[Node, ...]:
        """Its autograd node on `elements` values per image (see memory.py)."""
        if self.saves == "nothing":
            return (Node(None),)  # nn.Identity returns its input
        return (
            Node(
                elements,
                saves_input=self.saves == "input",
                saves_output=self.saves == "output",
                extra_bytes=self.extra_copies * elements * 4,
                weights=self.trainable_params,
                backward_scratch=self.backward_copies * elements * 4,
            ),
        )


def _relu(alpha: float | None) -> Any:
    from torch import nn

    return nn.ReLU()


def _leaky_relu(alpha: float | None) -> Any:
    from torch import nn

    assert alpha is not None  # build_activation fills in default_alpha
    return nn.LeakyReLU(alpha)


def _prelu(alpha: float | None) -> Any:
    from torch import nn

    assert alpha is not None  # build_activation fills in default_alpha
    return nn.PReLU(num_parameters=1, init=alpha)


def _rrelu(alpha: float | None) -> Any:
    from torch import nn

    return nn.RReLU()


def _elu(alpha: float | None) -> Any:
    from torch import nn

    assert alpha is not None  # build_activation fills in default_alpha
    return nn.ELU(alpha)


def _simple(class_name: str) -> Callable[[float | None], Any]:
    def factory(alpha: float | None) -> Any:
        from torch import nn

        return getattr(nn, class_name)()

    return factory


def _softmax(alpha: float | None) -> Any:
    from torch import nn

    return nn.Softmax(dim=1)


_ALL = (
    ActivationType(
        "linear",
        "No activation: the output is passed through unchanged.",
        _simple("Identity"),
        saves="nothing",
    ),
    ActivationType(
        "relu",
        "max(0, x): the default for hidden layers; cheap and does not "
        "saturate for positive inputs.",
        _relu,
        saves="output",
    ),
    ActivationType(
        "leaky_relu",
        "x for x > 0, alpha·x otherwise (alpha 0.01): keeps a small "
        "gradient for negative inputs so units do not die.",
        _leaky_relu,
        default_alpha=0.01,
    ),
    ActivationType(
        "prelu",
        "Leaky ReLU whose negative slope is learned (one parameter, starting at 0.25).",
        _prelu,
        trainable_params=1,
        default_alpha=0.25,
        backward_copies=1,  # the slope's gradient, element by element, before its sum
    ),
    ActivationType(
        "rrelu",
        "Leaky ReLU with a random negative slope in [1/8, 1/3] while "
        "training and their mean at inference.",
        _rrelu,
        extra_copies=1,
    ),
    ActivationType(
        "elu",
        "x for x > 0, alpha·(eˣ − 1) otherwise: smooth, with negative "
        "outputs that push mean activations towards zero.",
        _elu,
        default_alpha=1.0,
    ),
    ActivationType(
        "selu",
        "Scaled ELU with fixed constants that keep activations "
        "self-normalising in deep dense stacks.",
        _simple("SELU"),
    ),
    ActivationType("gelu", "x·Φ(x): a smooth ReLU used by transformers.", _simple("GELU")),
    ActivationType(
        "sigmoid",
        "1/(1 + e⁻ˣ): squashes to (0, 1); saturates, so stacks of it learn slowly.",
        _simple("Sigmoid"),
        saves="output",
    ),
    ActivationType(
        "tanh",
        "Squashes to (−1, 1), zero-centred; the classic LeNet choice.",
        _simple("Tanh"),
        saves="output",
    ),
    ActivationType("softplus", "log(1 + eˣ): a smooth approximation of ReLU.", _simple("Softplus")),
    ActivationType(
        "softsign",
        "x/(1 + |x|): like tanh but approaches its limits more slowly.",
        _simple("Softsign"),
        extra_copies=1,  # the division keeps 1 + |x|
        backward_copies=3,  # the division's gradient: quotients, negation and product
    ),
    ActivationType(
        "softmax",
        "Turns scores into probabilities over channels that sum to 1; "
        "use it on the output layer only.",
        _softmax,
        saves="output",
    ),
)

ACTIVATIONS: dict[str, ActivationType] = {a.name: a for a in _ALL}
ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)


def build_activation(name: str, alpha: float | None = None) -> Any:
    """A fresh torch module for the named activation; `alpha` defaults to its default_alpha."""
    activation = ACTIVATIONS[name]
    return activation.factory(activation.default_alpha if alpha is None else alpha)
