"""`sweep`: train one network under a grid (or a random sample) of settings, one run folder
per trial, and print the trials sorted by validation accuracy (also in results.csv).

Every trial is checked before the first one trains (exit 2 naming the bad key or value).
Small trials of one architecture train stacked, several at once (sweep_stack.py;
`--no-stack`: one after another). Ctrl-C stops the running trials; the same command again
skips the finished trials and continues the stopped ones from their checkpoints.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

from explorer.commands.base import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK
from explorer.commands.common import (
    DATA_DIR_HELP,
    add_device_argument,
    add_project_arguments,
    load_project_argument,
    run_reporting_errors,
)

if TYPE_CHECKING:
    from pathlib import Path

    from explorer.core.app.sweep import SweepPlan, Trial
    from explorer.core.app.sweep_group import TrialGroup
    from explorer.core.app.sweep_run import TrialData, TrialResult
    from explorer.core.training import TrainingEvent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_arguments(parser)
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="values to try for a training setting (learning_rate=0.1,0.01) or a layer's key "
        "by layer name or position from 1 (conv2d_1.filters=16,32; 2.filters=16,32); repeat "
        "for a grid",
    )
    parser.add_argument(
        "--random",
        type=int,
        metavar="N",
        help="train N combinations drawn at random from the grid instead of all of it",
    )
    parser.add_argument(
        "--random-seed",
        type=int,
        default=0,
        metavar="S",
        help="seed of the --random draw (default 0)",
    )
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs of every trial")
    parser.add_argument("--dataset", metavar="D", help="dataset (default: the project's)")
    parser.add_argument("--data-dir", metavar="DIR", help=DATA_DIR_HELP)
    add_device_argument(parser)
    parser.add_argument(
        "--threads",
        type=int,
        metavar="T",
        help="CPU threads for torch, 0 for automatic (default: the project's)",
    )
    parser.add_argument(
        "--no-stack",
        dest="stack",
        action="store_false",
        help="train every trial on its own, one after another (default: small trials of one "
        "architecture train stacked, several at once)",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="SWEEP_DIR",
        help="folder for the trials' run folders and results.csv (rerun to continue)",
    )


def run(args: argparse.Namespace) -> int:
    return run_reporting_errors(_run, args)


def _run(args: argparse.Namespace) -> int:
    from explorer.core.app.preparation import make_run_folder
    from explorer.core.app.run_plan import with_settings
    from explorer.core.app.sweep import plan_sweep
    from explorer.core.app.sweep_run import FINISHED, read_result, write_results
    from explorer.core.app.sweep_stack import stack_groups

    loaded = load_project_argument(args)
    if loaded is None:
        return EXIT_BAD_INPUT
    overrides = {
        "epochs": args.epochs,
        "dataset": args.dataset,
        "device": args.device,
        "threads": args.threads,
    }
    spec = with_settings(loaded, {k: v for k, v in overrides.items() if v is not None})
    plan = plan_sweep(spec, args.sets, args.out, sample=args.random, seed=args.random_seed)
    make_run_folder(plan.out)
    print(f"{spec.name}: {len(plan.trials)} trials into {plan.out}")
    code = EXIT_OK
    data = None
    pending = []
    for trial in plan.trials:
        if read_result(plan, trial).status == FINISHED:
            print(
                f"trial {trial.number}/{len(plan.trials)} ({trial.describe()}): "
                "finished before, skipped"
            )
        else:
            pending.append(trial)
    for group in stack_groups(plan, pending, stack=args.stack):
        for trial in group:
            label = f"trial {trial.number}/{len(plan.trials)} ({trial.describe()})"
            print(f"{label} -> {plan.trial_folder(trial)}")
        if data is None:
            from explorer.core.app.sweep_run import TrialData

            data = TrialData(args.data_dir)
        outcomes = _train_group(plan, group, data)
        write_results(plan)
        if "stopped" in outcomes:
            print(
                f"stopped; continue with: python main.py {shlex.join(sys.argv[1:])}"
                if sys.argv[1:2] == ["sweep"]
                else "stopped; run the same sweep again to continue",
                file=sys.stderr,
            )
            return EXIT_FAILURE
        if "failed" in outcomes:
            code = EXIT_FAILURE
    results = write_results(plan)
    print(format_table(plan, results))
    print(f"results: {plan.out / 'results.csv'}")
    return code


def _train_group(plan: SweepPlan, trials: tuple[Trial, ...], data: TrialData) -> list[str]:
    """Train a group of trials (stacked where it can, see sweep_group.py); each one's
    outcome, 'finished', 'stopped' or 'failed' (its message printed)."""
    from explorer.commands.progress import ProgressLine
    from explorer.core.app.preparation import TrainingRunError
    from explorer.core.app.sweep_group import TrialGroup
    from explorer.core.app.sweep_stack import describe_group
    from explorer.core.app.training_run import report_unexpected
    from explorer.core.training.runs import RunFolder

    folder = RunFolder(plan.trial_folder(trials[0]))
    last: list[TrainingEvent | None] = [None] * len(trials)
    try:
        group = TrialGroup(plan, trials, data)
        if group.stacked:
            print(f"{describe_group(trials)} stacked")
        elif group.unstacked is not None:
            print(f"{describe_group(trials)} one after another: {group.unstacked}")
        if len(trials) == 1:
            lines = [ProgressLine(sys.stdout)]
        else:
            lines = [ProgressLine(_Labelled(sys.stdout, f"trial {t.number}: ")) for t in trials]
        previous = signal.signal(signal.SIGINT, _stop_handler(group))
        try:
            for index, event in group.events():
                folder = group.runs[index].folder or folder
                lines[index].show(event)
                last[index] = event
        finally:
            signal.signal(signal.SIGINT, previous)
            for line in lines:
                line.close()
    except TrainingRunError:
        raise
    except Exception as error:
        raise report_unexpected(error, folder) from None
    return [
        _outcome(trial, event, plan.trial_folder(trial), single=len(trials) == 1)
        for trial, event in zip(trials, last, strict=True)
    ]


def _outcome(trial: Trial, event: TrainingEvent | None, folder: Path, *, single: bool) -> str:
    """'finished', 'stopped', 'failed' or '' (not run: the group stopped before it)."""
    from explorer.core.training import TrainingFailed, TrainingFinished, TrainingStopped

    who = "" if single else f" (trial {trial.number})"
    if isinstance(event, TrainingFinished):
        print(f"  test accuracy {100 * event.test_accuracy:.2f}%{who}")
        return "finished"
    if isinstance(event, TrainingStopped):
        return "stopped"
    if event is None:
        return ""
    message = event.message if isinstance(event, TrainingFailed) else "ended without a result"
    print(f"  error{who}: {message} (see {folder})", file=sys.stderr)
    return "failed"


class _Labelled:
    """A stream that starts every line with a label (a stacked trial's progress lines)."""

    def __init__(self, stream: Any, label: str) -> None:
        self.stream, self.label = stream, label
        self._line_start = True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            out.append(self.label + piece if self._line_start else piece)
            self._line_start = piece.endswith("\n")
        self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _stop_handler(group: TrialGroup) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        group.stop()

    return handler


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def format_table(plan: SweepPlan, results: list[TrialResult]) -> str:
    """The trials as a text table, best validation accuracy first."""
    from explorer.core.app.sweep import format_value
    from explorer.core.app.sweep_run import best_first

    keys = [axis.key for axis in plan.axes]
    header = [
        "trial",
        *keys,
        "val acc",
        "test acc",
        "train loss",
        "time",
        "params",
        "MACs",
        "status",
    ]
    rows = [header]
    for result in best_first(results):
        values = dict(result.trial.values)
        rows.append(
            [
                str(result.trial.number),
                *(format_value(values[key]) for key in keys),
                _percent(result.validation_accuracy),
                _percent(result.test_accuracy),
                "-" if result.train_loss is None else f"{result.train_loss:.4f}",
                "-" if result.time is None else f"{result.time:.1f}s",
                f"{result.params:,}",
                f"{result.macs:,}",
                result.status,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)
