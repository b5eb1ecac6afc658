"""Training throughput with and without on-device augmentation.

    python bench/augmentation.py [--device cpu|cuda] [--template keras-mnist]
        [--images 6000] [--batch-size 100] [--rounds 3] [--threads 0]
        [--dataset mnist] [--data-dir DIR]

Each round trains every contender for one pass over `--images` training images with the
real Trainer, in turn (A/B/C, A/B/C, ...), from the same initial weights; the medians of
images per second are compared against the run without augmentation:

- off: no augmentation (today's default)
- crop+rotate: crop with 2 px padding, rotation ±10° and scale ±10% (a digits recipe)
- everything: the above plus horizontal flip and random erasing (p 0.5)

Budget (issue 16): augmentation costs at most 10% of the throughput on the CPU (ratio ≥ 0.90).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load, machine_load, median
from bench.train_throughput import run_trainer
from explorer.core.data.resident import DeviceDataset
from explorer.core.templates import load_template
from explorer.core.training import resolve_device

CONTENDERS: dict[str, dict[str, object]] = {
    "off": {},
    "crop+rotate": {"augment_crop_padding": 2, "augment_rotation": 10.0, "augment_scale": 0.1},
    "everything": {
        "augment_crop_padding": 2,
        "augment_rotation": 10.0,
        "augment_scale": 0.1,
        "augment_flip": True,
        "augment_erasing": 0.5,
    },
}


def subset(dataset: DeviceDataset, images: int) -> DeviceDataset:
    """The first `images` training images (and a small test split) as a new dataset."""
    train = dataset.images("train")[:images].cpu(), dataset.labels("train")[:images].cpu()
    test = dataset.images("test")[:500].cpu(), dataset.labels("test")[:500].cpu()
    return DeviceDataset(dataset.info, *train, *test, device=dataset.device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--template", default="keras-mnist")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    device = resolve_device(args.device, threads=args.threads).device
    dataset = subset(load(args.dataset, args.data_dir, device), args.images)
    spec = load_template(args.template)
    base = spec.training.with_values(
        dataset=args.dataset,
        batch_size=args.batch_size,
        epochs=1,
        validation_split=0.0,
        threads=args.threads,
    )
    speeds: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for _ in range(args.rounds):
        for name, values in CONTENDERS.items():
            speeds[name].append(run_trainer(spec, dataset, base.with_values(**values)))
    print(f"{args.template} on {args.dataset}, {args.images} images, batch {args.batch_size}, ")
    print(f"device {device}, {args.rounds} rounds; {machine_load()}")
    off = median(speeds["off"])
    for name, values in speeds.items():
        ratio = median(values) / off
        print(f"  {name:12} {median(values):9.0f} images/s   ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
