"""What a capture returns: every layer's output for one image, as plain numpy data.

Apart from `explorer.core.capture` (which runs the forward pass with torch) so that the
views that draw a capture import these types without importing torch.

Shapes are (C, H, W) for images and (N,) for vectors, without the batch dimension.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from explorer.core.mosaic import LayerMosaics
from explorer.core.paths import LayerPath

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class LayerCapture:
    """One layer's output for one image; `path` is where the layer sits in the network
    (inside blocks too: a repeated block's layers are those of its first copy).

    A block's own capture (`merged`) is its merged output (the last copy's, when it is
    repeated), listed after what its sub-stacks hold. `output` holds the first
    `max_channels` channels of an image output (C, H, W), or the whole vector (N,);
    `shape` is the layer's full output shape. `kernel` is the layer's kernel for Conv2D
    (out, in, kh, kw, capped like the output) or Dense (out, in) layers, else None; of a
    layer with several (`kernels`: a SeparableConv2D has its depthwise then its pointwise
    one), the first.
    """

    name: str
    path: LayerPath
    output: FloatArray = field(repr=False)
    shape: tuple[int, ...]
    kernel: FloatArray | None = field(default=None, repr=False)
    merged: bool = False
    kernels: int = 0

    @property
    def label(self) -> str:
        """How a row names it: 'conv2d_3', or 'residual_1 (merged)' for a block."""
        return f"{self.name} (merged)" if self.merged else self.name

    @property
    def depth(self) -> int:
        """1 at the top level, one more per block it sits in (a block's own row counts as
        its parent's level)."""
        return self.path.depth

    @property
    def is_image(self) -> bool:
        return self.output.ndim == 3

    @property
    def channels_shown(self) -> int:
        return int(self.output.shape[0])

    @property
    def truncated(self) -> bool:
        """True when only some of the layer's channels were kept."""
        return self.is_image and self.output.shape[0] < self.shape[0]


@dataclass(frozen=True)
class CaptureResult:
    """Every layer's capture, in order, plus the network's final class probabilities.

    `mosaics`, when filled by `with_mosaics`, holds each layer's output tiled for drawing
    (one entry per layer, in order; None for a layer small enough to tile as it is
    drawn); empty otherwise.
    """

    layers: tuple[LayerCapture, ...]
    logits: FloatArray = field(repr=False)
    probabilities: FloatArray
    mosaics: tuple[LayerMosaics | None, ...] = field(default=(), repr=False)

    def __getitem__(self, name: str) -> LayerCapture:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def position(self, path: LayerPath) -> int | None:
        """Where in `layers` the capture of the layer at `path` is (None: not captured)."""
        return next((i for i, layer in enumerate(self.layers) if layer.path == path), None)

    def input_of(self, path: LayerPath) -> LayerCapture | None:
        """The capture whose output the layer at `path` takes in: the one before it in its
        stack (a block's merged output), else what its block takes in; None: the image."""
        while path.index == 0:
            parent = path.parent
            if parent is None:
                return None
            path = parent
        before = self.position(path.sibling(path.index - 1))
        return None if before is None else self.layers[before]
