"""An ensemble's run folder in the Runs list: one row for its members together.

The folder holds no metrics of its own (see core/training/runs.py): its status is its
members' (finished once every member has), its curves its first member's, and its test
accuracy is measured when it is loaded (Runs ▸ Load Ensemble Run), not read from a file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from explorer.core.training.runs import RunError, RunFolder

if TYPE_CHECKING:
    from explorer.core.app.run_records import RunRecord


def is_ensemble_run(path: Path) -> bool:
    """An ensemble's folder: no metrics of its own, a first member with some."""
    folder = RunFolder(path)
    return not folder.metrics_path.is_file() and folder.member(0).metrics_path.is_file()


def metrics_stamp(folder: RunFolder) -> int:
    """When the run last wrote its metrics, in ns (an ensemble: any member); OSError when
    gone."""
    if not is_ensemble_run(folder.path):
        return folder.metrics_path.stat().st_mtime_ns
    count = _member_count(folder)
    members = (folder.member(k).metrics_path for k in range(count))
    return max(path.stat().st_mtime_ns for path in members if path.is_file())


def read_ensemble_run(path: Path) -> RunRecord:
    """The ensemble's row: its members read as runs of their own, summed up; never raises."""
    from explorer.core.app.curves import run_curves
    from explorer.core.app.run_labels import read_labels
    from explorer.core.app.run_records import RunRecord, read_run
    from explorer.core.app.run_summary import RunSummary

    root = RunFolder(path)
    count = _member_count(root)
    # A member not begun yet reads as an incomplete run without curves.
    members = [read_run(root.member(k).path) for k in range(count)]
    statuses = [m.status for m in members]
    done = statuses.count("finished")
    status = "incomplete"
    if count and done == count:
        status = "finished"
    elif "failed" in statuses or "stopped" in statuses:
        status = "failed" if "failed" in statuses else "stopped"
    message = f"ensemble of {count}: {done} of {count} members trained"
    name = f"{path.name} (member 1)"
    curves = replace(members[0].curves, name=name) if members else run_curves(name, [])
    damage = "; ".join(m.damage for m in members if m.damage)
    summary = members[0].summary if members else RunSummary()
    return RunRecord(
        Path(path),
        status,
        None,
        message,
        curves,
        damage,
        summary,
        read_labels(path),
        members=count,
    )


def _member_count(root: RunFolder) -> int:
    """The members run.json names (as many member folders as there are, when unreadable)."""
    try:
        return root.read_settings().ensemble
    except RunError:
        count = 0
        while root.member(count).path.is_dir():
            count += 1
        return count
