"""Multi-layer presets after the tutorials' pattern
INPUT → [[CONV → RELU]×N → POOL]×M → [FC → RELU]×K → OUTPUT, and a ResNet basic block (a
residual block holding its body); each inserts in one undo step. A preset that repeats asks
for N wherever it is added (double-click or drop)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QInputDialog, QWidget

from explorer.core.spec import BlockSpec, LayerOrBlock, LayerSpec


@dataclass(frozen=True)
class Block:
    name: str
    summary: str
    make: Callable[[int], tuple[LayerOrBlock, ...]]
    asks_repeat: bool = False


def _conv(activation: str, **values: object) -> LayerSpec:
    # "same" padding keeps the map size so blocks can be stacked without shape errors.
    return LayerSpec.new("Conv2D").with_values(activation=activation, padding="same", **values)


def _relu() -> LayerSpec:
    return LayerSpec.new("Activation").with_values(function="relu")


def _basic_residual() -> BlockSpec:
    """He et al. 2016's basic block: two 3×3 convolutions with BatchNorm, the ReLU after the
    sum (the block's own activation)."""
    body = [
        _conv("linear", use_bias=False),
        LayerSpec.new("BatchNorm"),
        _relu(),
        _conv("linear", use_bias=False),
        LayerSpec.new("BatchNorm"),
    ]
    return BlockSpec.new("Residual", [body])


BLOCKS: tuple[Block, ...] = (
    Block(
        "Conv-ReLU",
        "A 3×3 convolution ('same' padding) followed by a ReLU.",
        lambda n: (_conv("linear"), _relu()),
    ),
    Block(
        "Conv-BN-ReLU",
        "Convolution without bias, batch normalisation, then ReLU: the usual modern unit.",
        lambda n: (_conv("linear", use_bias=False), LayerSpec.new("BatchNorm"), _relu()),
    ),
    Block(
        "Conv-ReLU ×N + MaxPool",
        "N 3×3 ReLU convolutions then a 2×2 max pool that halves the maps (VGG style).",
        lambda n: (*(_conv("relu") for _ in range(n)), LayerSpec.new("MaxPool2D")),
        asks_repeat=True,
    ),
    Block(
        "Basic residual block",
        "Conv-BN-ReLU-Conv-BN with a shortcut around it and ReLU after the sum (ResNet).",
        lambda n: (_basic_residual(),),
    ),
    Block(
        "Dense-ReLU-Dropout",
        "A fully connected ReLU layer followed by dropout: the classifier head's hidden unit.",
        lambda n: (
            LayerSpec.new("Dense").with_values(activation="relu"),
            LayerSpec.new("Dropout"),
        ),
    ),
)


def block_named(name: str) -> Block | None:
    return next((block for block in BLOCKS if block.name == name), None)


def ask_repeat(parent: QWidget | None, block: Block, default: int) -> int | None:
    """N for a repeating block, asked in a small dialog; None when cancelled."""
    # The block's name in the text, not only the title: a window manager shortens titles.
    value, ok = QInputDialog.getInt(
        parent, "Add Block", f"{block.name}\nConvolutions before the pool (N):", default, 1, 16
    )
    return value if ok else None
