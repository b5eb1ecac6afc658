"""Capture, which looks for blocks and hooks the layers inside them, against peers.

Without blocks (VGG-7, 5,002 plain layers) the peer is the loop over the top-level layers
that capture was before blocks: the ratio is what looking for blocks costs. With blocks (a
ResNet-56 for CIFAR: 27 basic blocks, 165 layers inside them) the peer hooks the builder's
`module_at(path)` for every path, torchinfo's way. Both copy every output and kernel in the
same way (`_kept`). Alternated in rounds so load from other
processes hits both alike. Run: python bench/capture_hooks.py [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench.common import machine_load, median
from explorer.core.builder import Network, build_model
from explorer.core.capture import CapturePoint, _kept, capture, capture_points
from explorer.core.paths import LayerPath


def loop_peer(model: Network, image: torch.Tensor, max_channels: int = 64) -> list:
    """The loop over `layer_modules()` capture ran before blocks (copies as it goes)."""
    kept = []
    with torch.inference_mode():
        x = image.unsqueeze(0)
        for index, (name, module) in enumerate(model.layer_modules()):
            x = module(x)
            point = CapturePoint(LayerPath.top(index), name, name)
            kept.append(_kept(point, module, x, max_channels))
    return kept


def hook_peer(model: Network, image: torch.Tensor, max_channels: int = 64) -> list:
    """A hook on the module at every layer's and block's path, one forward pass."""
    kept = []
    handles = []
    for point in capture_points(model):
        module = model.module_at(point.path)

        def keep(m: Any, _: Any, out: torch.Tensor, point: CapturePoint = point) -> None:
            kept.append(_kept(point, m, out, max_channels))

        handles.append(module.register_forward_hook(keep))
    try:
        with torch.inference_mode():
            model(image.unsqueeze(0))
    finally:
        for handle in handles:
            handle.remove()
    return kept


def resnet56():
    """He et al. 2016's CIFAR ResNet-56: 3 stages of 9 basic blocks (16, 32, 64 filters)."""
    from explorer.core.block_spec import BlockSpec
    from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec

    def conv(filters: int, stride: int = 1, activation: str = "linear") -> LayerSpec:
        values = {"filters": filters, "kernel_size": 3, "padding": "same", "stride": stride}
        return LayerSpec.create("Conv2D", {**values, "activation": activation, "use_bias": False})

    def basic(filters: int, stride: int, repeat: int) -> BlockSpec:
        body = [conv(filters, stride, "relu"), LayerSpec.create("BatchNorm"), conv(filters)]
        body.append(LayerSpec.create("BatchNorm"))
        return BlockSpec.create("Residual", {"repeat": repeat, "shortcut": "pad"}, [body])

    layers = [conv(16, activation="relu"), LayerSpec.create("BatchNorm")]
    layers += [basic(16, 1, 9), basic(32, 2, 1), basic(32, 1, 8), basic(64, 2, 1)]
    layers += [basic(64, 1, 8), LayerSpec.create("GlobalAvgPool2D")]
    layers.append(LayerSpec.create("Dense", {"units": 10, "activation": "softmax"}))
    return NetworkSpec(name="ResNet-56", input=InputSpec(3, 32, 32), layers=tuple(layers))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from bench.feature_maps import vgg_spec
    from tests.ui.test_deep_networks import deep_spec

    cases = {
        "VGG-7 32×32×3": (vgg_spec(), loop_peer, "loop"),
        "5,002 layers 6×6": (deep_spec(2500), loop_peer, "loop"),
        "ResNet-56 32×32×3": (resnet56(), hook_peer, "hooks everywhere"),
    }
    for title, (spec, peer, peer_name) in cases.items():
        model = build_model(spec, seed=0).eval()
        image = torch.randn(*spec.input.shape)
        ours, theirs = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            rows = len(capture(model, image).layers)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert len(peer(model, image)) == rows
            theirs.append(time.perf_counter() - start)
        a, b = median(ours), median(theirs)
        print(
            f"{title} ({rows} rows): capture {1e3 * a:.1f} ms, {peer_name} {1e3 * b:.1f} ms, "
            f"ratio {a / b:.2f}"
        )
    print(machine_load())


if __name__ == "__main__":
    main()
