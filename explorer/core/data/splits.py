"""ImageSplits: a dataset's train and test arrays as read from disk or generated, before
they move to the training device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class ImageSplits:
    """Train and test images as uint8 tensors (N, C, H, W) with int64 labels (N,), on the CPU.

    `warnings` lists things the user should know that did not stop loading (for example,
    image files that could not be decoded and were skipped).
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    class_names: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.train_images.shape[1:]
        return int(c), int(h), int(w)

    @classmethod
    def from_numpy(
        cls,
        train_images: np.ndarray,
        train_labels: np.ndarray,
        test_images: np.ndarray,
        test_labels: np.ndarray,
        class_names: tuple[str, ...],
        warnings: tuple[str, ...] = (),
    ) -> ImageSplits:
        """Wrap numpy arrays: images uint8 (N, C, H, W) or (N, H, W) for one channel."""

        def images(array: np.ndarray) -> torch.Tensor:
            if array.ndim == 3:
                array = array[:, None]
            # torch shares the buffer, so it must be writable and C-ordered (copies otherwise).
            return torch.from_numpy(np.require(array, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"]))

        def labels(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(array, dtype=np.int64).reshape(-1).copy())

        return cls(
            images(train_images),
            labels(train_labels),
            images(test_images),
            labels(test_labels),
            class_names,
            warnings,
        )
