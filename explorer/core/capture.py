"""What every layer makes of one image: the per-layer outputs of a forward pass.

Capture runs on a snapshot of the weights (`snapshot_model`), never on the model being
trained: a forward pass there would race with autograd and update BatchNorm statistics.
It walks `Network.layer_modules()` in order, so no hooks are needed, and copies each
output to a float32 numpy array. Large layers are capped to `max_channels` channels (the
first ones), so a wide network such as VGG16 stays cheap to capture and to draw.

Shapes are (C, H, W) for images and (N,) for vectors, without the batch dimension.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from explorer.core.builder import Network, build_with_weights, kernel_weight
from explorer.core.capture_types import CaptureResult, FloatArray, LayerCapture
from explorer.core.mosaic import COLUMN_ASPECT, layer_mosaics
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.core.vocabulary.activation_functions import ACTIVATION_NAMES, build_activation

__all__ = [
    "DEFAULT_MAX_CHANNELS",
    "TILE_IN_BACKGROUND",
    "CaptureResult",
    "LayerCapture",
    "activation_responses",
    "capture",
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


def _kernel_of(module: nn.Module, max_channels: int) -> FloatArray | None:
    try:
        weight = kernel_weight(module)
    except TypeError:
        return None
    kept: FloatArray = weight[:max_channels].detach().cpu().float().numpy().copy()
    return kept


def capture(
    model: Network, image: torch.Tensor, *, max_channels: int = DEFAULT_MAX_CHANNELS
) -> CaptureResult:
    """Run one normalised image (C, H, W) through `model` and keep every layer's output.

    The model runs in eval mode on its own device under `torch.inference_mode`; its
    train/eval mode is restored afterwards, even on error. Pass a snapshot, never the
    model being trained. Image outputs keep their first `max_channels` channels.
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
            for index, (name, module) in enumerate(model.layer_modules()):
                x = module(x)
                out = x[0]
                kept = out[:max_channels] if out.dim() == 3 else out
                layers.append(
                    LayerCapture(
                        name,
                        LayerPath.top(index),
                        kept.detach().cpu().float().numpy().copy(),
                        tuple(out.shape),
                        _kernel_of(module, max_channels),
                    )
                )
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
