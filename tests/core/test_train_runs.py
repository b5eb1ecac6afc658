"""Run folders read back defensively: a damaged metrics.jsonl is skipped and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.core.spec import NetworkSpec
from explorer.core.training import EpochEnded, Progress, TrainingFailed, TrainingStarted
from explorer.core.training.runs import (
    RunError,
    RunFolder,
    RunSettings,
    read_metrics,
    spec_for_dataset,
)

BAD_LINES = [
    b'{"event": "progress", "step": 5}',  # a known event without its fields
    b"\xff\xfe not text",
    b"[1, 2]",
    b'{"event": "progress", "st',  # truncated JSON inside the file
    b'{"event": "epoch", "epoch": "one", "step": 3}',
    b'{"event": "nonsense"}',
    b"[" * 50_000 + b"]" * 50_000,
    b'{"event": "stopped", "epoch": 1, "step": ' + b"9" * 5000 + b"}",
    b'{"event": "stopped", "epoch": -1, "step": 3, "elapsed": 1.0}',
    b"null",
]


def write_run(path: Path) -> RunFolder:
    folder = RunFolder(path)
    folder.create(NetworkSpec(name="net"))
    with folder:
        folder.append(TrainingStarted("CPU (1 thread)", 1, 10, 320, 0, 100, 0, False))
        for step in (1, 2, 3):
            folder.append(Progress(step, 1, step / 10, step * 32, 1.0, 0.5, 0.01, 1e3, 0.1, 1.0))
        folder.append(EpochEnded(1, 3, 1.0, 0.5, None, None, 0.01, 1.0))
    return folder


@pytest.mark.parametrize("bad", BAD_LINES, ids=range(len(BAD_LINES)))
def test_a_bad_line_is_skipped_and_the_run_is_marked_damaged(tmp_path: Path, bad: bytes) -> None:
    folder = write_run(tmp_path / "run")
    good = folder.metrics_path.read_bytes().splitlines(keepends=True)
    folder.metrics_path.write_bytes(b"".join([*good[:2], bad + b"\n", *good[2:]]))
    log = read_metrics(folder.metrics_path)
    assert [e["event"] for e in log.events] == [
        "started",
        "progress",
        "progress",
        "progress",
        "epoch",
    ]
    assert len(log.problems) == 1 and log.problems[0].startswith("line 3: ")
    assert log.damage.startswith("metrics.jsonl: skipped line 3: ")
    assert not log.cut_off


def test_every_kind_of_damage_is_named(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES[:4]))  # the last one has no line end: cut off
    log = read_metrics(path)
    assert log.events == () and log.cut_off
    assert log.problems == (
        "line 1: progress event without 'epoch'",
        "line 2: not UTF-8 text (byte 0xff at column 1)",
        "line 3: not an event object but list",
        "line 4: its last line, cut off while it was written",
    )
    assert log.damage.endswith("and 3 more")


def test_an_unreadable_or_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    assert read_metrics(tmp_path / "nothing").events == ()
    (tmp_path / "folder.jsonl").mkdir()
    log = read_metrics(tmp_path / "folder.jsonl")
    assert log.events == () and "Is a directory" in log.damage


def test_a_failures_traceback_goes_to_the_log_not_the_metrics(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    with folder:
        folder.append(TrainingFailed("training failed: boom", 7, "Traceback ...\nValueError"))
    line = json.loads(folder.metrics_path.read_text(encoding="utf-8"))
    assert line == {"event": "failed", "message": "training failed: boom", "step": 7}
    text = folder.log_path.read_text(encoding="utf-8")
    assert "training failed at step 7: training failed: boom" in text
    assert "Traceback ...\nValueError" in text


def test_run_settings_round_trip_and_bad_ones_name_the_key(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.create(NetworkSpec(name="net"), RunSettings("/data/mine", 3))
    assert folder.read_settings() == RunSettings("/data/mine", 3)
    assert RunFolder(tmp_path / "old").read_settings() == RunSettings()  # before run.json
    for text, key in [
        ('{"format": "cnn-explorer-run", "version": 1, "ensemble": 0}', "'ensemble'"),
        ('{"format": "cnn-explorer-run", "version": 1, "data_dir": 5}', "'data_dir'"),
        ('{"format": "cnn-explorer-run", "version": 7}', "version 7"),
        ("[" * 100_000, "not valid JSON"),
        ("\xff", "not valid JSON"),
    ]:
        folder.settings_path.write_text(text, encoding="latin-1")
        with pytest.raises(RunError, match=key):
            folder.read_settings()


def test_the_datasets_class_names_replace_the_projects() -> None:
    digits = NetworkSpec(name="net", class_names=tuple("0123456789"))
    shapes = ("circle", "square", "triangle", "cross", "star", "ring", "bar", "arc", "dot", "wave")
    assert spec_for_dataset(digits, shapes).class_names == shapes
    assert spec_for_dataset(digits, ()).class_names == digits.class_names  # a folder, unnamed
    assert spec_for_dataset(digits, ("a", "b")) is digits  # another count: not this network's
    unnamed = NetworkSpec(name="net")
    assert spec_for_dataset(unnamed, shapes) is unnamed
