"""`train`: train a network headless into a run folder (metrics.jsonl, checkpoint, project).

Ctrl-C asks the trainer to stop before its next batch; the checkpoint it leaves can be
continued with `train --resume RUN_DIR`.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

from explorer.commands.base import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, late_help
from explorer.commands.common import (
    DATA_DIR_HELP,
    add_device_argument,
    add_project_arguments,
    dataset_names,
    load_project_argument,
    run_reporting_errors,
)
from explorer.core.dataset_split import Split
from explorer.core.optimizers import OPTIMIZERS
from explorer.core.params import Kind, Param
from explorer.core.training_spec import TRAINING_PARAMS

if TYPE_CHECKING:
    from explorer.core.app.run_plan import RunMember, RunPlan
    from explorer.core.app.training_run import TrainingRun
    from explorer.core.data.resident import DeviceDataset
    from explorer.core.spec import NetworkSpec
    from explorer.core.training.runs import RunFolder


class _BadInput(Exception):
    """Ends the command with exit code 2 and this message."""


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
        "--optimizer",
        metavar="O",
        help=f"{', '.join(OPTIMIZERS)} (default: the project's)",
    )
    add_device_argument(parser)
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
    for key in SETTING_FLAGS:
        _add_setting_flag(parser, TRAINING_PARAMS[key])
    parser.add_argument(
        "--views",
        action="store_true",
        help="once trained, also write embedding.npz and channels.npz into the run folder "
        "(the Embedding and Channels views' data, for looking inside without the window; "
        "a pass over the test split)",
    )
    parser.add_argument(
        "--ensemble",
        type=int,
        metavar="N",
        help="train N copies with seeds S, S+1, … and report their averaged accuracy "
        "(default: the project's ensemble setting, normally 1)",
    )


# Training settings that are flags as they are declared in TRAINING_PARAMS (name, type, range,
# help): `augment_crop_padding` is --augment-crop-padding N, a yes/no one --x / --no-x.
SETTING_FLAGS = (
    *(key for key in TRAINING_PARAMS if key.startswith("augment_")),
    "label_smoothing",
    "ema_decay",
    "tta_flip",
    "compile",
)


def _add_setting_flag(parser: argparse.ArgumentParser, param: Param) -> None:
    flag = "--" + param.name.replace("_", "-")
    described = param.help.rstrip(".").replace("%", "%%") + " (default: the project's)"
    if param.kind is Kind.BOOL:
        parser.add_argument(
            flag, action=argparse.BooleanOptionalAction, default=None, help=described
        )
        return
    metavar = "N" if param.kind is Kind.INT else "X"
    kind = int if param.kind is Kind.INT else float
    parser.add_argument(flag, type=kind, metavar=metavar, help=described)


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(_run, args, _BadInput)


def _run(args: argparse.Namespace) -> int:
    from explorer.core.app.preparation import choose_device, make_run_folder, write_run_folder
    from explorer.core.app.run_plan import finished_model, plan_run, with_settings

    if args.resume:
        plan = _resume_plan(args)
        _check_network(plan.spec)
        data_dir = args.data_dir or plan.settings.data_dir
    else:
        loaded = load_project_argument(args)
        if loaded is None:
            return EXIT_BAD_INPUT
        spec = with_settings(loaded, _overrides(args))
        _check_network(spec)
        plan = plan_run(spec, args.out, ensemble=args.ensemble, data_dir=args.data_dir)
        data_dir = plan.settings.data_dir
        make_run_folder(plan.root.path)  # a folder that cannot be written fails before the data
    spec = plan.spec
    choice = choose_device(spec)
    dataset = _load_dataset(spec, data_dir, choice.device)
    print(
        f"{spec.name}: {spec.training.dataset} on {choice.description}, "
        f"{dataset.size(Split.TRAIN):,} train / "
        f"{dataset.size(Split.VALIDATION):,} validation / "
        f"{dataset.size(Split.TEST):,} test images"
    )
    if plan.is_ensemble and not plan.resumed:
        write_run_folder(plan.root, _spec_for_run(spec, dataset), plan.settings)
    models = []  # only the models: each finished member's optimizer state can go
    for index, member in enumerate(plan.members):
        if plan.is_ensemble:
            seed = member.spec.training.seed
            done = " (trained before)" if member.finished else ""
            number = f"{index + 1}/{len(plan.members)}"
            print(f"ensemble member {number} (seed {seed}) -> {member.folder}{done}")
        if member.finished:
            models.append(finished_model(member, dataset.device))
            continue
        code, model = _train_one(member, dataset, plan, views=args.views)
        if code != EXIT_OK:
            return code
        models.append(model)
    if len(models) > 1:
        from explorer.core.app.training_run import report_unexpected
        from explorer.core.training.metrics import measure_ensemble

        batch = max(2 * spec.training.batch_size, 256)
        try:
            # Members are measured with their mirror images where tta_flip says: so is the whole.
            result = measure_ensemble(
                models, dataset, Split.TEST, batch, flip=spec.training.tta_flip
            )
        except Exception as error:
            raise report_unexpected(error, plan.root) from None
        print(f"ensemble of {len(models)}: test accuracy {100 * result.accuracy:.2f}%")
    return EXIT_OK


def _resume_plan(args: argparse.Namespace) -> RunPlan:
    from explorer.core.app.run_plan import plan_resume

    if args.file or args.template:
        raise _BadInput("--resume continues a run: give no FILE or --template with it")
    if args.ensemble is not None:
        raise _BadInput("--ensemble cannot change when a run continues: it keeps its members")
    return plan_resume(args.resume, _overrides(args))


def _spec_for_run(spec: NetworkSpec, dataset: DeviceDataset) -> NetworkSpec:
    from explorer.core.training.runs import spec_for_dataset

    return spec_for_dataset(spec, dataset.info.class_names)


def _train_one(
    member: RunMember, dataset: DeviceDataset, plan: RunPlan, *, views: bool
) -> tuple[int, Any]:
    """Train (or continue) one member; its exit code and its model. An unexpected error
    leaves its traceback in the run folder's training.log and one line on the terminal."""
    from explorer.core.app.preparation import TrainingRunError
    from explorer.core.app.training_run import report_unexpected, start_run
    from explorer.core.training.runs import RunSettings

    settings = RunSettings(data_dir=plan.settings.data_dir)
    try:
        training = start_run(
            member.spec,
            dataset,
            member.folder,
            settings=settings,
            checkpoint=member.checkpoint,
            views=views,
        )
        return _train_loop(training, member.folder, plan.root), training.model
    except TrainingRunError:
        raise
    except Exception as error:
        raise report_unexpected(error, member.folder) from None


def _train_loop(training: TrainingRun, folder: RunFolder, resume_with: RunFolder) -> int:
    from explorer.commands.progress import ProgressLine
    from explorer.core.training import TrainingFailed, TrainingFinished, TrainingStopped

    progress = ProgressLine(sys.stdout)
    previous = signal.signal(signal.SIGINT, _stop_handler(training))
    try:
        for event in training.events():
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


def _stop_handler(training: TrainingRun) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        training.stop()

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
        **{key: getattr(args, key) for key in SETTING_FLAGS},
    }
    return {key: value for key, value in values.items() if value is not None}


def _check_network(spec: NetworkSpec) -> None:
    from explorer.core.analysis import analyze
    from explorer.core.error_list import format_errors

    errors = analyze(spec).errors
    if errors:
        raise _BadInput(format_errors(errors))


def _load_dataset(spec: NetworkSpec, data_dir: str | None, device: Any) -> DeviceDataset:
    from explorer.commands.datasets import ProgressBar
    from explorer.core.app.preparation import check_class_count, load_network_dataset

    bar = ProgressBar(sys.stderr)  # shows only if a download is needed
    try:
        dataset = load_network_dataset(spec, data_dir, device, progress=bar)
    finally:
        bar.close()
    check_class_count(spec, dataset)
    return dataset
