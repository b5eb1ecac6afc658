"""Datasets: catalogue, downloads, file formats, and device-resident batching."""

from explorer.core.data.resident import DatasetInfo, DeviceDataset, channel_statistics

__all__ = ["DatasetInfo", "DeviceDataset", "channel_statistics"]
