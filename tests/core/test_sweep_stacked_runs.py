"""`sweep` with stacked trials against `sweep --no-stack` on the offline shapes set: the same
results, weights, statuses and run folders; a trial leaving its group early; Ctrl-C-like
stop of a group, then a rerun that continues every trial.

Tolerances: the stacked pass sums each convolution in another order (vmap's grouped
convolution), so weights and losses differ by float32 rounding (about 1e-7 per step); over
one short epoch that stays far below 1e-4, and the predictions (accuracies) do not change.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.core.app.sweep import plan_sweep
from explorer.core.app.sweep_group import TrialGroup
from explorer.core.app.sweep_run import METRIC_COLUMNS, TrialData, write_results
from explorer.core.project import load_project
from explorer.core.training import EpochEnded, TrainingStopped, load_checkpoint
from tests.core.test_train_command import write_project

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.slow]

GRID = ["--set", "learning_rate=0.03,0.01", "--set", "weight_decay=0,0.01"]


def _rows(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "results.csv").open(encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _events(run: Path) -> list[dict[str, object]]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _sweep(project: Path, out: Path, *options: str) -> None:
    assert main(["sweep", str(project), *options, "--threads", "1", "--out", str(out)]) == 0


def _files(folder: Path) -> list[str]:
    """The folder's kinds of file (a TensorBoard file's name holds its time and host, and
    a continued run starts another)."""
    return sorted(
        {p.name.split(".")[0] if "tfevents" in p.name else p.name for p in folder.iterdir()}
    )


def _kinds(folder: Path, left_out: tuple[str, ...]) -> list[object]:
    return [e["event"] for e in _events(folder) if e["event"] not in left_out]


def _health_steps(folder: Path) -> list[int]:
    lines = (folder / "health.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["step"] for line in lines]


def _same_weights(folder: Path, other: Path) -> None:
    """The final weights within 1e-4 (a trial that failed before an epoch ended has none)."""
    if not (other / "checkpoint.pt").exists():
        assert not (folder / "checkpoint.pt").exists()
        return
    a, b = load_checkpoint(folder / "checkpoint.pt"), load_checkpoint(other / "checkpoint.pt")
    assert a.position.step == b.position.step
    for key, value in b.result_state().items():
        assert a.result_state()[key].float() == pytest.approx(value.float(), abs=1e-4), key


def _same_results(stacked: Path, alone: Path, *, continued: bool = False) -> None:
    rows, alone_rows = _rows(stacked), _rows(alone)
    assert [r["status"] for r in rows] == [r["status"] for r in alone_rows]
    for row, other in zip(rows, alone_rows, strict=True):
        assert row["folder"] == other["folder"]
        for key in METRIC_COLUMNS:
            if not row[key] or not other[key]:  # a failed trial has none
                assert row[key] == other[key], key
                continue
            assert float(row[key]) == pytest.approx(float(other[key]), abs=1e-4), key
        folder, other_folder = stacked / row["folder"], alone / row["folder"]
        assert _files(folder) == _files(other_folder)
        assert _health_steps(folder) == _health_steps(other_folder)
        assert load_project(folder / "project.json") == load_project(other_folder / "project.json")
        # progress events come by the clock, every 50 ms; a continued run adds a stop and
        # a start; the rest one for one
        left_out = ("progress", "stopped", "started") if continued else ("progress",)
        assert _kinds(folder, left_out) == _kinds(other_folder, left_out)
        _same_weights(folder, other_folder)


def test_a_stacked_2x2_sweep_gives_the_one_after_another_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "tiny.json", optimizer="sgd", momentum=0.9)
    _sweep(project, tmp_path / "stacked", *GRID)
    out = capsys.readouterr().out
    assert "trials 1–4 stacked" in out
    assert "trial 3: epoch 1/1" in out  # each trial's own progress lines
    _sweep(project, tmp_path / "alone", *GRID, "--no-stack")
    assert " stacked\n" not in capsys.readouterr().out
    _same_results(tmp_path / "stacked", tmp_path / "alone")
    # the values reached each trial's own optimizer
    assert len({row["train_loss"] for row in _rows(tmp_path / "stacked")}) == 4


def test_batch_norm_statistics_and_a_trial_leaving_early_match_one_after_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trials 1 and 2 train one epoch and leave the group; trials 3 and 4 go on, restacked."""
    project = write_project(tmp_path / "tiny.json", batch_size=100)
    data = json.loads(project.read_text(encoding="utf-8"))
    data["layers"].insert(2, {"type": "BatchNorm"})
    project.write_text(json.dumps(data), encoding="utf-8")
    grid = ["--set", "epochs=1,2", "--set", "learning_rate=0.01,0.002"]
    _sweep(project, tmp_path / "stacked", *grid)
    out = capsys.readouterr().out
    assert "trials 1–4 stacked" in out
    _sweep(project, tmp_path / "alone", *grid, "--no-stack")
    _same_results(tmp_path / "stacked", tmp_path / "alone")
    for row in _rows(tmp_path / "stacked"):
        state = load_checkpoint(tmp_path / "stacked" / row["folder"] / "checkpoint.pt")
        steps = int(state.model_state["batch_norm_1.num_batches_tracked"])
        assert steps == state.position.step > 0


def test_stopping_a_group_checkpoints_every_trial_and_a_rerun_continues_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "tiny.json", epochs=2, threads=1)
    sweep = tmp_path / "sweep"
    plan = plan_sweep(load_project(project), ["learning_rate=0.01,0.003,0.001"], sweep)
    sweep.mkdir()
    group = TrialGroup(plan, plan.trials, TrialData(None))
    assert group.stacked
    last: dict[int, object] = {}
    for index, event in group.events():
        if isinstance(event, EpochEnded) and index == 0:
            group.stop()  # as Ctrl-C does: every trial stops at its next batch
        last[index] = event
    assert all(isinstance(event, TrainingStopped) for event in last.values())
    for trial in plan.trials:
        assert (sweep / trial.folder_name / "checkpoint.pt").exists()
    _sweep(project, sweep, "--set", "learning_rate=0.01,0.003,0.001")
    out = capsys.readouterr().out
    assert " stacked\n" not in out  # continued ones train alone, from their checkpoints
    assert [row["status"] for row in _rows(sweep)] == ["finished"] * 3
    for trial in plan.trials:
        epochs = [e["epoch"] for e in _events(sweep / trial.folder_name) if e["event"] == "epoch"]
        assert epochs == [1, 2]
    _sweep(project, tmp_path / "alone", "--set", "learning_rate=0.01,0.003,0.001", "--no-stack")
    _same_results(sweep, tmp_path / "alone", continued=True)


def test_a_trial_that_diverges_fails_alone_and_the_others_finish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "tiny.json", optimizer="sgd")
    for name, options in (("stacked", ()), ("alone", ("--no-stack",))):
        rates = ["--set", "learning_rate=0.03,10,0.01", "--threads", "1"]
        code = main(["sweep", str(project), *rates, "--out", str(tmp_path / name), *options])
        assert code == 1  # a failed trial
    err = capsys.readouterr().err
    assert err.count("error (trial 2): the loss became non-finite") == 1
    assert [r["status"] for r in _rows(tmp_path / "stacked")] == ["finished", "failed", "finished"]
    _same_results(tmp_path / "stacked", tmp_path / "alone")


def test_a_group_that_cannot_stack_trains_one_after_another_saying_why(tmp_path: Path) -> None:
    project = write_project(tmp_path / "tiny.json", threads=1)
    data = json.loads(project.read_text(encoding="utf-8"))
    data["layers"].insert(3, {"type": "Dropout", "rate": 0.25})
    project.write_text(json.dumps(data), encoding="utf-8")
    sweep = tmp_path / "sweep"
    plan = plan_sweep(load_project(project), ["learning_rate=0.01,0.003"], sweep)
    sweep.mkdir()
    group = TrialGroup(plan, plan.trials, TrialData(None))  # as if grouped
    assert not group.stacked
    assert group.unstacked == "dropout_1 draws random numbers while training"
    order = [index for index, _ in group.events()]
    assert order == sorted(order) and set(order) == {0, 1}  # the first, then the second
    write_results(plan)
    _sweep(project, tmp_path / "alone", "--set", "learning_rate=0.01,0.003", "--no-stack")
    _same_results(sweep, tmp_path / "alone")
