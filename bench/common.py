"""Shared helpers for the training benchmarks: datasets, machine load, medians."""

from __future__ import annotations

import gzip
import os
import statistics
import struct
from pathlib import Path

import torch

from explorer.core.data.resident import DatasetInfo, DeviceDataset

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
FOLDERS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist"}


def load(
    name: str,
    data_dir: str | Path | None,
    device: torch.device | str,
    *,
    validation_fraction: float = 0.0,
    seed: int = 0,
) -> DeviceDataset:
    """The dataset through explorer.core.data.load_dataset, or, where this checkout does not
    have it yet, straight from the IDX .gz files of MNIST or Fashion-MNIST."""
    try:
        from explorer.core.data import load_dataset  # type: ignore[attr-defined]
    except ImportError:
        load_dataset = None
    if load_dataset is not None:
        return load_dataset(  # type: ignore[no-any-return]
            name,
            data_dir=data_dir,
            device=device,
            validation_fraction=validation_fraction,
            seed=seed,
            download=False,
        )
    folder = Path(data_dir or SHARED_DATASETS) / FOLDERS[name]
    train = _idx(folder / "train-images-idx3-ubyte.gz"), _idx(folder / "train-labels-idx1-ubyte.gz")
    test = _idx(folder / "t10k-images-idx3-ubyte.gz"), _idx(folder / "t10k-labels-idx1-ubyte.gz")
    info = DatasetInfo(name, (1, 28, 28), tuple(str(k) for k in range(10)))
    return DeviceDataset(
        info,
        train[0].unsqueeze(1),
        train[1].long(),
        test[0].unsqueeze(1),
        test[1].long(),
        validation_fraction=validation_fraction,
        seed=seed,
        device=device,
    )


def _idx(path: Path) -> torch.Tensor:
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4 : 4 + 4 * dims])
    flat = torch.frombuffer(bytearray(data[4 + 4 * dims :]), dtype=torch.uint8)
    return flat.reshape(shape)


def machine_load() -> str:
    """The 1-minute load average against the core count, for the report."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def median(values: list[float]) -> float:
    return statistics.median(values)
