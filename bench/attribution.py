"""The cost of one attribution per method, against the peer every method is built from: one
hand-written forward and backward pass (`torch.autograd.grad` of the target's score with
respect to the input) on the same model and image.

Each method's time includes what the app does around it (the prediction, finding the layers
with maps); the ratio says how many plain gradient passes a method costs. Method and peer
alternate in rounds, so load from other processes hits both alike; medians are reported.
Run: python bench/attribution.py [--template keras-mnist] [--rounds 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="keras-mnist")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from bench.common import machine_load
    from explorer.core.attribution import attribution_model, explain
    from explorer.core.attribution_methods import METHODS
    from explorer.core.templates import load_template

    torch.set_num_threads(args.threads)
    spec = load_template(args.template)
    model = attribution_model(spec, None)
    image = torch.randn(spec.input.shape, generator=torch.Generator().manual_seed(0))

    def peer() -> None:
        x = image.unsqueeze(0).clone().requires_grad_(True)
        torch.autograd.grad(model(x)[0, 0], x)

    def timed(run: object) -> float:
        start = time.perf_counter()
        run()  # type: ignore[operator]
        return time.perf_counter() - start

    for method in METHODS:  # warm-up: imports, first-call allocations
        explain(model, image, method)
    peer()
    print(f"{spec.name}, {args.threads} thread(s), {machine_load()}")
    for method in METHODS:
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(timed(lambda method=method: explain(model, image, method)))
            theirs.append(timed(peer))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(
            f"  {method:22s} {1000 * a:9.1f} ms   gradient pass {1000 * b:7.2f} ms   {a / b:7.1f}×"
        )


if __name__ == "__main__":
    main()
