"""Seed accuracy: the tutorial templates with their own settings on the real datasets.

    python bench/seed_accuracy.py [--template keras-mnist] [--data-dir DIR] [--device cpu]

keras-mnist (SGD lr 0.01, batch 100, 10 epochs) should reach at least 98.0% on MNIST, as the
Keras tutorial did (98.06%, 31 s per epoch on its CPU). Prints accuracy and time per epoch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load, machine_load
from explorer.core.templates import load_template
from explorer.core.training import (
    EpochEnded,
    Trainer,
    TrainingFailed,
    TrainingFinished,
    TrainingStarted,
    resolve_device,
)
from explorer.core.training.devices import apply_threads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default="keras-mnist")
    parser.add_argument("--data-dir")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="override the template's epochs")
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args()

    spec = load_template(args.template)
    changes: dict[str, object] = {"threads": args.threads, "device": args.device}
    if args.epochs:
        changes["epochs"] = args.epochs
    if args.mixed_precision:
        changes["mixed_precision"] = True
    training = spec.training.with_values(**changes)
    choice = resolve_device(args.device, threads=args.threads)
    apply_threads(choice, args.threads)
    print(
        f"{spec.name}: {training.dataset}, {training.optimizer} lr {training.learning_rate}, "
        f"batch {training.batch_size}, {training.epochs} epochs on {choice.description}"
    )
    print(f"before: {machine_load()}")
    dataset = load(
        training.dataset,
        args.data_dir,
        choice.device,
        validation_fraction=training.validation_split,
        seed=training.seed,
    )
    trainer = Trainer(spec, dataset, training)
    trainer.warm_up()
    started = time.perf_counter()
    previous = 0.0
    for event in trainer.run():
        if isinstance(event, TrainingStarted):
            print(
                f"{event.train_size} train / {event.validation_size} validation / "
                f"{event.test_size} test images, {event.steps_per_epoch} steps per epoch"
            )
        elif isinstance(event, EpochEnded):
            validation = (
                ""
                if event.validation_accuracy is None
                else f", validation {100 * event.validation_accuracy:.2f}%"
            )
            print(
                f"epoch {event.epoch}: loss {event.train_loss:.4f}, "
                f"train {100 * event.train_accuracy:.2f}%{validation}, "
                f"{event.elapsed - previous:.1f} s  ({machine_load()})",
                flush=True,
            )
            previous = event.elapsed
        elif isinstance(event, TrainingFinished):
            print(
                f"test accuracy {100 * event.test_accuracy:.2f}% (loss {event.test_loss:.4f}); "
                f"{event.elapsed / event.epoch:.1f} s per epoch, "
                f"{time.perf_counter() - started:.0f} s in all"
            )
        elif isinstance(event, TrainingFailed):
            print(f"failed: {event.message}")
            return 1
    print(f"after: {machine_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
