"""Where the network looked: attribution maps of one image, computed with Captum.

Five methods: Grad-CAM on a layer with spatial maps (by default the last convolution),
vanilla saliency, SmoothGrad, integrated gradients and occlusion. Each gives one heat map
(H, W) at the input's size, float32, larger where the pixels count more for the target
class: Grad-CAM is upsampled bilinearly from its layer; the pixel methods reduce the
channels (saliency and SmoothGrad take the largest |gradient| of a pixel's channels, as
Simonyan et al. do; integrated gradients sums the channels' signed shares; occlusion takes
the mean drop in the target's score when the pixel's patch is blanked).

"Blank" is a black pixel as the network sees it after normalisation (−mean/std per
channel): the baseline of integrated gradients and what occlusion pastes in, so "blanked"
means the same here as in the faithfulness check.

Captum (and the matplotlib it imports) is imported inside the functions that use it, so
neither `explorer.core` nor the window's cold start pays for it. Run on a CPU copy of the
weights (`attribution_model`), never on the model being trained.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from explorer.core.attribution_methods import METHOD_LABELS, METHODS
from explorer.core.block_modules import ParallelBlock, ResidualBlock
from explorer.core.builder import Network, build_model, build_with_weights
from explorer.core.spec import NetworkSpec

FloatArray = npt.NDArray[np.float32]

# SmoothGrad: noisy copies averaged, noise σ as a share of the input's range (Smilkov et
# al. 2017 found 10-20% best). Integrated gradients: steps of the path integral.
SMOOTHGRAD_SAMPLES = 32
SMOOTHGRAD_NOISE = 0.15
IG_STEPS = 50
# Images evaluated per batch inside the methods (bounds memory for large inputs).
BATCH = 16


class AttributionError(ValueError):
    """An attribution that cannot be made as asked; the message says why and what to ask."""


class AttributionStopped(Exception):
    """The caller asked the attribution under way to stop."""


@dataclass(frozen=True)
class Attribution:
    """One image's attribution map and the prediction it explains.

    `heat` is (H, W) float32 at the input's size; `probabilities` (classes,) the network's
    softmax for the image; `layer` the qualified module name Grad-CAM used (None for the
    pixel methods); `map_layers` every layer with spatial maps, in forward order (the
    choices for Grad-CAM).
    """

    method: str
    target: int
    predicted: int
    probabilities: FloatArray
    heat: FloatArray
    layer: str | None
    map_layers: tuple[str, ...]


def attribution_model(spec: NetworkSpec, state_dict: Mapping[str, torch.Tensor] | None) -> Network:
    """A CPU model to explain: a copy of `state_dict`, or the spec's initial weights (its
    seed) when None; in eval mode, with its parameters frozen (only the input's gradient is
    needed)."""
    if state_dict is None:
        model = build_model(spec, seed=spec.training.seed)
    else:
        model = build_with_weights(spec, state_dict)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval()


def layer_modules(model: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """Every layer of the network by qualified module name, in forward order: the layers
    inside a block (`residual_1.body.conv2d_3`) come before the block itself; a block
    repeated ×N yields each copy (`residual_2.0`, `residual_2.1`)."""
    for name, child in model.named_children():
        qualified = f"{prefix}{name}"
        if isinstance(child, ResidualBlock):
            yield from layer_modules(child.body, f"{qualified}.body.")
            yield qualified, child
        elif isinstance(child, ParallelBlock):
            for index, branch in enumerate(child.branches):
                yield from layer_modules(branch, f"{qualified}.branches.{index}.")
            yield qualified, child
        elif _is_repeat(child):
            yield from layer_modules(child, f"{qualified}.")
        else:
            yield qualified, child


def _is_repeat(module: nn.Module) -> bool:
    children = list(module.children())
    return (
        isinstance(module, nn.Sequential)
        and bool(children)
        and all(isinstance(c, (ResidualBlock, ParallelBlock)) for c in children)
    )


def map_layers(model: Network) -> tuple[str, ...]:
    """The qualified names of the layers whose output is spatial maps (C, H, W), in forward
    order: what Grad-CAM can explain. One forward pass of a blank image, without gradients."""
    return tuple(map_shapes(model))


def map_shapes(model: Network) -> dict[str, tuple[int, int, int]]:
    """`map_layers` with each layer's output shape (C, H, W), in forward order."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    for name, module in layer_modules(model):

        def record(_m: nn.Module, _i: object, output: object, name: str = name) -> None:
            if isinstance(output, torch.Tensor):
                shapes[name] = tuple(output.shape[1:])

        handles.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            model(torch.zeros(1, *model.input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return {
        name: (shape[0], shape[1], shape[2])
        for name, _ in layer_modules(model)
        if len(shape := shapes.get(name, ())) == 3
    }


def default_layer(model: Network, shapes: Mapping[str, tuple[int, int, int]]) -> str:
    """Grad-CAM's layer when none is named: the last layer that convolves (a Conv2D, or a
    block holding one) and has maps larger than 1×1, followed through the layers right after
    it that keep its shape (BatchNorm, an activation: Grad-CAM wants the rectified maps);
    else the last layer with maps."""
    modules = dict(layer_modules(model))
    names = list(shapes)

    def convolves(name: str) -> bool:
        return any(isinstance(m, nn.Conv2d) for m in modules[name].modules())

    found = [i for i, n in enumerate(names) if convolves(n) and math.prod(shapes[n][1:]) > 1]
    if not found:
        if names:
            return names[-1]
        raise AttributionError(
            "Grad-CAM needs a layer with spatial maps, and this network has none "
            "(choose saliency, smoothgrad, integrated-gradients or occlusion)"
        )
    index = found[-1]
    while (
        index + 1 < len(names)
        and shapes[names[index + 1]] == shapes[names[index]]
        and not convolves(names[index + 1])
    ):
        index += 1
    return names[index]


def resolve_layer(model: Network, name: str, choices: Sequence[str]) -> str:
    """The qualified name of layer `name`: given in full (`residual_1.body.conv2d_3`) or by
    the layer's own name when that names one layer with maps; a repeated block's name means
    its last copy. AttributionError otherwise."""
    if name in choices:
        return name
    try:
        named = model.get_submodule(name)
    except AttributeError:
        named = None
    if named is not None and _is_repeat(named):  # a block ×N: its output is its last copy's
        last = f"{name}.{len(list(named.children())) - 1}"
        if last in choices:
            return last
    all_names = [qualified for qualified, _ in layer_modules(model)]
    matches = [q for q in choices if q.rsplit(".", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(choices) if choices else "none"
    if len(matches) > 1:
        raise AttributionError(
            f"layer {name!r} is in several copies of a repeated block: name one of "
            f"{', '.join(matches)}"
        )
    if name in all_names or any(q.rsplit(".", 1)[-1] == name for q in all_names):
        raise AttributionError(
            f"layer {name!r} has no spatial maps (its output is a vector): Grad-CAM needs a "
            f"layer with (C, H, W) output; layers with maps: {listed}"
        )
    raise AttributionError(f"no layer named {name!r}; layers with maps: {listed}")


def blank_value(mean: Sequence[float], std: Sequence[float]) -> tuple[float, ...]:
    """A black pixel after normalisation, per channel: (0 − mean)/std."""
    return tuple(-m / s for m, s in zip(mean, std, strict=True))


def explain(
    model: Network,
    image: torch.Tensor,
    method: str,
    *,
    target: int | None = None,
    layer: str | None = None,
    blank: Sequence[float] | None = None,
    stop: threading.Event | None = None,
) -> Attribution:
    """The attribution of one normalised image (C, H, W) for class `target` (default: the
    predicted one) by `method` (one of METHODS). `layer` is Grad-CAM's layer (see
    `resolve_layer`; default `default_layer`); `blank` the normalised black pixel per
    channel (default 0). Raises AttributionError for a bad method, target or layer, and
    AttributionStopped at the next forward pass once `stop` is set (occlusion of a large
    network makes hundreds).

    `model` must be a CPU model in eval mode that nothing else runs (`attribution_model`).
    """
    if stop is None:
        return _explain(model, image, method, target, layer, blank)

    def check(_module: nn.Module, _inputs: object) -> None:
        if stop.is_set():
            raise AttributionStopped("stopped")

    handle = model.register_forward_pre_hook(check)
    try:
        return _explain(model, image, method, target, layer, blank)
    finally:
        handle.remove()


def _explain(
    model: Network,
    image: torch.Tensor,
    method: str,
    target: int | None,
    layer: str | None,
    blank: Sequence[float] | None,
) -> Attribution:
    if method not in METHOD_LABELS:
        raise AttributionError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    shape = tuple(model.input_shape)
    if tuple(image.shape) != shape:
        raise AttributionError(
            f"the image has shape {tuple(image.shape)}, the network takes {shape}"
        )
    x = image.detach().to("cpu", torch.float32).unsqueeze(0).contiguous()
    with torch.no_grad():
        probabilities = torch.softmax(model(x)[0].reshape(-1), dim=0)
    classes = int(probabilities.numel())
    predicted = int(probabilities.argmax())
    chosen = predicted if target is None else int(target)
    if not 0 <= chosen < classes:
        raise AttributionError(f"target class {chosen} is out of range: the network has {classes}")
    shapes = map_shapes(model)
    choices = tuple(shapes)
    used_layer: str | None = None
    if method == "gradcam":
        used_layer = (
            default_layer(model, shapes) if layer is None else resolve_layer(model, layer, choices)
        )
        heat = _gradcam(model, x, chosen, used_layer)
    else:
        channels = shape[0]
        values = [0.0] * channels if blank is None else [float(v) for v in blank]
        if len(values) != channels:
            raise AttributionError(f"blank needs {channels} values, got {len(values)}")
        baseline = torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1).expand_as(x)
        heat = _PIXEL_METHODS[method](model, x, chosen, baseline.contiguous())
    return Attribution(
        method=method,
        target=chosen,
        predicted=predicted,
        probabilities=probabilities.numpy().astype(np.float32),
        heat=np.ascontiguousarray(heat.detach().cpu().numpy(), dtype=np.float32),
        layer=used_layer,
        map_layers=choices,
    )


def _gradcam(model: Network, x: torch.Tensor, target: int, layer: str) -> torch.Tensor:
    from captum.attr import LayerAttribution, LayerGradCam

    grad_cam = LayerGradCam(model, model.get_submodule(layer))
    maps = grad_cam.attribute(_needing_grad(x), target=target, relu_attributions=True)
    upsampled: torch.Tensor = LayerAttribution.interpolate(
        maps, tuple(x.shape[2:]), interpolate_mode="bilinear"
    )
    return upsampled[0, 0]


def _saliency(model: Network, x: torch.Tensor, target: int, _: torch.Tensor) -> torch.Tensor:
    from captum.attr import Saliency

    grads: torch.Tensor = Saliency(model).attribute(_needing_grad(x), target=target, abs=True)
    return grads[0].amax(dim=0)


def _smoothgrad(model: Network, x: torch.Tensor, target: int, _: torch.Tensor) -> torch.Tensor:
    from captum.attr import NoiseTunnel, Saliency

    sigma = SMOOTHGRAD_NOISE * float(x.max() - x.min()) or SMOOTHGRAD_NOISE
    tunnel = NoiseTunnel(Saliency(model))
    grads: torch.Tensor = tunnel.attribute(
        _needing_grad(x),
        nt_type="smoothgrad",
        nt_samples=SMOOTHGRAD_SAMPLES,
        nt_samples_batch_size=BATCH,
        stdevs=sigma,
        target=target,
        abs=True,
    )
    return grads[0].amax(dim=0)


def _integrated(model: Network, x: torch.Tensor, target: int, blank: torch.Tensor) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    shares: torch.Tensor = IntegratedGradients(model).attribute(
        _needing_grad(x),
        baselines=blank,
        target=target,
        n_steps=IG_STEPS,
        internal_batch_size=BATCH,
    )
    return shares[0].sum(dim=0)


def occlusion_window(height: int, width: int) -> tuple[int, int]:
    """Occlusion's patch side and stride for an input: about a seventh of the shorter side
    (4 pixels for MNIST's 28, 32 for 224), moved by half a patch."""
    side = max(2, round(min(height, width) / 7))
    return side, max(1, side // 2)


def _occlusion(model: Network, x: torch.Tensor, target: int, blank: torch.Tensor) -> torch.Tensor:
    from captum.attr import Occlusion

    channels, height, width = x.shape[1:]
    side, stride = occlusion_window(height, width)
    drops: torch.Tensor = Occlusion(model).attribute(
        x,
        sliding_window_shapes=(channels, side, side),
        strides=(channels, stride, stride),
        baselines=blank,
        target=target,
        perturbations_per_eval=BATCH,
    )
    return drops[0].mean(dim=0)


def _needing_grad(x: torch.Tensor) -> torch.Tensor:
    # Captum warns when it has to switch gradients on itself.
    return x.clone().requires_grad_(True)


_PIXEL_METHODS = {
    "saliency": _saliency,
    "smoothgrad": _smoothgrad,
    "integrated-gradients": _integrated,
    "occlusion": _occlusion,
}


def top_pixels(heat: FloatArray, fraction: float) -> npt.NDArray[np.bool_]:
    """A mask (H, W) of the `fraction` of pixels with the largest heat (ties broken by
    position, so exactly ⌈fraction·H·W⌉ pixels)."""
    count = math.ceil(fraction * heat.size)
    order = np.argsort(-heat.reshape(-1), kind="stable")[:count]
    mask = np.zeros(heat.size, dtype=bool)
    mask[order] = True
    return mask.reshape(heat.shape)
