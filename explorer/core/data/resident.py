"""Device-resident datasets: uint8 images held on the training device, batched by permutation.

Images are stored as uint8 tensors of shape (N, C, H, W) on the device that trains on them,
so a batch costs one gather and one fused normalisation there instead of a DataLoader's
per-item Python work and a host-to-device copy per step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from explorer.core.dataset_split import Split


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
    so the same seed gives the same split; both splits keep the images' original order.
    Normalisation statistics (per-channel mean and standard deviation, on the 0..1 scale)
    come from the training split only. `source` says where the data came from (for display)
    and `warnings` lists problems that did not stop loading (e.g. skipped image files).
    On the CPU the training tensors may be shared with the caller, not copied.
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
        source: str = "",
        warnings: Sequence[str] = (),
    ) -> None:
        if not 0.0 <= validation_fraction < 1.0:
            raise ValueError(f"validation fraction must be in [0, 1), got {validation_fraction}")
        for name, images, labels in (
            (Split.TRAIN, train_images, train_labels),
            (Split.TEST, test_images, test_labels),
        ):
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise ValueError(
                    f"{name} images must be uint8 (N, C, H, W), got {images.dtype} "
                    f"{tuple(images.shape)}"
                )
            if tuple(images.shape[1:]) != info.input_shape:
                raise ValueError(
                    f"{name} images have shape {tuple(images.shape[1:])}, "
                    f"expected {info.input_shape}"
                )
            if labels.shape != (images.shape[0],):
                raise ValueError(f"{name}: {images.shape[0]} images but {labels.shape[0]} labels")
        self.info = info
        self.device = torch.device(device)
        self.seed = seed
        self.validation_fraction = validation_fraction
        self.source = source
        self.warnings: tuple[str, ...] = tuple(warnings)

        n_train = train_images.shape[0]
        n_val = round(n_train * validation_fraction)
        if n_val:
            generator = torch.Generator().manual_seed(seed)
            order = torch.randperm(n_train, generator=generator)
            # Both splits keep the original order of their images.
            train_idx, _ = order[: n_train - n_val].sort()
            val_idx, _ = order[n_train - n_val :].sort()
            train_part, val_part = train_images[train_idx], train_images[val_idx]
            train_lab, val_lab = train_labels[train_idx], train_labels[val_idx]
        else:
            train_part, train_lab = train_images, train_labels
            val_part, val_lab = train_images[:0], train_labels[:0]
        self._images = {
            Split.TRAIN: train_part.to(self.device),
            Split.VALIDATION: val_part.to(self.device),
            Split.TEST: test_images.to(self.device),
        }
        self._labels = {
            Split.TRAIN: train_lab.long().to(self.device),
            Split.VALIDATION: val_lab.long().to(self.device),
            Split.TEST: test_labels.long().to(self.device),
        }
        mean, std = channel_statistics(self._images[Split.TRAIN])
        self.mean: tuple[float, ...] = mean
        self.std: tuple[float, ...] = std
        channels = len(mean)
        # (x/255 - mean)/std == x*scale + shift, one fused multiply-add per batch on the device.
        scale = torch.tensor([1.0 / (255.0 * s) for s in std], device=self.device)
        shift = torch.tensor([-m / s for m, s in zip(mean, std, strict=True)], device=self.device)
        self._scale = scale.view(1, channels, 1, 1)
        self._shift = shift.view(1, channels, 1, 1)

    def size(self, split: Split) -> int:
        return int(self._labels[split].shape[0])

    def images(self, split: Split) -> torch.Tensor:
        """The split's uint8 images (N, C, H, W), on the device."""
        return self._images[split]

    def labels(self, split: Split) -> torch.Tensor:
        return self._labels[split]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) on the device -> float32 normalised with the training statistics."""
        return torch.addcmul(self._shift, images.float(), self._scale)

    def batches(
        self,
        split: Split,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        start_batch: int = 0,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield normalised float32 image batches and int64 labels, all on the device.

        With `shuffle`, the order is an on-device permutation drawn from `generator`
        (which must live on the dataset's device). The first `start_batch` batches of that
        order are skipped without being gathered.
        """
        images, labels = self._images[split], self._labels[split]
        n = images.shape[0]
        order = torch.randperm(n, generator=generator, device=self.device) if shuffle else None
        stop = n - n % batch_size if drop_last else n
        for start in range(start_batch * batch_size, stop, batch_size):
            if order is None:
                batch_images = images[start : start + batch_size]
                batch_labels = labels[start : start + batch_size]
            else:
                index = order[start : start + batch_size]
                batch_images = images.index_select(0, index)
                batch_labels = labels.index_select(0, index)
            yield self.normalize(batch_images), batch_labels

    def sample(self, split: Split, index: int) -> tuple[torch.Tensor, int]:
        """One normalised image (C, H, W) on the device and its label, for inspection."""
        image = self._images[split][index : index + 1]
        return self.normalize(image)[0], int(self._labels[split][index])


def channel_statistics(
    images: torch.Tensor, chunk_elements: int = 1 << 22
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images (N, C, H, W), on the 0..1 scale.

    Works through chunks of about `chunk_elements` values (16 MB as float32), so there is no
    float64 copy of the whole set; per-image sums are float32, totals float64. The standard
    deviation is the sample one (N-1), floored at 1e-6.
    """
    n, channels = images.shape[0], images.shape[1]
    if n == 0:
        return (0.0,) * channels, (1.0,) * channels
    per_image = images[0].numel()
    step = max(1, chunk_elements // per_image)
    sums = torch.zeros(channels, dtype=torch.float64, device=images.device)
    squares = torch.zeros(channels, dtype=torch.float64, device=images.device)
    for start in range(0, n, step):
        block = images[start : start + step].reshape(-1, channels, per_image // channels).float()
        sums += block.sum(dim=2).sum(dim=0, dtype=torch.float64)
        # vector_norm is both the fastest and an accurate float32 sum of squares here (a
        # GEMM-based einsum was biased by ~1e-5).
        norms = torch.linalg.vector_norm(block, dim=2).double()
        squares += norms.square_().sum(dim=0)
    count = n * per_image // channels
    mean = sums / count
    variance = (squares - sums * mean).clamp_(min=0.0) / max(count - 1, 1)
    std = variance.sqrt_().div_(255.0).clamp_(min=1e-6)
    return tuple(mean.div_(255.0).tolist()), tuple(std.tolist())
