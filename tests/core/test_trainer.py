"""The training engine on small, real data: learning, determinism, control and failures."""

from __future__ import annotations

import math
import queue
import re
import threading
import time
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.core.builder import build_model
from explorer.core.data.resident import DatasetInfo, DeviceDataset
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, TrainingSpec
from explorer.core.training import (
    EpochEnded,
    Progress,
    Trainer,
    TrainingEvent,
    TrainingFailed,
    TrainingFinished,
    TrainingStarted,
    TrainingStopped,
    load_checkpoint,
)
from explorer.core.training.metrics import measure_ensemble
from explorer.core.training.optim import learning_rate_at
from tests.core.quadrants import quadrant_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def quadrant_dataset(
    n_train: int = 480, n_test: int = 160, *, validation: float = 0.0, seed: int = 0
) -> DeviceDataset:
    """The quadrant images at 8×8, one channel (see quadrants.py)."""
    train_images, train_labels = quadrant_images(n_train, 1000 * seed, channels=1, size=8)
    test_images, test_labels = quadrant_images(n_test, 1000 * seed + 1, channels=1, size=8)
    info = DatasetInfo("quadrants", (1, 8, 8), ("top left", "top right", "bottom left", "b r"))
    return DeviceDataset(
        info, train_images, train_labels, test_images, test_labels, validation_fraction=validation
    )


def tiny_spec(*, final: str = "softmax", dropout: bool = False, **training: object) -> NetworkSpec:
    layers = [
        LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
        LayerSpec.create("MaxPool2D", {"pool_size": 2}),
        LayerSpec.create("Flatten"),
    ]
    if dropout:
        layers.append(LayerSpec.create("Dropout", {"rate": 0.3}))
    layers.append(LayerSpec.create("Dense", {"units": 4, "activation": final}))
    settings = {
        "batch_size": 32,
        "epochs": 3,
        "learning_rate": 0.05,
        "validation_split": 0.0,
        "threads": 1,
    }
    settings.update(training)
    return NetworkSpec(
        name="tiny",
        input=InputSpec(1, 8, 8),
        num_classes=4,
        layers=tuple(layers),
        training=TrainingSpec.create(settings),
    )


def step_losses(events: list[TrainingEvent]) -> list[float]:
    return [e.train_loss for e in events if isinstance(e, Progress)]


def test_loss_decreases_and_the_test_set_is_learned() -> None:
    events = list(Trainer(tiny_spec(epochs=4), quadrant_dataset()).run())
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert isinstance(events[0], TrainingStarted)
    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    assert epochs[-1].train_loss < 0.5 * epochs[0].train_loss
    final = events[-1]
    assert isinstance(final, TrainingFinished)
    assert final.test_accuracy > 0.9
    assert len(final.per_class_accuracy) == 4
    assert not final.early_stopped


def test_loss_decreases_on_the_built_in_shapes_dataset() -> None:
    from explorer.core.data import load_dataset

    dataset = load_dataset("shapes", validation_fraction=0.1, seed=0)
    spec = NetworkSpec(
        name="shapes",
        input=InputSpec(*dataset.info.input_shape),
        num_classes=dataset.info.num_classes,
        layers=(
            LayerSpec.create("MaxPool2D", {"pool_size": 2}),
            LayerSpec.create("Conv2D", {"filters": 8, "kernel_size": 3, "activation": "relu"}),
            LayerSpec.create("MaxPool2D", {"pool_size": 2}),
            LayerSpec.create("Flatten"),
            LayerSpec.create("Dense", {"units": dataset.info.num_classes}),
        ),
        training=TrainingSpec.create(
            {"optimizer": "adam", "learning_rate": 0.01, "batch_size": 100, "epochs": 2}
        ),
    )
    events = list(Trainer(spec, dataset).run())
    progress = [e for e in events if isinstance(e, Progress)]
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert progress[0].train_loss > 2.0  # about log(10) at the start
    assert epochs[-1].train_loss < 0.6 * progress[0].train_loss
    assert epochs[-1].validation_loss is not None
    assert epochs[-1].validation_loss < 0.6 * progress[0].train_loss
    final = events[-1]
    assert isinstance(final, TrainingFinished)
    assert final.test_accuracy > 0.6


def test_same_seed_gives_identical_curves_and_another_seed_does_not() -> None:
    def curve(seed: int) -> list[float]:
        spec = tiny_spec(seed=seed, dropout=True)
        dataset = quadrant_dataset(validation=0.2, seed=0)
        return step_losses(list(Trainer(spec, dataset, report_interval=0.0).run()))

    first, second, other = curve(3), curve(3), curve(4)
    assert len(first) == 3 * math.ceil(384 / 32)
    assert first == second
    assert first != other


def test_progress_events_are_aggregated_over_the_report_interval() -> None:
    spec = tiny_spec(epochs=2)
    events = list(Trainer(spec, quadrant_dataset(), report_interval=3600.0).run())
    progress = [e for e in events if isinstance(e, Progress)]
    # The first step reports at once (the first point of the curve), later ones only at the
    # epoch ends: one event per epoch end plus the first.
    assert [p.step for p in progress] == [1, 15, 30]
    assert progress[-1].samples_seen == 2 * 480
    assert all(p.images_per_second > 0 for p in progress)
    assert progress[1].epoch_fraction == pytest.approx(1.0)


class _Driver:
    """Runs a trainer in a real thread, handing each event over and waiting for a go-ahead
    after each progress event, so the test knows exactly which step the loop is at."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.events: queue.Queue[TrainingEvent] = queue.Queue()
        self.go = threading.Semaphore(0)
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        for event in self.trainer.run():
            self.events.put(event)
            if isinstance(event, Progress):
                self.go.acquire()

    def next_progress(self, step: int) -> Progress:
        while True:
            event = self.events.get(timeout=30)
            if isinstance(event, Progress) and event.step >= step:
                return event
            if isinstance(event, Progress):
                self.go.release()

    def rest(self) -> list[TrainingEvent]:
        events = []
        while self.thread.is_alive() or not self.events.empty():
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                continue
            events.append(event)
            if isinstance(event, Progress):
                self.go.release()
        return events


def stop_at(trainer: Trainer, step: int) -> int:
    """Run `trainer` in a thread, stop it at the first progress report at or past `step`,
    and return the step it stopped at (after checking it ended with TrainingStopped)."""
    driver = _Driver(trainer)
    stopped_at = driver.next_progress(step=step).step
    trainer.stop()
    driver.go.release()
    assert isinstance(driver.rest()[-1], TrainingStopped)
    return stopped_at


def test_stop_from_another_thread_ends_the_run_before_the_next_batch() -> None:
    trainer = Trainer(tiny_spec(epochs=50), quadrant_dataset(), report_interval=0.0)
    driver = _Driver(trainer)
    seen = driver.next_progress(step=5)
    trainer.stop()
    driver.go.release()
    rest = driver.rest()
    driver.thread.join(timeout=30)
    assert not driver.thread.is_alive()
    # No batch after the request: no progress, no epoch end, and the stop at the same step.
    assert [type(event) for event in rest] == [TrainingStopped]
    assert rest[-1].step == seen.step == 5
    assert trainer.checkpoint(torch.Generator().get_state(), 0.0).position.step == 5


def test_pause_holds_the_loop_and_resume_continues_the_same_curve() -> None:
    spec = tiny_spec(epochs=2)
    reference = step_losses(list(Trainer(spec, quadrant_dataset(), report_interval=0.0).run()))

    trainer = Trainer(spec, quadrant_dataset(), report_interval=0.0)
    driver = _Driver(trainer)
    first = driver.next_progress(step=4)
    trainer.pause()
    driver.go.release()
    time.sleep(0.3)
    assert trainer.paused
    assert driver.events.empty(), "a paused trainer must not take another step"
    trainer.resume()
    rest = driver.rest()
    assert isinstance(rest[-1], TrainingFinished)
    losses = [
        e.train_loss for e in [first, *rest] if isinstance(e, Progress) and e.step >= first.step
    ]
    assert losses == reference[first.step - 1 :]


def test_resuming_a_checkpoint_gives_the_same_next_step_loss(tmp_path: object) -> None:
    path = f"{tmp_path}/checkpoint.pt"
    spec = tiny_spec(epochs=3, dropout=True, optimizer="adam", learning_rate=0.01, seed=5)
    dataset = quadrant_dataset(validation=0.25)
    reference = step_losses(list(Trainer(spec, dataset, report_interval=0.0).run()))

    trainer = Trainer(spec, dataset, report_interval=0.0, checkpoint_path=path)
    stopped_at = stop_at(trainer, 17)  # inside the second epoch (12 per epoch)

    checkpoint = load_checkpoint(path)
    assert (checkpoint.position.epoch, checkpoint.position.step, checkpoint.position.batch) == (
        1,
        17,
        5,
    )
    resumed = list(Trainer(checkpoint.spec, dataset, resume=checkpoint, report_interval=0).run())
    assert step_losses(resumed) == reference[stopped_at:]
    final = resumed[-1]
    assert isinstance(final, TrainingFinished)
    assert final.step == len(reference)


def test_a_huge_learning_rate_ends_with_a_message_not_an_exception() -> None:
    spec = tiny_spec(epochs=5, learning_rate=10.0, momentum=0.9)
    events = list(Trainer(spec, quadrant_dataset()).run())
    failure = events[-1]
    assert isinstance(failure, TrainingFailed)
    assert "non-finite" in failure.message
    assert "lower learning rate" in failure.message
    named = re.search(r"at step (\d+)", failure.message)
    assert named is not None
    # The first non-finite step, read when the event was built: never after the last step.
    assert 1 <= int(named.group(1)) <= failure.step


def test_any_other_error_ends_the_run_with_a_failure_event() -> None:
    dataset = quadrant_dataset()
    spec = replace(tiny_spec(), num_classes=3, layers=tiny_spec().layers[:-1])
    spec = spec.insert(len(spec.layers), LayerSpec.create("Dense", {"units": 3}))
    # Labels run to 3 but the network has only 3 outputs: cross-entropy rejects label 3.
    events = list(Trainer(spec, dataset).run())
    assert isinstance(events[-1], TrainingFailed)
    assert "training failed" in events[-1].message


def test_final_softmax_trains_exactly_like_the_same_network_on_logits() -> None:
    dataset = quadrant_dataset()
    with_softmax = step_losses(list(Trainer(tiny_spec(), dataset, report_interval=0).run()))
    plain = step_losses(list(Trainer(tiny_spec(final="linear"), dataset, report_interval=0).run()))
    assert with_softmax == plain
    # A softmax fed to cross-entropy would barely learn: the first loss would be near log(4)
    # and so would the last; here the loss falls well below it.
    assert with_softmax[-1] < 0.5 * math.log(4)


def test_l1_and_l2_terms_change_the_update_exactly_as_a_hand_written_loss() -> None:
    l1, l2, lr = 0.003, 0.02, 0.1
    base = tiny_spec(epochs=1, batch_size=480, learning_rate=lr, seed=2)
    dense = base.layers[-1].with_values(l1=l1, l2=l2)
    spec = base.replace_layer(len(base.layers) - 1, dense)
    dataset = quadrant_dataset()

    trainer = Trainer(spec, dataset)
    list(trainer.run())
    trained = trainer.model.state_dict()

    model = build_model(spec, seed=2)
    images = dataset.normalize(dataset.images("train"))
    logits = model(images)
    weight = model.dense_1.linear.weight
    loss = F.cross_entropy(logits, dataset.labels("train"))
    loss = loss + l1 * weight.abs().sum() + l2 * (weight**2).sum()
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None
        expected = parameter.detach() - lr * parameter.grad
        torch.testing.assert_close(trained[name], expected, rtol=1e-5, atol=1e-6)

    # And the terms matter: without them the Dense kernel ends elsewhere.
    plain = Trainer(base, dataset)
    list(plain.run())
    difference = (
        trained["dense_1.linear.weight"] - plain.model.state_dict()["dense_1.linear.weight"]
    )
    w0 = build_model(spec, seed=2).dense_1.linear.weight.detach()
    expected_difference = -lr * (l1 * torch.sign(w0) + 2 * l2 * w0)
    torch.testing.assert_close(difference, expected_difference, rtol=1e-4, atol=1e-6)


def test_validation_metrics_arrive_at_each_epoch_end_and_early_stopping_ends_the_run() -> None:
    dataset = quadrant_dataset(validation=0.25)
    trainer = Trainer(tiny_spec(epochs=3), dataset)
    events = list(trainer.run())
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    size = dataset.size("validation")
    for epoch in epochs:
        assert epoch.validation_loss is not None and math.isfinite(epoch.validation_loss)
        assert epoch.validation_accuracy is not None
        assert 0.0 <= epoch.validation_accuracy <= 1.0
        assert (epoch.validation_accuracy * size) == pytest.approx(
            round(epoch.validation_accuracy * size)
        )  # a count of the validation images
    # The last epoch's figures are the final model's, measured on the validation split.
    final = measure_ensemble([trainer.model], dataset, "validation", 256)
    assert epochs[-1].validation_accuracy == final.accuracy > 0.5  # chance is 0.25
    assert epochs[-1].validation_loss == pytest.approx(final.loss, rel=1e-6)

    # A learning rate too small to move the weights cannot improve the validation loss for
    # long: with patience 1 the run ends early.
    spec = tiny_spec(epochs=30, learning_rate=1e-9, early_stopping_patience=1)
    final = list(Trainer(spec, dataset).run())[-1]
    assert isinstance(final, TrainingFinished)
    assert final.early_stopped
    assert final.epoch < 30


def test_weights_snapshot_is_a_cpu_copy_that_training_does_not_change() -> None:
    trainer = Trainer(tiny_spec(epochs=1), quadrant_dataset())
    snapshot = trainer.weights_snapshot()
    before = {k: v.clone() for k, v in snapshot.items()}
    trainer.warm_up()  # works on a copy: the weights stay as they were
    for key, value in trainer.model.state_dict().items():
        torch.testing.assert_close(value, before[key])
    list(trainer.run())
    assert all(v.device.type == "cpu" for v in snapshot.values())
    for key, value in snapshot.items():
        torch.testing.assert_close(value, before[key])
    trained = trainer.model.state_dict()["conv2d_1.conv.weight"]
    assert not torch.equal(trained, before["conv2d_1.conv.weight"])


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "onecycle"])
def test_every_optimizer_and_schedule_learns(optimizer: str, schedule: str) -> None:
    lr = 0.05 if optimizer == "sgd" else 0.01
    spec = tiny_spec(
        epochs=3,
        optimizer=optimizer,
        schedule=schedule,
        learning_rate=lr,
        momentum=0.5,
        step_size=1,
        weight_decay=1e-4,
    )
    events = list(Trainer(spec, quadrant_dataset(), report_interval=0.0).run())
    final = events[-1]
    assert isinstance(final, TrainingFinished), final
    assert final.test_accuracy > 0.8
    # One progress event per step (15 per epoch, 45 in all): the rate each update used.
    rates = [e.learning_rate for e in events if isinstance(e, Progress)]
    assert rates == [learning_rate_at(spec.training, step, 15, 45) for step in range(45)]
    epoch_rates = [e.learning_rate for e in events if isinstance(e, EpochEnded)]
    assert epoch_rates == [rates[14], rates[29], rates[44]]  # the epoch's last update
    assert_schedule_shape(schedule, rates, lr)


def assert_schedule_shape(schedule: str, rates: list[float], lr: float) -> None:
    """The shape each schedule promises, over 45 updates of 15 per epoch."""
    falls = all(b < a for a, b in pairwise(rates))
    if schedule == "constant":
        assert rates == [lr] * 45
    elif schedule == "step":  # gamma 0.1 after every epoch (step_size 1)
        assert rates == pytest.approx([lr] * 15 + [lr * 0.1] * 15 + [lr * 0.01] * 15)
    elif schedule == "cosine":
        assert rates[0] == lr and rates[-1] == pytest.approx(0.0, abs=1e-12) and falls
    else:  # onecycle, as torch's OneCycleLR: up from lr/25 for 30% of the run, then down
        peak = rates.index(max(rates))
        assert peak == 13  # the last update before 30% of 44 steps
        assert rates[0] == pytest.approx(lr / 25)
        assert rates[peak] == pytest.approx(lr, rel=1e-3)
        assert all(b > a for a, b in pairwise(rates[: peak + 1]))
        assert all(b < a for a, b in pairwise(rates[peak:]))
        assert rates[-1] == pytest.approx(lr / 25 / 1e4)


def test_snapshots_and_checkpoints_are_single_independent_cpu_copies() -> None:
    trainer = Trainer(tiny_spec(mixed_precision=True, epochs=1), quadrant_dataset())
    live = trainer.model.state_dict()
    assert live["conv2d_1.conv.weight"].is_contiguous(memory_format=torch.channels_last)
    snapshot = trainer.weights_snapshot()
    checkpoint = trainer.checkpoint(torch.zeros(1), 0.0)
    for key, value in live.items():
        for copy in (snapshot[key], checkpoint.model_state[key]):
            assert copy.device.type == "cpu"
            assert copy.untyped_storage().data_ptr() != value.untyped_storage().data_ptr()
            assert torch.equal(copy, value)
        assert snapshot[key].is_contiguous()  # plain layout for the capture thread


def test_the_trainers_measurements_agree_with_the_full_evaluation() -> None:
    from explorer.core.evaluation import evaluate

    dataset = quadrant_dataset()
    # Briefly trained: better than chance, but with per-class accuracies that differ.
    trainer = Trainer(tiny_spec(epochs=1, optimizer="sgd", learning_rate=0.02), dataset)
    for _ in trainer.run():
        pass
    metrics = measure_ensemble([trainer.model], dataset, "test", 64)
    full = evaluate(trainer.model, dataset, "test")
    assert 0.25 < metrics.accuracy < 1.0
    assert len(set(metrics.per_class_accuracy)) > 1
    assert metrics.accuracy == pytest.approx(full.accuracy, abs=1e-12)
    assert metrics.loss == pytest.approx(full.loss, rel=1e-5)
    assert np.allclose(metrics.per_class_accuracy, full.recall)
