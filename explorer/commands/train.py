"""`train`: train a network headless into a run folder (metrics.jsonl, checkpoint, project).

Ctrl-C asks the trainer to stop before its next batch; the checkpoint it leaves can be
continued with `train --resume RUN_DIR`.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, replace
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
    from explorer.core.training.runs import RunFolder, RunSettings


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


@dataclass
class _Member:
    """One network to train into one run folder (an ensemble has several)."""

    folder: RunFolder
    spec: NetworkSpec
    checkpoint: Checkpoint | None = None
    #: trained to the end before: only its weights are needed (a resumed ensemble)
    finished: bool = False


def _run(args: argparse.Namespace) -> int:
    from explorer.core.training.runs import RunFolder, RunSettings, default_run_dir

    if args.resume:
        root, settings, members = _resume_members(args)
        spec = members[0].spec
        data_dir = args.data_dir or settings.data_dir
    else:
        loaded = load_project_argument(args)
        if loaded is None:
            return EXIT_BAD_INPUT
        spec = _with_overrides(loaded, _overrides(args))
        _check_network(spec)
        if not 1 <= args.ensemble <= _MAX_ENSEMBLE:
            raise _BadInput(f"--ensemble must be 1 to {_MAX_ENSEMBLE}, got {args.ensemble}")
        root = RunFolder(args.out if args.out else default_run_dir(spec.name))
        # Absolute, so the run continues from wherever --resume is typed.
        data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
        settings = RunSettings(data_dir=data_dir, ensemble=args.ensemble)
        _make_folder(root.path)  # a folder that cannot be written fails before the data loads
        if args.ensemble == 1:
            members = [_Member(root, spec)]
        else:
            members = [_Member(root.member(k), _member_spec(spec, k)) for k in range(args.ensemble)]

    choice = _resolve_device(spec)
    dataset = _load_dataset(spec, data_dir, choice.device)
    print(
        f"{spec.name}: {spec.training.dataset} on {choice.description}, "
        f"{dataset.size('train'):,} train / {dataset.size('validation'):,} validation / "
        f"{dataset.size('test'):,} test images"
    )
    if len(members) > 1 and not args.resume:
        _write_folder(root, _spec_for_run(spec, dataset), settings)
    models = []  # only the models: each finished member's optimizer state can go
    for index, member in enumerate(members):
        if len(members) > 1:
            seed = member.spec.training.seed
            done = " (trained before)" if member.finished else ""
            number = f"{index + 1}/{len(members)}"
            print(f"ensemble member {number} (seed {seed}) -> {member.folder}{done}")
        if member.finished:
            models.append(_finished_model(member, dataset))
            continue
        member_settings = RunSettings(data_dir=settings.data_dir)
        code, model = _train_one(member, dataset, member_settings, resume_with=root)
        if code != EXIT_OK:
            return code
        models.append(model)
    if len(models) > 1:
        from explorer.core.training.metrics import measure_ensemble

        batch = max(2 * spec.training.batch_size, 256)
        try:
            result = measure_ensemble(models, dataset, "test", batch)
        except Exception as error:
            raise _unexpected(error, root) from None
        print(f"ensemble of {len(models)}: test accuracy {100 * result.accuracy:.2f}%")
    return EXIT_OK


_MAX_ENSEMBLE = 1000


def _member_spec(spec: NetworkSpec, index: int) -> NetworkSpec:
    return replace(spec, training=spec.training.with_values(seed=spec.training.seed + index))


def _resume_members(args: argparse.Namespace) -> tuple[RunFolder, RunSettings, list[_Member]]:
    """The folder to continue, its settings, and its members with their checkpoints."""
    from explorer.core.project import ProjectError, load_project
    from explorer.core.training import CheckpointError
    from explorer.core.training.runs import RunError, RunFolder

    if args.file or args.template:
        raise _BadInput("--resume continues a run: give no FILE or --template with it")
    root = RunFolder(args.resume)
    overrides = _resume_overrides(args)
    try:
        settings = root.read_settings()
        if settings.ensemble == 1:
            checkpoint = root.checkpoint_for_resume()
            spec = _with_overrides(checkpoint.spec, overrides)
            _check_network(spec)
            return root, settings, [_Member(root, spec, checkpoint)]
        try:
            base = _with_overrides(load_project(root.project_path), overrides)
        except ProjectError as error:
            raise _BadInput(str(error)) from None
        _check_network(base)
        members = []
        for index in range(settings.ensemble):
            member = _Member(root.member(index), _member_spec(base, index))
            if member.folder.checkpoint_path.exists():
                member.checkpoint = member.folder.checkpoint_for_resume()
                member.spec = _with_overrides(member.checkpoint.spec, overrides)
                member.finished = _trained_to_the_end(member)
            members.append(member)
        return root, settings, members
    except (CheckpointError, RunError) as error:
        raise _BadInput(str(error)) from None


def _trained_to_the_end(member: _Member) -> bool:
    """Whether the member needs no more training: all its epochs done, or stopped early
    on its validation loss at its checkpoint."""
    checkpoint = member.checkpoint
    assert checkpoint is not None
    if checkpoint.batch == 0 and checkpoint.epoch >= member.spec.training.epochs:
        return True
    ends = [e for e in member.folder.read_metrics().events if e["event"] == "finished"]
    return bool(ends) and ends[-1]["step"] == checkpoint.step and ends[-1]["early_stopped"]


def _finished_model(member: _Member, dataset: DeviceDataset) -> Any:
    from explorer.core.builder import build_model
    from explorer.core.training import CheckpointError
    from explorer.core.training.resume import check_weights

    assert member.checkpoint is not None
    model = build_model(member.spec)
    try:
        check_weights(member.checkpoint, model)
    except CheckpointError as error:
        raise _BadInput(f"{member.folder.checkpoint_path}: {error}") from None
    model.load_state_dict(member.checkpoint.model_state)
    return model.to(dataset.device)


def _spec_for_run(spec: NetworkSpec, dataset: DeviceDataset) -> NetworkSpec:
    from explorer.core.training.runs import spec_for_dataset

    return spec_for_dataset(spec, dataset.info.class_names)


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _Failure(f"cannot make the run folder {path}: {_reason(error, path)}") from None


def _write_folder(folder: RunFolder, spec: NetworkSpec, settings: RunSettings) -> None:
    try:
        folder.create(spec, settings)
    except OSError as error:
        raise _Failure(
            f"cannot write the run folder {folder}: {_reason(error, folder.path)}"
        ) from None


def _reason(error: OSError, path: Path) -> str:
    """The error in words, with the file it names when that is not `path` itself."""
    named = error.filename is not None and Path(error.filename) != path
    return f"{error.strerror or error}{f' ({error.filename})' if named else ''}"


def _train_one(
    member: _Member, dataset: DeviceDataset, settings: RunSettings, *, resume_with: RunFolder
) -> tuple[int, Any]:
    """Train (or continue) one member; its exit code and its model. An unexpected error
    leaves its traceback in the run folder's training.log and one line on the terminal."""
    from explorer.core.training import CheckpointError, Trainer

    folder, checkpoint = member.folder, member.checkpoint
    spec = _spec_for_run(member.spec, dataset)  # the dataset's class names, in the checkpoint too
    try:
        trainer = Trainer(spec, dataset, resume=checkpoint, checkpoint_path=folder.checkpoint_path)
    except CheckpointError as error:
        raise _BadInput(f"{folder.checkpoint_path}: {error}") from None
    try:
        if checkpoint is None:
            _write_folder(folder, spec, settings)
        else:
            folder.truncate_metrics(checkpoint)
        return _train_loop(trainer, folder, resume_with), trainer.model
    except OSError as error:
        raise _Failure(
            f"cannot write the run folder {folder}: {_reason(error, folder.path)}"
        ) from None
    except (_BadInput, _Failure):
        raise
    except Exception as error:
        raise _unexpected(error, folder) from None


def _unexpected(error: Exception, folder: RunFolder) -> _Failure:
    """An error nobody foresaw: its traceback into the run's training.log, one line out."""
    text = str(error).strip().splitlines()
    summary = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    details = "".join(traceback.format_exception(error))
    try:
        where = f" (full report in {folder.write_log('training failed', details)})"
    except OSError:
        where = ""
    return _Failure(f"training failed: {summary}{where}")


def _train_loop(trainer: Trainer, folder: RunFolder, resume_with: RunFolder) -> int:
    from explorer.core.training import TrainingFailed, TrainingFinished, TrainingStopped

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
        where = f" (full report in {folder.log_path})" if event.details else ""
        print(f"error: {event.message}{where}", file=sys.stderr)
        return EXIT_FAILURE
    if isinstance(event, TrainingStopped):
        print(
            f"stopped at step {event.step}; continue with: "
            f"python main.py train --resume {shlex.quote(str(resume_with.path))}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    assert isinstance(event, TrainingFinished)
    print(f"test accuracy {100 * event.test_accuracy:.2f}% (loss {event.test_loss:.4f})")
    print(f"run folder: {folder.path}")
    return EXIT_OK


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

    errors = analyze(spec).errors
    if errors:
        lines = [f"{d.path}: {d.text()}" if d.path is not None else d.text() for d in errors]
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
