"""Per-sample augmentation of training batches, on the training device, with Kornia.

`build_augmentation(training, mean, std, shape)` turns the `augment_*` training settings into
an `Augmentation`: random crop after black padding (a shift by up to the padding), rotation
and scaling, all in one affine warp, then horizontal flip and random erasing, each drawn
independently for every image of a batch.
It returns None when every setting is off, so a run without augmentation imports nothing and
trains exactly as before. Kornia is imported here, lazily, never at window start.

The batches arrive normalised ((x/255 - mean)/std). The pipeline works on the unshifted
values x/(255·std), whose zero is a black pixel, so padding, the corners a rotation
uncovers and erased boxes are black, as in the raw image, and then shifts back.

Randomness: Kornia draws every parameter from torch's global CPU generator (its default
random-number device), which the trainer seeds with the run's seed and saves and restores
in checkpoints, so a seeded run and its resumed continuation augment the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from explorer.core.training_spec import TrainingSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentSettings:
    """The augmentation part of the training settings (all off by default)."""

    crop_padding: int = 0  # pixels of zero padding around the image before a random crop
    flip: bool = False  # horizontal flip with probability 1/2
    rotation: float = 0.0  # rotation by up to ± this many degrees
    scale: float = 0.0  # zoom by a factor in [1 - scale, 1 + scale]
    erasing: float = 0.0  # probability of erasing one random box of each image

    @staticmethod
    def of(training: TrainingSpec) -> AugmentSettings:
        return AugmentSettings(
            crop_padding=training.augment_crop_padding,
            flip=training.augment_flip,
            rotation=training.augment_rotation,
            scale=training.augment_scale,
            erasing=training.augment_erasing,
        )

    @property
    def active(self) -> bool:
        return bool(self.crop_padding or self.flip or self.rotation or self.scale or self.erasing)

    def describe(self) -> str:
        """A short list of what is on, for logs and the preview ("off" when nothing)."""
        parts = []
        if self.crop_padding:
            parts.append(f"crop ±{self.crop_padding} px")
        if self.flip:
            parts.append("flip")
        if self.rotation:
            parts.append(f"rotate ±{self.rotation:g}°")
        if self.scale:
            parts.append(f"scale ±{100 * self.scale:g}%")
        if self.erasing:
            parts.append(f"erase p={self.erasing:g}")
        return ", ".join(parts) or "off"


def transform_calls(
    settings: AugmentSettings, size: tuple[int, int]
) -> list[tuple[str, dict[str, object]]]:
    """The Kornia augmentations for `settings` on images of `size` (H, W), in the order
    applied, as (class name in kornia.augmentation, keyword arguments): the trainer builds
    them, the exported training script writes the same calls."""
    calls: list[tuple[str, dict[str, object]]] = []
    if settings.crop_padding or settings.rotation or settings.scale:
        # A crop after padding is a shift by up to the padding with black fill: one warp
        # does it with the rotation and zoom (Kornia's RandomCrop slices image by image).
        affine: dict[str, object] = {"degrees": settings.rotation}
        if settings.crop_padding:
            height, width = size
            affine["translate"] = (settings.crop_padding / width, settings.crop_padding / height)
        if settings.scale:
            affine["scale"] = (1.0 - settings.scale, 1.0 + settings.scale)
        if not (settings.rotation or settings.scale):
            affine["resample"] = "nearest"  # whole-pixel shifts, as a crop takes
        calls.append(("RandomAffine", {**affine, "p": 1.0}))
    if settings.flip:
        calls.append(("RandomHorizontalFlip", {"p": 0.5}))
    if settings.erasing:
        calls.append(("RandomErasing", {"p": settings.erasing, "value": 0.0}))
    return calls


def kornia_transforms(settings: AugmentSettings, size: tuple[int, int]) -> list[nn.Module]:
    """The Kornia modules of `transform_calls`."""
    import kornia.augmentation as K

    return [getattr(K, name)(**kwargs) for name, kwargs in transform_calls(settings, size)]


def _literal(value: object) -> str:
    """A value as Python source; a string in the double quotes formatters write."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def augmentation_source(settings: AugmentSettings, size: tuple[int, int]) -> str:
    """The body of the exported script's make_augmentation(): the same Kornia calls."""
    calls = transform_calls(settings, size)
    if not calls:
        return "    return None\n"
    lines = ""
    for name, kwargs in calls:
        arguments = ", ".join(f"{key}={_literal(value)}" for key, value in kwargs.items())
        lines += f"        K.{name}({arguments}),\n"
    return (
        "    import kornia.augmentation as K  # pip install kornia\n\n"
        f"    return nn.Sequential(\n{lines}    )\n"
    )


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
        self.pipeline = nn.Sequential(*kornia_transforms(settings, size))
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
