"""Device-resident datasets: uint8 images held on the training device, batched by permutation.

Images are stored as uint8 tensors of shape (N, C, H, W) on the device that trains on them,
so a batch costs one gather and one fused normalisation there instead of a DataLoader's
per-item Python work and a host-to-device copy per step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: its name, input shape (C, H, W) and class names."""

    name: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class DeviceDataset:
    """Train/validation/test splits of uint8 images (N, C, H, W) and int64 labels on one device.

    The validation split is taken from the end of a seeded permutation of the training set,
    so the same seed gives the same split. Normalisation statistics (per-channel mean and
    standard deviation, on the 0..1 scale) come from the training split only.
    """

    def __init__(
        self,
        info: DatasetInfo,
        train_images: torch.Tensor,
        train_labels: torch.Tensor,
        test_images: torch.Tensor,
        test_labels: torch.Tensor,
        *,
        validation_fraction: float = 0.0,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        if not 0.0 <= validation_fraction < 1.0:
            raise ValueError(f"validation fraction must be in [0, 1), got {validation_fraction}")
        for name, images, labels in (
            ("train", train_images, train_labels),
            ("test", test_images, test_labels),
        ):
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise ValueError(f"{name} images must be uint8 (N, C, H, W), got {images.dtype} "
                                 f"{tuple(images.shape)}")
            if tuple(images.shape[1:]) != info.input_shape:
                raise ValueError(f"{name} images have shape {tuple(images.shape[1:])}, "
                                 f"expected {info.input_shape}")
            if labels.shape != (images.shape[0],):
                raise ValueError(f"{name}: {images.shape[0]} images but {labels.shape[0]} labels")
        self.info = info
        self.device = torch.device(device)
        self.seed = seed
        self.validation_fraction = validation_fraction

        order = torch.randperm(train_images.shape[0], generator=torch.Generator().manual_seed(seed))
        n_val = int(round(train_images.shape[0] * validation_fraction))
        train_idx, val_idx = order[: train_images.shape[0] - n_val], order[train_images.shape[0] - n_val:]
        if n_val:
            train_idx, _ = train_idx.sort()
            val_idx, _ = val_idx.sort()
        self._images = {
            "train": train_images[train_idx].to(self.device),
            "validation": train_images[val_idx].to(self.device),
            "test": test_images.to(self.device),
        }
        self._labels = {
            "train": train_labels[train_idx].long().to(self.device),
            "validation": train_labels[val_idx].long().to(self.device),
            "test": test_labels.long().to(self.device),
        }
        mean, std = channel_statistics(self._images["train"])
        self.mean: tuple[float, ...] = mean
        self.std: tuple[float, ...] = std
        channels = len(mean)
        # (x/255 - mean)/std == x*scale + shift, one fused multiply-add per batch on the device.
        scale = torch.tensor([1.0 / (255.0 * s) for s in std], device=self.device)
        shift = torch.tensor([-m / s for m, s in zip(mean, std, strict=True)], device=self.device)
        self._scale = scale.view(1, channels, 1, 1)
        self._shift = shift.view(1, channels, 1, 1)

    def size(self, split: str) -> int:
        return int(self._labels[split].shape[0])

    def images(self, split: str) -> torch.Tensor:
        """The split's uint8 images (N, C, H, W), on the device."""
        return self._images[split]

    def labels(self, split: str) -> torch.Tensor:
        return self._labels[split]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) on the device -> float32 normalised with the training statistics."""
        return torch.addcmul(self._shift, images.float(), self._scale)

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield normalised float32 image batches and int64 labels, all on the device.

        With `shuffle`, the order is an on-device permutation drawn from `generator`
        (which must live on the dataset's device).
        """
        images, labels = self._images[split], self._labels[split]
        n = images.shape[0]
        order = torch.randperm(n, generator=generator, device=self.device) if shuffle else None
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            if order is None:
                batch_images = images[start:start + batch_size]
                batch_labels = labels[start:start + batch_size]
            else:
                index = order[start:start + batch_size]
                batch_images = images.index_select(0, index)
                batch_labels = labels.index_select(0, index)
            yield self.normalize(batch_images), batch_labels

    def sample(self, split: str, index: int) -> tuple[torch.Tensor, int]:
        """One normalised image (C, H, W) on the device and its label, for inspection."""
        image = self._images[split][index:index + 1]
        return self.normalize(image)[0], int(self._labels[split][index])


def channel_statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images (N, C, H, W), on the 0..1 scale."""
    if images.shape[0] == 0:
        channels = images.shape[1]
        return (0.0,) * channels, (1.0,) * channels
    means, stds = [], []
    for c in range(images.shape[1]):
        plane = images[:, c].double().div_(255.0)
        means.append(float(plane.mean()))
        stds.append(max(float(plane.std()), 1e-6))
    return tuple(means), tuple(stds)
