"""The fast-training options: label smoothing, weight averaging, flip test-time
augmentation, early stopping's best weights, and resuming inside an epoch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from explorer.core.builder import build_model
from explorer.core.data.resident import DatasetInfo, DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.core.training import (
    EpochEnded,
    Progress,
    Trainer,
    TrainingEvent,
    TrainingFinished,
    TrainingStopped,
    load_checkpoint,
)
from explorer.core.training.metrics import measure_ensemble
from explorer.core.training.optim import make_optimizer
from explorer.core.training.position import EpochPlan
from explorer.core.training.step import update
from tests.core.test_trainer import quadrant_dataset, step_losses, tiny_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def batch_norm_spec(**training: object) -> NetworkSpec:
    """The tiny network with a BatchNorm layer, so buffers are averaged too."""
    spec = tiny_spec(**training)
    layers = (spec.layers[0], LayerSpec.create("BatchNorm"), *spec.layers[1:])
    return NetworkSpec(
        name=spec.name,
        input=spec.input,
        num_classes=spec.num_classes,
        layers=layers,
        training=spec.training,
    )


def train_batches(spec: NetworkSpec, dataset: DeviceDataset) -> list[tuple[torch.Tensor, ...]]:
    """The batches a fresh run of `spec` trains on, in order."""
    training = spec.training
    plan = EpochPlan.of(dataset.size(Split.TRAIN), training.batch_size, training.epochs)
    order = torch.Generator().manual_seed(training.seed)
    return [
        batch
        for _ in range(training.epochs)
        for batch in dataset.batches(
            Split.TRAIN, plan.batch_size, shuffle=True, generator=order, drop_last=plan.drop_last
        )
    ]


def test_label_smoothing_is_the_loss_the_first_step_reports() -> None:
    dataset = quadrant_dataset()
    spec = tiny_spec(epochs=1, final="linear", label_smoothing=0.2)
    images, labels = train_batches(spec, dataset)[0]
    logits = build_model(spec, seed=spec.training.seed)(images)
    smoothed = F.cross_entropy(logits, labels, label_smoothing=0.2).item()
    plain = F.cross_entropy(logits, labels).item()
    first = step_losses(list(Trainer(spec, dataset, report_interval=0.0).run()))[0]
    assert first == pytest.approx(smoothed, rel=1e-5)
    assert abs(smoothed - plain) > 1e-3


def test_the_averaged_weights_are_the_moving_average_of_every_update() -> None:
    """A hand-written loop with the same batches and the EMA formula gives the same final
    weights, BatchNorm's running statistics included; training itself is unchanged."""
    dataset = quadrant_dataset()
    decay = 0.8
    spec = batch_norm_spec(epochs=2, momentum=0.9, ema_decay=decay)
    trainer = Trainer(spec, dataset, report_interval=0.0)
    events = list(trainer.run())
    plain = list(
        Trainer(batch_norm_spec(epochs=2, momentum=0.9), dataset, report_interval=0.0).run()
    )
    assert step_losses(events) == step_losses(plain)  # the average never feeds back

    model = build_model(spec, seed=spec.training.seed)
    optimizer = make_optimizer(model.parameters(), spec.training)
    average: dict[str, torch.Tensor] = {}
    for images, labels in train_batches(spec, dataset):
        update(model, optimizer, images, labels)
        for key, value in model.state_dict().items():
            if key not in average:
                average[key] = value.detach().clone()
            elif value.dtype.is_floating_point:
                average[key] = decay * average[key] + (1 - decay) * value.detach()
            else:  # a count: the average of whole numbers, rounded down
                average[key] = (decay * average[key] + (1 - decay) * value).long()
    final = trainer.model.state_dict()
    assert set(final) == set(average)
    for key, value in average.items():
        torch.testing.assert_close(final[key], value, rtol=1e-5, atol=1e-6)
    first = next(iter(final))  # the first convolution's weights
    assert not torch.equal(final[first], model.state_dict()[first])
    # The test figures are those of the averaged network, which is what `model` now is.
    finished = events[-1]
    assert isinstance(finished, TrainingFinished)
    measured = measure_ensemble([trainer.model], dataset, Split.TEST, 256)
    assert finished.test_loss == pytest.approx(measured.loss, rel=1e-6)
    assert finished.test_accuracy == measured.accuracy > 0.5


def stop_at(trainer: Trainer, step: int) -> list[TrainingEvent]:
    """Run `trainer` until its progress reaches `step`, then stop it (same thread)."""
    events = []
    for event in trainer.run():
        events.append(event)
        if isinstance(event, Progress) and event.step >= step:
            trainer.stop()
    return events


def test_a_run_with_averaged_weights_resumes_mid_epoch_to_the_same_weights(
    tmp_path: Path,
) -> None:
    """The checkpoint keeps the average; the continued run ends with exactly the weights
    of an uninterrupted one, and gathers only the batches it has not trained on."""
    dataset = quadrant_dataset(validation=0.25)
    spec = batch_norm_spec(epochs=3, ema_decay=0.9, early_stopping_patience=5)
    whole = Trainer(spec, dataset, report_interval=0.0)
    reference = list(whole.run())

    path = tmp_path / "checkpoint.pt"
    stopped = stop_at(Trainer(spec, dataset, report_interval=0.0, checkpoint_path=path), 17)
    assert isinstance(stopped[-1], TrainingStopped)
    checkpoint = load_checkpoint(path)
    assert checkpoint.position.batch == 5  # 12 batches an epoch: inside the second
    assert checkpoint.averaged_state is not None and checkpoint.best_state is not None
    assert checkpoint.averaged_state["n_averaged"].item() == 17

    gathered: list[Split] = []
    batches = dataset.batches

    def counted(split: Split, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        for batch in batches(split, *args, **kwargs):  # type: ignore[arg-type]
            gathered.append(split)
            yield batch

    dataset.batches = counted  # type: ignore[method-assign]
    resumed = Trainer(spec, dataset, resume=checkpoint, report_interval=0.0)
    events = list(resumed.run())
    assert step_losses(events) == step_losses(reference)[17:]
    assert gathered.count(Split.TRAIN) == 36 - 17  # none of the 5 taken before the stop
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_flip_averages_each_image_with_its_mirror_image() -> None:
    dataset = quadrant_dataset()
    spec = tiny_spec(epochs=1, final="linear", tta_flip=True)
    trainer = Trainer(spec, dataset)
    finished = list(trainer.run())[-1]
    assert isinstance(finished, TrainingFinished)
    model = trainer.model.eval()
    with torch.no_grad():
        images, labels = next(dataset.batches(Split.TEST, dataset.size(Split.TEST)))
        probs = (model.predict_proba(images) + model.predict_proba(images.flip(3))) / 2
    expected_loss = F.nll_loss(probs.log(), labels).item()
    expected_accuracy = (probs.argmax(1) == labels).float().mean().item()
    assert finished.test_loss == pytest.approx(expected_loss, rel=1e-5)
    assert finished.test_accuracy == pytest.approx(expected_accuracy)
    # A quadrant is not its mirror image: here the flip changes the predictions.
    plain = measure_ensemble([model], dataset, Split.TEST, 256)
    assert plain.loss != pytest.approx(finished.test_loss, rel=1e-3)


def overfitting_dataset() -> DeviceDataset:
    """Random labels: the validation loss rises once the network learns the noise."""
    generator = torch.Generator().manual_seed(4)
    images = torch.randint(0, 256, (320, 1, 8, 8), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, 4, (320,), generator=generator)
    info = DatasetInfo("noise", (1, 8, 8), ("a", "b", "c", "d"))
    return DeviceDataset(info, images, labels, images[:64], labels[:64], validation_fraction=0.25)


def test_early_stopping_ends_with_the_weights_of_the_best_validation_loss() -> None:
    dataset = overfitting_dataset()
    spec = tiny_spec(epochs=40, optimizer="adam", learning_rate=0.02, early_stopping_patience=3)
    trainer = Trainer(spec, dataset)
    events = list(trainer.run())
    finished = events[-1]
    assert isinstance(finished, TrainingFinished) and finished.early_stopped
    losses = [e.validation_loss for e in events if isinstance(e, EpochEnded)]
    assert all(loss is not None for loss in losses)
    best = min(loss for loss in losses if loss is not None)
    assert losses[-1] is not None and losses[-1] > best * 1.01  # the last is not the best
    measured = measure_ensemble([trainer.model], dataset, Split.VALIDATION, 256)
    assert measured.loss == pytest.approx(best, rel=1e-6)


def test_the_checkpoint_names_the_runs_result_weights(tmp_path: Path) -> None:
    """A finished run's checkpoint keeps the trained weights to continue from, and gives
    the averaged ones (or early stopping's best) as the run's result."""
    path = tmp_path / "checkpoint.pt"
    spec = batch_norm_spec(epochs=2, ema_decay=0.9)
    trainer = Trainer(spec, quadrant_dataset(), checkpoint_path=path)
    list(trainer.run())
    checkpoint = load_checkpoint(path)
    result = checkpoint.result_state()
    assert set(result) == set(checkpoint.model_state)
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(result[key], value), key
    assert any(not torch.equal(result[k], v) for k, v in checkpoint.model_state.items())

    stopped = tmp_path / "stopped.pt"
    spec = tiny_spec(epochs=40, optimizer="adam", learning_rate=0.02, early_stopping_patience=3)
    trainer = Trainer(spec, overfitting_dataset(), checkpoint_path=stopped)
    list(trainer.run())
    best = load_checkpoint(stopped).result_state()
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(best[key], value), key


def test_batches_from_a_start_batch_are_the_rest_of_the_same_order() -> None:
    dataset = quadrant_dataset()
    every = list(
        dataset.batches(Split.TRAIN, 32, shuffle=True, generator=torch.Generator().manual_seed(3))
    )
    rest = list(
        dataset.batches(
            Split.TRAIN,
            32,
            shuffle=True,
            generator=torch.Generator().manual_seed(3),
            start_batch=4,
        )
    )
    assert len(rest) == len(every) - 4
    for (images, labels), (want_images, want_labels) in zip(rest, every[4:], strict=True):
        assert torch.equal(images, want_images) and torch.equal(labels, want_labels)


def test_a_high_rate_one_cycle_with_nesterov_learns_a_batch_norm_network() -> None:
    dataset = quadrant_dataset()
    spec = batch_norm_spec(
        epochs=3,
        final="linear",
        schedule="onecycle",
        learning_rate=0.4,
        momentum=0.9,
        nesterov=True,
        weight_decay=5e-4,
        label_smoothing=0.1,
        ema_decay=0.9,
    )
    events = list(Trainer(spec, dataset).run())
    finished = events[-1]
    assert isinstance(finished, TrainingFinished)
    assert finished.test_accuracy > 0.9  # chance is 0.25


@pytest.mark.slow
@pytest.mark.parametrize(("template", "target"), [("mnist-fast", 0.990), ("fashion-fast", 0.920)])
def test_the_fast_templates_reach_their_accuracy_on_the_real_data(
    template: str, target: float, real_datasets: Path
) -> None:
    from explorer.core.app.preparation import load_network_dataset
    from explorer.core.templates import load_template

    spec = load_template(template)
    dataset = load_network_dataset(spec, real_datasets, "cpu")
    finished = list(Trainer(spec, dataset).run())[-1]
    assert isinstance(finished, TrainingFinished)
    assert finished.test_accuracy >= target


@pytest.mark.slow
def test_a_compiled_run_trains_the_same_network_as_an_eager_one() -> None:
    """`compile` runs the training step's forward pass through torch.compile: the losses
    follow the eager run's (float noise only) and the model keeps its own state_dict keys,
    so checkpoints and exports do not change."""
    runs = {}
    for compiled in (False, True):
        spec = batch_norm_spec(epochs=1, compile=compiled)
        trainer = Trainer(spec, quadrant_dataset(), report_interval=0.0)
        runs[compiled] = (trainer, list(trainer.run()))
    eager, compiled_run = (step_losses(events) for _, events in runs.values())
    assert isinstance(runs[True][1][-1], TrainingFinished)
    assert len(compiled_run) == len(eager) == 15
    assert compiled_run == pytest.approx(eager, rel=1e-3)
    assert runs[True][0]._forward is not None and runs[False][0]._forward is None
    assert set(runs[True][0].model.state_dict()) == set(runs[False][0].model.state_dict())
