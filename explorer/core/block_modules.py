"""The torch modules of blocks, as a person would write them, and the names of their parts.

The builder assembles them from the spec and the PyTorch source export writes the same
classes, so an exported model has the app's state-dict keys exactly. Inside a block the
layers keep their names: the body of `residual_1` holds `residual_1.body.conv2d_3`, the
second branch of `parallel_1` holds `parallel_1.branches.1.conv2d_5`. A block repeated ×N
is an `nn.Sequential` of N copies named `0` … `N-1` (`residual_2.1.body.conv2d_4` is in its
second copy); with ×1 there is no such level. A projection shortcut is an `nn.Sequential` of
the two layers' modules (`residual_2.shortcut.0.conv.weight`, `residual_2.shortcut.1.weight`
for the BatchNorm), as torchvision's ResNet names its `downsample`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from explorer.core.vocabulary.blocks import Merge

__all__ = ["PadShortcut", "ParallelBlock", "ResidualBlock", "block_part", "merge"]


class PadShortcut(nn.Module):
    """He et al. 2016's option A: keep every `stride`-th position and add zero channels."""

    def __init__(self, stride: tuple[int, int], extra_channels: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride[0], :: self.stride[1]]
        if self.extra_channels:
            x = nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, extra_channels={self.extra_channels}"


class ResidualBlock(nn.Module):
    """`activation(body(x) + shortcut(x))`."""

    def __init__(
        self,
        body: Sequence[tuple[str, nn.Module]],
        shortcut: nn.Module | None = None,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(OrderedDict(body))
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.activation(self.body(x) + self.shortcut(x))
        return out


def merge(kind: str, outputs: list[torch.Tensor]) -> torch.Tensor:
    """The branches' outputs merged as `explorer.core.blocks.merged_shape` says: added,
    concatenated along the channels, or multiplied (a (N, C) or (N, C, 1, 1) branch scales
    the channels of the maps)."""
    if kind == Merge.CONCAT.value:
        return torch.cat(outputs, dim=1)
    result = outputs[0]
    for output in outputs[1:]:
        if kind == Merge.ADD.value:
            result = result + output
        else:
            if result.dim() == 2 and output.dim() == 4:
                result = result[:, :, None, None]
            elif output.dim() == 2 and result.dim() == 4:
                output = output[:, :, None, None]
            result = result * output
    return result


class ParallelBlock(nn.Module):
    """`activation(merge(branch(x) for each branch))`; an empty branch passes x on."""

    def __init__(
        self,
        branches: Sequence[Sequence[tuple[str, nn.Module]]],
        merge: str,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(OrderedDict(branch)) for branch in branches)
        self.merge = merge
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [branch(x) for branch in self.branches]
        out: torch.Tensor = self.activation(merge(self.merge, outputs))
        return out


def block_part(block_name: str, repeat: int, copy: int, stack: int, is_residual: bool) -> str:
    """The qualified module name of sub-stack `stack` of copy `copy` of a block:
    'residual_1.body', 'residual_2.1.body', 'parallel_1.branches.1'."""
    head = block_name if repeat == 1 else f"{block_name}.{copy}"
    return f"{head}.body" if is_residual else f"{head}.branches.{stack}"
