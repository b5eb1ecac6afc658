"""Datasets: catalogue, downloads, file formats, and device-resident batching.

Callers need only what is exported here; `load_dataset` is the one entry point for training.
"""

from explorer.core.data.catalogue import (
    DatasetEntry,
    RemoteFile,
    RemoteSource,
    find_entry,
    list_datasets,
)
from explorer.core.data.detect import FolderContents, inspect_folder
from explorer.core.data.download import DownloadProgress, ProgressCallback, RetryPolicy
from explorer.core.data.errors import (
    ChecksumError,
    DatasetError,
    DownloadCancelled,
    DownloadError,
    UnknownDatasetError,
)
from explorer.core.data.loading import (
    dataset_status,
    download_dataset,
    load_dataset,
)
from explorer.core.data.locations import DATA_DIR_ENV, default_data_dir, resolve_data_dir
from explorer.core.data.resident import DatasetInfo, DeviceDataset, channel_statistics
from explorer.core.data.status import DatasetStatus
from explorer.core.data.synthetic_shapes import make_shapes

__all__ = [
    "DATA_DIR_ENV",
    "ChecksumError",
    "DatasetEntry",
    "DatasetError",
    "DatasetInfo",
    "DatasetStatus",
    "DeviceDataset",
    "DownloadCancelled",
    "DownloadError",
    "DownloadProgress",
    "FolderContents",
    "ProgressCallback",
    "RemoteFile",
    "RemoteSource",
    "RetryPolicy",
    "UnknownDatasetError",
    "channel_statistics",
    "dataset_status",
    "default_data_dir",
    "download_dataset",
    "find_entry",
    "inspect_folder",
    "list_datasets",
    "load_dataset",
    "make_shapes",
    "resolve_data_dir",
]
