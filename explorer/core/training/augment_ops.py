"""The per-sample augmentation itself: one batched warp and one batched mask per batch.

`BatchAugment` draws every image's crop shift, rotation, zoom and flip at once and applies
them all with one `affine_grid` + `grid_sample` (the flip is a sign in the same matrix),
then erases one box per chosen image with a broadcast mask: a fixed handful of tensor
operations per batch whatever its size, no loop over images. Kornia's RandomAffine,
RandomHorizontalFlip and RandomErasing, which this replaces, took 19% of lenet5's training
throughput on a 2-core CPU, most of it Python overhead per batch (bench/augmentation.py).

The distributions are those of the usual recipes (torchvision's and Kornia's): a crop
after padding by P pixels is a shift by a whole number of pixels in [-P, P] on each axis,
the uncovered border black; rotation uniform in ±degrees; zoom uniform in 1 ± scale; flip
with probability 1/2; erasing (Zhong et al. 2017) of a box of 2–33% of the image with an
aspect ratio log-uniform in [0.3, 3.3].

This module imports only torch: the exported training script embeds `BatchAugment`'s
source as it is, so the script augments exactly as the trainer does (same draws under the
same seed). Every parameter is drawn from torch's global CPU generator, which the trainer
seeds and checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn


class BatchAugment(nn.Module):
    """Augments float batches (N, C, H, W) whose 0 is a black pixel, each image with its own
    random draw; returns a new batch of the same shape, dtype and device."""

    def __init__(
        self,
        size: tuple[int, int],
        crop_padding: int = 0,
        flip: bool = False,
        rotation: float = 0.0,
        scale: float = 0.0,
        erasing: float = 0.0,
    ) -> None:
        super().__init__()
        self.height, self.width = size
        self.crop_padding = crop_padding
        self.flip = flip
        self.rotation = rotation
        self.scale = scale
        self.erasing = erasing

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        # Every draw of the batch in one call: shift x, shift y, angle, zoom, flip, and the
        # erasing's chance, area, aspect ratio, top and left.
        draws = torch.rand(n, 10).to(images.device)
        warped = self.crop_padding or self.rotation or self.scale
        if warped:
            images = self._warp(images, draws[:, :5])
        elif self.flip:
            flipped = (draws[:, 4] < 0.5).view(-1, 1, 1, 1)
            images = torch.where(flipped, images.flip(3), images)
        if self.erasing:
            images = self._erase(images, draws[:, 5:])
        return images

    def _warp(self, images: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """Shift, rotation, zoom and flip as one affine warp with black fill. The matrix
        maps each output pixel to where it samples the input, in grid_sample's [-1, 1]
        coordinates (pixel centres, align_corners=False)."""
        height, width = self.height, self.width
        padding = self.crop_padding
        # Whole pixels in [-P, P], so a crop alone moves pixels without blending them.
        shift_x = torch.floor(draws[:, 0] * (2 * padding + 1)) - padding
        shift_y = torch.floor(draws[:, 1] * (2 * padding + 1)) - padding
        angle = torch.deg2rad((2 * draws[:, 2] - 1) * self.rotation)
        zoom = 1 + (2 * draws[:, 3] - 1) * self.scale
        mirror = torch.where(draws[:, 4] < 0.5, -1.0, 1.0) if self.flip else torch.ones_like(zoom)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        # In pixels about the centre: input = R(-angle)/zoom · (mirror·x - shift_x, y - shift_y).
        # In grid units x_g = 2x/W, y_g = 2y/H, so off-diagonal terms carry H/W or W/H.
        to_x, to_y = 2 / width, 2 / height
        row_x = (cos * mirror, sin * height / width, -(cos * shift_x + sin * shift_y) * to_x)
        row_y = (-sin * mirror * width / height, cos, (sin * shift_x - cos * shift_y) * to_y)
        # The sampling grid, as affine_grid builds it but with broadcast multiply-adds over
        # the pixel centres (affine_grid's batched matrix product is 10x slower on a CPU).
        device, dtype = images.device, images.dtype
        x = ((2 * torch.arange(width, device=device, dtype=dtype) + 1) / width - 1).view(1, 1, -1)
        y = ((2 * torch.arange(height, device=device, dtype=dtype) + 1) / height - 1).view(1, -1, 1)
        a, b, c = (term.to(dtype).view(-1, 1, 1) for term in row_x)
        d, e, f = (term.to(dtype).view(-1, 1, 1) for term in row_y)
        # Each full-size sum adds a row term (N, 1, W) to a column term (N, H, 1).
        # Stacked channels-first and viewed as (N, H, W, 2): stacking on the last axis
        # interleaves element by element, which took longer than the sampling itself.
        grid = torch.stack((a * x + (b * y + c), d * x + (e * y + f)), dim=1).permute(0, 2, 3, 1)
        mode = "bilinear" if self.rotation or self.scale else "nearest"
        return torch.nn.functional.grid_sample(
            images, grid, mode=mode, padding_mode="zeros", align_corners=False
        )

    def _erase(self, images: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """One black box on each image chosen with probability `erasing`."""
        height, width = self.height, self.width
        area = (0.02 + draws[:, 1] * (0.33 - 0.02)) * height * width
        # log-uniform in [0.3, 3.3]: 3.3 / 0.3 = 11
        ratio = 0.3 * torch.pow(11.0, draws[:, 2])
        box_h = torch.sqrt(area * ratio).round().clamp(1, height)
        box_w = torch.sqrt(area / ratio).round().clamp(1, width)
        top = torch.floor(draws[:, 3] * (height - box_h + 1))
        left = torch.floor(draws[:, 4] * (width - box_w + 1))
        rows = torch.arange(height, device=images.device).view(1, -1)
        columns = torch.arange(width, device=images.device).view(1, -1)
        chosen = (draws[:, 0] < self.erasing).view(-1, 1)
        top, left = top.view(-1, 1), left.view(-1, 1)
        in_rows = (rows >= top) & (rows < top + box_h.view(-1, 1)) & chosen  # (N, H)
        in_columns = (columns >= left) & (columns < left + box_w.view(-1, 1))  # (N, W)
        inside = in_rows.unsqueeze(2) & in_columns.unsqueeze(1)  # the one full-size mask
        return images.masked_fill(inside.unsqueeze(1), 0.0)
