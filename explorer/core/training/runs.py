"""Run folders: where a training run keeps its project, metrics and checkpoint.

```
runs/20260101-120000-keras-tutorial-cnn/
    project.json        the spec, with the training settings actually used
    run.json            what else continuing needs: the data folder, the ensemble size
    metrics.jsonl       one JSON object per event (see events.event_to_json)
    checkpoint.pt       the latest checkpoint (see checkpoint.py)
    training.log        full reports of unexpected errors (only when one happened)
```
An ensemble's folder holds project.json and run.json, and one such folder per member
(`member-1`, `member-2`, ...).

Everything here reads what it finds defensively: a damaged line in metrics.jsonl is skipped
and reported, never raised, so one bad file cannot stop the program from listing its runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from explorer.core.files import write_text_atomic
from explorer.core.project import ProjectError, load_project, save_project
from explorer.core.spec import NetworkSpec
from explorer.core.training.events import (
    TrainingEvent,
    TrainingFailed,
    event_json_problem,
    event_to_json,
)
from explorer.core.training_spec import MAX_ENSEMBLE

if TYPE_CHECKING:
    from explorer.core.training.checkpoint import Checkpoint

log = logging.getLogger(__name__)

PROJECT_FILE = "project.json"
SETTINGS_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "training.log"

RUN_FORMAT = "cnn-explorer-run"
RUN_VERSION = 1

_MAX_SETTINGS_BYTES = 1 << 20


class RunError(ValueError):
    """A run folder that cannot be continued as it is; the message names the file."""


def default_run_dir(name: str, root: str | os.PathLike[str] = "runs") -> Path:
    """`root/<local time stamp>-<name as a file-name slug>`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "run"
    return Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug[:40]}"


def list_run_folders(root: str | os.PathLike[str]) -> list[RunFolder]:
    """The run folders directly under `root` (those with a metrics.jsonl, and ensembles'
    with a first member that has one), newest first: their names start with a time stamp.
    None when `root` is not a folder."""
    try:
        entries = list(Path(root).iterdir())
    except OSError:
        return []
    runs = [
        RunFolder(path)
        for path in entries
        if (path / METRICS_FILE).is_file() or RunFolder(path).member(0).metrics_path.is_file()
    ]
    return sorted(runs, key=lambda run: run.path.name, reverse=True)


def leftover_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files that an interrupted atomic write of `path` left beside it
    (`.<stem>.<random>.tmp<suffix>`, the names `files.write_file_atomic` uses)."""
    target = Path(path)
    pattern = re.compile(rf"\.{re.escape(target.stem)}\.[0-9a-f]+\.tmp{re.escape(target.suffix)}\Z")
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return []
    return sorted(p for p in entries if pattern.match(p.name) and p.is_file())


def remove_leftover_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete what `leftover_temporaries(path)` finds; return what was deleted."""
    removed = []
    for leftover in leftover_temporaries(path):
        try:
            leftover.unlink()
        except OSError as error:
            log.warning("cannot remove the leftover %s: %s", leftover, error)
            continue
        removed.append(leftover)
    return removed


def spec_for_dataset(spec: NetworkSpec, class_names: Sequence[str]) -> NetworkSpec:
    """The spec as a run on a dataset with these classes records it: the dataset's class
    names replace the project's (a digits template trained on shapes names shapes), unless
    the dataset has none or a different number of classes. A project without names stays
    without: the classes are then the dataset's, whatever it names them."""
    names = tuple(class_names)
    if not spec.class_names or not names or len(names) != spec.num_classes:
        return spec
    if names == spec.class_names:
        return spec
    return replace(spec, class_names=names)


@dataclass(frozen=True)
class RunSettings:
    """What a run needs to be continued beyond its project: where the data came from
    (None: the default data folder) and how many ensemble members it trains."""

    data_dir: str | None = None
    ensemble: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RUN_FORMAT,
            "version": RUN_VERSION,
            "data_dir": self.data_dir,
            "ensemble": self.ensemble,
        }

    @staticmethod
    def from_json(data: object, source: str) -> RunSettings:
        """Settings from run.json's content; RunError naming `source` and the key if bad."""
        if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
            raise RunError(f"{source} is not a cnn-explorer run settings file")
        if data.get("version") != RUN_VERSION:
            raise RunError(f"{source}: unsupported version {data.get('version')!r}")
        data_dir = data.get("data_dir")
        if data_dir is not None and (not isinstance(data_dir, str) or not data_dir):
            raise RunError(f"{source}: 'data_dir' must be a folder name or null")
        ensemble = data.get("ensemble", 1)
        if (
            not isinstance(ensemble, int)
            or isinstance(ensemble, bool)
            or not 1 <= ensemble <= MAX_ENSEMBLE
        ):
            raise RunError(f"{source}: 'ensemble' must be 1 to {MAX_ENSEMBLE}")
        return RunSettings(data_dir, ensemble)


@dataclass(frozen=True)
class MetricsLog:
    """metrics.jsonl as read back: the valid events in order, and what was skipped."""

    events: tuple[dict[str, Any], ...]
    #: one entry per skipped line, e.g. "line 7: not JSON"
    problems: tuple[str, ...] = ()
    #: the file's last line had no line end: the writer was stopped in the middle of it
    cut_off: bool = False

    @property
    def damage(self) -> str:
        """Why the log is damaged, in words ("" when every line was read)."""
        if not self.problems:
            return ""
        more = f" and {len(self.problems) - 1} more" if len(self.problems) > 1 else ""
        return f"{METRICS_FILE}: skipped {self.problems[0]}{more}"


def read_metrics(path: str | os.PathLike[str]) -> MetricsLog:
    """Read a metrics.jsonl defensively: never raises; bad lines are skipped and listed."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return MetricsLog(())
    except OSError as error:
        return MetricsLog((), (f"the file ({error.strerror or error})",))
    lines = raw.split(b"\n")
    cut_off = lines[-1] != b""
    if not cut_off:
        lines.pop()
    events: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        problem = _line_problem(line)
        if isinstance(problem, dict):
            events.append(problem)
            continue
        if cut_off and number == len(lines):
            problem = "its last line, cut off while it was written"
        problems.append(f"line {number}: {problem}")
    return MetricsLog(tuple(events), tuple(problems), cut_off)


def _line_problem(line: bytes) -> dict[str, Any] | str:
    """The event on the line, or what is wrong with it."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not UTF-8 text (byte 0x{line[error.start]:02x} at column {error.start + 1})"
    try:
        data = json.loads(text)
    except RecursionError:
        return "nested too deeply"
    except ValueError as error:  # JSONDecodeError, or an integer of over 4,300 digits
        return f"not JSON ({str(error).partition(':')[0]})"
    problem = event_json_problem(data)
    if problem is not None:
        return problem
    assert isinstance(data, dict)
    return data


class RunFolder:
    """A run folder; `append` writes one event to metrics.jsonl (flushed, so a crash or
    Ctrl-C keeps every line written so far)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.project_path = self.path / PROJECT_FILE
        self.settings_path = self.path / SETTINGS_FILE
        self.metrics_path = self.path / METRICS_FILE
        self.checkpoint_path = self.path / CHECKPOINT_FILE
        self.log_path = self.path / LOG_FILE
        self._metrics: TextIO | None = None

    def member(self, index: int) -> RunFolder:
        """The folder of ensemble member `index` (counted from 0)."""
        return RunFolder(self.path / f"member-{index + 1}")

    def create(self, spec: NetworkSpec, settings: RunSettings | None = None) -> None:
        """Make the folder and write project.json and run.json (raises OSError)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.remove_leftovers()
        save_project(spec, self.project_path)
        write_text_atomic(
            self.settings_path, json.dumps((settings or RunSettings()).to_json(), indent=2)
        )

    def read_settings(self) -> RunSettings:
        """run.json's settings; the defaults for a folder written before run.json existed."""
        try:
            with self.settings_path.open("rb") as stream:
                raw = stream.read(_MAX_SETTINGS_BYTES + 1)
        except FileNotFoundError:
            return RunSettings()
        except OSError as error:
            raise RunError(f"cannot read {self.settings_path}: {error.strerror}") from None
        if len(raw) > _MAX_SETTINGS_BYTES:
            raise RunError(f"{self.settings_path} is too large for a run settings file")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            raise RunError(f"{self.settings_path} is not valid JSON") from None
        return RunSettings.from_json(data, str(self.settings_path))

    def read_metrics(self) -> MetricsLog:
        return read_metrics(self.metrics_path)

    def remove_leftovers(self) -> list[Path]:
        """Delete the temporary files that interrupted writes of the checkpoint, the metrics
        or the project left in the folder; return them."""
        removed: list[Path] = []
        for path in (self.checkpoint_path, self.metrics_path, self.project_path):
            removed += remove_leftover_temporaries(path)
        return removed

    def checkpoint_for_resume(self) -> Checkpoint:
        """The checkpoint to continue from, after removing leftover temporaries and checking
        that it belongs to this folder's network (CheckpointError saying what is wrong)."""
        from explorer.core.training.checkpoint import CheckpointError, load_checkpoint

        self.remove_leftovers()
        checkpoint = load_checkpoint(self.checkpoint_path)
        try:
            project = load_project(self.project_path)
        except ProjectError as error:
            raise CheckpointError(f"cannot check the checkpoint against {error}") from None
        if project.architecture() != checkpoint.spec.architecture():
            raise CheckpointError(
                f"{self.checkpoint_path} holds the network {checkpoint.spec.name!r} "
                f"({len(checkpoint.spec.layers)} layers), not this run's {project.name!r} "
                f"({len(project.layers)} layers) in {self.project_path}: it belongs to "
                f"another run"
            )
        return checkpoint

    def truncate_metrics(self, checkpoint: Checkpoint) -> int:
        """Cut metrics.jsonl back to the checkpoint's position before continuing from it:
        the events of steps after it (a partial epoch lost to a kill) and unreadable lines
        go; epochs the checkpoint finished but the file lacks are written from its history.
        Return how many lines were dropped."""
        self.close()
        position = checkpoint.position
        metrics = self.read_metrics()
        kept = [event for event in metrics.events if _event_step(event) <= position.step]
        epochs = [event["epoch"] for event in kept if event["event"] == "epoch"]
        last_epoch = max(epochs, default=0)
        missing = [
            entry
            for entry in position.history
            if isinstance(entry.get("epoch"), int) and entry["epoch"] > last_epoch
        ]
        dropped = len(metrics.events) - len(kept) + len(metrics.problems)
        if dropped or missing or metrics.cut_off:
            text = "".join(json.dumps(event) + "\n" for event in [*kept, *missing])
            write_text_atomic(self.metrics_path, text)
        if dropped:
            log.info("%s: dropped %d line(s) after step %d", self, dropped, position.step)
        return dropped

    def append(self, event: TrainingEvent) -> None:
        """Add the event to metrics.jsonl; a failure's full report goes to training.log."""
        if self._metrics is None:
            self.path.mkdir(parents=True, exist_ok=True)
            self._metrics = self.metrics_path.open("a", encoding="utf-8")
        self._metrics.write(json.dumps(event_to_json(event)) + "\n")
        self._metrics.flush()
        if isinstance(event, TrainingFailed) and event.details:
            self.write_log(f"training failed at step {event.step}: {event.message}", event.details)

    def write_log(self, headline: str, details: str) -> Path:
        """Append a dated report to training.log; return its path."""
        self.path.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.log_path.open("a", encoding="utf-8") as stream:
            stream.write(f"{stamp} {headline}\n{details.rstrip()}\n\n")
        return self.log_path

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def __str__(self) -> str:
        return str(self.path)

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _event_step(event: dict[str, Any]) -> int:
    step = event.get("step", event.get("start_step", 0))
    return step if isinstance(step, int) else 0
