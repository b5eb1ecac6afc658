"""The curve history: series positioned in epochs, one moving average for live and saved
runs, the crosshair read-out and the CSV export."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from explorer.core.app.curves import (
    CSV_COLUMNS,
    SMOOTHING,
    CurveHistory,
    MovingAverage,
    RunCurves,
    SeriesBuffer,
    run_curves,
    smoothed,
)
from explorer.core.training.events import EpochEnded, Progress


def progress(step: int, epoch: int, fraction: float, loss: float, accuracy: float) -> Progress:
    return Progress(
        step=step,
        epoch=epoch,
        epoch_fraction=fraction,
        samples_seen=step * 10,
        train_loss=loss,
        train_accuracy=accuracy,
        learning_rate=0.01,
        images_per_second=1000.0,
        elapsed=0.1 * step,
        eta=1.0,
    )


def epoch_end(epoch: int, step: int, validation: tuple[float, float] | None) -> EpochEnded:
    return EpochEnded(
        epoch=epoch,
        step=step,
        train_loss=0.5,
        train_accuracy=0.8,
        validation_loss=None if validation is None else validation[0],
        validation_accuracy=None if validation is None else validation[1],
        learning_rate=0.01,
        elapsed=1.0,
    )


def test_the_moving_average_starts_at_the_first_value_and_follows_the_formula() -> None:
    average = MovingAverage()
    assert average.add(2.0) == pytest.approx(2.0)  # bias-corrected: not 0.1 × 2
    second = average.add(4.0)
    w = SMOOTHING
    expected = (w * (1 - w) * 2.0 + w * 4.0) / (1 - (1 - w) ** 2)
    assert second == pytest.approx(expected)
    average.reset()
    assert average.add(7.0) == pytest.approx(7.0)


def test_a_constant_series_stays_constant_when_smoothed() -> None:
    assert np.allclose(smoothed([3.0] * 20), 3.0)
    assert len(smoothed([])) == 0


def test_saved_and_live_runs_are_smoothed_alike() -> None:
    losses = [2.3, 1.9, 1.2, 1.4, 0.8, 0.7]
    accuracies = [0.1, 0.3, 0.5, 0.45, 0.7, 0.8]
    history = CurveHistory()
    for i, (loss, accuracy) in enumerate(zip(losses, accuracies, strict=True)):
        history.add_progress(progress(i + 1, 1, (i + 1) / 6, loss, accuracy))
    xs = history.raw_loss.data()[0]
    saved = RunCurves(
        "saved",
        xs.copy(),
        np.array(losses),
        np.array(accuracies),
        np.array([1.0]),
        np.array([math.nan]),
        np.array([math.nan]),
    )
    assert np.allclose(saved.smoothed_loss(), history.smooth_loss.data()[1])
    assert np.allclose(saved.smoothed_accuracy_percent(), history.smooth_accuracy.data()[1])


def test_points_sit_at_fractional_epochs_with_accuracy_in_percent() -> None:
    history = CurveHistory()
    history.add_progress(progress(5, 1, 0.5, 1.5, 0.25))
    history.add_progress(progress(15, 2, 0.5, 1.0, 0.5))
    history.add_epoch(epoch_end(1, 10, (1.2, 0.4)))
    history.add_epoch(epoch_end(2, 20, None))  # no validation split: no point
    x, y = history.raw_accuracy.data()
    assert list(x) == [0.5, 1.5] and list(y) == [25.0, 50.0]
    assert history.point_count == 2
    assert history.validation_point_count == 1
    vx, vy = history.validation_accuracy.data()
    assert list(vx) == [1.0] and list(vy) == pytest.approx([40.0])
    history.clear()
    assert history.point_count == 0 and history.validation_point_count == 0
    # A cleared history smooths afresh: its first point is its own value again.
    history.add_progress(progress(1, 1, 0.1, 9.0, 0.9))
    assert history.smooth_loss.data()[1][0] == pytest.approx(9.0)


def test_the_read_out_names_the_nearest_values() -> None:
    history = CurveHistory()
    assert history.describe_at(0.3) == "epoch 0.30"
    history.add_progress(progress(1, 1, 0.25, 2.0, 0.5))
    history.add_progress(progress(2, 1, 0.75, 1.0, 0.75))
    history.add_epoch(epoch_end(1, 2, (0.9, 0.7)))
    text = history.describe_at(0.7)
    assert text.startswith("epoch 0.70")
    assert "loss 1.0000" in text  # the point at 0.75, not the one at 0.25
    assert "val loss 0.9000 @ 1, val acc 70.0%" in text


def test_the_csv_has_a_row_per_point_and_per_epoch(tmp_path: Path) -> None:
    history = CurveHistory()
    history.add_progress(progress(1, 1, 0.5, 2.0, 0.5))
    history.add_progress(progress(2, 1, 1.0, math.inf, 0.5))
    history.add_epoch(epoch_end(1, 2, None))
    path = tmp_path / "curves.csv"
    history.write_csv(path)
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [row["kind"] for row in rows] == ["step", "step", "epoch"]
    assert float(rows[0]["epoch"]) == 0.5 and float(
        rows[0]["train_loss_smoothed"]
    ) == pytest.approx(2.0)
    assert rows[1]["train_loss"] == ""  # not finite: an empty cell
    assert rows[2]["validation_loss"] == "" and rows[0]["validation_loss"] == ""


def test_a_series_buffer_grows_past_its_capacity_and_keeps_its_points() -> None:
    buffer = SeriesBuffer(capacity=2)
    for i in range(5):
        buffer.append(float(i), float(10 * i))
    x, y = buffer.data()
    assert list(x) == [0, 1, 2, 3, 4] and list(y) == [0, 10, 20, 30, 40]
    buffer.clear()
    assert buffer.count == 0 and len(buffer.data()[0]) == 0


def test_a_saved_run_s_curves_come_from_its_metrics_as_written() -> None:
    from explorer.core.training.events import event_to_json

    written = [
        event_to_json(progress(5, 1, 0.5, 1.5, 0.25)),
        event_to_json(epoch_end(1, 10, (1.2, 0.4))),
        event_to_json(progress(15, 2, 0.5, 1.0, 0.5)),
        event_to_json(epoch_end(2, 20, None)),
    ]
    curves = run_curves("run-1", written)
    assert curves.name == "run-1"
    assert list(curves.step_x) == [0.5, 1.5]
    assert list(curves.train_loss) == [1.5, 1.0] and list(curves.train_accuracy) == [0.25, 0.5]
    assert list(curves.epoch_x) == [1.0, 2.0]
    assert curves.validation_loss[0] == pytest.approx(1.2) and math.isnan(curves.validation_loss[1])
    assert math.isnan(curves.validation_accuracy[1])
    assert len(run_curves("empty", []).step_x) == 0
