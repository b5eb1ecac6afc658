"""The exported script's training loop means what the app's trainer means by the project's
schedule, validation split and early stopping, and reads the datasets as the app does."""

from __future__ import annotations

import csv
import math
import types
from pathlib import Path

import pytest
import torch

from explorer.core.data import load_dataset
from explorer.core.data.resident import DatasetInfo, DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.export.source import pytorch_source
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, TrainingSpec
from explorer.core.templates import load_template
from explorer.core.training.optim import learning_rate_at
from explorer.core.training.position import EpochPlan, RunPosition


def tiny_spec(**training: object) -> NetworkSpec:
    """A network small enough to train for a few epochs in a test, on the stand-in images
    the script draws for a dataset it has no loader for ('shapes')."""
    return NetworkSpec(
        name="tiny",
        input=InputSpec(1, 8, 8),
        layers=(
            LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
            LayerSpec.create("Flatten"),
            LayerSpec.create("Dense", {"units": 10, "activation": "softmax"}),
        ),
        training=TrainingSpec.create({"dataset": "shapes", "batch_size": 100, **training}),
    )


def exported(spec: NetworkSpec) -> types.ModuleType:
    """The exported script as a module, not run as __main__."""
    module = types.ModuleType("exported_network")
    exec(compile(pytorch_source(spec), "exported_network.py", "exec"), module.__dict__)
    return module


def recorded_rates(module: types.ModuleType) -> list[float]:
    """The learning rate of every update the script's optimizer makes, from now on."""
    rates: list[float] = []
    make_optimizer = module.make_optimizer

    def recording(model: torch.nn.Module) -> torch.optim.Optimizer:
        optimizer = make_optimizer(model)
        optimizer.register_step_pre_hook(
            lambda opt, args, kwargs: rates.append(opt.param_groups[0]["lr"])
        )
        return optimizer

    module.make_optimizer = recording
    return rates


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "onecycle"])
def test_each_update_has_the_rate_the_app_and_torch_schedulers_give(
    tmp_path: Path, schedule: str
) -> None:
    settings = {"schedule": schedule, "step_size": 1, "gamma": 0.5, "learning_rate": 0.05}
    spec = tiny_spec(**settings, validation_split=0.1, epochs=3)
    module = exported(spec)
    rates = recorded_rates(module)
    # 779 stand-in images, 78 held out: 701 to train on, whose last batch of one image the
    # app drops too (EpochPlan), so 7 updates an epoch.
    module.train(module.build_model(), 3, limit=779, out=str(tmp_path))
    plan = EpochPlan.of(701, 100, 3)
    assert plan.steps_per_epoch == 7
    assert len(rates) == plan.total_steps
    app = [
        learning_rate_at(spec.training, step, plan.steps_per_epoch, plan.total_steps)
        for step in range(plan.total_steps)
    ]
    assert rates == pytest.approx(app, rel=1e-12)
    # Torch's own schedulers, stepped once per update, as an independent reference.
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
    torch_schedulers = {
        "step": lambda: torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.5),
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=20),
    }
    if schedule in torch_schedulers:
        scheduler = torch_schedulers[schedule]()
        expected = []
        for _ in range(plan.total_steps):
            expected.append(scheduler.get_last_lr()[0])
            optimizer.step()
            scheduler.step()
        assert rates == pytest.approx(expected, rel=1e-9, abs=1e-15)
    elif schedule == "onecycle":
        assert rates[0] == pytest.approx(0.05 / 25)
        assert max(rates) == pytest.approx(0.05)
        assert rates[-1] == pytest.approx(0.05 / 25 / 1e4)


def test_early_stopping_ends_where_the_app_would_with_the_best_epochs_weights(
    tmp_path: Path,
) -> None:
    patience = 3
    module = exported(tiny_spec(validation_split=0.1, early_stopping_patience=patience))
    # A validation loss that improves twice, then plateaus above its best.
    losses = [1.0, 0.7, 0.8, 0.7, 0.9, 0.65, 0.6]
    measured: list[dict[str, torch.Tensor]] = []
    test_sizes: list[int] = []
    evaluate = module.evaluate

    def scripted(model: torch.nn.Module, images: torch.Tensor, *rest: torch.Tensor) -> object:
        if len(images) == 200:  # the stand-in test set, measured once at the end
            test_sizes.append(len(images))
            return evaluate(model, images, *rest)
        measured.append({k: v.clone() for k, v in model.state_dict().items()})
        return losses[len(measured) - 1], 0.5

    module.evaluate = scripted
    model = module.build_model()
    module.train(model, 10, out=str(tmp_path))

    position = RunPosition()  # the app's own count of epochs without improvement
    for loss in losses:
        position = position.after_epoch({}, loss, patience)
        if position.out_of_patience(patience):
            break
    epoch = position.epoch
    assert len(measured) == epoch == 5
    assert test_sizes == [200]
    best = measured[losses.index(min(losses[:epoch]))]
    for key, value in model.state_dict().items():
        assert torch.equal(value, best[key]), key
    saved = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert all(torch.equal(saved[key], best[key]) for key in best)
    with open(tmp_path / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [float(row["validation_loss"]) for row in rows] == losses[:epoch]


def test_without_patience_or_validation_every_epoch_runs(tmp_path: Path) -> None:
    module = exported(tiny_spec(validation_split=0.0, early_stopping_patience=2))
    module.train(module.build_model(), 3, out=str(tmp_path))
    with open(tmp_path / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert all(math.isnan(float(row["validation_loss"])) for row in rows)


def test_the_validation_split_holds_out_the_images_the_app_holds_out() -> None:
    module = exported(tiny_spec(validation_split=0.15, seed=7))
    generator = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (200, 1, 8, 8), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (200,), generator=generator)
    train_x, train_y, val_x, val_y = module.split_validation(images, labels)
    info = DatasetInfo("random", (1, 8, 8), tuple(str(i) for i in range(10)))
    app = DeviceDataset(
        info, images, labels, images[:0], labels[:0], validation_fraction=0.15, seed=7
    )
    assert torch.equal(val_x, app.images(Split.VALIDATION))
    assert torch.equal(val_y, app.labels(Split.VALIDATION))
    assert torch.equal(train_x, app.images(Split.TRAIN))
    assert torch.equal(train_y, app.labels(Split.TRAIN))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_the_script_reads_the_idx_files_the_app_reads(real_datasets: Path, name: str) -> None:
    module = exported(load_template("keras-mnist"))
    module.DATASET = name
    for data_dir in (real_datasets, real_datasets / name):  # beside the data, or in it
        train_x, train_y, test_x, test_y = module.load_data(str(data_dir))
        app = load_dataset(name, data_dir=real_datasets, download=False)
        assert torch.equal(train_x, app.images(Split.TRAIN))
        assert torch.equal(train_y, app.labels(Split.TRAIN))
        assert torch.equal(test_x, app.images(Split.TEST))
        assert torch.equal(test_y, app.labels(Split.TEST))


def test_no_training_images_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    module = exported(tiny_spec())
    with pytest.raises(SystemExit, match="no training images are left"):
        module.train(module.build_model(), 1, limit=0, out=str(tmp_path))
