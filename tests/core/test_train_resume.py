"""Continuing runs: the printed resume command, metrics after a kill, damaged checkpoints."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from explorer.cli import main
from explorer.core.training import load_checkpoint
from explorer.core.training.runs import RunFolder, read_metrics
from tests.core.test_train_command import train_interrupted
from tests.core.test_train_command import write_project as write_tiny_project
from tests.processes import run_python

REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_project(path: Path, **training: object) -> Path:
    """The tiny test project of test_train_command, on one thread (identical curves)."""
    return write_tiny_project(path, **{"threads": 1, **training})


def offline_environment(tmp_path: Path) -> dict[str, str]:
    """An environment where no dataset is cached and any download fails at once."""
    empty = tmp_path / "empty-cache"
    empty.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        CNN_EXPLORER_DATA=str(empty),
        KERAS_HOME=str(empty),
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        OMP_NUM_THREADS="1",
    )
    return env


def start_training(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "main.py", "train", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.02)


def events(run: Path) -> list[dict[str, Any]]:
    return list(read_metrics(run / "metrics.jsonl").events)


@pytest.mark.slow
def test_the_resume_command_printed_after_ctrl_c_continues_with_the_same_data_folder(
    tmp_path: Path, real_datasets: Path
) -> None:
    data = tmp_path / "my data"  # a user's own folder, not the cache; a space in its name
    (data / "mnist").mkdir(parents=True)
    for name in (real_datasets / "mnist").iterdir():
        (data / "mnist" / name.name).symlink_to(name)
    project = write_project(tmp_path / "tiny.json", dataset="mnist", batch_size=500)
    run = tmp_path / "run"
    env = offline_environment(tmp_path)
    relative_data = os.path.relpath(data, REPO)  # as typed in the repository folder
    process = start_training(
        [str(project), "--data-dir", relative_data, "--out", str(run), "--seed", "3"], env
    )
    wait_for(lambda: any(e["event"] == "progress" for e in events(run)), process)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    printed = err.rpartition("continue with: ")[2].strip()
    command = shlex.split(printed)
    assert command[:3] == ["python", "main.py", "train"] and "--resume" in command
    # Exactly as printed (with this interpreter standing for `python`), from another folder's
    # point of view the data folder is still found: it was recorded, absolute.
    resumed = run_python(*command[1:], cwd=REPO, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "test accuracy" in resumed.stdout and "Traceback" not in resumed.stderr
    assert list((tmp_path / "empty-cache").iterdir()) == []  # nothing was downloaded
    finished = events(run)[-1]
    assert finished["event"] == "finished" and finished["step"] == 108  # 54,000 / 500
    assert load_checkpoint(run / "checkpoint.pt").spec.training.seed == 3
    settings = RunFolder(run).read_settings()
    assert settings.data_dir == str(data.resolve()) and settings.ensemble == 1


@pytest.mark.slow
def test_resume_after_kill_9_mid_epoch_keeps_one_monotonic_curve(tmp_path: Path) -> None:
    project = write_project(tmp_path / "tiny.json", epochs=3, batch_size=20)
    run = tmp_path / "run"
    env = offline_environment(tmp_path)
    process = start_training([str(project), "--out", str(run)], env)

    def into_the_second_epoch() -> bool:
        seen = events(run)
        ended = [i for i, e in enumerate(seen) if e["event"] == "epoch"]
        return bool(ended) and sum(e["event"] == "progress" for e in seen[ended[0] :]) >= 3

    wait_for(into_the_second_epoch, process)
    process.kill()
    process.communicate(timeout=60)
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    assert (checkpoint.position.epoch, checkpoint.position.batch) == (1, 0)
    lost = [
        e for e in events(run) if e["event"] == "progress" and e["step"] > checkpoint.position.step
    ]
    assert lost  # the partial epoch the kill lost is in the file before resuming

    assert main(["train", "--resume", str(run)]) == 0
    log = events(run)
    steps = [e["step"] for e in log if e["event"] == "progress"]
    assert steps == sorted(set(steps))  # increasing, no step twice
    assert [e["epoch"] for e in log if e["event"] == "epoch"] == [1, 2, 3]
    assert log[-1]["event"] == "finished" and log[-1]["step"] == 3 * 540
    assert read_metrics(run / "metrics.jsonl").problems == ()


def test_truncating_restores_an_epoch_line_the_kill_lost_and_drops_damage(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path / "tiny.json", epochs=2)
    run = tmp_path / "run"
    assert main(["train", str(project), "--out", str(run), "--epochs", "1"]) == 0
    folder = RunFolder(run)
    checkpoint = load_checkpoint(folder.checkpoint_path)
    lines = folder.metrics_path.read_text(encoding="utf-8").splitlines()
    # Killed between writing the checkpoint and the epoch line, with a half line at the end
    # and a damaged line inside.
    kept = [line for line in lines if json.loads(line)["event"] not in ("epoch", "finished")]
    kept.insert(1, "\xff not an event")
    folder.metrics_path.write_text("\n".join(kept) + '\n{"event": "progr', encoding="utf-8")
    assert folder.truncate_metrics(checkpoint) == 2
    log = read_metrics(folder.metrics_path)
    assert log.problems == () and not log.cut_off
    assert [e["epoch"] for e in log.events if e["event"] == "epoch"] == [1]
    assert next(e for e in log.events if e["event"] == "epoch") == checkpoint.position.history[0]


# ---- damaged checkpoints ---------------------------------------------------------------


class Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch evil-was-here",))


def _mutations() -> dict[str, Callable[[dict[str, Any]], object]]:
    """Each takes a real checkpoint's payload and returns what to write instead (bytes for
    raw file contents, anything else is saved with torch.save)."""

    def set_key(key: str, value: object) -> Callable[[dict[str, Any]], object]:
        return lambda p: {**p, key: value}

    def without(key: str) -> Callable[[dict[str, Any]], object]:
        return lambda p: {k: v for k, v in p.items() if k != key}

    def model(change: Callable[[dict[str, torch.Tensor]], None]) -> Callable[..., object]:
        def apply(p: dict[str, Any]) -> object:
            state = dict(p["model"])
            change(state)
            return {**p, "model": state}

        return apply

    def optimizer(change: Callable[[dict[str, Any]], None]) -> Callable[..., object]:
        def apply(p: dict[str, Any]) -> object:
            state = {
                "state": {k: dict(v) for k, v in p["optimizer"]["state"].items()},
                "param_groups": [dict(g) for g in p["optimizer"]["param_groups"]],
            }
            change(state)
            return {**p, "optimizer": state}

        return apply

    first = "conv2d_1.conv.weight"
    cases: dict[str, Callable[[dict[str, Any]], object]] = {
        "garbage": lambda p: os.urandom(4096),
        "empty": lambda p: b"",
        "malicious": lambda p: {"format": "cnn-explorer-checkpoint", "x": Evil()},
        "list": lambda p: [1, 2, 3],
        "format": set_key("format", "something-else"),
        "version": set_key("version", 99),
        "negative epoch": set_key("epoch", -7),
        "negative step": set_key("step", -1),
        "huge step": set_key("step", 10**30),
        "bool epoch": set_key("epoch", True),
        "batch past the epoch": lambda p: {**p, "batch": 500, "step": p["step"] + 500},
        "step off the position": lambda p: {**p, "step": p["step"] + 3},
        "deep history": set_key("history", "[" * 100_000 + "]" * 100_000),
        "history not json": set_key("history", "[{"),
        "history too short": set_key("history", "[]"),
        "history of junk": set_key("history", json.dumps([[1, 2]])),
        "spec not json": set_key("spec", "{"),
        "spec not a project": set_key("spec", json.dumps({"format": "cnn-explorer"})),
        "elapsed nan": set_key("elapsed", float("nan")),
        "totals": set_key("epoch_totals", [1.0, "x"]),
        "rng dtype": set_key("cpu_rng", torch.zeros(5056, dtype=torch.float32)),
        "rng size": set_key("cpu_rng", torch.zeros(7, dtype=torch.uint8)),
        "order rng size": set_key("order_rng", torch.zeros(7, dtype=torch.uint8)),
        "model missing a tensor": model(lambda s: s.pop(first)),
        "model extra tensor": model(lambda s: s.__setitem__("intruder", torch.zeros(1))),
        "model wrong shape": model(lambda s: s.__setitem__(first, torch.zeros(5, 1, 3, 3))),
        "model int tensor": model(
            lambda s: s.__setitem__(first, torch.zeros(4, 1, 3, 3, dtype=torch.int64))
        ),
        "model not tensors": set_key("model", {"a": 1}),
        "optimizer of another kind": optimizer(
            lambda o: o["state"].__setitem__(0, {"momentum_buffer": torch.zeros(4, 1, 3, 3)})
        ),
        "optimizer wrong shape": optimizer(
            lambda o: o["state"][0].__setitem__("exp_avg", torch.zeros(3))
        ),
        "optimizer groups": optimizer(lambda o: o["param_groups"].append({"params": []})),
        "optimizer params": optimizer(lambda o: o["param_groups"][0]["params"].pop()),
        "optimizer setting": optimizer(lambda o: o["param_groups"][0].__setitem__("lr", [[]])),
        "optimizer state index": optimizer(
            lambda o: o["state"].__setitem__(99, {"step": torch.tensor(1.0)})
        ),
        "optimizer junk": set_key("optimizer", {"state": 5}),
    }
    for key in ("spec", "model", "optimizer", "epoch", "history", "cpu_rng", "epoch_totals"):
        cases[f"no {key}"] = without(key)
    return cases


MUTATIONS = _mutations()


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run stopped after its first epoch of two, whose checkpoint resumes."""
    base = tmp_path_factory.mktemp("stopped")
    project = write_project(base / "tiny.json", epochs=1)
    run = base / "run"
    assert main(["train", str(project), "--out", str(run)]) == 0
    return run


def copy_run(source: Path, target: Path) -> Path:
    target.mkdir()
    for name in ("project.json", "run.json", "metrics.jsonl", "checkpoint.pt"):
        (target / name).write_bytes((source / name).read_bytes())
    return target


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_a_damaged_checkpoint_exits_2_naming_the_problem(
    case: str,
    stopped_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    run = copy_run(stopped_run, tmp_path / "run")
    payload = torch.load(run / "checkpoint.pt", weights_only=True)
    damaged = MUTATIONS[case](payload)
    if isinstance(damaged, bytes):
        (run / "checkpoint.pt").write_bytes(damaged)
    else:
        torch.save(damaged, run / "checkpoint.pt")
    metrics_before = (run / "metrics.jsonl").read_bytes()
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "checkpoint" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "evil-was-here").exists()
    assert (run / "metrics.jsonl").read_bytes() == metrics_before  # nothing was appended


@pytest.mark.slow
def test_a_checkpoint_of_another_network_is_refused_with_both_names(
    stopped_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(stopped_run, tmp_path / "run")
    other = tmp_path / "other"
    assert (
        main(
            [
                "train",
                "--template",
                "lenet5",
                "--dataset",
                "shapes",
                "--epochs",
                "1",
                "--batch-size",
                "500",
                "--threads",
                "1",
                "--out",
                str(other),
            ]
        )
        == 0
    )
    (run / "checkpoint.pt").write_bytes((other / "checkpoint.pt").read_bytes())
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "LeNet-5" in err and "'Tiny shapes'" in err and "another run" in err


def test_the_undamaged_checkpoint_resumes_and_a_finished_run_asks_for_more_epochs(
    stopped_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = copy_run(stopped_run, tmp_path / "run")
    assert main(["train", "--resume", str(run)]) == 2
    assert "already trained 1 of 1 epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert [e["epoch"] for e in events(run) if e["event"] == "epoch"] == [1, 2]


def test_leftover_temporaries_are_removed_on_resume(stopped_run: Path, tmp_path: Path) -> None:
    run = copy_run(stopped_run, tmp_path / "run")
    leftovers = [run / ".checkpoint.0a1b2c3d.tmp.pt", run / ".metrics.deadbeef.tmp.jsonl"]
    for path in leftovers:
        path.write_bytes(b"half a file")
    keep = run / ".checkpoint.notmine.pt"
    keep.write_bytes(b"a file of the user's")
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    assert not any(path.exists() for path in leftovers)
    assert keep.exists()


@pytest.mark.slow
def test_an_ensemble_stopped_in_its_second_member_resumes_as_a_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = train_interrupted(
        tmp_path,
        "member-2/metrics.jsonl",
        ["--ensemble", "3"],
        120,
        epochs=2,
        batch_size=20,
        threads=1,
    )
    err = capsys.readouterr().err
    printed = shlex.split(err.rpartition("continue with: ")[2])
    assert printed[-2:] == ["--resume", str(run)]  # the ensemble's folder, not the member's
    assert not (run / "member-3").exists()
    first = events(run / "member-1")[-1]
    assert first["event"] == "finished"

    assert main(["train", *printed[3:]]) == 0
    out = capsys.readouterr().out
    assert "ensemble member 1/3 (seed 0)" in out and "(trained before)" in out
    assert "ensemble of 3: test accuracy" in out
    assert events(run / "member-1")[-1] == first  # not trained again
    for member in ("member-2", "member-3"):
        log = events(run / member)
        steps = [e["step"] for e in log if e["event"] == "progress"]
        assert steps == sorted(set(steps)) and log[-1]["event"] == "finished"
        assert log[-1]["step"] == 2 * 540
    seeds = [
        load_checkpoint(run / f"member-{k}" / "checkpoint.pt").spec.training.seed for k in (1, 2, 3)
    ]
    assert seeds == [0, 1, 2]
