"""What the analysis says about one layer or block: shapes, counts, cost, receptive field
and diagnostics (see analysis.py). Shapes are (C, H, W) or (N,) without the batch
dimension; memory is float32 bytes for one image."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from explorer.core.diagnostics import Diagnostic
from explorer.core.memory import BYTES_PER_ELEMENT
from explorer.core.paths import LayerPath
from explorer.core.vocabulary.layer_type import Shape

__all__ = ["LayerAnalysis", "ReceptiveField"]


@dataclass(frozen=True)
class ReceptiveField:
    """How much of the input one output position sees, in input pixels (h, w).

    `jump` is the input-pixel distance between neighbouring output positions; it is None
    once a layer sees the whole input (after Flatten, Dense or global pooling). From there
    `covered` says how many input rows and columns can reach its output: fewer than the
    input's when valid windows or strides never reach the last rows (`size` is the input's).
    """

    size: tuple[int, int]
    jump: tuple[int, int] | None
    covered: tuple[int, int] | None = None

    @property
    def whole_input(self) -> bool:
        """Whether every input pixel can reach this layer's output."""
        return self.covered is not None and self.covered == self.size


@dataclass(frozen=True)
class LayerAnalysis:
    """The analysis of one layer, or of a block with its contents.

    `index` is the position in its own stack (`path.index`). A block's counts, cost and
    `activation_elements` are totals over everything it runs (every copy, the shortcut,
    the merge and its activation); its shapes are those of the block's input and output.
    """

    index: int
    name: str
    type: str
    description: str
    input_shape: Shape | None
    output_shape: Shape | None
    trainable_params: int
    non_trainable_params: int
    macs: int
    activation_elements: int
    receptive_field: ReceptiveField | None
    diagnostics: tuple[Diagnostic, ...]
    # Where the layer or block is (`LayerPath.top(index)` at the top level) and, for a
    # block, the analyses of what each sub-stack holds (of its first copy when repeated;
    # the block's own counts are of all copies).
    path: LayerPath | None = None
    children: tuple[tuple[LayerAnalysis, ...], ...] = ()
    repeat: int = 1  # a block's copies

    @property
    def depth(self) -> int:
        """1 for a top-level row, one more per block it sits in."""
        return self.path.depth if self.path is not None else 1

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def is_block(self) -> bool:
        return bool(self.children)

    def walk(self) -> Iterator[LayerAnalysis]:
        """This analysis and those of everything inside it, in stack order."""
        yield self
        for stack in self.children:
            for child in stack:
                yield from child.walk()

    @property
    def activation_bytes(self) -> int:
        """Bytes of this layer's float32 output for one image (a block: of every output
        made inside it)."""
        return self.activation_elements * BYTES_PER_ELEMENT

    @property
    def known(self) -> bool:
        return self.output_shape is not None

    @property
    def error(self) -> Diagnostic | None:
        return next((d for d in self.diagnostics if d.is_error), None)

    @property
    def diagnostic(self) -> Diagnostic | None:
        """The most severe diagnostic (the first error, else the first warning)."""
        return self.error or (self.diagnostics[0] if self.diagnostics else None)
