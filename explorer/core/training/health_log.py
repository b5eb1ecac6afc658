"""Layer-health records (torch-free, for the window and the run folder) and health.jsonl
in a run folder, beside metrics.jsonl: one `HealthRecord` per line, so a
finished run shows its layer health as a live one did.

Read defensively like metrics.jsonl: a damaged or cut-off line is skipped (and logged),
never raised. A continued run first cuts the file back to its checkpoint's step.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.core.files import write_text_atomic

log = logging.getLogger(__name__)

HEALTH_FILE = "health.jsonl"
#: The figures of a layer, in the order `LayerHealth` holds them (None where not defined).
METRICS = ("grad_norm", "update_ratio", "dead", "saturated", "act_mean", "act_std")


@dataclass(frozen=True)
class LayerHealth:
    """One layer's figures at one recording step (floats on the host).

    grad_norm: L2 norm of all the layer's parameter gradients (None: no parameters).
    update_ratio: ‖w_after − w_before‖ / ‖w_before‖ over the layer's parameters.
    dead: share of ReLU units never positive on the batch (None: no ReLU at its output).
    saturated: share of sigmoid/tanh outputs beyond SATURATION (None: neither).
    act_mean, act_std: of the layer's output over the batch.
    weight_hist, grad_hist: HISTOGRAM_BINS counts over ±weight_range / ±grad_range.
    """

    grad_norm: float | None
    update_ratio: float | None
    dead: float | None
    saturated: float | None
    act_mean: float
    act_std: float
    weight_hist: tuple[float, ...] | None = None
    weight_range: float = 0.0
    grad_hist: tuple[float, ...] | None = None
    grad_range: float = 0.0

    def metric(self, name: str) -> float | None:
        """The figure called `name` (one of METRICS)."""
        value = getattr(self, name)
        return None if value is None else float(value)

    def to_json(self) -> dict[str, Any]:
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in self.__dict__.items()
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> LayerHealth:
        """The inverse of to_json; KeyError/TypeError/ValueError on a damaged entry."""

        def optional(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        def histogram(key: str) -> tuple[float, ...] | None:
            value = data.get(key)
            return None if value is None else tuple(float(v) for v in value)

        return LayerHealth(
            grad_norm=optional("grad_norm"),
            update_ratio=optional("update_ratio"),
            dead=optional("dead"),
            saturated=optional("saturated"),
            act_mean=float(data["act_mean"]),
            act_std=float(data["act_std"]),
            weight_hist=histogram("weight_hist"),
            weight_range=float(data.get("weight_range", 0.0)),
            grad_hist=histogram("grad_hist"),
            grad_range=float(data.get("grad_range", 0.0)),
        )


@dataclass(frozen=True)
class HealthRecord:
    """Every layer's health after update number `step` (1 = the first update)."""

    step: int
    layers: dict[str, LayerHealth]

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "layers": {k: v.to_json() for k, v in self.layers.items()}}

    @staticmethod
    def from_json(data: dict[str, Any]) -> HealthRecord:
        layers = data["layers"]
        if not isinstance(layers, dict):
            raise TypeError("'layers' is not an object")
        step = data["step"]
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"'step' is {step!r}")
        return HealthRecord(step, {str(k): LayerHealth.from_json(v) for k, v in layers.items()})


def health_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / HEALTH_FILE


def append_health(run_dir: str | os.PathLike[str], records: Iterable[HealthRecord]) -> None:
    """Add the records to the folder's health.jsonl (raises OSError)."""
    text = "".join(json.dumps(record.to_json()) + "\n" for record in records)
    if text:
        with health_path(run_dir).open("a", encoding="utf-8") as stream:
            stream.write(text)


def read_health(run_dir: str | os.PathLike[str]) -> list[HealthRecord]:
    """The folder's records in order (none when it has no health.jsonl); never raises."""
    path = health_path(run_dir)
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return []
    except OSError as error:
        log.warning("%s: %s", path, error.strerror or error)
        return []
    records: list[HealthRecord] = []
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            records.append(HealthRecord.from_json(json.loads(line.decode("utf-8"))))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            skipped += 1
    if skipped:
        log.warning("%s: skipped %d damaged line(s)", path, skipped)
    return records


def truncate_health(run_dir: str | os.PathLike[str], step: int) -> int:
    """Keep only the records up to update `step` (where a continued run picks up); return
    how many were dropped (raises OSError when the file cannot be rewritten)."""
    path = health_path(run_dir)
    if not path.exists():
        return 0
    records = read_health(run_dir)
    kept = [record for record in records if record.step <= step]
    text = "".join(json.dumps(record.to_json()) + "\n" for record in kept)
    write_text_atomic(path, text)
    return len(records) - len(kept)
