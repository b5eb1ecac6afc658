"""What every layer makes of one image: the per-layer outputs of a forward pass.

Capture runs on a snapshot of the weights (`snapshot_model`), never on the model being
trained: a forward pass there would race with autograd and update BatchNorm statistics.
It runs `Network.layer_modules()` in order and copies each output to a float32 numpy array
as the pass goes. Inside a block, forward hooks keep the outputs (removed afterwards, even
on error); the layers there are found by their qualified module names
(`<sub-stack>.<layer name>`, see `explorer.core.block_modules`); a repeated block shows
its first copy's layers, and every block its merged output. Large layers are capped to
`max_channels` channels (the first ones), so a wide network such as VGG16 stays cheap to
capture and to draw.

Shapes are (C, H, W) for images and (N,) for vectors, without the batch dimension.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from explorer.core.block_modules import ParallelBlock, ResidualBlock, block_part
from explorer.core.builder import Network, build_with_weights, kernel_weights
from explorer.core.capture_types import CaptureResult, FloatArray, LayerCapture
from explorer.core.mosaic import COLUMN_ASPECT, layer_mosaics
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.core.vocabulary.activation_functions import ACTIVATION_NAMES, build_activation

__all__ = [
    "DEFAULT_MAX_CHANNELS",
    "TILE_IN_BACKGROUND",
    "CapturePoint",
    "CaptureResult",
    "LayerCapture",
    "activation_responses",
    "capture",
    "capture_points",
    "snapshot_model",
    "with_mosaics",
]

# Channels kept per layer: 64 maps of a VGG block already fill a screen, and 512 would
# cost 8× the copying and drawing for detail nobody can see at once.
DEFAULT_MAX_CHANNELS = 64

# A Sobel filter for the activation gallery when the network has no convolution.
EDGE_KERNEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], np.float32)


def snapshot_model(spec: NetworkSpec, state_dict: Mapping[str, torch.Tensor]) -> Network:
    """A CPU model for `spec` with a copy of the given weights, in eval mode; building it
    draws no random numbers, so it never disturbs a run training in another thread."""
    return build_with_weights(spec, state_dict)


def _kernel_of(module: nn.Module, max_channels: int) -> tuple[FloatArray | None, int]:
    """The layer's first kernel (capped like its output) and how many kernels it has."""
    try:
        weights = kernel_weights(module)
    except TypeError:
        return None, 0
    kept: FloatArray = weights[0][:max_channels].detach().cpu().float().numpy().copy()
    return kept, len(weights)


@dataclass(frozen=True)
class CapturePoint:
    """A module whose output is captured: a layer, or a block (`merged`: its merged
    output). `module` is its qualified name in the model, `path` its place in the spec."""

    path: LayerPath
    name: str
    module: str
    merged: bool = False


def _first_copy(module: nn.Module) -> ResidualBlock | ParallelBlock | None:
    """The block `module` is (or the first of its copies, when repeated), else None. A
    layer's module never holds a block, so a Sequential of blocks is a repeated block."""
    if isinstance(module, ResidualBlock | ParallelBlock):
        return module
    if isinstance(module, nn.Sequential) and len(module) > 0:
        first = module[0]
        if isinstance(first, ResidualBlock | ParallelBlock):
            return first
    return None


def _points_of(path: LayerPath, name: str, qualified: str, module: nn.Module) -> list[CapturePoint]:
    block = _first_copy(module)
    if block is None:
        return [CapturePoint(path, name, qualified)]
    residual = isinstance(block, ResidualBlock)
    repeat = 1 if block is module else len(list(module.children()))
    stacks = [block.body] if isinstance(block, ResidualBlock) else list(block.branches)
    points: list[CapturePoint] = []
    for which, stack in enumerate(stacks):
        part = block_part(qualified, repeat, 0, which, residual)
        for index, (child_name, child) in enumerate(stack.named_children()):
            points += _points_of(
                path.child(which, index), child_name, f"{part}.{child_name}", child
            )
    # Its merged output: the whole module's (the last copy's when repeated).
    points.append(CapturePoint(path, name, qualified, merged=True))
    return points


def capture_points(model: Network) -> list[CapturePoint]:
    """Every layer and block of `model` in the order their outputs are made: each
    block's sub-stacks in order (of its first copy), then its merged output."""
    points: list[CapturePoint] = []
    for index, (name, module) in enumerate(model.layer_modules()):
        points += _points_of(LayerPath.top(index), name, name, module)
    return points


def _kept(point: CapturePoint, module: nn.Module, output: torch.Tensor, cap: int) -> LayerCapture:
    """A copy of one output (its first `cap` channels), with the layer's kernel."""
    out = output[0]
    kept = out[:cap] if out.dim() == 3 else out
    kernel, kernels = (None, 0) if point.merged else _kernel_of(module, cap)
    return LayerCapture(
        point.name,
        point.path,
        kept.detach().cpu().float().numpy().copy(),
        tuple(out.shape),
        kernel,
        point.merged,
        kernels,
    )


def _through_block(
    model: Network, points: list[CapturePoint], x: torch.Tensor, cap: int
) -> tuple[torch.Tensor, list[LayerCapture]]:
    """Run a top-level block; the captures of `points` (what it holds, then its merged
    output), kept by hooks that are removed afterwards."""
    kept: list[LayerCapture | None] = [None] * (len(points) - 1)

    def keeper(slot: int, module: nn.Module) -> Any:
        def keep(_: nn.Module, __: Any, output: torch.Tensor) -> None:
            # Copied at once, so each output's memory is freed as the pass goes on.
            kept[slot] = _kept(points[slot], module, output, cap)

        return keep

    handles = []
    try:
        for slot, point in enumerate(points[:-1]):
            module = model.get_submodule(point.module)
            handles.append(module.register_forward_hook(keeper(slot, module)))
        block = model.get_submodule(points[-1].module)
        x = block(x)
    finally:
        for handle in handles:
            handle.remove()
    inside = [layer for layer in kept if layer is not None]
    if len(inside) != len(kept):
        raise RuntimeError(f"{points[-1].name} skipped some of its layers in the forward pass")
    return x, [*inside, _kept(points[-1], block, x, cap)]


def capture(
    model: Network, image: torch.Tensor, *, max_channels: int = DEFAULT_MAX_CHANNELS
) -> CaptureResult:
    """Run one normalised image (C, H, W) through `model` and keep every layer's output,
    and every block's merged output (see `capture_points` for the order).

    The model runs in eval mode on its own device under `torch.inference_mode`; its
    train/eval mode is restored and the hooks removed afterwards, even on error. Pass a
    snapshot, never the model being trained. Image outputs keep their first
    `max_channels` channels.
    """
    if image.dim() != 3:
        raise ValueError(f"capture needs one image (C, H, W), got shape {tuple(image.shape)}")
    if max_channels < 1:
        raise ValueError(f"max_channels must be at least 1, got {max_channels}")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    # Only the modules in training mode are switched (and back): walking every module
    # three times (save, eval(), restore) cost 0.3 s for a 5,000-layer network.
    training = [module for module in model.modules() if module.training]
    layers: list[LayerCapture] = []
    try:
        for module in training:
            module.training = False
        with torch.inference_mode():
            x = image.detach().to(device=device, dtype=torch.float32).unsqueeze(0)
            # The top-level rows in turn, as the network's forward runs them; hooks only
            # inside blocks (on a 5,000-layer network, hooks everywhere took 3× as long).
            for index, (name, module) in enumerate(model.layer_modules()):
                path = LayerPath.top(index)
                if _first_copy(module) is None:
                    x = module(x)
                    layers.append(_kept(CapturePoint(path, name, name), module, x, max_channels))
                else:
                    points = _points_of(path, name, name, module)
                    x, inside = _through_block(model, points, x, max_channels)
                    layers += inside
            logits = x[0].detach().cpu().float().reshape(-1)
    finally:
        for module in training:
            module.training = True
    return CaptureResult(
        tuple(layers),
        logits.numpy().copy(),
        torch.softmax(logits, dim=0).numpy().copy(),
    )


# Layers with fewer output values than this are tiled when drawn (a fraction of a
# millisecond each, and only rows on screen); larger ones on the capture thread.
TILE_IN_BACKGROUND = 16384


def with_mosaics(
    result: CaptureResult,
    aspect: float = COLUMN_ASPECT,
    min_values: int = TILE_IN_BACKGROUND,
) -> CaptureResult:
    """`result` with the mosaics of every layer of at least `min_values` output values
    made (the work a view would otherwise do on its own thread: run it where the
    capture ran); smaller layers get None, so a deep network of small maps costs the
    capture thread no tiling of rows that may never be seen."""
    if len(result.mosaics) == len(result.layers):
        return result
    mosaics = tuple(
        layer_mosaics(layer.output, aspect) if layer.output.size >= min_values else None
        for layer in result.layers
    )
    return replace(result, mosaics=mosaics)


def activation_responses(
    image: torch.Tensor, kernel: npt.NDArray[np.floating] | None = None
) -> tuple[FloatArray, dict[str, FloatArray]]:
    """One convolution of `image` (C, H, W) and every activation function applied to it.

    `kernel` is (C, kh, kw) or (kh, kw) (applied to every channel and summed); by default
    a Sobel edge filter. Returns the pre-activation map (H', W') and, per activation name
    in the vocabulary's order, the map after it. Softmax is taken over all positions of
    the map (as over a layer's outputs), since a single channel would give all ones.
    """
    if image.dim() != 3:
        raise ValueError(f"need one image (C, H, W), got shape {tuple(image.shape)}")
    weights = EDGE_KERNEL if kernel is None else np.asarray(kernel, np.float32)
    if weights.ndim == 2:
        weights = np.broadcast_to(weights, (image.shape[0], *weights.shape))
    if weights.shape[0] != image.shape[0]:
        raise ValueError(f"kernel has {weights.shape[0]} channels, image has {image.shape[0]}")
    kh, kw = weights.shape[1:]
    with torch.inference_mode():
        x = image.detach().cpu().float().unsqueeze(0)
        w = torch.tensor(np.array(weights, np.float32)).unsqueeze(0)
        pre = torch.nn.functional.conv2d(x, w, padding=(kh // 2, kw // 2))[0, 0]
        flat = pre.reshape(1, -1)
        responses: dict[str, FloatArray] = {}
        for name in ACTIVATION_NAMES:
            module = build_activation(name)
            module.eval()
            responses[name] = module(flat).reshape(pre.shape).numpy().copy()
    return pre.numpy().copy(), responses
