"""Fitting stored images to the input a network expects: channel count and size."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.core.data.memory import check_fits

# ITU-R BT.601 luma weights, as Pillow's "L" conversion uses.
_LUMA = (0.299, 0.587, 0.114)
_CHUNK_IMAGES = 4096


def adapt_images(images: torch.Tensor, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, channels, size[0], size[1]).

    Grayscale becomes RGB by repeating the plane; RGB becomes grayscale by luma. Resizing
    is bilinear with antialiasing when shrinking. Returns `images` itself if nothing changes.
    Works in chunks, so memory stays bounded for 60,000-image sets; raises DatasetError,
    with the numbers, if the result would not fit in the memory available.
    """
    n, c, h, w = images.shape
    if c not in (1, 3) or channels not in (1, 3):
        raise ValueError(f"can only convert between 1 and 3 channels, not {c} -> {channels}")
    if c == channels and (h, w) == size:
        return images
    if images.device.type == "cpu":
        chunk_bytes = min(n, _CHUNK_IMAGES) * max(c, channels) * max(h * w, size[0] * size[1]) * 4
        check_fits(
            n * channels * size[0] * size[1] + 3 * chunk_bytes,
            f"{n:,} images at {channels}×{size[0]}×{size[1]}",
            "use a smaller input size",
        )
    out = torch.empty((n, channels, *size), dtype=torch.uint8, device=images.device)
    for start in range(0, n, _CHUNK_IMAGES):
        chunk = images[start : start + _CHUNK_IMAGES].float()
        if c == 3 and channels == 1:
            weights = torch.tensor(_LUMA, device=chunk.device).view(1, 3, 1, 1)
            chunk = (chunk * weights).sum(dim=1, keepdim=True)
        if (h, w) != size:
            chunk = F.interpolate(
                chunk, size=size, mode="bilinear", align_corners=False, antialias=True
            )
        # One plane broadcasts to three channels on assignment.
        out[start : start + _CHUNK_IMAGES] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out
