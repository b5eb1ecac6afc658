"""Run folders as the Runs list reads them: written by the core's RunFolder, read back."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from explorer.core.spec import NetworkSpec
from explorer.core.training import EpochEnded, Progress, TrainingFailed, TrainingStarted
from explorer.core.training.runs import RunFolder
from explorer.ui.common.document import ProjectDocument
from explorer.ui.training.curves import TrainingCurves
from explorer.ui.training.runs import RunsPanel, list_runs, read_run
from tests.ui.conftest import tick_run


def _progress(step: int, loss: float) -> Progress:
    return Progress(step, 1, step / 10, step * 32, loss, 0.5, 0.01, 1000.0, step * 0.1, 1.0)


def _write_run(path: Path, losses: list[float], *, failed: str = "") -> None:
    folder = RunFolder(path)
    folder.create(NetworkSpec(name="net"))
    with folder:
        folder.append(TrainingStarted("CPU (1 thread)", 2, 10, 320, 32, 100, 0, False))
        for step, loss in enumerate(losses, start=1):
            folder.append(_progress(step, loss))
        folder.append(EpochEnded(1, len(losses), 1.0, 0.5, None, None, 0.01, 1.0))
        if failed:
            folder.append(TrainingFailed(failed, len(losses)))


def test_a_run_cut_off_mid_line_keeps_what_it_wrote(tmp_path: Path) -> None:
    run = tmp_path / "20260101-000000-net"
    _write_run(run, [2.0, 1.5, 1.2])
    with (run / "metrics.jsonl").open("a") as stream:
        stream.write('{"event": "progress", "st')  # the program died while writing
    record = read_run(run)
    assert record.status == "incomplete"
    assert record.test_accuracy is None
    assert list(record.curves.train_loss) == [2.0, 1.5, 1.2]
    # x in epochs: epoch 1 at fraction step/10 of the way through.
    expected = [0.1, 0.2, 0.3]
    assert all(math.isclose(a, b) for a, b in zip(record.curves.step_x, expected, strict=True))
    # No validation split: the epoch has no validation loss, kept as a gap (NaN).
    assert math.isnan(record.curves.validation_loss[0])


def test_a_failed_run_is_listed_as_failed_with_its_message(tmp_path: Path) -> None:
    _write_run(tmp_path / "20260101-000000-a", [2.0], failed="the loss became non-finite")
    _write_run(tmp_path / "20260102-000000-b", [1.0, 0.5])
    (tmp_path / "not-a-run").mkdir()
    records = list_runs(tmp_path)
    assert [r.name for r in records] == ["20260102-000000-b", "20260101-000000-a"]
    assert records[1].status == "failed"
    assert records[1].message == "the loss became non-finite"


def test_ticking_runs_in_the_list_overlays_them(qtbot: Any, tmp_path: Path) -> None:
    _write_run(tmp_path / "20260101-000000-a", [2.0, 1.0])
    _write_run(tmp_path / "20260102-000000-b", [1.0, 0.5])
    curves = TrainingCurves()
    panel = RunsPanel(ProjectDocument(NetworkSpec(name="net")), curves, tmp_path)
    qtbot.addWidget(panel)
    qtbot.addWidget(curves)
    assert panel.model.rowCount() == 2 and curves.overlays == ()
    with qtbot.waitSignal(panel.overlays_changed) as changed:
        tick_run(panel, tmp_path / "20260101-000000-a", True)
    assert [r.name for r in changed.args[0]] == ["20260101-000000-a"]
    assert "20260101-000000-a" in curves.legend_names()
    assert "20260102-000000-b" not in curves.legend_names()
    panel.refresh()  # a new run arrives: ticks survive the refresh
    assert [r.name for r in panel.ticked_runs()] == ["20260101-000000-a"]


def test_listing_again_reads_only_runs_whose_metrics_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import explorer.core.app.run_records as runs_panel

    for name in ("20260101-a", "20260102-b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "metrics.jsonl").write_text('{"event": "stopped", "epoch": 1, "step": 3}\n')
    read: list[str] = []
    real_read = runs_panel.read_run
    monkeypatch.setattr(runs_panel, "read_run", lambda p: read.append(Path(p).name) or real_read(p))
    cache: dict[Path, Any] = {}
    first = runs_panel.list_runs(tmp_path, cache)
    assert [r.name for r in first] == ["20260102-b", "20260101-a"] and len(read) == 2
    newer = tmp_path / "20260103-c"
    newer.mkdir()
    (newer / "metrics.jsonl").write_text('{"event": "stopped", "epoch": 1, "step": 3}\n')
    again = runs_panel.list_runs(tmp_path, cache)
    assert [r.name for r in again] == ["20260103-c", "20260102-b", "20260101-a"]
    assert read == ["20260102-b", "20260101-a", "20260103-c"]  # the old runs were not re-read


@pytest.mark.parametrize(
    "bad",
    [b'{"event": "progress", "step": 5}', b"\xff\xfe", b"[1,2]", b'{"event": "epoch"}'],
    ids=["missing-keys", "not-utf8", "not-an-object", "epoch-without-number"],
)
def test_a_damaged_line_is_skipped_and_the_run_still_listed(tmp_path: Path, bad: bytes) -> None:
    run = tmp_path / "20260101-000000-net"
    _write_run(run, [2.0, 1.5])
    metrics = run / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines()
    metrics.write_bytes(b"\n".join([*lines[:2], bad, *lines[2:]]) + b"\n")
    record = read_run(run)
    assert record.damage.startswith("metrics.jsonl: skipped line 3"), record.damage
    assert list(record.curves.train_loss) == [2.0, 1.5]
    assert len(record.curves.step_x) == 2 and len(record.curves.epoch_x) == 1
    assert [r.name for r in list_runs(tmp_path)] == [run.name]


def test_the_resume_button_continues_only_a_stopped_run_with_a_checkpoint(
    qtbot: Any, tmp_path: Path
) -> None:
    from explorer.core.training import TrainingStopped

    finished, stopped = tmp_path / "20260101-000001-net", tmp_path / "20260101-000002-net"
    _write_run(finished, [2.0])
    with RunFolder(finished) as folder:
        folder.append(TrainingFailed("boom", 1))
    _write_run(stopped, [2.0])
    with RunFolder(stopped) as folder:
        folder.append(TrainingStopped(1, 1, 0.5))
    (stopped / "checkpoint.pt").write_bytes(b"")  # only its presence counts here
    panel = RunsPanel(ProjectDocument(NetworkSpec()), TrainingCurves(), tmp_path)
    qtbot.addWidget(panel)
    asked: list[str] = []
    panel.resume_requested.connect(asked.append)
    assert [r.status for r in panel.records] == ["stopped", "failed"]
    assert panel.run_to_resume() is panel.records[0]
    panel.select_run(finished)
    assert not panel.resume_button.isEnabled()  # a failed run is not resumed
    panel.select_run(stopped)
    assert panel.resume_button.isEnabled()
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    assert asked == [str(stopped)]
    (stopped / "checkpoint.pt").unlink()
    panel.refresh()
    assert panel.run_to_resume() is None
