"""Shared helpers for the training benchmarks: datasets, machine load, medians."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import torch

from explorer.core.data import load_dataset
from explorer.core.data.resident import DeviceDataset

# ../shared/datasets beside the checkout holds MNIST and Fashion-MNIST (see DESIGN.md, Data).
SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def load(
    name: str,
    data_dir: str | Path | None,
    device: torch.device | str,
    *,
    validation_fraction: float = 0.0,
    seed: int = 0,
) -> DeviceDataset:
    """The dataset from `data_dir`, else ../shared/datasets when it is there, else the
    download cache; never downloads (benchmarks must not time a download)."""
    if data_dir is None and SHARED_DATASETS.is_dir():
        data_dir = SHARED_DATASETS
    return load_dataset(
        name,
        data_dir=data_dir,
        device=device,
        validation_fraction=validation_fraction,
        seed=seed,
        download=False,
    )


def machine_load() -> str:
    """The load average against the core count, for the report."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def median(values: list[float]) -> float:
    return statistics.median(values)
