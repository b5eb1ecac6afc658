"""A run's labels, its trash and its summary, on real run folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from explorer.core.app.run_labels import (
    LABELS_FILE,
    LabelError,
    RunLabels,
    parse_tags,
    read_labels,
    write_labels,
)
from explorer.core.app.run_summary import summarize_run
from explorer.core.app.run_trash import TrashError, restore_run, trash_run
from explorer.core.app.training_run import start_run
from explorer.core.training.runs import RunFolder
from tests.core.test_trainer import quadrant_dataset, tiny_spec


def _trained(folder: Path, **training: object) -> RunFolder:
    run = RunFolder(folder)
    spec = tiny_spec(epochs=2, validation_split=0.25, **training)
    for _ in start_run(spec, quadrant_dataset(validation=0.25), run).events():
        pass
    return run


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_labels_round_trip_and_leave_the_runs_own_files_alone(tmp_path: Path) -> None:
    run = _trained(tmp_path / "20260101-120000-tiny")
    before = _files(run.path)
    write_labels(run.path, RunLabels("baseline", parse_tags("fast, lr sweep,,fast")))
    assert read_labels(run.path) == RunLabels("baseline", ("fast", "lr sweep"))
    after = _files(run.path)
    assert after.pop(LABELS_FILE)  # the only new file; the others are byte for byte as written
    assert after == before
    assert json.loads((run.path / LABELS_FILE).read_text())["tags"] == ["fast", "lr sweep"]


@pytest.mark.parametrize(
    "text", ['{"format": "x"}', "not json", '{"format": "cnn-explorer-run-labels", "tags": 3}']
)
def test_a_damaged_labels_file_reads_as_no_labels(tmp_path: Path, text: str) -> None:
    (tmp_path / LABELS_FILE).write_text(text)
    assert read_labels(tmp_path) == RunLabels()


def test_bad_names_and_tags_are_refused_with_a_reason() -> None:
    with pytest.raises(LabelError, match="control character"):
        parse_tags("ok, bad\x07tag")
    with pytest.raises(LabelError, match="at most 200"):
        parse_tags("x" * 201)


def test_trash_then_restore_gives_back_identical_files(tmp_path: Path) -> None:
    run = _trained(tmp_path / "20260101-120000-tiny")
    before = _files(run.path)
    trashed = trash_run(run.path)
    assert not run.path.exists()
    assert trashed.trashed == tmp_path / ".trash" / run.path.name
    assert _files(trashed.trashed) == before
    assert restore_run(trashed) == run.path
    assert _files(run.path) == before and not trashed.trashed.exists()
    # A second run of the same name in the trash gets a free name.
    first = trash_run(run.path)
    run.path.mkdir()
    second = trash_run(run.path)
    assert second.trashed.name == f"{run.path.name}-2" and first.trashed.is_dir()


def test_a_restore_onto_a_taken_place_and_a_failed_move_say_why(tmp_path: Path) -> None:
    run = tmp_path / "20260101-120000-tiny"
    run.mkdir()
    (run / "metrics.jsonl").write_text("")
    trashed = trash_run(run)
    run.mkdir()
    with pytest.raises(TrashError, match="something of that name is there now"):
        restore_run(trashed)
    assert trashed.trashed.is_dir()  # still there: nothing lost
    with pytest.raises(TrashError, match="not a run folder"):
        trash_run(tmp_path / "gone")
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / ".trash").chmod(0o500)
        try:
            with pytest.raises(TrashError, match="permission denied"):
                trash_run(run)
            assert run.is_dir()
        finally:
            (tmp_path / ".trash").chmod(0o700)


def test_the_summary_of_a_trained_run_reads_its_settings_and_results(tmp_path: Path) -> None:
    run = _trained(tmp_path / "20260102-030405-tiny", augment_flip=True, optimizer="adam")
    events = run.read_metrics().events
    summary = summarize_run(run.path, events)
    epochs = [e for e in events if e["event"] == "epoch"]
    finished = next(e for e in events if e["event"] == "finished")
    assert (summary.optimizer, summary.learning_rate, summary.batch_size) == ("adam", 0.05, 32)
    assert (summary.epochs, summary.epochs_done, summary.augmentation) == (2, 2, "flip")
    # Conv 4×(3·3·1)+4 = 40, Dense 4·(4·3·3)+4 = 148
    assert summary.params == 188
    validation = [e["validation_accuracy"] for e in epochs]
    assert summary.best_validation_accuracy == max(validation)
    assert summary.final_validation_accuracy == validation[-1]
    assert summary.test_accuracy == finished["test_accuracy"]
    assert summary.time == finished["elapsed"]
    assert summary.date == "2026-01-02 03:04" and summary.problem == ""


def test_a_run_without_a_readable_project_still_summarises_its_metrics(tmp_path: Path) -> None:
    (tmp_path / "project.json").write_text("{")
    events = [{"event": "epoch", "epoch": 1, "validation_accuracy": 0.5, "elapsed": 2.0}]
    summary = summarize_run(tmp_path, events)
    assert summary.optimizer is None and summary.params is None
    assert summary.best_validation_accuracy == 0.5 and summary.time == 2.0
    assert "project.json" in summary.problem
