"""DeviceDataset: epochs, normalisation, validation split, statistics and the API others use."""

from __future__ import annotations

import pytest
import torch

from explorer.core.data import DatasetInfo, DeviceDataset, channel_statistics


def make_dataset(
    n_train: int = 1_000, n_test: int = 200, validation_fraction: float = 0.0, seed: int = 0
) -> tuple[DeviceDataset, torch.Tensor]:
    """Three channels with different statistics; label i identifies training image i."""
    generator = torch.Generator().manual_seed(42)
    images = torch.randint(0, 256, (n_train, 3, 8, 8), generator=generator, dtype=torch.uint8)
    images[:, 0] //= 4  # dark channel
    images[:, 1] = images[:, 1] // 2 + 100  # mid, narrow
    test = torch.randint(0, 256, (n_test, 3, 8, 8), generator=generator, dtype=torch.uint8)
    info = DatasetInfo("toy", (3, 8, 8), tuple(str(i) for i in range(n_train)))
    dataset = DeviceDataset(
        info,
        images,
        torch.arange(n_train),
        test,
        torch.zeros(n_test, dtype=torch.int64),
        validation_fraction=validation_fraction,
        seed=seed,
    )
    return dataset, images


def test_shuffled_batches_cover_every_sample_exactly_once_per_epoch() -> None:
    dataset, _ = make_dataset()
    generator = torch.Generator().manual_seed(0)

    orders = []
    for _ in range(2):
        seen = torch.cat(
            [
                labels
                for _, labels in dataset.batches("train", 128, shuffle=True, generator=generator)
            ]
        )
        assert sorted(seen.tolist()) == list(range(1_000))
        orders.append(seen)

    assert not torch.equal(orders[0], orders[1])  # a new permutation each epoch
    assert not torch.equal(orders[0], torch.arange(1_000))


def test_batches_keep_images_with_their_labels() -> None:
    dataset, images = make_dataset()
    generator = torch.Generator().manual_seed(1)

    batch, labels = next(dataset.batches("train", 64, shuffle=True, generator=generator))

    assert torch.allclose(batch, dataset.normalize(images[labels]))
    assert batch.shape == (64, 3, 8, 8) and batch.dtype == torch.float32


def test_drop_last_leaves_out_the_short_batch() -> None:
    dataset, _ = make_dataset()

    sizes = [len(labels) for _, labels in dataset.batches("train", 300, drop_last=True)]

    assert sizes == [300, 300, 300]


def test_normalised_train_split_has_zero_mean_and_unit_std_per_channel() -> None:
    dataset, _ = make_dataset(validation_fraction=0.2)

    everything = torch.cat([images for images, _ in dataset.batches("train", 100)])

    per_channel = everything.transpose(0, 1).reshape(3, -1).double()
    assert per_channel.mean(dim=1).abs().max() < 1e-5
    assert (per_channel.std(dim=1) - 1).abs().max() < 1e-5
    assert dataset.mean[0] < dataset.mean[2] and dataset.std[1] < dataset.std[2]


def test_validation_split_is_seeded_disjoint_and_ordered() -> None:
    dataset, _ = make_dataset(validation_fraction=0.25, seed=5)
    again, _ = make_dataset(validation_fraction=0.25, seed=5)
    other, _ = make_dataset(validation_fraction=0.25, seed=6)

    train, validation = dataset.labels("train"), dataset.labels("validation")
    assert (len(train), len(validation)) == (750, 250)
    assert sorted(torch.cat([train, validation]).tolist()) == list(range(1_000))
    assert torch.equal(train, train.sort().values) and torch.equal(
        validation, validation.sort().values
    )
    assert torch.equal(validation, again.labels("validation"))
    assert not torch.equal(validation, other.labels("validation"))


def test_without_validation_the_train_split_is_the_input_in_order() -> None:
    dataset, images = make_dataset()

    assert torch.equal(dataset.images("train"), images)
    assert dataset.size("validation") == 0
    image, label = dataset.sample("train", 3)
    assert label == 3 and torch.allclose(image, dataset.normalize(images[3:4])[0])


def test_channel_statistics_in_chunks_match_a_float64_reference() -> None:
    images = torch.randint(
        0, 256, (301, 3, 7, 5), generator=torch.Generator().manual_seed(3), dtype=torch.uint8
    )
    reference = images.transpose(0, 1).reshape(3, -1).double() / 255

    mean, std = channel_statistics(images, chunk_elements=1_000)  # many uneven chunks

    assert mean == pytest.approx(reference.mean(dim=1).tolist(), abs=1e-12)
    assert std == pytest.approx(reference.std(dim=1).tolist(), rel=1e-6)


def test_constant_images_do_not_divide_by_zero() -> None:
    mean, std = channel_statistics(torch.full((4, 1, 3, 3), 7, dtype=torch.uint8))

    assert mean == pytest.approx((7 / 255,)) and std == (1e-6,)


def test_wrong_image_type_or_shape_is_refused() -> None:
    info = DatasetInfo("toy", (1, 4, 4), ("a", "b"))
    floats = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="uint8"):
        DeviceDataset(info, floats, torch.zeros(2), floats.byte(), torch.zeros(2))
    with pytest.raises(ValueError, match="expected \\(1, 4, 4\\)"):
        DeviceDataset(
            info,
            torch.zeros(2, 1, 5, 5, dtype=torch.uint8),
            torch.zeros(2),
            floats.byte(),
            torch.zeros(2),
        )
