"""kill -9 at random points of checkpoint writes: every surviving run resumes, and the
temporaries the kills leave are gone by the next checkpoint or resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.cli import main
from explorer.core.training import load_checkpoint
from explorer.core.training.runs import read_metrics
from tests.core.test_train_resume import REPO

KILLS = 60

# One process imports torch once, then forks a `train` per kill: the child trains (or
# resumes) and is killed at a random moment of a checkpoint write, found by watching for
# the write's temporary file. The parent never runs a torch operation before forking.
KILLER = r"""
import json, os, random, signal, sys, time
from pathlib import Path
import torch
import torch._dynamo  # what the first optimizer imports: once here, not in every child
import explorer.commands.train, explorer.core.data, explorer.core.training
from explorer.cli import main

project, run, kills, seed = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)

def temporaries():
    try:
        return {p.name for p in run.iterdir() if p.name.startswith(".checkpoint.")}
    except FileNotFoundError:
        return set()

def start(argv):
    pid = os.fork()
    if pid == 0:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        code = 3
        try:
            code = main(argv)
        finally:
            os._exit(code)
    return pid

def wait_for_a_new_write(pid, before):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        new = temporaries() - before
        if new:
            return new, None
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return set(), status
        time.sleep(0.0005)
    os.kill(pid, signal.SIGKILL)
    return set(), os.waitpid(pid, 0)[1]

# Calibration: how long one checkpoint write keeps its temporary.
pid = start(["train", project, "--out", str(run)])
new, status = wait_for_a_new_write(pid, set())
started = time.monotonic()
while temporaries() & new:
    time.sleep(0.0002)
write_seconds = time.monotonic() - started
os.kill(pid, signal.SIGKILL)
os.waitpid(pid, 0)

report = []
for k in range(kills):
    resume = (run / "checkpoint.pt").exists()
    argv = ["train", "--resume", str(run)] if resume else ["train", project, "--out", str(run)]
    before = temporaries()
    pid = start(argv)
    new, status = wait_for_a_new_write(pid, before)
    stale = sorted(temporaries() & before)  # what earlier kills left, still there
    if status is None:
        # A third at once, the rest anywhere in (and a little past) the write.
        delay = 0.0 if k % 3 == 0 else rng.uniform(0.0, 1.5 * write_seconds)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        status = os.waitpid(pid, 0)[1]
    report.append({
        "resume": resume,
        "killed": os.WIFSIGNALED(status),
        "code": None if os.WIFSIGNALED(status) else os.WEXITSTATUS(status),
        "stale_at_next_write": stale,
        "left_behind": sorted(temporaries()),
    })
print(json.dumps({"write_seconds": write_seconds, "kills": report}))
"""


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def image_folder(root: Path) -> Path:
    """Two classes of twenty 28×28 images: one batch per epoch, so checkpoints come fast."""
    rng = np.random.default_rng(0)
    for label in ("dark", "light"):
        (root / label).mkdir(parents=True)
        for index in range(20):
            base = 40 if label == "dark" else 200
            pixels = np.clip(rng.normal(base, 30, (28, 28)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(root / label / f"{index}.png")
    return root


def write_project(path: Path, images: Path) -> Path:
    # A wide Dense layer makes the checkpoint (weights and Adam's two moments) about 10 MB,
    # so each write lasts long enough to be killed in the middle.
    project = {
        "format": "cnn-explorer",
        "version": 1,
        "name": "Wide",
        "input": {"channels": 1, "height": 28, "width": 28},
        "num_classes": 2,
        "layers": [
            {"type": "Flatten"},
            {"type": "Dense", "units": 1024, "activation": "relu"},
            {"type": "Dense", "units": 2, "activation": "softmax"},
        ],
        "training": {
            "dataset": f"folder:{images}",
            "optimizer": "adam",
            "learning_rate": 0.001,
            "batch_size": 200,
            "epochs": 10000,
            "validation_split": 0.0,
            "threads": 1,
        },
    }
    path.write_text(json.dumps(project), encoding="utf-8")
    return path


@pytest.mark.slow
def test_killing_checkpoint_writes_never_leaves_a_run_that_cannot_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "wide.json", image_folder(tmp_path / "images"))
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", KILLER, str(project), str(run), str(KILLS), "0"],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    kills = outcome["kills"]
    assert len(kills) == KILLS
    # Every run a kill left behind was resumed by the next child, which then reached its own
    # checkpoint write: no child ever refused to resume (exit 2) or failed.
    assert [k["code"] for k in kills if not k["killed"]] == []
    assert all(k["resume"] for k in kills)
    # Temporaries of killed writes were removed by the next resume before it wrote again.
    assert [k["stale_at_next_write"] for k in kills] == [[]] * KILLS
    mid_write = sum(bool(k["left_behind"]) for k in kills)
    assert mid_write >= KILLS // 3  # the immediate kills at least land inside the write
    with capsys.disabled():
        print(
            f"\n{KILLS} kills during checkpoint writes ({outcome['write_seconds'] * 1000:.0f} ms "
            f"each): {mid_write} left a temporary; all {KILLS} runs resumed"
        )

    checkpoint = load_checkpoint(run / "checkpoint.pt")
    assert (
        main(["train", "--resume", str(run), "--epochs", str(checkpoint.position.epoch + 1)]) == 0
    )
    assert sorted(p.name for p in run.iterdir() if ".tmp" in p.name) == []
    events = read_metrics(run / "metrics.jsonl").events
    steps = [e["step"] for e in events if e["event"] == "epoch"]
    assert steps == list(range(1, checkpoint.position.epoch + 2))  # one line per epoch, in order
    assert events[-1]["event"] == "finished"
