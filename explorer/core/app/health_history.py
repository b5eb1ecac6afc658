"""A run's layer-health records as the arrays the health view draws (Qt-free, numpy only):
one layer × time matrix per metric, and one bins × time histogram matrix per layer.

Each record's histograms span ±its own largest |value|; to show them as one heat map over
time they are re-binned onto the layer's widest range over the whole run, so a bin's row
means the same value in every column.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from explorer.core.health_advice import HealthAdvice, advise
from explorer.core.training.health_log import HealthRecord, LayerHealth

#: What the view calls each metric (the keys are LayerHealth fields).
METRIC_LABELS = {
    "dead": "dead ReLU units (share)",
    "saturated": "saturated sigmoid/tanh outputs (share)",
    "grad_norm": "gradient norm (log10)",
    "update_ratio": "update / weight ratio (log10)",
    "act_mean": "activation mean",
    "act_std": "activation std",
}
#: Metrics shown on a log10 scale: they span orders of magnitude.
LOG_METRICS = frozenset({"grad_norm", "update_ratio"})


class HealthHistory:
    """The records of one run, in step order; layers in the order they first appear."""

    def __init__(self, records: Iterable[HealthRecord] = ()) -> None:
        self.records: list[HealthRecord] = []
        self.layers: list[str] = []
        self.extend(records)

    def clear(self) -> None:
        self.records.clear()
        self.layers.clear()

    def extend(self, records: Iterable[HealthRecord]) -> None:
        for record in records:
            self.records.append(record)
            for name in record.layers:
                if name not in self.layers:
                    self.layers.append(name)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def steps(self) -> np.ndarray:
        """The update number of each record, (T,)."""
        return np.array([record.step for record in self.records], dtype=np.int64)

    def metric_matrix(self, metric: str) -> np.ndarray:
        """(layers, T) float64 of `metric`, NaN where a layer lacks it (log10 for
        LOG_METRICS, with non-positive values NaN)."""
        matrix = np.full((len(self.layers), len(self.records)), np.nan)
        for column, record in enumerate(self.records):
            for row, name in enumerate(self.layers):
                health = record.layers.get(name)
                value = None if health is None else health.metric(metric)
                if value is not None:
                    matrix[row, column] = value
        if metric in LOG_METRICS:
            with np.errstate(divide="ignore", invalid="ignore"):
                matrix = np.where(matrix > 0, np.log10(np.where(matrix > 0, matrix, 1.0)), np.nan)
        return matrix

    def histogram_matrix(self, layer: str, kind: str) -> tuple[np.ndarray, float]:
        """(bins, T) counts of the layer's "weights" or "gradients" over ±R, and R (the
        widest range of any record); (0, T) and 0.0 for a layer without parameters."""
        histograms: list[tuple[tuple[float, ...], float] | None] = []
        for record in self.records:
            health = record.layers.get(layer)
            histograms.append(None if health is None else _histogram(health, kind))
        present = [h for h in histograms if h is not None]
        if not present:
            return np.zeros((0, len(self.records))), 0.0
        bins = len(present[0][0])
        widest = max(extent for _, extent in present)
        matrix = np.zeros((bins, len(self.records)))
        if widest <= 0:
            return matrix, 0.0
        edges = np.linspace(-widest, widest, bins + 1)
        for column, entry in enumerate(histograms):
            if entry is None:
                continue
            counts, extent = entry
            # Each count spread evenly over its own bin: interpolate the cumulative counts
            # at the common edges (no stripes where two bins would land in one).
            own_edges = np.linspace(-extent, extent, len(counts) + 1)
            cumulative = np.concatenate(([0.0], np.cumsum(counts)))
            matrix[:, column] = np.diff(np.interp(edges, own_edges, cumulative))
        return matrix, widest

    def latest_advice(self) -> dict[str, HealthAdvice]:
        """The problems of each layer in the newest record, by layer name."""
        return advise(self.records[-1]) if self.records else {}

    def value(self, layer: str, column: int, metric: str) -> float | None:
        """One layer's raw `metric` at record `column` (None where it has none)."""
        health = self.records[column].layers.get(layer)
        return None if health is None else health.metric(metric)


def _histogram(health: LayerHealth, kind: str) -> tuple[tuple[float, ...], float] | None:
    if kind == "weights":
        counts, extent = health.weight_hist, health.weight_range
    else:
        counts, extent = health.grad_hist, health.grad_range
    return None if counts is None else (counts, extent)
