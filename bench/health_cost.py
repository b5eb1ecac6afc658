"""Training throughput with layer-health recording on, against the same run with it off.

    python bench/health_cost.py [--device cpu|cuda] [--template keras-mnist]
        [--images 6000] [--batch-size 100] [--rounds 3] [--threads 0]
        [--dataset mnist] [--data-dir DIR]

Each round trains every contender for one pass over `--images` training images with the
real Trainer, in turn (A/B/C, A/B/C, ...), from the same initial weights, reading the health
records at every event as the window and the train command do; the medians of images per
second are compared against the run without recording:

- off: health_interval 0
- default: health_interval 50 (the default)
- every step: health_interval 1 (the worst case, for scale)
- default + timeline: the default through `start_run` (no folder), which also records the
  feature-map timeline of the probe image about once a second

Images per CPU second (time.process_time, torch on one thread) are reported beside images
per wall second: on a shared machine the wall clock measures the neighbours as much as the
recorder, the process's own CPU time much less so.

Budget (issue 15): recording at the default interval costs at most 3% of the throughput
(ratio ≥ 0.97).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.augmentation import subset
from bench.common import load, machine_load, median
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.spec import NetworkSpec, TrainingSpec
from explorer.core.templates import load_template
from explorer.core.training import EpochEnded, Trainer, resolve_device

DEFAULT = TrainingSpec().health_interval
CONTENDERS = {"off": 0, "default": DEFAULT, "every step": 1, "default + timeline": DEFAULT}


Speed = tuple[float, float]  # images per wall second, images per CPU second


def run_recording(spec: NetworkSpec, dataset: DeviceDataset, training: TrainingSpec) -> Speed:
    """Images per second over one epoch, reading the health records at every event."""
    trainer = Trainer(spec, dataset, training)
    trainer.warm_up()
    started, cpu = time.perf_counter(), time.process_time()
    for event in trainer.run():
        trainer.health.read()
        if isinstance(event, EpochEnded):
            return _speed(dataset, started, cpu)
    raise RuntimeError("the trainer ended before its first epoch")


def _speed(dataset: DeviceDataset, started: float, cpu: float) -> Speed:
    images = dataset.size(Split.TRAIN)
    return images / (time.perf_counter() - started), images / (time.process_time() - cpu)


def run_with_timeline(spec: NetworkSpec, dataset: DeviceDataset, training: TrainingSpec) -> Speed:
    """As run_recording, through the application layer's run (health and timeline)."""
    from dataclasses import replace

    from explorer.core.app.training_run import start_run

    run = start_run(replace(spec, training=training), dataset, None)
    run.trainer.warm_up()
    started, cpu = time.perf_counter(), time.process_time()
    for event in run.events():
        run.take_health()
        if isinstance(event, EpochEnded):
            return _speed(dataset, started, cpu)
    raise RuntimeError("the trainer ended before its first epoch")


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
    speeds: dict[str, list[Speed]] = {name: [] for name in CONTENDERS}
    for _ in range(args.rounds):
        for name, interval in CONTENDERS.items():
            training = base.with_values(health_interval=interval)
            runner = run_with_timeline if "timeline" in name else run_recording
            speeds[name].append(runner(spec, dataset, training))
    print(f"{args.template} on {args.dataset}, {args.images} images, batch {args.batch_size}, ")
    print(f"device {device}, {args.rounds} rounds; {machine_load()}")
    for column, unit in ((0, "wall"), (1, "CPU")):
        off = median([speed[column] for speed in speeds["off"]])
        print(f" images per {unit} second:")
        for name, values in speeds.items():
            value = median([speed[column] for speed in values])
            print(f"  {name:20} {value:9.0f} images/s   ratio {value / off:.3f}")


if __name__ == "__main__":
    main()
