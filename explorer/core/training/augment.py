"""Per-sample augmentation of training batches, on the training device.

`build_augmentation(training, mean, std, shape)` turns the `augment_*` training settings into
an `Augmentation`: random crop after black padding (a shift by up to the padding), rotation,
scaling and horizontal flip, all in one affine warp, then random erasing, each drawn
independently for every image of a batch (augment_ops.BatchAugment: batched torch
operations, a fixed few per batch). It returns None when every setting is off, so a run
without augmentation trains exactly as before.

The batches arrive normalised ((x/255 - mean)/std). The pipeline works on the unshifted
values x/(255·std), whose zero is a black pixel, so padding, the corners a rotation
uncovers and erased boxes are black, as in the raw image, and then shifts back.

Randomness: every parameter comes from torch's global CPU generator, which the trainer
seeds with the run's seed and saves and restores in checkpoints, so a seeded run and its
resumed continuation augment the same way.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from explorer.core.training import augment_ops
from explorer.core.training.augment_ops import BatchAugment
from explorer.core.training.augment_settings import AugmentSettings as AugmentSettings

if TYPE_CHECKING:
    from explorer.core.training_spec import TrainingSpec

log = logging.getLogger(__name__)


def batch_augment(settings: AugmentSettings, size: tuple[int, int]) -> BatchAugment:
    """The augmentation module for `settings` on images of `size` (H, W)."""
    return BatchAugment(
        size,
        crop_padding=settings.crop_padding,
        flip=settings.flip,
        rotation=settings.rotation,
        scale=settings.scale,
        erasing=settings.erasing,
    )


def augmentation_source(settings: AugmentSettings, size: tuple[int, int]) -> tuple[str, str]:
    """What the exported script needs to draw what the trainer draws: BatchAugment's own
    source (torch only), to stand at the top level before make_augmentation() ("" without
    augmentation), and the body of make_augmentation() with these settings."""
    if not settings.active:
        return "", "    return None\n"
    source = inspect.getsource(augment_ops.BatchAugment)
    values = {
        "crop_padding": settings.crop_padding,
        "flip": settings.flip,
        "rotation": settings.rotation,
        "scale": settings.scale,
        "erasing": settings.erasing,
    }
    arguments = ", ".join(f"{key}={value!r}" for key, value in values.items())
    return f"{source}\n\n", f"    return BatchAugment({size!r}, {arguments})\n"


class Augmentation(nn.Module):
    """Augments normalised float batches (N, C, H, W) in place of the originals: same shape,
    dtype and device, a different random draw for every image. Call it on training batches
    only."""

    shift: torch.Tensor

    def __init__(
        self,
        settings: AugmentSettings,
        mean: Sequence[float],
        std: Sequence[float],
        size: tuple[int, int],
    ) -> None:
        super().__init__()
        self.settings = settings
        self.pipeline = batch_augment(settings, size)
        # normalised = raw·scale + shift; the pipeline sees normalised - shift (0 = black).
        shift = [-m / s for m, s in zip(mean, std, strict=True)]
        self.register_buffer("shift", torch.tensor(shift).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        shift = self.shift.to(images.device, images.dtype)
        with torch.no_grad():
            augmented: torch.Tensor = self.pipeline(images - shift)
            return augmented.add_(shift)


def build_augmentation(
    training: TrainingSpec,
    mean: Sequence[float],
    std: Sequence[float],
    input_shape: tuple[int, int, int],
) -> Augmentation | None:
    """The augmentation the settings ask for on images of `input_shape` (C, H, W)
    normalised with `mean`/`std`, or None when all of it is off."""
    settings = AugmentSettings.of(training)
    if not settings.active:
        return None
    log.info("augmenting training batches: %s", settings.describe())
    return Augmentation(settings, mean, std, (input_shape[1], input_shape[2]))


def augment_images(
    augmentation: Augmentation, images: torch.Tensor, generator_seed: int | None = None
) -> torch.Tensor:
    """`augmentation` applied once to normalised `images`; with `generator_seed`, drawn
    under that seed without touching the global generator (previews, tests)."""
    if generator_seed is None:
        augmented: torch.Tensor = augmentation(images)
        return augmented
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(generator_seed)
        augmented = augmentation(images)
    return augmented


def preview_grid(
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    training: TrainingSpec,
    *,
    draws: int = 3,
    seed: int = 0,
    gap: int = 2,
) -> torch.Tensor:
    """A picture of what the augmentation does: one row per uint8 image (N, C, H, W), the
    image itself, then `draws` augmented versions (drawn under `seed`), `gap` pixels of grey
    between them. Returns uint8 (rows·H + gaps, (1 + draws)·W + gaps, C) on the CPU."""
    images = images.cpu()
    n, channels, height, width = images.shape
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    normalised = (images.float() / 255 - m) / s
    columns = [normalised]
    augmentation = build_augmentation(training, mean, std, (channels, height, width))
    if augmentation is not None:
        repeated = normalised.repeat_interleave(draws, dim=0)
        augmented = augment_images(augmentation, repeated, generator_seed=seed)
        columns += list(augmented.view(n, draws, channels, height, width).unbind(1))
    else:
        columns += [normalised] * draws
    pixels = [(c * s + m).mul(255).round().clamp(0, 255).to(torch.uint8) for c in columns]
    tile_h, tile_w = height + gap, width + gap
    grid = torch.full(
        (channels, n * tile_h - gap, len(pixels) * tile_w - gap), 128, dtype=torch.uint8
    )
    for col, block in enumerate(pixels):
        for row in range(n):
            y, x = row * tile_h, col * tile_w
            grid[:, y : y + height, x : x + width] = block[row]
    return grid.permute(1, 2, 0).contiguous()
