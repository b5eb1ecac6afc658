"""One run folder's settings and results as a row of the Runs table: what it trained with
(from project.json) and what came of it (from the events of metrics.jsonl).

Reading never raises: a project that cannot be read leaves the settings empty and says why
in `problem`, so a damaged folder is still listed with what it has.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.core.training.runs import RunFolder

_STAMP = "%Y%m%d-%H%M%S"


@dataclass(frozen=True)
class RunSummary:
    """A run's settings and outcome. Accuracies are fractions (0..1), `time` the training
    seconds, `started` seconds since the epoch (from the folder's time stamp); None where
    the folder does not say."""

    dataset: str | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    epochs: int | None = None  # planned
    epochs_done: int = 0
    augmentation: str | None = None
    params: int | None = None
    best_validation_accuracy: float | None = None
    final_validation_accuracy: float | None = None
    test_accuracy: float | None = None
    time: float | None = None
    started: float | None = None
    problem: str = ""  # why the settings could not be read ("" when they could)

    @property
    def date(self) -> str:
        """'2026-01-01 12:00' in local time, or '' when unknown."""
        if self.started is None:
            return ""
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started))


def summarize_run(path: str | Path, events: Sequence[dict[str, Any]]) -> RunSummary:
    """The summary of the run folder `path` whose metrics.jsonl holds `events` (already
    read, see `RunFolder.read_metrics`). Reads project.json and analyses its network."""
    folder = RunFolder(path)
    settings, problem = _settings(folder)
    validation = [
        float(event["validation_accuracy"])
        for event in events
        if event["event"] == "epoch" and _finite(event.get("validation_accuracy"))
    ]
    epochs_done, elapsed, test_accuracy = 0, None, None
    for event in events:
        kind = event["event"]
        if kind == "epoch":
            epochs_done = max(epochs_done, int(event["epoch"]))
        if kind in ("epoch", "finished", "stopped") and _finite(event.get("elapsed")):
            elapsed = float(event["elapsed"])
        if kind == "finished" and _finite(event.get("test_accuracy")):
            test_accuracy = float(event["test_accuracy"])
    return RunSummary(
        **settings,
        epochs_done=epochs_done,
        best_validation_accuracy=max(validation, default=None),
        final_validation_accuracy=validation[-1] if validation else None,
        test_accuracy=test_accuracy,
        time=elapsed,
        started=_started(folder),
        problem=problem,
    )


def _settings(folder: RunFolder) -> tuple[dict[str, Any], str]:
    from explorer.core.analysis import analyze
    from explorer.core.project import ProjectError, load_project
    from explorer.core.training.augment_settings import AugmentSettings

    try:
        spec = load_project(folder.project_path)
    except ProjectError as error:
        return {}, str(error)
    training = spec.training
    analysis = analyze(spec)
    params = None if analysis.errors else analysis.trainable_params + analysis.non_trainable_params
    return {
        "dataset": training.dataset,
        "optimizer": training.optimizer,
        "learning_rate": training.learning_rate,
        "batch_size": training.batch_size,
        "epochs": training.epochs,
        "augmentation": AugmentSettings.of(training).describe(),
        "params": params,
    }, ""


def _started(folder: RunFolder) -> float | None:
    """When the run began: its folder name's time stamp (`default_run_dir`), else the time
    its project was written."""
    try:
        return time.mktime(time.strptime(folder.path.name[: len("20260101-120000")], _STAMP))
    except ValueError:
        pass
    try:
        return folder.project_path.stat().st_mtime
    except OSError:
        return None


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
