"""The layer registry: every layer type by name, assembled from the vocabulary.

Each type's rules (hyperparameters, shape rule, counts, window, memory, torch module,
description, advice) are declared together in its family module under
`explorer.core.vocabulary`; the palette, properties form, validator, analysis and builder
all read the entries collected here. A new type is declared in its family module and added
to that module's `TYPES`; a new family module is added to `_FAMILY_MODULES` below (blocks
that hold sub-stacks will be one).
"""

from __future__ import annotations

from explorer.core.vocabulary import (
    activation,
    conv,
    dense,
    normalization,
    pooling,
    regularization,
    reshape,
    separable,
)
from explorer.core.vocabulary.layer_type import LayerType

__all__ = ["FAMILIES", "LAYER_TYPES", "LayerType", "UnknownLayerType", "layer_type"]

# The palette's order of families, and within a family the order of the modules' TYPES.
FAMILIES = ("Convolution", "Pooling", "Core", "Regularisation", "Activation")

_FAMILY_MODULES = (
    conv,
    separable,
    pooling,
    reshape,
    dense,
    regularization,
    normalization,
    activation,
)

LAYER_TYPES: dict[str, LayerType] = {
    entry.name: entry for module in _FAMILY_MODULES for entry in module.TYPES
}


class UnknownLayerType(KeyError):
    """A type name the registry does not hold; str() is the message (not its repr)."""

    def __str__(self) -> str:
        return str(self.args[0])


def layer_type(name: str) -> LayerType:
    """The registry entry for a type name; UnknownLayerType (a KeyError) names the valid
    types."""
    try:
        return LAYER_TYPES[name]
    except KeyError:
        raise UnknownLayerType(
            f"unknown layer type {name!r}; expected one of {', '.join(LAYER_TYPES)}"
        ) from None
