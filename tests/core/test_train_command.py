"""`train` on the command line: exit codes, messages, the run folder, resume and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.core import data
from explorer.core.project import load_project
from explorer.core.training import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# Training settings under which a tiny network on `shapes` runs in a moment.
TINY_TRAINING: dict[str, object] = {
    "dataset": "shapes",
    "optimizer": "adam",
    "learning_rate": 0.01,
    "batch_size": 200,
    "epochs": 1,
    "validation_split": 0.1,
}


def write_project(path: Path, **training: object) -> Path:
    settings = {**TINY_TRAINING, "seed": 0, **training}
    project = {
        "format": "cnn-explorer",
        "version": 1,
        "name": "Tiny shapes",
        "input": {"channels": 1, "height": 28, "width": 28},
        "num_classes": 10,
        "layers": [
            {"type": "MaxPool2D", "pool_size": 2},
            {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
            {"type": "MaxPool2D", "pool_size": 2},
            {"type": "Flatten"},
            {"type": "Dense", "units": 10, "activation": "softmax"},
        ],
        "training": settings,
    }
    path.write_text(json.dumps(project), encoding="utf-8")
    return path


def tiny_train_argv(
    tmp_path: Path, options: list[str], **training: object
) -> tuple[Path, list[str]]:
    """The run folder, and the `train` arguments with `options` that write it, for the tiny
    project with `training` in `tmp_path`."""
    project = write_project(tmp_path / "tiny.json", **training)
    run = tmp_path / "run"
    return run, ["train", str(project), "--out", str(run), *options]


def read_metrics(run: Path) -> list[dict[str, object]]:
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
def test_a_run_writes_its_folder_prints_the_accuracy_and_can_be_continued(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, argv = tiny_train_argv(tmp_path, ["--threads", "1"])
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    assert "CPU (1 thread, set)" in out

    names = sorted(p.name for p in run.iterdir())
    events = [name for name in names if name.startswith("events.out.tfevents.")]
    assert len(events) == 1  # TensorBoard's
    assert [name for name in names if name not in events] == [
        "checkpoint.pt",
        "health.jsonl",
        "metrics.jsonl",
        "project.json",
        "run.json",
        "timeline.npz",
    ]
    spec = load_project(run / "project.json")
    assert spec.training.threads == 1 and spec.training.dataset == "shapes"
    metrics = read_metrics(run)
    kinds = [m["event"] for m in metrics]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("epoch") == 1 and "progress" in kinds
    finished = metrics[-1]
    assert isinstance(finished["test_accuracy"], float)
    assert f"{100 * finished['test_accuracy']:.2f}%" in out
    assert finished["test_accuracy"] > 0.3  # ten classes: chance is 0.1
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    assert (checkpoint.position.epoch, checkpoint.position.batch) == (1, 0)

    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 0
    metrics = read_metrics(run)
    epochs = [m["epoch"] for m in metrics if m["event"] == "epoch"]
    assert epochs == [1, 2]
    assert load_checkpoint(run / "checkpoint.pt").position.epoch == 2


def test_views_writes_the_embedding_and_channel_tops_into_the_run_folder(
    tmp_path: Path,
) -> None:
    import numpy as np

    run, argv = tiny_train_argv(tmp_path, ["--threads", "1", "--views"])
    assert main(argv) == 0
    embedding = np.load(run / "embedding.npz")
    finished = read_metrics(run)[-1]
    # The whole (small) test split, predicted by the run's own final weights.
    accuracy = float((embedding["predicted"] == embedding["labels"]).mean())
    assert accuracy == pytest.approx(finished["test_accuracy"], abs=1e-6)
    assert embedding["coordinates_pca"].shape == (embedding["labels"].shape[0], 2)
    assert (run / "channels.npz").is_file()


@pytest.mark.slow
def test_setting_flags_reach_the_run_and_its_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The augmentation and fast-training flags, generated from TRAINING_PARAMS, change
    the settings the run trains with and records; --no-x turns a project's yes off."""
    options = ["--threads", "1", "--augment-crop-padding", "2", "--augment-flip"]
    options += ["--augment-rotation", "7.5", "--label-smoothing", "0.1", "--no-tta-flip"]
    run, argv = tiny_train_argv(tmp_path, options, tta_flip=True)
    assert main(argv) == 0
    assert "test accuracy" in capsys.readouterr().out
    training = load_project(run / "project.json").training
    assert training.augment_crop_padding == 2 and training.augment_flip
    assert training.augment_rotation == 7.5 and training.label_smoothing == 0.1
    assert not training.tta_flip
    assert training.augment_scale == 0.0 and training.augment_erasing == 0.0  # not given


def test_a_diverging_run_exits_1_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "tiny.json", optimizer="sgd", learning_rate=10.0)
    code = main(["train", str(project), "--out", str(tmp_path / "run"), "--threads", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "non-finite" in err and "lower learning rate" in err
    assert "Traceback" not in err
    assert read_metrics(tmp_path / "run")[-1]["event"] == "failed"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--template", "no-such-template"], "unknown template"),
        (["{project}", "--dataset", "no-such-set"], "unknown dataset"),
        (["{project}", "--lr", "-1"], "learning_rate"),
        (["{project}", "--device", "tpu"], "device"),
        (["{project}", "--augment-erasing", "2"], "augment_erasing"),
        (["{bad}"], "kernel 5 > input 4"),
        (["--resume", "{missing}"], "no checkpoint"),
        (["--resume", "{missing}", "--lr", "0.1"], "can change only"),
        (["--resume", "{missing}", "--ensemble", "2"], "--ensemble cannot change"),
        (["{four_classes}"], "has 10 classes but the network ends in 4"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "format": "cnn-explorer",
                "version": 1,
                "input": {"channels": 1, "height": 4, "width": 4},
                "num_classes": 10,
                "layers": [
                    {"type": "Conv2D", "filters": 4, "kernel_size": 5},
                    {"type": "Flatten"},
                    {"type": "Dense", "units": 10},
                ],
            }
        ),
        encoding="utf-8",
    )
    four_classes = write_project(tmp_path / "four.json")
    project = json.loads(four_classes.read_text(encoding="utf-8"))
    project["num_classes"] = 4
    project["layers"][-1]["units"] = 4
    four_classes.write_text(json.dumps(project), encoding="utf-8")
    names = {
        "project": str(write_project(tmp_path / "tiny.json")),
        "bad": str(bad),
        "missing": str(tmp_path / "nothing-here"),
        "four_classes": str(four_classes),
    }
    argv = ["train", *(a.format(**names) for a in arguments), "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def train_interrupted(
    tmp_path: Path, marker: str, options: list[str], wait: float = 60, **training: object
) -> Path:
    """The run folder of `train` on the tiny project with `training` and `options`, given
    Ctrl+C (a SIGINT to this process) once `marker` exists in the folder, or after `wait`
    seconds; the command exits 1."""
    run, argv = tiny_train_argv(tmp_path, options, **training)

    def interrupt() -> None:
        deadline = time.monotonic() + wait
        while not (run / marker).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=interrupt)
    sender.start()
    code = main(argv)
    sender.join()
    assert code == 1
    return run


def test_ctrl_c_stops_at_the_next_batch_and_leaves_a_resumable_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = train_interrupted(tmp_path, "metrics.jsonl", ["--threads", "1"], epochs=50, batch_size=20)
    err = capsys.readouterr().err
    assert f"--resume {run}" in err
    assert read_metrics(run)[-1]["event"] == "stopped"
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    assert checkpoint.position.epoch == 0 and checkpoint.position.batch < 540 / 2

    assert main(["train", "--resume", str(run), "--epochs", "1"]) == 0
    finished = read_metrics(run)[-1]
    assert finished["event"] == "finished"
    assert finished["step"] == 540


def test_an_ensemble_reports_the_accuracy_of_its_averaged_probabilities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, argv = tiny_train_argv(tmp_path, ["--ensemble", "2"])
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ensemble of 2: test accuracy" in out
    seeds = [load_project(run / f"member-{k}" / "project.json").training.seed for k in (1, 2)]
    assert seeds == [0, 1]
    members = [read_metrics(run / f"member-{k}")[-1]["test_accuracy"] for k in (1, 2)]
    assert members[0] != members[1]


@pytest.mark.slow
def test_a_needed_download_shows_progress_and_a_failed_one_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_load = data.load_dataset

    def downloading(name: str, **options: object) -> object:
        progress = options["progress"]
        for done in (0, 4096, 8192):  # what the downloader reports while it fetches
            progress(data.DownloadProgress("train-images-idx3-ubyte.gz", done, 8192, 0, 4))
        return real_load("shapes", **options)

    monkeypatch.setattr(data, "load_dataset", downloading)
    args = ["train", "--template", "keras-mnist", "--epochs", "1", "--batch-size", "500"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "100%" in err

    def offline(name: str, **options: object) -> object:
        raise data.DownloadError("cannot reach the mirrors: you seem to be offline")

    monkeypatch.setattr(data, "load_dataset", offline)
    assert main([*args, "--out", str(tmp_path / "b")]) == 1
    assert "you seem to be offline" in capsys.readouterr().err
