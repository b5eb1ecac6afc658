"""The quadrant images: a tiny dataset a small network learns in a few epochs."""

from __future__ import annotations

import torch


def quadrant_images(
    n: int, seed: int, *, channels: int, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` noisy `size`×`size` uint8 images in four classes and their labels: each class has
    one bright quadrant, learnable in a few epochs by a tiny network, yet not at the first
    step."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=generator)
    images = torch.randint(0, 120, (n, channels, size, size), generator=generator)
    half = size // 2
    for k in range(4):
        row, col = divmod(k, 2)
        images[labels == k, :, half * row : half * row + half, half * col : half * col + half] += 90
    return images.to(torch.uint8), labels
