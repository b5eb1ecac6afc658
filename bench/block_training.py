"""Trainer throughput on a block network against a hand-written loop over the same modules.

    python bench/block_training.py [--template resnet20-cifar] [--images 2000]
        [--batch-size 128] [--rounds 3] [--threads 0] [--device auto]

The data is the built-in shapes set drawn at the template's input size (CIFAR-sized for
resnet20-cifar), so nothing is downloaded. Each round trains both contenders for one pass
over `--images` images, in turn (A/B, then B/A, so neither always runs first), from the same
initial weights, on the same device and batch size, as bench/train_throughput.py does (its
contenders are reused):

- trainer: explorer's Trainer on the template (residual blocks, pad shortcuts, BatchNorm)
- minimal: `build_model`'s modules in the shortest correct PyTorch loop

The template's augmentation is switched off for both, so both do the same work per image.
Budget (issue 14): trainer ≥ 0.97× minimal, judged as bench/train_throughput.py judges it
(the ratio of the medians); each round's own ratio is printed too, to show how much the
load of a shared machine moves it, and so is the ratio of process CPU time (with one
thread, the work each did, which the load of other programs hardly changes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_load, median
from bench.train_throughput import run_minimal, run_trainer, subset
from explorer.core.data import load_dataset
from explorer.core.templates import load_template
from explorer.core.training import resolve_device
from explorer.core.training.devices import apply_threads

BUDGET = 0.97


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="resnet20-cifar")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    choice = resolve_device(args.device, threads=args.threads)
    apply_threads(choice, args.threads)
    spec = load_template(args.template)
    training = spec.training.with_values(
        batch_size=args.batch_size,
        epochs=1,
        validation_split=0.0,
        device=choice.type,
        augment_crop_padding=0,
        augment_flip=False,
    )
    channels, height, width = spec.input.shape
    shapes = load_dataset(
        "shapes",
        device=choice.device,
        input_size=(height, width),
        grayscale=channels == 1,
    )
    dataset = subset(shapes, args.images)
    print(
        f"{spec.name} on {choice.description}, batch {args.batch_size}, "
        f"{dataset.size('train')} shapes images of {channels}×{height}×{width} per pass"
    )
    print(f"before: {machine_load()}")
    contenders = {"trainer": run_trainer, "minimal": run_minimal}
    results: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, float] = dict.fromkeys(contenders, 0.0)
    for round_index in range(args.rounds):
        order = list(contenders) if round_index % 2 == 0 else list(reversed(contenders))
        for name in order:
            started = time.process_time()
            results[name].append(contenders[name](spec, dataset, training))
            cpu[name] += time.process_time() - started
        print(
            f"round {round_index + 1}: "
            + ", ".join(f"{n} {r[-1]:,.1f}" for n, r in results.items())
            + " img/s",
            flush=True,
        )
    trainer, minimal = median(results["trainer"]), median(results["minimal"])
    ratio = trainer / minimal
    rounds = [t / m for t, m in zip(results["trainer"], results["minimal"], strict=True)]
    print(f"median images/s: trainer {trainer:,.1f}, minimal {minimal:,.1f}")
    print(
        f"  trainer / minimal = {ratio:.3f} (budget ≥ {BUDGET}); per round "
        + ", ".join(f"{r:.3f}" for r in rounds)
    )
    print(
        f"  CPU seconds (setup included): trainer {cpu['trainer']:.1f}, minimal "
        f"{cpu['minimal']:.1f}; minimal / trainer = {cpu['minimal'] / cpu['trainer']:.3f}"
    )
    print(f"after: {machine_load()}")
    return 0 if ratio >= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
