"""Capture, which looks for blocks and hooks the layers inside them, against the loop over
the top-level layers that capture was before blocks, on networks both handle.

Both copy every layer's output and kernel in the same way (`_kept`); the ratio is what
finding blocks costs a network without any. Alternated in rounds so load from other
processes hits both alike. Run: python bench/capture_hooks.py [--repeats N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench.common import machine_load, median
from explorer.core.builder import Network, build_model
from explorer.core.capture import CapturePoint, _kept, capture
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from bench.feature_maps import vgg_spec
    from tests.ui.test_deep_networks import deep_spec

    cases = {"VGG-7 32×32×3": vgg_spec(), "5,002 layers 6×6": deep_spec(2500)}
    for title, spec in cases.items():
        model = build_model(spec, seed=0).eval()
        image = torch.randn(*spec.input.shape)
        hooks, loop = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            capture(model, image)
            hooks.append(time.perf_counter() - start)
            start = time.perf_counter()
            loop_peer(model, image)
            loop.append(time.perf_counter() - start)
        h, p = median(hooks), median(loop)
        print(f"{title}: capture {1e3 * h:.1f} ms, loop {1e3 * p:.1f} ms, ratio {h / p:.2f}")
    print(machine_load())


if __name__ == "__main__":
    main()
