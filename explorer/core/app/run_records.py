"""What the Runs list knows about each run folder: its status and curves (metrics.jsonl),
its settings and results (`run_summary`) and the user's name and tags (`run_labels`).

Run folders use the layout of `explorer.core.training.runs` (project.json, metrics.jsonl,
checkpoint.pt), the same the `train` command writes, so command-line runs show up too.
Reading never raises, and `list_runs` reads a folder again only when its metrics or labels
changed since it was last read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from explorer.core.app.curves import RunCurves, run_curves
from explorer.core.app.ensemble_runs import is_ensemble_run, metrics_stamp
from explorer.core.app.run_labels import RunLabels, labels_path, read_labels
from explorer.core.app.run_summary import RunSummary, summarize_run
from explorer.core.training.runs import RunFolder, list_run_folders

log = logging.getLogger(__name__)

#: what a cached record was read from: the metrics' and the labels' modification times (ns)
Stamp = tuple[int, int | None]


@dataclass(frozen=True)
class RunRecord:
    """What the list shows about one run folder."""

    path: Path
    status: str  # finished, stopped, failed or incomplete
    test_accuracy: float | None
    message: str
    curves: RunCurves
    damage: str = ""  # why some of its metrics could not be read ("" when all could)
    summary: RunSummary = field(default_factory=RunSummary)
    labels: RunLabels = field(default_factory=RunLabels)
    members: int = 1  # an ensemble's member count (ensemble_runs.py reads those)

    @property
    def name(self) -> str:
        """The folder's name (what identifies the run on disk)."""
        return self.path.name

    @property
    def title(self) -> str:
        """What the user calls it: the name they gave, else the folder's name."""
        return self.labels.name or self.path.name

    @property
    def resumable(self) -> bool:
        """Stopped (or cut off) with a checkpoint to continue from."""
        stopped = self.status in ("stopped", "incomplete")
        return stopped and (self.members > 1 or RunFolder(self.path).checkpoint_path.is_file())


def read_run(path: str | Path) -> RunRecord:
    """Read a run folder's metrics.jsonl, project and labels; never raises. Lines that do
    not read as events are skipped (a run cut off mid-write is still listed with what it
    has) and a run with such lines is marked damaged, saying why."""
    folder = Path(path)
    if is_ensemble_run(folder):
        from explorer.core.app.ensemble_runs import read_ensemble_run

        return read_ensemble_run(folder)
    status, test_accuracy, message = "incomplete", None, ""
    metrics_log = RunFolder(folder).read_metrics()
    for event in metrics_log.events:
        kind = event["event"]
        if kind in ("finished", "stopped", "failed"):
            status = kind
            message = event.get("message", "")
            if kind == "finished":
                test_accuracy = event.get("test_accuracy")
    if metrics_log.damage:
        log.warning("%s: %s", folder, metrics_log.damage)
    curves = run_curves(folder.name, metrics_log.events)
    summary = summarize_run(folder, metrics_log.events)
    return RunRecord(
        folder,
        status,
        test_accuracy,
        message,
        curves,
        metrics_log.damage,
        summary,
        read_labels(folder),
    )


def list_runs(
    root: str | Path, cache: dict[Path, tuple[Stamp, RunRecord]] | None = None
) -> list[RunRecord]:
    """Every run folder under `root`, newest first (folder names start with a time stamp).

    With `cache`, a run whose metrics and labels files have not changed since it was read
    is not read again (a long run's metrics.jsonl holds thousands of lines).
    """
    records = []
    for run in list_run_folders(root):
        folder = run.path
        stamp = _stamp(run)
        if stamp is None:  # removed since it was listed
            continue
        cached = cache.get(folder) if cache is not None else None
        if cached is None or cached[0] != stamp:
            cached = (stamp, read_run(folder))
            if cache is not None:
                cache[folder] = cached
        records.append(cached[1])
    return records


def unread_runs(root: str | Path, cache: dict[Path, tuple[Stamp, RunRecord]]) -> int:
    """How many run folders under `root` `list_runs(root, cache)` would read (the others
    are cached): a cheap look at modification times, to decide where to read them."""
    return sum(
        1
        for run in list_run_folders(root)
        if run.path not in cache or cache[run.path][0] != _stamp(run)
    )


def _stamp(run: RunFolder) -> Stamp | None:
    try:
        return (metrics_stamp(run), _mtime(labels_path(run.path)))
    except OSError:
        return None


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
