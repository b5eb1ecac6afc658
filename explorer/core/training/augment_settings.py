"""The augmentation part of the training settings, without torch: the Runs table and logs
describe a run's augmentation without importing what applies it (augment.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from explorer.core.training_spec import TrainingSpec


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
