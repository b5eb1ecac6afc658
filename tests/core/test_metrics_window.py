"""The metrics window: a trainer's steps since its last event, summed with one host read."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from explorer.core.training.metrics_window import MetricsWindow

CPU = torch.device("cpu")


def batch(seed: int, size: int, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(size, classes, generator=generator), torch.randint(
        0, classes, (size,), generator=generator
    )


@pytest.mark.parametrize("fold_steps", [1, 2, 64])
def test_a_read_sums_the_loss_over_samples_and_counts_the_correct_predictions(
    fold_steps: int,
) -> None:
    window = MetricsWindow(CPU, fold_steps=fold_steps)
    sizes = [4, 7, 5, 1, 6]
    expected_loss, expected_correct = 0.0, 0
    for seed, size in enumerate(sizes):
        logits, labels = batch(seed, size)
        loss = F.cross_entropy(logits, labels)
        window.add(loss, logits, labels, None)
        expected_loss += float(loss) * size
        expected_correct += int((logits.argmax(1) == labels).sum())
    totals = window.read(now=0.0)
    assert (totals.steps, totals.samples) == (5, sum(sizes))
    assert totals.loss == pytest.approx(expected_loss, rel=1e-12)
    assert totals.correct == expected_correct
    assert totals.mean_loss == pytest.approx(expected_loss / sum(sizes))
    assert totals.accuracy == expected_correct / sum(sizes)
    assert totals.finite_steps == 5 and totals.finite_penalty_steps is None
    assert totals.problem(1, 1, 0.1, {}) == ""
    assert window.read(now=0.0) == totals  # reading keeps the steps until clear()


def test_clear_starts_an_empty_window_that_cannot_be_read() -> None:
    window = MetricsWindow(CPU)
    logits, labels = batch(0, 8)
    window.add(F.cross_entropy(logits, labels), logits, labels, torch.tensor(0.5))
    assert window.steps == 1
    window.clear(now=1.0)
    assert window.steps == 0
    with pytest.raises(ValueError, match="empty"):
        window.read(now=2.0)
    logits, labels = batch(1, 2)
    window.add(F.cross_entropy(logits, labels), logits, labels, torch.tensor(0.5))
    totals = window.read(now=2.0)
    assert (totals.steps, totals.samples, totals.finite_penalty_steps) == (1, 2, 1)


def test_the_first_non_finite_loss_is_named_by_its_step() -> None:
    window = MetricsWindow(CPU)
    for step in range(5):
        logits, labels = batch(step, 4)
        loss = torch.tensor(math.nan) if step >= 2 else F.cross_entropy(logits, labels)
        window.add(loss, logits, labels, torch.tensor(0.01))
    totals = window.read(now=0.0)
    assert totals.finite_steps == 2 and totals.finite_penalty_steps == 5
    # The window's first step is step 11 of the run: its third is step 13.
    problem = totals.problem(11, 2, 0.5, {"dense_1": (0.0, 0.01)})
    assert problem.startswith("the loss became non-finite at step 13 (epoch 2)")
    assert "e.g. 0.05" in problem and "l2 0.01 on dense_1" in problem


def test_a_penalty_that_breaks_no_later_than_the_loss_is_blamed() -> None:
    def totals(loss_breaks: int, penalty_breaks: int) -> str:
        window = MetricsWindow(CPU)
        for step in range(4):
            logits, labels = batch(step, 3)
            loss = F.cross_entropy(logits, labels)
            if step >= loss_breaks:
                loss = torch.tensor(math.inf)
            penalty = torch.tensor(math.inf if step >= penalty_breaks else 1.0)
            window.add(loss, logits, labels, penalty)
        return window.read(now=0.0).problem(1, 1, 0.1, {"conv2d_1": (1e300, 0.0)})

    assert totals(loss_breaks=3, penalty_breaks=1).startswith("the L1/L2 weight penalty")
    assert "at step 2 " in totals(loss_breaks=3, penalty_breaks=1)
    assert totals(loss_breaks=1, penalty_breaks=1).startswith("the L1/L2 weight penalty")
    assert totals(loss_breaks=1, penalty_breaks=2).startswith("the loss became non-finite")


def test_finite_losses_whose_sum_overflows_name_the_windows_last_step() -> None:
    window = MetricsWindow(CPU)
    for step in range(2):
        logits, labels = batch(step, 2)
        window.add(torch.tensor(1e308, dtype=torch.float64), logits, labels, None)
    totals = window.read(now=0.0)
    assert totals.finite_steps == 2 and math.isinf(totals.loss)
    assert totals.problem(1, 1, 0.1, {}).startswith("the loss became non-finite at step 2 ")


def test_the_windows_time_leaves_out_pauses_and_the_first_step_is_due_at_once() -> None:
    window = MetricsWindow(CPU)
    window.open(10.0)
    assert window.due(10.0, interval=3600.0)  # nothing read yet: report the first step
    logits, labels = batch(0, 6)
    window.add(F.cross_entropy(logits, labels), logits, labels, None)
    window.pause(2.0)
    totals = window.read(now=15.0)
    assert totals.seconds == 3.0
    assert totals.images_per_second == 2.0
    window.clear(now=15.0)
    assert not window.due(15.04, interval=0.05)
    assert window.due(15.05, interval=0.05)
