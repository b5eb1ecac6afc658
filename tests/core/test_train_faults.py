"""Training under faults and extreme numbers: a message and an exit code, never a traceback."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from explorer.cli import main
from explorer.core.data import load_dataset
from explorer.core.data.synthetic_shapes import CLASS_NAMES as SHAPE_NAMES
from explorer.core.project import load_project
from explorer.core.spec import LayerSpec
from explorer.core.training import Trainer, TrainingFailed, TrainingFinished, load_checkpoint
from explorer.core.training.devices import DeviceError, resolve_device
from explorer.core.training.runs import leftover_temporaries
from tests.core.test_train_resume import REPO, write_project
from tests.core.test_trainer import quadrant_dataset, tiny_spec

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def last_event(trainer: Trainer) -> Any:
    events = list(trainer.run())
    assert not any(isinstance(e, TrainingFinished) for e in events[:-1])
    return events[-1]


# ---- I/O failures ---------------------------------------------------------------------


def test_an_out_folder_that_cannot_be_made_exits_1_before_loading_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "tiny.json")
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")  # below a regular file, even root cannot make a folder
    assert main(["train", str(project), "--out", str(blocker / "run")]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: cannot make the run folder {blocker / 'run'}: Not a directory\n"
    assert "images" not in captured.out  # it stopped before the dataset was loaded


def test_a_checkpoint_on_a_full_disk_exits_1_keeping_the_previous_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_project(tmp_path / "tiny.json", epochs=2)
    run = tmp_path / "run"
    real_save = torch.save
    saves: list[str] = []

    def save_until_the_disk_is_full(obj: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        saves.append(str(target))
        if len(saves) == 1:
            real_save(obj, target, *args, **kwargs)
            return
        Path(target).write_bytes(b"the first bytes of a checkpoint")
        raise ENOSPC

    monkeypatch.setattr(torch, "save", save_until_the_disk_is_full)
    assert main(["train", str(project), "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: cannot write the checkpoint {run / 'checkpoint.pt'}: No space left on device "
        f"(the previous checkpoint is kept)\n"
    )
    assert len(saves) == 2 and leftover_temporaries(run / "checkpoint.pt") == []
    assert (
        load_checkpoint(run / "checkpoint.pt").position.epoch == 1
    )  # still whole, still resumable
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "failed"


def test_metrics_on_a_full_disk_exit_1_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.core.training.runs import RunFolder

    project = write_project(tmp_path / "tiny.json")
    real_append = RunFolder.append
    written: list[object] = []

    def append_until_full(self: RunFolder, event: Any) -> None:
        if len(written) == 3:
            raise ENOSPC
        written.append(event)
        real_append(self, event)

    monkeypatch.setattr(RunFolder, "append", append_until_full)
    assert main(["train", str(project), "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err == (
        f"error: cannot write the run folder {tmp_path / 'run'}: No space left on device\n"
    )


UNEXPECTED = """
import sys, torch.nn.functional as F
def broken(*args, **kwargs):
    raise ZeroDivisionError("an error nobody foresaw")
F.cross_entropy = broken
from explorer.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_an_unexpected_error_prints_one_line_and_logs_the_traceback_in_the_run(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path / "tiny.json")
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", UNEXPECTED, "train", str(project), "--out", str(run)],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: training failed: ZeroDivisionError: an error nobody foresaw "
        f"(full report in {run / 'training.log'})\n"
    )
    log = (run / "training.log").read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log and "in broken" in log


def test_an_unexpected_error_outside_the_trainer_is_logged_in_the_run_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.core.training.runs import RunFolder

    project = write_project(tmp_path / "tiny.json", epochs=1)
    run = tmp_path / "run"
    assert main(["train", str(project), "--out", str(run)]) == 0

    def broken(self: RunFolder, checkpoint: Any) -> int:
        raise KeyError("epoch")

    monkeypatch.setattr(RunFolder, "truncate_metrics", broken)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: training failed: KeyError: 'epoch' (full report in {run / 'training.log'})\n"
    )
    assert "raise KeyError" in (run / "training.log").read_text(encoding="utf-8")


# ---- numerics -------------------------------------------------------------------------


def with_layer(index: int, kind: str, **params: object) -> Any:
    spec = tiny_spec(optimizer="sgd", epochs=4, learning_rate=10.0)
    layers = list(spec.layers)
    layers[index] = LayerSpec.create(kind, params)
    return replace(spec, layers=tuple(layers))


def test_a_penalty_that_overflows_is_named_as_the_cause() -> None:
    spec = with_layer(0, "Conv2D", filters=4, kernel_size=3, activation="relu", l2=1.0)
    failed = last_event(Trainer(spec, quadrant_dataset()))
    assert isinstance(failed, TrainingFailed)
    assert failed.message.startswith("the L1/L2 weight penalty became non-finite at step ")
    assert "l2 1 on conv2d_1 is too large" in failed.message
    assert "learning rate" not in failed.message


def test_l2_1e308_never_reports_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = write_project(tmp_path / "tiny.json")
    data = json.loads(project.read_text())
    data["layers"][-1]["l2"] = 1e308
    project.write_text(json.dumps(data))
    code = main(["train", str(project), "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert code in (1, 2) and "test accuracy" not in captured.out
    assert "l2" in captured.err and "Traceback" not in captured.err
    if code == 1:  # the network is accepted, and training says what to change
        assert "penalty became non-finite at step 1" in captured.err
        assert "l2 1e+308 on dense_1" in captured.err


@pytest.mark.parametrize("split", ["validation", "test"])
def test_a_non_finite_validation_or_test_loss_fails_the_run(split: str) -> None:
    spec = tiny_spec(epochs=2, validation_split=0.25 if split == "validation" else 0.0)
    dataset = quadrant_dataset(n_train=640, validation=0.25 if split == "validation" else 0.0)
    trainer = Trainer(spec, dataset)

    def spoil_in_eval_mode(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> Any:
        # Weights that the last update broke: training steps looked fine, evaluation does not.
        return output if module.training else output * float("nan")

    trainer.model.register_forward_hook(spoil_in_eval_mode)
    failed = last_event(trainer)
    assert isinstance(failed, TrainingFailed)
    assert failed.message.startswith(f"the {split} loss is non-finite after epoch ")
    assert "lower learning rate" in failed.message


def test_the_last_update_breaking_the_weights_fails_on_the_test_loss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One step per epoch, and that step's update sends the weights to infinity while the
    # step's own loss and penalty were finite: only the test loss shows it. The registry's
    # bounds keep any setting from doing this in one step, so the update is injected.
    real_step = torch.optim.SGD.step

    def breaking_step(self: torch.optim.SGD, *args: Any, **kwargs: Any) -> Any:
        result = real_step(self, *args, **kwargs)
        with torch.no_grad():
            for group in self.param_groups:
                for parameter in group["params"]:
                    parameter.fill_(float("inf"))
        return result

    monkeypatch.setattr(torch.optim.SGD, "step", breaking_step)
    spec = with_layer(0, "Conv2D", filters=4, kernel_size=3, activation="relu")
    spec = replace(spec, training=spec.training.with_values(epochs=1, batch_size=480))
    failed = last_event(Trainer(spec, quadrant_dataset()))
    assert isinstance(failed, TrainingFailed)
    assert failed.message.startswith("the test loss is non-finite after epoch 1"), failed.message


def test_batchnorm_on_a_batch_of_one_gives_a_message() -> None:
    spec = replace(
        tiny_spec(batch_size=1, epochs=1),
        layers=(
            LayerSpec.create("Flatten"),
            LayerSpec.create("Dense", {"units": 8}),
            LayerSpec.create("BatchNorm"),
            LayerSpec.create("Dense", {"units": 4}),
        ),
    )
    trainer = Trainer(spec, quadrant_dataset(n_train=40))
    trainer.warm_up()  # a warm-up has nothing to prepare and leaves the message to training
    failed = last_event(trainer)
    assert isinstance(failed, TrainingFailed)
    assert failed.message.startswith("BatchNorm cannot normalise a training batch of 1 image")
    assert "batch size 2 or more" in failed.message and failed.details == ""


# ---- threads --------------------------------------------------------------------------


def test_more_threads_than_cores_are_refused_with_the_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cores = len(os.sched_getaffinity(0))
    project = write_project(tmp_path / "tiny.json")
    assert main(["train", str(project), "--threads", "1024", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: threads 1024 is more than the {cores} CPU core")
    assert f"use 1 to {cores}, or 0 for automatic" in err
    assert torch.get_num_threads() == 1  # nothing was started with 1024 threads
    with pytest.raises(DeviceError, match="threads 1024"):
        resolve_device("cpu", threads=1024)
    assert resolve_device("cpu", threads=cores).description.startswith(f"CPU ({cores} thread")
    failed = last_event(Trainer(tiny_spec(threads=1024), quadrant_dataset()))
    assert isinstance(failed, TrainingFailed) and "threads 1024" in failed.message


# ---- class names ----------------------------------------------------------------------


def test_training_a_digits_project_on_shapes_records_the_shape_names(tmp_path: Path) -> None:
    project = write_project(tmp_path / "tiny.json")
    data = json.loads(project.read_text())
    data["class_names"] = [str(d) for d in range(10)]
    project.write_text(json.dumps(data))
    run = tmp_path / "run"
    assert main(["train", str(project), "--out", str(run)]) == 0
    assert load_dataset("shapes").info.class_names == SHAPE_NAMES
    assert load_project(run / "project.json").class_names == SHAPE_NAMES
    assert load_checkpoint(run / "checkpoint.pt").spec.class_names == SHAPE_NAMES
