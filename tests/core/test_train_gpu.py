"""The CUDA path: data resident on the GPU, no per-step host sync, bf16 autocast."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from explorer.core.data.resident import DatasetInfo, DeviceDataset
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, TrainingSpec
from explorer.core.training import (
    CheckpointError,
    EpochEnded,
    Trainer,
    TrainingFinished,
    TrainingStarted,
    TrainingStopped,
    load_checkpoint,
    resolve_device,
)
from tests.core.quadrants import quadrant_images

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def cuda_dataset(n_train: int = 2048, n_test: int = 512) -> DeviceDataset:
    train = quadrant_images(n_train, 0, channels=3, size=16)
    test = quadrant_images(n_test, 1, channels=3, size=16)
    info = DatasetInfo("quadrants", (3, 16, 16), ("a", "b", "c", "d"))
    return DeviceDataset(info, *train, *test, device="cuda")


def spec(**training: object) -> NetworkSpec:
    settings: dict[str, object] = {"batch_size": 64, "epochs": 3, "learning_rate": 0.05}
    settings.update(training)
    return NetworkSpec(
        input=InputSpec(3, 16, 16),
        num_classes=4,
        layers=(
            LayerSpec.create("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"}),
            LayerSpec.create("BatchNorm"),
            LayerSpec.create("Activation", {"function": "relu"}),
            LayerSpec.create("MaxPool2D", {"pool_size": 2}),
            LayerSpec.create("Flatten"),
            LayerSpec.create("Dense", {"units": 4, "activation": "softmax"}),
        ),
        training=TrainingSpec.create({"validation_split": 0.0, **settings}),
    )


def test_auto_picks_cuda_and_names_the_card() -> None:
    choice = resolve_device("auto")
    assert choice.type == "cuda"
    assert choice.description == f"CUDA: {torch.cuda.get_device_name()}"


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_training_on_the_gpu_keeps_the_model_and_data_there_and_learns(
    mixed_precision: bool,
) -> None:
    dataset = cuda_dataset()
    trainer = Trainer(spec(mixed_precision=mixed_precision), dataset)
    assert all(p.device.type == "cuda" for p in trainer.model.parameters())
    assert dataset.images("train").device.type == "cuda"
    trainer.warm_up()
    events = list(trainer.run())
    assert isinstance(events[0], TrainingStarted)
    assert events[0].device.startswith("CUDA: ")
    assert events[0].mixed_precision is mixed_precision
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert epochs[-1].train_loss < epochs[0].train_loss
    final = events[-1]
    assert isinstance(final, TrainingFinished)
    assert final.test_accuracy > 0.9
    snapshot = trainer.weights_snapshot()
    assert all(t.device.type == "cpu" for t in snapshot.values())


def test_mixed_precision_runs_the_forward_pass_in_bfloat16() -> None:
    dataset = cuda_dataset(256, 64)
    trainer = Trainer(spec(mixed_precision=True, epochs=1), dataset)
    seen: list[torch.dtype] = []
    conv = trainer.model.conv2d_1
    handle = conv.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    try:
        list(trainer.run())
    finally:
        handle.remove()
    assert seen and all(dtype == torch.bfloat16 for dtype in seen)
    weight = conv.conv.weight
    assert weight.dtype == torch.float32  # master weights stay float32
    assert weight.is_contiguous(memory_format=torch.channels_last)


def test_steps_do_not_synchronise_with_the_host_between_events() -> None:
    dataset = cuda_dataset()  # 2048 images: 64 steps per epoch at batch size 32
    trainer = Trainer(spec(epochs=3, batch_size=32), dataset, report_interval=3600.0)
    trainer.warm_up()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            events = list(trainer.run())
        finally:
            torch.cuda.set_sync_debug_mode(0)
    assert isinstance(events[-1], TrainingFinished)
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    # Events read the metrics (a few syncs each, three epochs and the test set); the 192
    # steps themselves add none.
    assert len(syncs) < 64


def test_a_cuda_checkpoint_passes_its_checks_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    dataset = cuda_dataset()
    first = Trainer(spec(), dataset, checkpoint_path=path)
    for event in first.run():
        if isinstance(event, EpochEnded):
            first.stop()
    assert isinstance(event, TrainingStopped)
    checkpoint = load_checkpoint(path)
    assert checkpoint.device_rng.numel() != checkpoint.cpu_rng.numel()  # the CUDA generator's
    resumed = list(Trainer(spec(), dataset, resume=checkpoint).run())
    assert (
        isinstance(resumed[0], TrainingStarted)
        and resumed[0].start_step == checkpoint.position.step
    )
    final = resumed[-1]
    assert isinstance(final, TrainingFinished) and final.step == 3 * 32
    assert final.test_accuracy > 0.9
    broken = replace(checkpoint, order_rng=checkpoint.cpu_rng)  # a CPU generator's state
    with pytest.raises(CheckpointError, match="'order_rng' is not a state of a cuda generator"):
        Trainer(spec(), dataset, resume=broken)
