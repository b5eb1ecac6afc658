"""`sweep` on the command line: a 2×2 grid on the offline set, the table, resuming, and
bad input refused (exit 2) before anything runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.core.app.sweep import plan_sweep
from explorer.core.app.sweep_run import TrialData, start_trial
from explorer.core.project import load_project
from explorer.core.training import EpochEnded, TrainingStopped
from tests.core.test_train_command import write_project

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GRID = ["--set", "learning_rate=0.01,0.003", "--set", "conv2d_1.filters=2,4"]


def _rows(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "results.csv").open(encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _finished(run: Path) -> dict[str, object]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == "finished"][-1]


@pytest.mark.slow
def test_a_grid_trains_each_trial_as_train_would_and_a_rerun_skips_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "tiny.json")
    sweep = tmp_path / "sweep"
    assert main(["sweep", str(project), *GRID, "--threads", "1", "--out", str(sweep)]) == 0
    out = capsys.readouterr().out
    rows = _rows(sweep)
    assert [(r["learning_rate"], r["conv2d_1.filters"]) for r in rows] == [
        ("0.01", "2"),
        ("0.01", "4"),
        ("0.003", "2"),
        ("0.003", "4"),
    ]
    # the printed table lists the trials best validation accuracy first
    table = out[out.index("trial  learning_rate") :].splitlines()[1:5]
    by_accuracy = sorted(rows, key=lambda r: -float(r["validation_accuracy"]))
    assert [line.split()[0] for line in table] == [r["trial"] for r in by_accuracy]
    assert f"{100 * float(by_accuracy[0]['validation_accuracy']):.2f}%" in table[0]

    # trial 2 is the project as it is (lr 0.01, 4 filters): `train` gets the same result
    run = tmp_path / "run"
    assert main(["train", str(project), "--threads", "1", "--out", str(run)]) == 0
    assert float(rows[1]["test_accuracy"]) == _finished(run)["test_accuracy"]
    assert load_project(sweep / "trial-002" / "project.json").training.learning_rate == 0.01

    before = {r["trial"]: (sweep / r["folder"] / "metrics.jsonl").read_bytes() for r in rows}
    capsys.readouterr()
    assert main(["sweep", str(project), *GRID, "--threads", "1", "--out", str(sweep)]) == 0
    assert capsys.readouterr().out.count("finished before, skipped") == 4
    after = {r["trial"]: (sweep / r["folder"] / "metrics.jsonl").read_bytes() for r in rows}
    assert after == before and _rows(sweep) == rows


@pytest.mark.slow
def test_a_stopped_trial_continues_from_its_checkpoint_on_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "tiny.json", epochs=2)
    sweep = tmp_path / "sweep"
    plan = plan_sweep(load_project(project), ["batch_size=200"], sweep)
    trial = plan.trials[0]
    data = TrialData(None)
    run = start_trial(plan, trial, data.dataset(trial.spec, "cpu"), None)
    for event in run.events():
        if isinstance(event, EpochEnded):
            run.stop()
    assert isinstance(event, TrainingStopped)
    assert _rows_if_any(sweep) == []
    code = main(["sweep", str(project), "--set", "batch_size=200", "--out", str(sweep)])
    assert code == 0
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "epoch 1/2" not in out  # continued, not started over
    [row] = _rows(sweep)
    assert row["status"] == "finished"
    lines = (sweep / "trial-001" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    epochs = [e["epoch"] for e in map(json.loads, lines) if e["event"] == "epoch"]
    assert epochs == [1, 2]


def _rows_if_any(sweep: Path) -> list[dict[str, str]]:
    return _rows(sweep) if (sweep / "results.csv").exists() else []


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["--set", "learning_rat=0.1"], "learning_rat"),
        (["--set", "conv2d_1.filters=2,-3"], "conv2d_1.filters=-3"),
        (["--set", "conv2d_1.kernel_size=3,30"], "trial 2 (conv2d_1.kernel_size=30)"),
        (["--set", "epochs=1", "--random", "3"], "--random must be 1 to 1"),
        ([], "at least one --set"),
    ],
)
def test_bad_input_exits_2_naming_it_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sets: list[str], message: str
) -> None:
    project = write_project(tmp_path / "tiny.json")
    sweep = tmp_path / "sweep"
    assert main(["sweep", str(project), *sets, "--out", str(sweep)]) == 2
    assert message in capsys.readouterr().err
    assert not sweep.exists()
