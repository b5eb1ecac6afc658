"""The block classes of an exported file: `PadShortcut`, `ResidualBlock`, `ParallelBlock`.

They compute what `explorer.core.block_modules` computes and hold their parts under the same
attribute names (`body`, `shortcut`, `activation`, `branches`), so the app's state_dict
loads into an exported model unchanged (tests/core/test_export_blocks.py checks both). They
take their sub-stacks as ready `nn.Sequential`s, as a person would write them, rather than
the (name, module) lists the builder passes. A file holds only the classes its network uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from torch import nn

from explorer.core.block_modules import PadShortcut, ParallelBlock, ResidualBlock
from explorer.core.export.layout import Call, Expression

PAD_SHORTCUT_SOURCE = '''\
class PadShortcut(nn.Module):
    """He et al. 2016's option A shortcut: every `stride`-th position, then zero channels.

    It has no weights.
    """

    def __init__(self, stride: tuple[int, int], extra_channels: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride[0], :: self.stride[1]]
        if self.extra_channels:
            x = nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x
'''

RESIDUAL_BLOCK_SOURCE = '''\
class ResidualBlock(nn.Module):
    """`activation(body(x) + shortcut(x))` (He et al. 2016); no shortcut passes x itself."""

    def __init__(
        self,
        body: nn.Sequential,
        shortcut: nn.Module | None = None,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.body(x) + self.shortcut(x))
'''

PARALLEL_BLOCK_SOURCE = '''\
def merge(kind: str, outputs: list[torch.Tensor]) -> torch.Tensor:
    """The branches' outputs added, concatenated along the channels, or multiplied; in a
    product, a (batch, C) or (batch, C, 1, 1) output scales each channel of the maps."""
    if kind == "concat":
        return torch.cat(outputs, dim=1)
    result = outputs[0]
    for output in outputs[1:]:
        if kind == "add":
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
        branches: list[nn.Sequential],
        merge: str,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.merge = merge
        self.activation = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [branch(x) for branch in self.branches]
        return self.activation(merge(self.merge, outputs))
'''

# In the order the file defines them.
_SOURCES: tuple[tuple[type[nn.Module], str], ...] = (
    (PadShortcut, PAD_SHORTCUT_SOURCE),
    (ResidualBlock, RESIDUAL_BLOCK_SOURCE),
    (ParallelBlock, PARALLEL_BLOCK_SOURCE),
)
BLOCK_CLASSES = tuple(cls for cls, _ in _SOURCES)

Writer = Callable[[nn.Module], Expression]


def block_classes_source(network: nn.Module) -> str:
    """The definitions of the block classes `network` uses (each followed by two blank
    lines, as between top-level definitions), or ''."""
    used = {type(module) for module in network.modules()}
    return "".join(f"{source}\n\n" for cls, source in _SOURCES if cls in used)


def block_expression(module: nn.Module, write: Writer) -> Expression:
    """The constructor call of a block module; `write` gives its parts' expressions."""
    if isinstance(module, PadShortcut):
        stride = tuple(int(s) for s in module.stride)
        return Call.of(
            "PadShortcut(",
            [("stride=", repr(stride)), ("extra_channels=", repr(module.extra_channels))],
        )
    if isinstance(module, ResidualBlock):
        arguments: list[Expression | tuple[str, Expression]] = [write(module.body)]
        if not isinstance(module.shortcut, nn.Identity):
            arguments.append(("shortcut=", write(module.shortcut)))
        if not isinstance(module.activation, nn.Identity):
            arguments.append(("activation=", write(module.activation)))
        return Call.of("ResidualBlock(", arguments)
    if isinstance(module, ParallelBlock):
        branches = Call.of("[", [write(branch) for branch in module.branches])
        arguments = [branches, ("merge=", json.dumps(module.merge))]
        if not isinstance(module.activation, nn.Identity):
            arguments.append(("activation=", write(module.activation)))
        return Call.of("ParallelBlock(", arguments)
    raise TypeError(f"{type(module).__name__} is not a block module")
