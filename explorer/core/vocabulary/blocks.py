"""Blocks: rows of the stack that hold sub-stacks of layers (and blocks).

A `BlockType` declares what a block's row edits (its hyperparameters, as a layer's) and how
many sub-stacks it holds; the rules that combine the sub-stacks' shapes are in
`explorer.core.blocks`, which the analysis and the builder share.

- `Residual`: one sub-stack, the *body*, plus a shortcut from the block's input, merged by
  addition and optionally followed by an activation (He et al. 2016).
- `Parallel`: two or more sub-stacks, the *branches*, over the same input, merged by
  addition, channel concatenation or multiplication (Inception, DenseNet, squeeze-and-excite).

Both repeat: `repeat` ×N stacks N copies of the block, each with its own weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from explorer.core.params import Kind, Param
from explorer.core.vocabulary.activation_functions import ACTIVATION_NAMES
from explorer.core.vocabulary.layer_type import Resolved

__all__ = ["BLOCK_TYPES", "PARALLEL", "RESIDUAL", "BlockType", "Merge", "Shortcut"]

MAX_REPEAT = 64


class Shortcut(StrEnum):
    """How a residual block's input reaches the merge."""

    AUTO = "auto"  # identity when the body keeps the shape, projection otherwise
    IDENTITY = "identity"
    PROJECTION = "projection"  # 1×1 convolution + BatchNorm, strided as the body is
    PAD = "pad"  # strided subsample + zero channels: He et al.'s parameter-free option A


class Merge(StrEnum):
    """How the branches' outputs become one."""

    ADD = "add"
    CONCAT = "concat"  # along the channels
    MULTIPLY = "multiply"  # element-wise; a (C,) branch scales each channel (squeeze-excite)


@dataclass(frozen=True, kw_only=True)
class BlockType:
    """Every declaration of one block type.

    `stack_name` names one sub-stack in messages and in the project file ("body" is
    written `"body": [...]`, "branch" is written `"branches": [[...], ...]`);
    `min_stacks`/`max_stacks` bound how many it holds. The row edits `params` as a layer's.
    """

    name: str
    family: str
    base_name: str
    summary: str
    params: tuple[Param, ...]
    stack_name: str
    json_key: str
    min_stacks: int
    max_stacks: int
    describe: Callable[[Resolved, int], str]

    def param(self, key: str) -> Param:
        for param in self.params:
            if param.name == key:
                return param
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(param.name for param in self.params)

    def stack_label(self, stack: int) -> str:
        """How a path's label names sub-stack `stack` (0-based), to be followed by the
        position: 'body' ('body 2'), or 'branch 2 ›' ('branch 2 › 1')."""
        return self.stack_name if self.max_stacks == 1 else f"{self.stack_name} {stack + 1} ›"


def _repeat_param() -> Param:
    return Param(
        "repeat",
        Kind.INT,
        1,
        "Copies of the block in a row, each with its own weights (a ResNet stage is "
        "'basic block ×3').",
        minimum=1,
        maximum=MAX_REPEAT,
    )


def _merge_activation(default: str) -> Param:
    return Param(
        "activation",
        Kind.CHOICE,
        default,
        "Non-linearity applied after the merge: " + ", ".join(ACTIVATION_NAMES) + ".",
        choices=ACTIVATION_NAMES,
    )


def _times(p: Resolved) -> str:
    return f" ×{p['repeat']}" if p["repeat"] != 1 else ""


def _then(p: Resolved) -> str:
    return f" · {p['activation']}" if p["activation"] != "linear" else ""


def _describe_residual(p: Resolved, stacks: int) -> str:
    return f"Residual{_times(p)} · {p['shortcut']} shortcut{_then(p)}"


def _describe_parallel(p: Resolved, stacks: int) -> str:
    return f"Parallel{_times(p)} · {stacks} branches · {p['merge']}{_then(p)}"


RESIDUAL = BlockType(
    name="Residual",
    family="Blocks",
    base_name="residual",
    summary="A body of layers plus a shortcut from its input, added together (a ResNet block).",
    params=(
        Param(
            "shortcut",
            Kind.CHOICE,
            Shortcut.AUTO.value,
            "How the input reaches the sum: 'auto' (identity when the body keeps the shape, "
            "projection otherwise), 'identity', 'projection' (1×1 conv + BatchNorm) or 'pad' "
            "(subsample and zero channels, no weights).",
            choices=tuple(s.value for s in Shortcut),
        ),
        Param(
            "merge",
            Kind.CHOICE,
            Merge.ADD.value,
            "How the body and the shortcut become one: 'add' (a residual block adds).",
            choices=(Merge.ADD.value,),
        ),
        _merge_activation("relu"),
        _repeat_param(),
    ),
    stack_name="body",
    json_key="body",
    min_stacks=1,
    max_stacks=1,
    describe=_describe_residual,
)

PARALLEL = BlockType(
    name="Parallel",
    family="Blocks",
    base_name="parallel",
    summary="Branches of layers over the same input, merged by add, concat or multiply "
    "(Inception, squeeze-and-excite).",
    params=(
        Param(
            "merge",
            Kind.CHOICE,
            Merge.CONCAT.value,
            "How the branches become one: 'add', 'concat' (along the channels) or 'multiply' "
            "(a branch of one value per channel scales the channels).",
            choices=tuple(m.value for m in Merge),
        ),
        _merge_activation("linear"),
        _repeat_param(),
    ),
    stack_name="branch",
    json_key="branches",
    min_stacks=2,
    max_stacks=16,
    describe=_describe_parallel,
)

BLOCK_TYPES: dict[str, BlockType] = {entry.name: entry for entry in (RESIDUAL, PARALLEL)}
