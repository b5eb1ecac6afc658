"""Training-memory estimate vs torch.profiler's peak, for every template and random specs.

The peer is the measurement itself: two training steps of the trainer's own `update`
(forward, loss, zero_grad(set_to_none), backward, optimizer step) on the CPU with one thread,
model, optimizer and batch all created inside `torch.profiler.profile(profile_memory=True)`,
and the peak of the running sum of its allocation events. The estimate is
`Analysis.training_memory_bytes` for the same batch size and optimizer settings.
Budget (DESIGN.md): every ratio within ±20%.

vgg16 runs at batch 2 (at 64 it would need about 10 GB and minutes of CPU time); the others
at batch 64. The process caps its own address space (--memory-gb, default 8).

    python bench/memory_estimate.py [--random 50] [--batch 64] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch.profiler import ProfilerActivity, profile

from explorer.core.analysis import analyze
from explorer.core.builder import build_model
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, TrainingSpec
from explorer.core.templates import load_template, template_names
from explorer.core.training.optim import make_optimizer
from explorer.core.training.step import update
from explorer.core.vocabulary.activation_functions import ACTIVATION_NAMES

_SMALL_BATCH = {"vgg16": 2}
_BUDGET = 0.20


def profiled_peak(spec: NetworkSpec, batch_size: int, steps: int = 2) -> int:
    """Peak bytes allocated during `steps` training steps, everything made inside."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model = build_model(spec, seed=0).train()
        optimizer = make_optimizer(model.parameters(), spec.training)
        images = torch.randn(batch_size, *spec.input.shape)
        labels = torch.randint(0, spec.num_classes, (batch_size,))
        for _ in range(steps):
            result = update(model, optimizer, images, labels)
        del result
    events = [
        e
        for e in prof.profiler.kineto_results.events()  # type: ignore[union-attr]
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    ]
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for event in events:
        current += event.nbytes()
        peak = max(peak, current)
    return peak


def estimate(spec: NetworkSpec, batch_size: int) -> int:
    training = spec.training
    return analyze(spec).training_memory_bytes(
        batch_size, training.optimizer, training.momentum, weight_decay=training.weight_decay
    )


def random_spec(rng: random.Random) -> NetworkSpec:
    """A valid random network: image layers, a collapse, vector layers, the class layer."""
    while True:
        size = rng.randint(10, 40)
        channels = rng.choice([1, 3])
        layers: list[LayerSpec] = []
        for _ in range(rng.randint(1, 6)):
            kind = rng.choices(
                ["Conv2D", "MaxPool2D", "AvgPool2D", "BatchNorm", "Dropout", "Activation"],
                weights=[5, 1, 1, 1, 1, 1],
            )[0]
            if kind == "Conv2D":
                values: dict[str, object] = {
                    "filters": rng.choice([1, 3, 4, 8, 12, 16, 20, 32, 48]),
                    "kernel_size": rng.randint(1, 5),
                    "stride": rng.choice([1, 1, 2]),
                    "padding": rng.choice(["valid", "same", 0, 1, 2]),
                    "dilation": rng.choice([1, 1, 2]),
                    "activation": rng.choice(ACTIVATION_NAMES),
                }
            elif kind in ("MaxPool2D", "AvgPool2D"):
                values = {"pool_size": rng.randint(2, 3)}
            elif kind == "Dropout":
                values = {"rate": rng.choice([0.0, 0.25, 0.5])}
            elif kind == "Activation":
                values = {"function": rng.choice(ACTIVATION_NAMES)}
            else:
                values = {}
            layers.append(LayerSpec.create(kind, values))
        layers.append(LayerSpec.create(rng.choice(["Flatten", "GlobalAvgPool2D", "Flatten"])))
        for _ in range(rng.randint(0, 2)):
            layers.append(
                LayerSpec.create(
                    "Dense",
                    {
                        "units": rng.choice([16, 64, 128]),
                        "activation": rng.choice(ACTIVATION_NAMES),
                    },
                )
            )
            if rng.random() < 0.3:
                layers.append(LayerSpec.create("Dropout", {"rate": 0.5}))
        classes = rng.randint(2, 10)
        layers.append(
            LayerSpec.create(
                "Dense", {"units": classes, "activation": rng.choice(["linear", "softmax"])}
            )
        )
        training = TrainingSpec(
            optimizer=rng.choice(["sgd", "adam", "adamw", "rmsprop"]),
            momentum=rng.choice([0.0, 0.9]),
            weight_decay=rng.choice([0.0, 1e-4]),
        )
        spec = NetworkSpec(
            input=InputSpec(channels, size, size),
            num_classes=classes,
            layers=tuple(layers),
            training=training,
        )
        if analyze(spec).ok:
            return spec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", type=int, default=50, help="random specs (default 50)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random specs")
    parser.add_argument("--memory-gb", type=float, default=8.0, help="address-space cap")
    args = parser.parse_args()
    cap = int(args.memory_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    torch.set_num_threads(1)
    started = time.perf_counter()

    cases = [
        (name, load_template(name), _SMALL_BATCH.get(name, args.batch)) for name in template_names()
    ]
    rng = random.Random(args.seed)
    cases += [(f"random {i}", random_spec(rng), args.batch) for i in range(args.random)]
    ratios: list[tuple[float, str]] = []
    print(f"{'network':24s} {'batch':>5s} {'profiler':>11s} {'estimate':>11s} {'ratio':>6s}")
    for name, spec, batch in cases:
        spec = replace(spec, name=name)
        measured = profiled_peak(spec, batch)
        estimated = estimate(spec, batch)
        ratio = estimated / measured
        ratios.append((ratio, name))
        flag = "" if abs(ratio - 1) <= _BUDGET else "  <-- outside ±20%"
        print(
            f"{name:24s} {batch:5d} {measured / 2**20:8.2f} MB {estimated / 2**20:8.2f} MB "
            f"{ratio:6.3f}{flag}"
        )
    ratios.sort()
    outside = [r for r in ratios if abs(r[0] - 1) > _BUDGET]
    print(
        f"\n{len(ratios)} networks in {time.perf_counter() - started:.0f} s; "
        f"lowest ratio {ratios[0][0]:.3f} ({ratios[0][1]}), "
        f"highest {ratios[-1][0]:.3f} ({ratios[-1][1]}); {len(outside)} outside ±20%"
    )
    return 1 if outside else 0


if __name__ == "__main__":
    raise SystemExit(main())
