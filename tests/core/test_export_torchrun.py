"""The exported training script under `torchrun --nproc-per-node 2` on the CPU (gloo), on
real MNIST: the accuracy of one process within noise, and process 0 alone printing and
writing."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.core.export import export_pytorch_source
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, TrainingSpec

# Each process runs in a folder of its own (rank0/, rank1/) with its stdout kept there, so
# the test sees which process printed and wrote what; stderr goes to torchrun's.
RANK_WRAPPER = 'mkdir rank$RANK && cd rank$RANK && exec "$PYTHON" ../model.py "$@" >stdout.txt\n'
TRAIN_IMAGES = 12000  # --limit: one short epoch


def mnist_network() -> NetworkSpec:
    return NetworkSpec(
        name="small mnist",
        input=InputSpec(1, 28, 28),
        layers=(
            LayerSpec.create("Conv2D", {"filters": 8, "kernel_size": 3, "activation": "relu"}),
            LayerSpec.create("MaxPool2D", {"pool_size": 2}),
            LayerSpec.create("Conv2D", {"filters": 16, "kernel_size": 3, "activation": "relu"}),
            LayerSpec.create("MaxPool2D", {"pool_size": 2}),
            LayerSpec.create("Flatten"),
            LayerSpec.create("Dense", {"units": 10, "activation": "softmax"}),
        ),
        training=TrainingSpec.create(
            {
                "dataset": "mnist",
                "optimizer": "adam",
                "learning_rate": 0.003,
                "batch_size": 64,
                "schedule": "cosine",
                "validation_split": 0.1,
            }
        ),
    )


def printed_accuracy(stdout: str) -> float:
    found = re.findall(r"^test accuracy ([0-9.]+)$", stdout, flags=re.MULTILINE)
    assert len(found) == 1, stdout
    return float(found[0])


def final_train_loss(folder: Path) -> float:
    with open(folder / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["1"]
    return float(rows[0]["train_loss"])


@pytest.mark.slow
def test_two_processes_train_mnist_as_one_does(tmp_path: Path, real_datasets: Path) -> None:
    export_pytorch_source(mnist_network(), tmp_path / "model.py")
    (tmp_path / "rank.sh").write_text(RANK_WRAPPER, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    options = ["--epochs", "1", "--data-dir", str(real_datasets), "--limit", str(TRAIN_IMAGES)]

    one = subprocess.run(
        [sys.executable, "model.py", *options, "--out", "one"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert one.returncode == 0, one.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    two = subprocess.run(
        [*torchrun, "--nproc-per-node", "2", "--no-python", "sh", "rank.sh", *options],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert two.returncode == 0, two.stderr

    # Process 0 read the test data (nothing was downloaded), printed and wrote; process 1
    # printed nothing and wrote nothing.
    rank0 = (tmp_path / "rank0" / "stdout.txt").read_text(encoding="utf-8")
    assert f"mnist from {real_datasets / 'mnist'}" in rank0
    assert rank0.count("epoch 1/1: ") == 1
    assert sorted(p.name for p in (tmp_path / "rank0").iterdir()) == [
        "metrics.csv",
        "stdout.txt",
        "weights.pt",
    ]
    assert (tmp_path / "rank1" / "stdout.txt").read_text(encoding="utf-8") == ""
    assert [p.name for p in (tmp_path / "rank1").iterdir()] == ["stdout.txt"]

    # Each update took the same batch in both runs, shared out in the second: the result is
    # one process's within noise (summation order only; the network has no BatchNorm).
    accuracy_one, accuracy_two = printed_accuracy(one.stdout), printed_accuracy(rank0)
    assert accuracy_one > 0.9, (accuracy_one, accuracy_two)
    assert accuracy_two > 0.9, (accuracy_one, accuracy_two)
    assert abs(accuracy_two - accuracy_one) < 0.005
    loss_one = final_train_loss(tmp_path / "one")
    loss_two = final_train_loss(tmp_path / "rank0")
    assert loss_two == pytest.approx(loss_one, rel=0.005)
