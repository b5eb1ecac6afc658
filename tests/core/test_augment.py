"""On-device augmentation of training batches: per-sample draws, shapes, black fill,
seeding and resume, training batches only, and the settings in the project file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from explorer.core.project import load_project, save_project
from explorer.core.spec import SpecError, TrainingSpec
from explorer.core.training import Trainer, TrainingFinished, load_checkpoint
from explorer.core.training.augment import (
    AugmentSettings,
    augment_images,
    build_augmentation,
)
from explorer.core.training.metrics import measure_ensemble
from tests.core.test_trainer import quadrant_dataset, step_losses, stop_at, tiny_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EVERYTHING = {
    "augment_crop_padding": 2,
    "augment_flip": True,
    "augment_rotation": 15.0,
    "augment_scale": 0.1,
    "augment_erasing": 0.5,
}


def test_all_settings_off_builds_nothing_and_a_default_run_has_no_augmentation() -> None:
    training = TrainingSpec()
    assert not AugmentSettings.of(training).active
    assert build_augmentation(training, (0.5,), (0.25,), (1, 8, 8)) is None
    assert Trainer(tiny_spec(), quadrant_dataset())._augment is None


def test_identical_images_in_a_batch_get_different_augmentations() -> None:
    dataset = quadrant_dataset()
    augmentation = build_augmentation(
        TrainingSpec.create(EVERYTHING), dataset.mean, dataset.std, (1, 8, 8)
    )
    assert augmentation is not None
    image, _ = dataset.sample("train", 0)
    batch = image.expand(16, -1, -1, -1).contiguous()
    out = augment_images(augmentation, batch, generator_seed=3)
    assert out.shape == batch.shape
    assert out.dtype == torch.float32
    assert out.device == batch.device
    distinct = {tuple(row.flatten().tolist()) for row in out}
    assert len(distinct) == 16
    assert not torch.equal(out[0], batch[0])


def test_padding_uncovered_by_the_crop_is_black_and_the_rest_is_the_image() -> None:
    # Every pixel white: after a crop with padding, each pixel is either white or black.
    mean, std = (0.3,), (0.2,)
    white, black = (1.0 - 0.3) / 0.2, (0.0 - 0.3) / 0.2
    training = TrainingSpec.create({"augment_crop_padding": 3})
    augmentation = build_augmentation(training, mean, std, (1, 10, 10))
    assert augmentation is not None
    batch = torch.full((32, 1, 10, 10), white)
    out = augment_images(augmentation, batch, generator_seed=0)
    is_white = torch.isclose(out, torch.tensor(white))
    is_black = torch.isclose(out, torch.tensor(black))
    assert bool((is_white | is_black).all())
    assert bool(is_black.any()) and bool(is_white.any())
    # A crop never shifts by more than the padding: the middle pixels stay white.
    assert bool(is_white[:, :, 3:7, 3:7].all())


def test_the_same_seed_draws_the_same_augmentation_and_another_seed_does_not() -> None:
    dataset = quadrant_dataset()
    augmentation = build_augmentation(
        TrainingSpec.create(EVERYTHING), dataset.mean, dataset.std, (1, 8, 8)
    )
    assert augmentation is not None
    batch = next(dataset.batches("train", 32))[0]
    first = augment_images(augmentation, batch, generator_seed=7)
    assert torch.equal(first, augment_images(augmentation, batch, generator_seed=7))
    assert not torch.equal(first, augment_images(augmentation, batch, generator_seed=8))


def test_an_augmented_run_is_reproducible_and_differs_from_an_unaugmented_one() -> None:
    dataset = quadrant_dataset()

    def curve(**settings: object) -> list[float]:
        spec = tiny_spec(epochs=2, seed=4, **settings)
        return step_losses(list(Trainer(spec, dataset, report_interval=0.0).run()))

    augmented = curve(**EVERYTHING)
    assert augmented == curve(**EVERYTHING)
    assert augmented != curve()


def test_resuming_an_augmented_run_continues_the_same_curve(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    spec = tiny_spec(epochs=3, seed=5, dropout=True, **EVERYTHING)
    dataset = quadrant_dataset()
    reference = step_losses(list(Trainer(spec, dataset, report_interval=0.0).run()))

    trainer = Trainer(spec, dataset, report_interval=0.0, checkpoint_path=path)
    stopped_at = stop_at(trainer, 20)  # inside the second epoch (15 per epoch)
    checkpoint = load_checkpoint(path)
    resumed = list(Trainer(checkpoint.spec, dataset, resume=checkpoint, report_interval=0).run())
    assert step_losses(resumed) == reference[stopped_at:]


def test_only_training_batches_are_augmented_and_the_test_accuracy_is_unaugmented() -> None:
    dataset = quadrant_dataset(validation=0.25)
    spec = tiny_spec(epochs=2, **EVERYTHING)
    trainer = Trainer(spec, dataset, report_interval=0.0)
    assert trainer._augment is not None
    seen: list[int] = []
    trainer._augment.register_forward_hook(lambda _m, args, _out: seen.append(len(args[0])))
    events = list(trainer.run())
    final = events[-1]
    assert isinstance(final, TrainingFinished)
    # Every training image once per epoch, and nothing of validation (120) or test (160).
    assert sum(seen) == 2 * dataset.size("train") == 2 * 360
    assert all(size == 32 or size == 360 % 32 for size in seen)
    # The reported test accuracy is that of the plain test images.
    plain = measure_ensemble([trainer.model], dataset, "test", 256)
    assert final.test_accuracy == plain.accuracy
    assert final.test_loss == pytest.approx(plain.loss)


def test_augmentation_settings_survive_a_project_save_and_load(tmp_path: Path) -> None:
    spec = tiny_spec(**EVERYTHING)
    save_project(spec, tmp_path / "net.json")
    loaded = load_project(tmp_path / "net.json").training
    assert AugmentSettings.of(loaded) == AugmentSettings(2, True, 15.0, 0.1, 0.5)
    assert loaded == spec.training


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("augment_crop_padding", -1),
        ("augment_crop_padding", 65),
        ("augment_rotation", 181.0),
        ("augment_scale", 0.6),
        ("augment_erasing", 1.5),
        ("augment_flip", "sometimes"),
    ],
)
def test_out_of_range_augmentation_settings_are_refused(key: str, value: object) -> None:
    with pytest.raises(SpecError, match=key):
        TrainingSpec.create({key: value})


def test_the_settings_describe_what_is_on() -> None:
    assert AugmentSettings().describe() == "off"
    described = AugmentSettings.of(TrainingSpec.create(EVERYTHING)).describe()
    assert described == "crop ±2 px, flip, rotate ±15°, scale ±10%, erase p=0.5"


def _shifted(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """`image` (C, H, W) moved right by dx and down by dy, the uncovered border 0."""
    height, width = image.shape[1:]
    padded = torch.nn.functional.pad(image, (2, 2, 2, 2))
    return padded[:, 2 - dy : 2 - dy + height, 2 - dx : 2 - dx + width]


def test_crop_and_flip_move_whole_pixels_of_the_image_or_its_mirror() -> None:
    """With a crop and a flip, every augmented image is exactly the image or its mirror
    image, shifted by whole pixels within the padding (checked against plain slicing, on a
    non-square image so that the two axes cannot be mixed up)."""
    from explorer.core.training.augment_ops import BatchAugment

    generator = torch.Generator().manual_seed(5)
    images = torch.rand(48, 2, 9, 13, generator=generator) + 0.5  # no zero pixel inside
    augment = BatchAugment((9, 13), crop_padding=2, flip=True)
    torch.manual_seed(1)
    out = augment(images)
    seen = set()
    for image, result in zip(images, out, strict=True):
        matches = [
            (dx, dy, mirrored)
            for mirrored in (False, True)
            for dx in range(-2, 3)
            for dy in range(-2, 3)
            if torch.equal(result, _shifted(image.flip(2) if mirrored else image, dx, dy))
        ]
        assert len(matches) == 1, matches
        seen.add(matches[0])
    assert {mirrored for _, _, mirrored in seen} == {False, True}
    assert len(seen) >= 15  # of 50 possible draws: they are drawn per image


def test_erasing_blacks_out_one_box_of_a_chosen_share_of_images() -> None:
    from explorer.core.training.augment_ops import BatchAugment

    images = torch.ones(400, 1, 20, 30)
    torch.manual_seed(2)
    out = BatchAugment((20, 30), erasing=0.5)(images)
    erased = out == 0
    counts = erased.flatten(1).sum(1)
    chosen = counts > 0
    assert 160 < int(chosen.sum()) < 240  # p = 0.5 of 400
    share = counts[chosen].float() / 600
    assert float(share.min()) >= 0.01 and float(share.max()) <= 0.4  # boxes of 2-33%
    for box in erased[chosen][:50, 0]:
        rows, columns = box.any(1).nonzero(), box.any(0).nonzero()
        height = int(rows.max() - rows.min() + 1)
        width = int(columns.max() - columns.min() + 1)
        assert int(box.sum()) == height * width  # one solid rectangle
