"""Running a sweep's trials and reading their results back, for the CLI and the window alike.

Each trial trains through the same path as `train` (`start_run` into its own run folder,
`SWEEP_DIR/trial-NNN`). A trial whose folder holds a finished run of the same network and
settings is done: a rerun of the sweep skips it; a stopped one continues from its
checkpoint. `results.csv` is rewritten from the run folders' own metrics after every trial,
so it never disagrees with them.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.core.app.sweep import SweepPlan, Trial, format_value

if TYPE_CHECKING:
    import torch

    from explorer.core.app.training_run import TrainingRun
    from explorer.core.data import DeviceDataset
    from explorer.core.spec import NetworkSpec

RESULTS_FILE = "results.csv"
METRIC_COLUMNS = (
    "train_loss",
    "train_accuracy",
    "validation_loss",
    "validation_accuracy",
    "test_loss",
    "test_accuracy",
)

FINISHED, STOPPED, FAILED, PENDING = "finished", "stopped", "failed", "pending"


@dataclass(frozen=True)
class TrialResult:
    """What one trial's run folder says: its last epoch's training and validation metrics,
    the test metrics once finished (accuracies as fractions), the training time in seconds,
    and the network's parameter count and multiply-accumulates per image."""

    trial: Trial
    folder: Path
    status: str
    params: int
    macs: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    validation_loss: float | None = None
    validation_accuracy: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    time: float | None = None

    def metric(self, name: str) -> float | None:
        value: float | None = getattr(self, name)
        return value

    def sort_key(self) -> float:
        """Best first by validation accuracy (then test accuracy); runs without one last."""
        accuracy = self.validation_accuracy
        if accuracy is None:
            accuracy = self.test_accuracy
        return -accuracy if accuracy is not None and not math.isnan(accuracy) else math.inf


def _same_run(folder: Path, spec: NetworkSpec) -> bool:
    """Whether the folder's project is `spec`'s network and settings (a rerun with other
    values must not take an old trial for its own; another device or thread count may)."""
    from explorer.core.project import ProjectError, load_project

    try:
        project = load_project(folder / "project.json")
    except (ProjectError, OSError):
        return False
    # where it trained (device, CPU threads) does not make it another trial
    training = spec.training
    same_training = (
        replace(project.training, device=training.device, threads=training.threads) == training
    )
    return project.architecture() == spec.architecture() and same_training


def read_result(plan: SweepPlan, trial: Trial) -> TrialResult:
    """The trial's result as its run folder holds it (PENDING when it has not run)."""
    from explorer.core.analysis import analyze
    from explorer.core.training.runs import read_metrics

    folder = plan.trial_folder(trial)
    analysis = analyze(trial.spec)
    counts = {
        "params": analysis.trainable_params + analysis.non_trainable_params,
        "macs": analysis.macs,
    }
    if not _same_run(folder, trial.spec):
        return TrialResult(trial, folder, PENDING, **counts)
    events = read_metrics(folder / "metrics.jsonl").events
    values: dict[str, Any] = {}
    status = PENDING
    for event in events:
        kind = event.get("event")
        if kind == "epoch":
            values.update(
                {key: event[key] for key in METRIC_COLUMNS[:4]}, time=event.get("elapsed")
            )
            status = STOPPED
        elif kind == "finished":
            values.update(
                test_loss=event["test_loss"],
                test_accuracy=event["test_accuracy"],
                time=event["elapsed"],
            )
            status = FINISHED
        elif kind == "stopped":
            values["time"] = event.get("elapsed", values.get("time"))
            status = STOPPED
        elif kind == "failed":
            status = FAILED
    return TrialResult(trial, folder, status, **counts, **values)


def read_results(plan: SweepPlan) -> list[TrialResult]:
    return [read_result(plan, trial) for trial in plan.trials]


def results_csv(plan: SweepPlan, results: list[TrialResult]) -> str:
    """The results as CSV: the trial, its folder, the swept values, the metrics, the time,
    the parameters and MACs, the status; in trial order."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    keys = [axis.key for axis in plan.axes]
    writer.writerow(
        ["trial", "folder", *keys, *METRIC_COLUMNS, "time_s", "params", "macs", "status"]
    )
    for result in results:
        values = dict(result.trial.values)
        metrics = [_cell(result.metric(name)) for name in METRIC_COLUMNS]
        writer.writerow(
            [
                result.trial.number,
                result.folder.name,
                *(format_value(values[key]) for key in keys),
                *metrics,
                _cell(result.time),
                result.params,
                result.macs,
                result.status,
            ]
        )
    return stream.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def write_results(plan: SweepPlan) -> list[TrialResult]:
    """Rewrite SWEEP_DIR/results.csv from the trials' run folders; return the results."""
    from explorer.core.files import write_text_atomic

    results = read_results(plan)
    write_text_atomic(plan.out / RESULTS_FILE, results_csv(plan, results))
    return results


def continues(plan: SweepPlan, trial: Trial) -> bool:
    """Whether the trial continues from the checkpoint an earlier sweep stopped it at."""
    from explorer.core.training.runs import RunFolder

    folder = RunFolder(plan.trial_folder(trial))
    return folder.checkpoint_path.exists() and _same_run(folder.path, trial.spec)


def start_trial(
    plan: SweepPlan,
    trial: Trial,
    dataset: DeviceDataset,
    data_dir: str | os.PathLike[str] | None,
) -> TrainingRun:
    """The trial's run, ready to iterate: continued from its checkpoint when an earlier
    sweep stopped it, else a fresh run (a folder left by other values starts over)."""
    from explorer.core.app.preparation import absolute_data_dir, resume_checkpoint
    from explorer.core.app.training_run import start_run
    from explorer.core.training.runs import RunFolder, RunSettings

    folder = RunFolder(plan.trial_folder(trial))
    settings = RunSettings(data_dir=absolute_data_dir(data_dir))
    if continues(plan, trial):
        checkpoint = resume_checkpoint(folder)
        return start_run(
            checkpoint.spec, dataset, folder, settings=settings, checkpoint=checkpoint, views=False
        )
    for stale in (folder.metrics_path, folder.checkpoint_path, folder.log_path):
        stale.unlink(missing_ok=True)
    return start_run(trial.spec, dataset, folder, settings=settings, views=False)


class TrialData:
    """The dataset each trial trains on, loaded once for trials that share it (the same
    dataset, split, seed and input size) and kept only for the latest such group."""

    def __init__(self, data_dir: str | os.PathLike[str] | None) -> None:
        self.data_dir = data_dir
        self._key: tuple[Any, ...] | None = None
        self._dataset: DeviceDataset | None = None

    def dataset(self, spec: NetworkSpec, device: torch.device) -> DeviceDataset:
        """`spec`'s dataset resident on `device` (`BadRunInput`/`RunFailed` as
        `load_network_dataset` raises them, or for a class count that does not fit)."""
        from explorer.core.app.preparation import check_class_count, load_network_dataset

        settings = spec.training
        key = (
            settings.dataset,
            settings.validation_split,
            settings.seed,
            spec.input,
            str(device),
        )
        if self._dataset is None or key != self._key:
            self._dataset = None  # the old one goes before the new one loads
            self._dataset = load_network_dataset(spec, self.data_dir, device)
            self._key = key
        check_class_count(spec, self._dataset)
        return self._dataset


def best_first(results: list[TrialResult]) -> list[TrialResult]:
    """The results sorted by validation accuracy, best first (stable for ties)."""
    return sorted(results, key=TrialResult.sort_key)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: lower cost (x) and higher accuracy (y),
    sorted by cost. A point is dominated when another is at most as costly and at least
    as accurate, and strictly better in one."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -math.inf
    for index in order:
        accuracy = points[index][1]
        if accuracy > best:
            front.append(index)
            best = accuracy
    return front
