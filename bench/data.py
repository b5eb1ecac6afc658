"""Benchmark: one epoch of batches from DeviceDataset against a typical DataLoader.

    python bench/data.py [--device cpu|cuda|mps] [--repeats 5] [--data-dir DIR]

Both sides yield the same thing for one epoch at batch size 128: shuffled, normalised
float32 images (N, C, H, W) on the device with their int64 labels. The peer is the usual
tutorial pipeline: a map-style Dataset over the same uint8 tensors normalising each item in
__getitem__, a DataLoader (shuffle, num_workers=0) collating them, then `.to(device)`.
Runs alternate A/B/A/B and the medians are compared. Also times making the `shapes` set.
Uses real MNIST from ../shared/datasets (or --data-dir) when present, else `shapes`.
Not run in CI.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.core.data import DatasetError, DeviceDataset, load_dataset, make_shapes

BATCH = 128
SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


class TutorialDataset(Dataset[tuple[torch.Tensor, int]]):
    """Per-item work, as in `transforms.Compose([ToTensor(), Normalize(mean, std)])`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: float, std: float):
        self.images, self.labels = images, labels
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index].float().div(255.0)
        return (image - self.mean) / self.std, int(self.labels[index])


def epoch_device(data: DeviceDataset, generator: torch.Generator, device: torch.device) -> float:
    start = time.perf_counter()
    last = None
    for images, _labels in data.batches("train", BATCH, shuffle=True, generator=generator):
        last = images
    _sync(device, last)
    return time.perf_counter() - start


def epoch_dataloader(loader: DataLoader[tuple[torch.Tensor, int]], device: torch.device) -> float:
    start = time.perf_counter()
    last = None
    for images, labels in loader:
        last = images.to(device, non_blocking=True)
        labels.to(device, non_blocking=True)
    _sync(device, last)
    return time.perf_counter() - start


def _sync(device: torch.device, tensor: torch.Tensor | None) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif tensor is not None:
        float(tensor.view(-1)[0])  # make sure the last batch was really produced


def _ms(times: list[float]) -> str:
    return ", ".join(f"{t * 1000:.0f}" for t in times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", default=str(SHARED_DATASETS))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)

    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
    )
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}")

    start = time.perf_counter()
    try:
        data = load_dataset("mnist", data_dir=args.data_dir, download=False, device=device)
    except DatasetError as error:
        print(f"real MNIST not available ({error.args[0].splitlines()[0]}); using shapes")
        data = load_dataset("shapes", device=device)
    print(
        f"dataset: {data.info.name}, {data.size('train')} training images "
        f"{data.info.input_shape}, loaded in {time.perf_counter() - start:.2f} s"
    )

    cpu_images = data.images("train").cpu()
    cpu_labels = data.labels("train").cpu()
    loader = DataLoader(
        TutorialDataset(cpu_images, cpu_labels, data.mean[0], data.std[0]),
        batch_size=BATCH,
        shuffle=True,
        num_workers=0,
        pin_memory=device.type == "cuda",
    )
    generator = torch.Generator(device=device).manual_seed(0)
    epoch_device(data, generator, device)  # warm-up both
    epoch_dataloader(loader, device)
    device_times, loader_times = [], []
    for _ in range(args.repeats):
        device_times.append(epoch_device(data, generator, device))
        loader_times.append(epoch_dataloader(loader, device))
    a, b = statistics.median(device_times), statistics.median(loader_times)
    print(f"one epoch, batch {BATCH}, median of {args.repeats} alternating runs (ms):")
    print(f"  DeviceDataset.batches      {a * 1000:9.1f}   runs: {_ms(device_times)}")
    print(f"  DataLoader, per-item norm  {b * 1000:9.1f}   runs: {_ms(loader_times)}")
    print(f"  ratio (DataLoader / DeviceDataset): {b / a:.1f}x")

    shape_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        make_shapes()
        shape_times.append(time.perf_counter() - start)
    median = statistics.median(shape_times)
    print(f"make_shapes(), 12,000 + 2,000 images 28x28: median {median * 1000:.0f} ms")
    print(f"  runs: {_ms(shape_times)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
