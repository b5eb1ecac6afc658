"""The loss and accuracy curves of training runs, as plain numpy data (the widget only draws).

The live run's history grows one point per `Progress` event (training metrics averaged
since the previous one) and one per `EpochEnded` event (validation metrics). The x axis is
in epochs, fractional within an epoch, which lines up runs with different batch sizes;
accuracies are in percent. The training curves are also smoothed with one moving average,
the same for the live run and for saved runs drawn beside it.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from explorer.core.training.events import EpochEnded, Progress

FloatArray = npt.NDArray[np.float64]

#: Weight of a new point in the smoothed training curves (exponential moving average).
SMOOTHING = 0.1
#: The columns of the CSV export, one row per progress point and per epoch.
CSV_COLUMNS = (
    "kind",
    "epoch",
    "step",
    "train_loss",
    "train_loss_smoothed",
    "train_accuracy",
    "validation_loss",
    "validation_accuracy",
    "learning_rate",
)


class MovingAverage:
    """Exponential moving average with bias correction, as TensorBoard smooths its curves:
    the first points are not dragged towards zero."""

    def __init__(self, weight: float = SMOOTHING) -> None:
        self.weight = weight
        self._average = 0.0
        self._correction = 1.0

    def add(self, value: float) -> float:
        """Take the next value; return the average so far."""
        self._average = (1 - self.weight) * self._average + self.weight * value
        self._correction *= 1 - self.weight
        return self._average / (1 - self._correction)

    def reset(self) -> None:
        self._average = 0.0
        self._correction = 1.0


def smoothed(values: Iterable[float], weight: float = SMOOTHING) -> FloatArray:
    """The moving average of `values` at each point (see `MovingAverage`)."""
    average = MovingAverage(weight)
    return np.array([average.add(float(value)) for value in values], dtype=float)


class SeriesBuffer:
    """x/y float64 arrays that grow by doubling; `data()` returns views of the filled part."""

    def __init__(self, capacity: int = 256) -> None:
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self.count = 0

    def append(self, x: float, y: float) -> None:
        if self.count == len(self._x):
            self._x = np.concatenate([self._x, np.empty_like(self._x)])
            self._y = np.concatenate([self._y, np.empty_like(self._y)])
        self._x[self.count] = x
        self._y[self.count] = y
        self.count += 1

    def clear(self) -> None:
        self.count = 0

    def data(self) -> tuple[FloatArray, FloatArray]:
        return self._x[: self.count], self._y[: self.count]


@dataclass(frozen=True)
class RunCurves:
    """The curves of one (finished or saved) run, x in epochs, accuracies as fractions."""

    name: str
    step_x: FloatArray
    train_loss: FloatArray
    train_accuracy: FloatArray
    epoch_x: FloatArray
    validation_loss: FloatArray  # NaN where there is no validation split
    validation_accuracy: FloatArray

    def smoothed_loss(self) -> FloatArray:
        return smoothed(self.train_loss)

    def smoothed_accuracy_percent(self) -> FloatArray:
        """The smoothed training accuracy in percent, as the live run's is drawn."""
        return smoothed(100 * self.train_accuracy)


def run_curves(name: str, events: Iterable[Mapping[str, Any]]) -> RunCurves:
    """A saved run's curves from its metrics (the events as metrics.jsonl holds them, see
    `event_to_json`): a point per progress event, a validation point per epoch (NaN where
    the run had no validation split); other events are skipped."""
    step_x: list[float] = []
    loss: list[float] = []
    accuracy: list[float] = []
    epoch_x: list[float] = []
    validation_loss: list[float] = []
    validation_accuracy: list[float] = []
    for event in events:
        kind = event["event"]
        if kind == "progress":
            step_x.append(event["epoch"] - 1 + _number(event["epoch_fraction"]))
            loss.append(_number(event["train_loss"]))
            accuracy.append(_number(event["train_accuracy"]))
        elif kind == "epoch":
            epoch_x.append(float(event["epoch"]))
            validation_loss.append(_number(event.get("validation_loss")))
            validation_accuracy.append(_number(event.get("validation_accuracy")))
    return RunCurves(
        name,
        np.asarray(step_x, float),
        np.asarray(loss, float),
        np.asarray(accuracy, float),
        np.asarray(epoch_x, float),
        np.asarray(validation_loss, float),
        np.asarray(validation_accuracy, float),
    )


class CurveHistory:
    """The live run's curves: raw and smoothed training loss and accuracy (%) per progress
    point, validation loss and accuracy (%) per epoch, and every point as a CSV row."""

    def __init__(self) -> None:
        self.raw_loss = SeriesBuffer()
        self.raw_accuracy = SeriesBuffer()
        self.smooth_loss = SeriesBuffer()
        self.smooth_accuracy = SeriesBuffer()
        self.validation_loss = SeriesBuffer(32)
        self.validation_accuracy = SeriesBuffer(32)
        self._loss_average = MovingAverage()
        self._accuracy_average = MovingAverage()
        self._rows: list[dict[str, Any]] = []

    def clear(self) -> None:
        for buffer in self.buffers():
            buffer.clear()
        self._loss_average.reset()
        self._accuracy_average.reset()
        self._rows.clear()

    def buffers(self) -> tuple[SeriesBuffer, ...]:
        return (
            self.raw_loss,
            self.raw_accuracy,
            self.smooth_loss,
            self.smooth_accuracy,
            self.validation_loss,
            self.validation_accuracy,
        )

    @property
    def point_count(self) -> int:
        """Training-loss points received."""
        return self.raw_loss.count

    @property
    def validation_point_count(self) -> int:
        return self.validation_loss.count

    def add_progress(self, event: Progress) -> None:
        """Add a `Progress` event (training metrics averaged since the previous one)."""
        x = event.epoch - 1 + event.epoch_fraction
        accuracy = 100 * event.train_accuracy
        loss = self._loss_average.add(event.train_loss)
        self.raw_loss.append(x, event.train_loss)
        self.raw_accuracy.append(x, accuracy)
        self.smooth_loss.append(x, loss)
        self.smooth_accuracy.append(x, self._accuracy_average.add(accuracy))
        self._rows.append(
            {
                "kind": "step",
                "epoch": x,
                "step": event.step,
                "train_loss": event.train_loss,
                "train_loss_smoothed": loss,
                "train_accuracy": event.train_accuracy,
                "learning_rate": event.learning_rate,
            }
        )

    def add_epoch(self, event: EpochEnded) -> None:
        """Add an `EpochEnded` event (validation metrics, when there is a validation split)."""
        self._rows.append(
            {
                "kind": "epoch",
                "epoch": float(event.epoch),
                "step": event.step,
                "train_loss": event.train_loss,
                "train_accuracy": event.train_accuracy,
                "validation_loss": event.validation_loss,
                "validation_accuracy": event.validation_accuracy,
                "learning_rate": event.learning_rate,
            }
        )
        if event.validation_loss is not None:
            self.validation_loss.append(event.epoch, event.validation_loss)
        if event.validation_accuracy is not None:
            self.validation_accuracy.append(event.epoch, 100 * event.validation_accuracy)

    def describe_at(self, x: float) -> str:
        """The values nearest to epoch `x`, in words (the crosshair read-out)."""
        parts = [f"epoch {x:.2f}"]
        xs, loss = self.raw_loss.data()
        if len(xs):
            i = _nearest(xs, x)
            parts.append(f"loss {loss[i]:.4f} (smoothed {self.smooth_loss.data()[1][i]:.4f})")
            parts.append(f"accuracy {self.smooth_accuracy.data()[1][i]:.1f}%")
        vx, vloss = self.validation_loss.data()
        if len(vx):
            i = _nearest(vx, x)
            text = f"val loss {vloss[i]:.4f} @ {vx[i]:g}"
            ax, acc = self.validation_accuracy.data()
            if len(ax) > i:
                text += f", val acc {acc[i]:.1f}%"
            parts.append(text)
        return "  ·  ".join(parts)

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """One row per progress point (kind 'step') and per epoch (kind 'epoch'), in the
        order they came; missing and non-finite values are empty cells."""
        with Path(path).open("w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, CSV_COLUMNS, restval="")
            writer.writeheader()
            for row in self._rows:
                writer.writerow({k: _csv_value(v) for k, v in row.items()})


def _nearest(xs: FloatArray, x: float) -> int:
    i = int(np.searchsorted(xs, x))
    if i >= len(xs):
        return len(xs) - 1
    if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
        return i - 1
    return i


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value
