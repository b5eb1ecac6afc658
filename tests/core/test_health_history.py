"""A run's health records as heat-map arrays: metrics per layer over time, and histograms
re-binned onto one range per layer."""

from __future__ import annotations

import math

import numpy as np

from explorer.core.app.health_history import HealthHistory
from explorer.core.training.health_log import HealthRecord, LayerHealth


def _layer(grad_norm: float | None, hist: tuple[float, ...] | None, extent: float) -> LayerHealth:
    return LayerHealth(grad_norm, 1e-3, None, None, 0.0, 1.0, hist, extent, hist, extent)


def test_metrics_are_a_layer_by_time_matrix_with_nan_where_a_layer_lacks_one() -> None:
    history = HealthHistory(
        [
            HealthRecord(1, {"conv": _layer(10.0, (1.0, 1.0), 1.0), "flat": _layer(None, None, 0)}),
            HealthRecord(11, {"conv": _layer(0.1, (1.0, 1.0), 1.0), "flat": _layer(None, None, 0)}),
        ]
    )
    assert history.layers == ["conv", "flat"]
    assert list(history.steps) == [1, 11]
    matrix = history.metric_matrix("grad_norm")  # log10
    np.testing.assert_allclose(matrix[0], [1.0, -1.0])
    assert np.isnan(matrix[1]).all()
    assert history.metric_matrix("act_std")[1].tolist() == [1.0, 1.0]


def test_histograms_keep_their_counts_on_the_widest_range_of_the_run() -> None:
    # Step 1: 4 values within ±1 (two bins); step 2: 4 values within ±2, all above 0.
    history = HealthHistory(
        [
            HealthRecord(1, {"conv": _layer(1.0, (2.0, 2.0), 1.0)}),
            HealthRecord(2, {"conv": _layer(1.0, (0.0, 4.0), 2.0)}),
        ]
    )
    counts, extent = history.histogram_matrix("conv", "weights")
    assert extent == 2.0
    assert counts.shape == (2, 2)
    # On ±2 with two bins, [-1, 0] lands in the lower bin and [0, 1] in the upper one.
    np.testing.assert_allclose(counts[:, 0], [2.0, 2.0])
    np.testing.assert_allclose(counts[:, 1], [0.0, 4.0])
    assert math.isclose(counts.sum(), 8.0)
    empty, none = history.histogram_matrix("missing", "gradients")
    assert empty.shape == (0, 2) and none == 0.0
