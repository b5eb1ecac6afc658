"""Trainer throughput against a minimal hand-written loop and a typical tutorial loop.

    python bench/train_throughput.py [--device cpu|cuda] [--template keras-mnist]
        [--images 6000] [--batch-size 100] [--rounds 3] [--threads 0] [--mixed-precision]
        [--accuracy-epochs 0]

Each round trains every contender for one pass over `--images` images, in turn (A/B/A/B),
from the same initial weights, on the same device and batch size; the medians are compared:

- trainer: explorer's Trainer (device-resident data, metrics summed on the device)
- minimal: the same data and model in the shortest correct PyTorch loop
- tutorial: a DataLoader over a TensorDataset with a per-sample normalising transform and
  `.item()` every step, as the MNIST tutorials write it
- trainer bf16 (with --mixed-precision): bfloat16 autocast + channels_last, against the fp32
  minimal loop; with --accuracy-epochs N it also trains fp32 and bf16 for N epochs on the
  whole training set and compares test accuracy.

Budgets (DESIGN.md): trainer ≥ 0.97× minimal; ≥ 1.3× tutorial on CPU, ≥ 3× on GPU;
bf16 ≥ 1.8× minimal where the CPU has AMX.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load, machine_load, median
from explorer.core.builder import build_model
from explorer.core.data.resident import DeviceDataset
from explorer.core.spec import NetworkSpec, TrainingSpec
from explorer.core.templates import load_template
from explorer.core.training import (
    EpochEnded,
    Progress,
    Trainer,
    TrainingFinished,
    resolve_device,
)
from explorer.core.training.devices import apply_threads
from explorer.core.training.optim import make_optimizer


def subset(dataset: DeviceDataset, images: int) -> DeviceDataset:
    """The first `images` training images (and a small test split) as a new dataset."""
    train = dataset.images("train")[:images].cpu(), dataset.labels("train")[:images].cpu()
    test = dataset.images("test")[:500].cpu(), dataset.labels("test")[:500].cpu()
    return DeviceDataset(dataset.info, *train, *test, device=dataset.device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_trainer(spec: NetworkSpec, dataset: DeviceDataset, training: TrainingSpec) -> float:
    trainer = Trainer(spec, dataset, training)
    trainer.warm_up()
    started = time.perf_counter()
    for event in trainer.run():
        if isinstance(event, EpochEnded):
            return dataset.size("train") / (time.perf_counter() - started)
    raise RuntimeError("the trainer ended before its first epoch")


def run_minimal(spec: NetworkSpec, dataset: DeviceDataset, training: TrainingSpec) -> float:
    device = dataset.device
    model = build_model(spec, seed=training.seed).to(device)
    optimizer = make_optimizer(model.parameters(), training)
    generator = torch.Generator(device=device).manual_seed(training.seed)
    _warm(model, dataset, training.batch_size)
    synchronize(device)
    started = time.perf_counter()
    for images, labels in dataset.batches(
        "train", training.batch_size, shuffle=True, generator=generator
    ):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
    synchronize(device)
    return dataset.size("train") / (time.perf_counter() - started)


class _NormalisedImages(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """What `transforms.Compose([ToTensor(), Normalize(mean, std)])` does, per image."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: float, std: float):
        self.images, self.labels, self.mean, self.std = images, labels, mean, std

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index].float().div(255.0)
        return (image - self.mean) / self.std, self.labels[index]


def run_tutorial(spec: NetworkSpec, dataset: DeviceDataset, training: TrainingSpec) -> float:
    device = dataset.device
    model = build_model(spec, seed=training.seed).to(device)
    optimizer = make_optimizer(model.parameters(), training)
    images, labels = dataset.images("train").cpu(), dataset.labels("train").cpu()
    loader = DataLoader(
        _NormalisedImages(images, labels, dataset.mean[0], dataset.std[0]),
        batch_size=training.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(training.seed),
    )
    _warm(model, dataset, training.batch_size)
    synchronize(device)
    started = time.perf_counter()
    running = 0.0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        running += loss.item()
    synchronize(device)
    return dataset.size("train") / (time.perf_counter() - started)


def _warm(model: torch.nn.Module, dataset: DeviceDataset, batch_size: int) -> None:
    # The same warm-up the trainer gets, on a throwaway copy, so all start alike.
    import copy

    clone = copy.deepcopy(model)
    images, labels = next(dataset.batches("train", batch_size))
    F.cross_entropy(clone(images), labels).backward()


def first_point(spec: NetworkSpec, dataset: DeviceDataset, training: TrainingSpec) -> str:
    """Seconds to build the trainer and warm up, then from run() to the first loss point."""
    started = time.perf_counter()
    trainer = Trainer(spec, dataset, training)
    trainer.warm_up()
    ready = time.perf_counter()
    events = trainer.run()
    for event in events:
        if isinstance(event, Progress):
            break
    first = time.perf_counter()
    trainer.stop()
    for _ in events:
        pass
    return (
        f"build + warm-up {ready - started:.3f} s, run() -> first loss point {first - ready:.3f} s"
    )


def accuracy(spec: NetworkSpec, dataset: DeviceDataset, training: TrainingSpec) -> float:
    final = list(Trainer(spec, dataset, training).run())[-1]
    assert isinstance(final, TrainingFinished), final
    return 100 * final.test_accuracy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="keras-mnist")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--accuracy-epochs", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=(), help="contenders to leave out")
    args = parser.parse_args()

    choice = resolve_device(args.device, threads=args.threads)
    apply_threads(choice, args.threads)
    spec = load_template(args.template)
    training = spec.training.with_values(
        batch_size=args.batch_size, epochs=1, validation_split=0.0, device=choice.type
    )
    full = load(args.dataset, args.data_dir, choice.device)
    dataset = subset(full, args.images)
    print(
        f"{spec.name} on {choice.description}, batch {args.batch_size}, "
        f"{dataset.size('train')} images per pass; bf16 hardware: "
        f"{'yes' if choice.bf16_supported else 'no'} ({choice.bf16_detail})"
    )
    print(f"before: {machine_load()}")
    print(f"first loss point: {first_point(spec, dataset, training)}")

    contenders: dict[str, Callable[[], float]] = {
        "trainer": lambda: run_trainer(spec, dataset, training),
        "minimal": lambda: run_minimal(spec, dataset, training),
        "tutorial": lambda: run_tutorial(spec, dataset, training),
    }
    if args.mixed_precision:
        mixed = replace(training, mixed_precision=True)
        contenders["trainer bf16"] = lambda: run_trainer(spec, dataset, mixed)
    for name in args.skip:
        contenders.pop(name)
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for round_index in range(args.rounds):
        for name, contender in contenders.items():
            results[name].append(contender())
        print(
            f"round {round_index + 1}: "
            + ", ".join(f"{n} {r[-1]:,.0f}" for n, r in results.items())
            + " img/s",
            flush=True,
        )
    medians = {name: median(values) for name, values in results.items()}
    print("median images/s: " + ", ".join(f"{n} {v:,.0f}" for n, v in medians.items()))
    if "minimal" in medians:
        for name in medians:
            if name != "minimal":
                print(f"  {name} / minimal = {medians[name] / medians['minimal']:.3f}")
    if "tutorial" in medians and "trainer" in medians:
        print(f"  trainer / tutorial = {medians['trainer'] / medians['tutorial']:.2f}")
    print(f"after: {machine_load()}")

    if args.accuracy_epochs:
        settings = training.with_values(epochs=args.accuracy_epochs)
        fp32 = accuracy(spec, full, settings)
        bf16 = accuracy(spec, full, replace(settings, mixed_precision=True))
        print(
            f"test accuracy after {args.accuracy_epochs} epochs: fp32 {fp32:.2f}%, "
            f"bf16 {bf16:.2f}% (difference {bf16 - fp32:+.2f} points)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
