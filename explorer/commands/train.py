"""`train`: train a network headless into a run folder (metrics.jsonl, checkpoint, project).

Ctrl-C asks the trainer to stop before its next batch; the checkpoint it leaves can be
continued with `train --resume RUN_DIR`.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from explorer.cli import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, late_help
from explorer.commands.common import (
    DATA_DIR_HELP,
    add_project_arguments,
    dataset_names,
    load_project_argument,
)

if TYPE_CHECKING:
    from explorer.core.data.resident import DeviceDataset
    from explorer.core.spec import NetworkSpec
    from explorer.core.training import Checkpoint, Trainer, TrainingEvent
    from explorer.core.training.runs import RunFolder


class _BadInput(Exception):
    """Ends the command with exit code 2 and this message."""


class _Failure(Exception):
    """Ends the command with exit code 1 and this message (e.g. a download that failed)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_arguments(parser)
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue a stopped run from the checkpoint in its run folder (give no FILE)",
    )
    dataset = parser.add_argument("--dataset", metavar="D", help="dataset (default: the project's)")
    late_help(
        dataset,
        lambda: (
            f"dataset: {dataset_names()}, where PATH is a folder of images with one "
            "sub-folder per class (default: the project's)"
        ),
    )
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    parser.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help="epochs (in all, with --resume; default: the project's)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="B",
        help="images per training step (default: the project's)",
    )
    parser.add_argument(
        "--lr", type=float, metavar="X", help="learning rate (default: the project's)"
    )
    parser.add_argument(
        "--optimizer", metavar="O", help="sgd, adam, adamw or rmsprop (default: the project's)"
    )
    parser.add_argument(
        "--device",
        metavar="DEV",
        help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps (default: the project's)",
    )
    parser.add_argument(
        "--out", metavar="RUN_DIR", help="run folder to write (default: runs/<time>-<name> here)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="S",
        help="random seed of the initial weights and the batch order (default: the project's)",
    )
    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        default=None,
        help="bfloat16 autocast and channels_last, fast where the hardware supports bfloat16 "
        "(default: the project's, normally off)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        metavar="T",
        help="CPU threads for torch, 0 for automatic (default: the project's)",
    )
    parser.add_argument(
        "--ensemble",
        type=int,
        default=1,
        metavar="N",
        help="train N copies with seeds S, S+1, … and report their averaged accuracy (default 1)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except _BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except _Failure as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE


def _run(args: argparse.Namespace) -> int:
    from explorer.core.training import CheckpointError, load_checkpoint
    from explorer.core.training.runs import RunFolder, default_run_dir

    members: list[tuple[RunFolder, Checkpoint | None]]
    if args.resume:
        if args.file or args.template:
            raise _BadInput("--resume continues a run: give no FILE or --template with it")
        folder = RunFolder(args.resume)
        try:
            checkpoint = load_checkpoint(folder.checkpoint_path)
        except CheckpointError as error:
            raise _BadInput(str(error)) from None
        spec = _with_overrides(checkpoint.spec, _resume_overrides(args))
        members = [(folder, checkpoint)]
    else:
        loaded = load_project_argument(args)
        if loaded is None:
            return EXIT_BAD_INPUT
        spec = _with_overrides(loaded, _overrides(args))
        _check_network(spec)
        if args.ensemble < 1:
            raise _BadInput(f"--ensemble must be at least 1, got {args.ensemble}")
        root = Path(args.out) if args.out else default_run_dir(spec.name)
        if args.ensemble == 1:
            members = [(RunFolder(root), None)]
        else:
            members = [(RunFolder(root / f"member-{k + 1}"), None) for k in range(args.ensemble)]

    choice = _resolve_device(spec)
    dataset = _load_dataset(spec, args.data_dir, choice.device)
    print(
        f"{spec.name}: {spec.training.dataset} on {choice.description}, "
        f"{dataset.size('train'):,} train / {dataset.size('validation'):,} validation / "
        f"{dataset.size('test'):,} test images"
    )
    models = []  # only the models: each finished member's optimizer state can go
    for index, (folder, member_checkpoint) in enumerate(members):
        member_spec = spec
        if len(members) > 1:
            seed = spec.training.seed + index
            member_spec = replace(spec, training=spec.training.with_values(seed=seed))
            print(f"ensemble member {index + 1}/{len(members)} (seed {seed}) -> {folder.path}")
        code, trainer = _train_one(member_spec, dataset, folder, member_checkpoint)
        if code != EXIT_OK:
            return code
        models.append(trainer.model)
        del trainer
    if len(models) > 1:
        from explorer.core.training.metrics import measure_ensemble

        result = measure_ensemble(models, dataset, "test", max(2 * spec.training.batch_size, 256))
        print(f"ensemble of {len(models)}: test accuracy {100 * result.accuracy:.2f}%")
    return EXIT_OK


def _train_one(
    spec: NetworkSpec, dataset: DeviceDataset, folder: RunFolder, checkpoint: Checkpoint | None
) -> tuple[int, Trainer]:
    from explorer.core.training import Trainer, TrainingFailed, TrainingFinished, TrainingStopped

    folder.create(spec)
    trainer = Trainer(spec, dataset, resume=checkpoint, checkpoint_path=folder.checkpoint_path)
    progress = _ProgressLine(sys.stdout)
    previous = signal.signal(signal.SIGINT, _stop_handler(trainer))
    try:
        with folder:
            for event in trainer.run():
                folder.append(event)
                progress.show(event)
    finally:
        signal.signal(signal.SIGINT, previous)
        progress.close()
    if isinstance(event, TrainingFailed):
        print(f"error: {event.message}", file=sys.stderr)
        return EXIT_FAILURE, trainer
    if isinstance(event, TrainingStopped):
        print(
            f"stopped at step {event.step}; continue with: "
            f"python main.py train --resume {folder.path}",
            file=sys.stderr,
        )
        return EXIT_FAILURE, trainer
    assert isinstance(event, TrainingFinished)
    print(f"test accuracy {100 * event.test_accuracy:.2f}% (loss {event.test_loss:.4f})")
    print(f"run folder: {folder.path}")
    return EXIT_OK, trainer


def _stop_handler(trainer: Trainer) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        trainer.stop()

    return handler


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values = {
        "dataset": args.dataset,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "optimizer": args.optimizer,
        "device": args.device,
        "seed": args.seed,
        "mixed_precision": args.mixed_precision,
        "threads": args.threads,
    }
    return {key: value for key, value in values.items() if value is not None}


def _resume_overrides(args: argparse.Namespace) -> dict[str, Any]:
    given = _overrides(args)
    # The rest must stay as the checkpoint was made, or the run would not continue its curve.
    allowed = {"epochs", "device", "threads"}
    refused = sorted(set(given) - allowed)
    if refused or args.ensemble != 1:
        raise _BadInput("with --resume only --epochs, --device and --threads can change")
    return given


def _with_overrides(spec: NetworkSpec, overrides: dict[str, Any]) -> NetworkSpec:
    from explorer.core.spec import SpecError

    try:
        return replace(spec, training=spec.training.with_values(**overrides))
    except SpecError as error:
        raise _BadInput(error.message) from None


def _check_network(spec: NetworkSpec) -> None:
    from explorer.core.analysis import analyze
    from explorer.core.spec import layer_label

    errors = analyze(spec).errors
    if errors:
        lines = [
            f"{layer_label(d.layer_index)}: {d.text()}" if d.layer_index is not None else d.text()
            for d in errors
        ]
        raise _BadInput("the network has errors:\n  " + "\n  ".join(lines))


def _resolve_device(spec: NetworkSpec) -> Any:
    from explorer.core.training.devices import DeviceError, apply_threads, resolve_device

    try:
        choice = resolve_device(spec.training.device, threads=spec.training.threads)
    except DeviceError as error:
        raise _BadInput(str(error)) from None
    apply_threads(choice, spec.training.threads)
    return choice


def _load_dataset(spec: NetworkSpec, data_dir: str | None, device: Any) -> DeviceDataset:
    from explorer.commands.datasets import ProgressBar
    from explorer.core.data import DatasetError, DownloadError, load_dataset

    bar = ProgressBar(sys.stderr)  # shows only if a download is needed
    try:
        dataset = load_dataset(
            spec.training.dataset,
            data_dir=data_dir,
            device=device,
            validation_fraction=spec.training.validation_split,
            seed=spec.training.seed,
            input_size=(spec.input.height, spec.input.width),
            grayscale=spec.input.channels == 1,
            progress=bar,
        )
    except DownloadError as error:
        raise _Failure(str(error)) from None
    except DatasetError as error:
        raise _BadInput(str(error)) from None
    finally:
        bar.close()
    if dataset.info.num_classes != spec.num_classes:
        raise _BadInput(
            f"dataset {spec.training.dataset!r} has {dataset.info.num_classes} classes "
            f"but the network ends in {spec.num_classes}"
        )
    return dataset


class _ProgressLine:
    """A progress bar redrawn in place on a terminal; plain lines per epoch otherwise."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.width = min(shutil.get_terminal_size().columns, 120) if self.tty else 0
        self._drawn = False
        self._last = 0.0
        self._epochs = 0

    def show(self, event: TrainingEvent) -> None:
        from explorer.core.training import EpochEnded, Progress, TrainingStarted

        if isinstance(event, TrainingStarted):
            self._epochs = event.epochs
        elif isinstance(event, Progress) and self.tty:
            now = time.monotonic()
            if now - self._last >= 0.1:
                self._last = now
                self._draw(event)
        elif isinstance(event, EpochEnded):
            self.close()
            validation = ""
            if event.validation_loss is not None and event.validation_accuracy is not None:
                validation = (
                    f"  val loss {event.validation_loss:.4f}  "
                    f"val acc {100 * event.validation_accuracy:.2f}%"
                )
            print(
                f"epoch {event.epoch}/{self._epochs}  loss {event.train_loss:.4f}  "
                f"acc {100 * event.train_accuracy:.2f}%{validation}  "
                f"{event.elapsed:.1f}s",
                file=self.stream,
                flush=True,
            )

    def _draw(self, event: Any) -> None:
        fraction = event.epoch_fraction
        eta = "" if event.eta != event.eta else f" ETA {_clock(event.eta)}"
        text = (
            f" {100 * fraction:3.0f}%  loss {event.train_loss:.4f}  "
            f"acc {100 * event.train_accuracy:5.2f}%  {event.images_per_second:,.0f} img/s{eta}"
        )
        label = f"epoch {event.epoch}/{self._epochs} "
        bar_width = max(10, self.width - len(label) - len(text) - 3)
        filled = round(bar_width * fraction)
        line = f"{label}[{'#' * filled}{'.' * (bar_width - filled)}]{text}"
        self.stream.write("\r" + line[: self.width - 1])
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * (self.width - 1) + "\r")
            self.stream.flush()
            self._drawn = False


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
