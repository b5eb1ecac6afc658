"""Analysis time for a 50-layer spec vs the torch way of learning the same shapes.

The peer builds the model and runs a forward pass on the meta device (no real memory or
arithmetic), which is the cheapest way torch itself can report every layer's output shape.
Budget (DESIGN.md): analysis <= 2 ms per edit and >= 5x faster than the peer.

    python bench/analysis.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from explorer.core.analysis import analyze
from explorer.core.builder import build_model
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec


def fifty_layer_spec() -> NetworkSpec:
    """A VGG-like stack of 50 layers on 64×64×3: conv/BN/ReLU blocks with pooling."""
    layers: list[LayerSpec] = []
    filters = 16
    while len(layers) < 44:
        for _ in range(2):
            layers += [
                LayerSpec.create("Conv2D", {"filters": filters, "kernel_size": 3,
                                            "padding": "same"}),
                LayerSpec.create("BatchNorm"),
                LayerSpec.create("Activation", {"function": "relu"}),
            ]
        layers.append(LayerSpec.create("MaxPool2D") if len(layers) < 30 else
                      LayerSpec.create("Dropout", {"rate": 0.1}))
        filters = min(filters * 2, 128)
    layers = layers[:45]
    layers += [LayerSpec.create("GlobalAvgPool2D"), LayerSpec.create("Dense", {"units": 64,
                                                                             "activation": "relu"}),
               LayerSpec.create("Dropout", {"rate": 0.2}), LayerSpec.create("BatchNorm"),
               LayerSpec.create("Dense", {"units": 10, "activation": "softmax"})]
    spec = NetworkSpec(input=InputSpec(3, 64, 64), layers=tuple(layers))
    assert len(spec.layers) == 50 and analyze(spec).ok
    return spec


def torch_meta_shapes(spec: NetworkSpec) -> list[tuple[int, ...]]:
    with torch.device("meta"):
        model = build_model(spec).eval()
        x = torch.empty(1, *spec.input.shape)
        shapes = []
        for _, module in model.layer_modules():
            x = module(x)
            shapes.append(tuple(x.shape[1:]))
    return shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    spec = fifty_layer_spec()
    assert [layer.output_shape for layer in analyze(spec).layers] == torch_meta_shapes(spec)

    ours, peer = [], []
    for _ in range(args.repeats):  # alternate A/B so drift in machine load hits both
        start = time.perf_counter()
        analyze(spec)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        torch_meta_shapes(spec)
        peer.append(time.perf_counter() - start)
    a, b = statistics.median(ours) * 1e3, statistics.median(peer) * 1e3
    print(f"analysis, 50 layers:            median {a:.3f} ms  (p90 "
          f"{sorted(ours)[int(0.9 * len(ours))] * 1e3:.3f} ms)  budget <= 2 ms")
    print(f"torch build + meta forward:     median {b:.3f} ms")
    print(f"ratio: analysis is {b / a:.1f}x faster  (budget >= 5x)")


if __name__ == "__main__":
    main()
