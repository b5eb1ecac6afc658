"""The run position: how it moves, the epoch plan, and its one serialisation."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from explorer.core.training.events import EpochEnded, event_to_json
from explorer.core.training.payload import Damaged
from explorer.core.training.position import EpochPlan, RunPosition, RunSession


def record(epoch: int, validation_loss: float | None = 0.5) -> dict[str, Any]:
    event = EpochEnded(epoch, 10 * epoch, 0.7, 0.6, validation_loss, 0.8, 0.01, 3.0 * epoch)
    return event_to_json(event)


def test_steps_count_into_the_epoch_and_an_epoch_end_starts_the_next() -> None:
    position = RunPosition().after_steps(3, loss=6.0, correct=20, samples=40)
    position = position.after_steps(2, loss=2.0, correct=20, samples=40)
    assert (position.epoch, position.step, position.batch) == (0, 5, 5)
    assert position.train_loss == 0.1 and position.train_accuracy == 0.5
    ended = position.after_epoch(record(1), validation_loss=0.5, patience=2)
    assert (ended.epoch, ended.step, ended.batch) == (1, 5, 0)
    assert (ended.epoch_loss, ended.epoch_correct, ended.epoch_samples) == (0.0, 0, 0)
    assert ended.history == (record(1),)
    assert ended.best_validation_loss == 0.5
    assert position.step == 5 and position.history == ()  # the old one is unchanged


def test_early_stopping_counts_epochs_without_a_better_validation_loss() -> None:
    position = RunPosition()
    stops = []
    for epoch, loss in enumerate([0.9, 0.8, 0.85, 0.8, 0.7], start=1):
        position = position.after_epoch(record(epoch, loss), validation_loss=loss, patience=2)
        stops.append((position.epochs_without_improvement, position.out_of_patience(2)))
    assert stops == [(0, False), (0, False), (1, False), (2, True), (0, False)]
    assert position.best_validation_loss == 0.7
    # Without a patience, or without a validation split, nothing is counted.
    for loss, patience in ((0.9, 0), (None, 3)):
        still = RunPosition().after_epoch(record(1, loss), validation_loss=loss, patience=patience)
        assert still.epochs_without_improvement == 0 and still.best_validation_loss == math.inf
        assert not still.out_of_patience(patience)


def test_the_payload_round_trips_through_the_checkpoints_json_and_numbers() -> None:
    position = RunPosition(
        epoch=2,
        step=25,
        batch=5,
        elapsed=12.5,
        epoch_loss=3.25,
        epoch_correct=30,
        epoch_samples=50,
        best_validation_loss=0.4,
        epochs_without_improvement=1,
        history=(record(1), record(2)),
    )
    payload = position.to_payload()
    assert isinstance(payload["history"], str)
    assert payload["epoch_totals"] == [3.25, 30.0, 50.0]
    assert RunPosition.from_payload(payload) == position
    assert RunPosition.from_payload(RunPosition().to_payload()) == RunPosition()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"step": 6}, "needs at least 7 steps"),
        ({"epochs_without_improvement": 3}, "'epochs_without_improvement' 3 exceeds epoch 2"),
        ({"history": json.dumps([record(1)])}, "'history' holds 1 epochs"),
        ({"history": json.dumps([record(2), record(1)])}, "'history' epoch 1: epoch 2"),
        ({"epoch_totals": [1.0, 2.5, 4.0]}, "'epoch_totals' [1.0, 2.5, 4.0] are not counts"),
        ({"epoch_totals": [1.0, 5.0, 4.0]}, "are not counts"),
        ({"elapsed": -1.0}, "'elapsed' is -1.0"),
        ({"batch": True}, "'batch' is True, not int"),
    ],
)
def test_an_inconsistent_payload_names_what_is_wrong(change: dict[str, Any], named: str) -> None:
    payload = RunPosition(epoch=2, step=25, batch=5, history=(record(1), record(2))).to_payload()
    with pytest.raises(Damaged) as raised:
        RunPosition.from_payload({**payload, **change})
    assert named in str(raised.value)


def test_the_epoch_plan_drops_only_a_last_batch_of_one_image() -> None:
    assert EpochPlan.of(100, 32, epochs=3) == EpochPlan(False, 100, 4, 12, 32)
    assert EpochPlan.of(97, 32, epochs=2) == EpochPlan(True, 96, 3, 6, 32)
    assert EpochPlan.of(1, 32, epochs=1) == EpochPlan(False, 1, 1, 1, 32)
    plan = EpochPlan.of(100, 32, epochs=3)
    assert plan.samples_seen(RunPosition(epoch=1, step=6, batch=2)) == 164
    assert plan.samples_seen(RunPosition(epoch=1, step=8, batch=4)) == 200  # a short last batch


def test_a_sessions_clock_adds_to_the_runs_earlier_time_and_leaves_out_pauses() -> None:
    # Resumed at step 10 after 100 s of training; started at t = 50 s on the clock.
    session = RunSession(start_step=10, elapsed_before=100.0, started=50.0, learning_rate=0.1)
    assert math.isnan(session.eta(10, 40, now=50.0))  # no step yet: no speed to go by
    session.paused_for = 5.0
    assert session.elapsed(now=65.0) == 110.0
    # 10 steps in 10 s of this session: the 20 left take 20 s.
    assert session.eta(20, 40, now=65.0) == 20.0
