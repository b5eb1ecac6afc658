"""Image-folder datasets: class sub-folders, train/test folders or a seeded split, resizing,
grayscale or RGB, and unreadable files skipped and reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.core.data import DatasetError, load_dataset
from explorer.core.data.folder import load_image_folder


def save_image(path: Path, value: int, size: tuple[int, int] = (20, 16), mode: str = "L") -> None:
    """A flat image of one gray `value` (W, H = size); the format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour: int | tuple[int, int, int] = value if mode == "L" else (value, 255 - value, 0)
    Image.new(mode, size, colour).save(path)


def make_folder(root: Path, per_class: int = 5) -> None:
    """Classes 'circle' (value 50, PNG), 'square' (150, JPEG) and 'triangle' (250, BMP)."""
    for name, value, suffix in (
        ("circle", 50, "png"),
        ("square", 150, "jpg"),
        ("triangle", 250, "bmp"),
    ):
        for i in range(per_class):
            save_image(root / name / f"{name}_{i}.{suffix}", value)


def test_classes_are_the_sorted_sub_folders_and_pixels_follow_them(tmp_path: Path) -> None:
    make_folder(tmp_path)

    splits = load_image_folder(tmp_path, seed=0)

    assert splits.class_names == ("circle", "square", "triangle")
    assert splits.input_shape == (1, 16, 20)  # the first image's (H, W), grayscale
    images = torch.cat([splits.train_images, splits.test_images])
    labels = torch.cat([splits.train_labels, splits.test_labels])
    assert len(labels) == 15 and torch.bincount(labels).tolist() == [5, 5, 5]
    for label, value in enumerate((50, 150, 250)):
        assert (images[labels == label].float().mean() - value).abs() < 3  # JPEG is lossy
    assert splits.warnings == ()


def test_broken_files_are_skipped_counted_and_named(tmp_path: Path) -> None:
    make_folder(tmp_path)
    (tmp_path / "circle" / "zz_not_an_image.png").write_bytes(b"this is not a PNG")
    good = tmp_path / "square" / "square_0.jpg"
    truncated = tmp_path / "square" / "zz_truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:60])
    (tmp_path / "triangle" / "notes.txt").write_text("ignored: not an image suffix")

    data = load_dataset(f"folder:{tmp_path}", seed=0)

    assert data.size("train") + data.size("test") == 15
    (warning,) = data.warnings
    assert "skipped 2 unreadable image file(s)" in warning
    assert "zz_not_an_image.png" in warning and "zz_truncated.jpg" in warning
    assert data.info.name == f"folder:{tmp_path}"


def test_train_and_test_sub_folders_are_used_as_given(tmp_path: Path) -> None:
    for split, count in (("train", 4), ("test", 2)):
        for name, value in (("ant", 10), ("bee", 200)):
            for i in range(count):
                save_image(tmp_path / split / name / f"{i}.png", value)

    splits = load_image_folder(tmp_path)

    assert splits.class_names == ("ant", "bee")
    assert splits.train_labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert splits.test_labels.tolist() == [0, 0, 1, 1]
    assert int(splits.test_images[2].float().mean()) == 200


def test_the_split_is_seeded_stratified_and_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        for i in range(10):
            save_image(tmp_path / name / f"{i:02d}.png", i * 20)

    first = load_image_folder(tmp_path, seed=1)
    again = load_image_folder(tmp_path, seed=1)
    other = load_image_folder(tmp_path, seed=2)

    assert torch.equal(first.test_images, again.test_images)
    assert not torch.equal(first.test_images, other.test_images)
    assert torch.bincount(first.test_labels).tolist() == [2, 2]  # 20% of each class
    assert torch.bincount(first.train_labels).tolist() == [8, 8]


def test_images_are_resized_and_converted_to_rgb_on_request(tmp_path: Path) -> None:
    make_folder(tmp_path)
    save_image(tmp_path / "circle" / "big.png", 90, size=(300, 200), mode="RGB")

    splits = load_image_folder(tmp_path, image_size=(8, 12), grayscale=False)

    assert splits.input_shape == (3, 8, 12)
    images = torch.cat([splits.train_images, splits.test_images])
    big = images[(images[:, 0].float().mean(dim=(1, 2)) - 90).abs() < 2]
    assert len(big) == 1
    assert big[0, 1].float().mean() == pytest.approx(165, abs=2)  # its green channel


def test_large_first_image_sets_a_64_pixel_default(tmp_path: Path) -> None:
    for name in ("x", "y"):
        for i in range(2):
            save_image(tmp_path / name / f"{i}.png", 100, size=(640, 480), mode="RGB")

    splits = load_image_folder(tmp_path)

    assert splits.input_shape == (3, 64, 64)


def test_downscaling_matches_pillow(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pattern = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    for name in ("p", "q"):
        for i in range(2):
            (tmp_path / name).mkdir(exist_ok=True)
            Image.fromarray(pattern).save(tmp_path / name / f"{i}.png")

    splits = load_image_folder(tmp_path, image_size=(20, 20))

    expected = np.asarray(Image.fromarray(pattern).resize((20, 20), Image.Resampling.BILINEAR))
    assert np.array_equal(splits.train_images[0, 0].numpy(), expected)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "does not exist"),
        ({"only/0.png": 1}, "needs at least 2"),
        ({"a/0.png": 1, "b/readme.txt": 0}, "needs at least 2"),
    ],
)
def test_unusable_folders_give_a_clear_error(
    tmp_path: Path, layout: dict[str, int], message: str
) -> None:
    root = tmp_path / "images"
    for relative, value in layout.items():
        target = root / relative
        if target.suffix == ".png":
            save_image(target, value)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("x")

    with pytest.raises(DatasetError, match=message):
        load_dataset(f"folder:{root}")


def test_test_classes_missing_from_train_are_an_error(tmp_path: Path) -> None:
    for split, names in (("train", ("a", "b")), ("test", ("a", "c"))):
        for name in names:
            save_image(tmp_path / split / name / "0.png", 5)

    with pytest.raises(DatasetError, match="classes that the training folder lacks: c"):
        load_image_folder(tmp_path)


def test_images_pillow_warns_about_still_load(tmp_path: Path) -> None:
    # Partial palette transparency makes Pillow warn on conversion; the image is readable.
    for name in ("a", "b"):
        image = Image.new("P", (6, 6), 1)
        image.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
        for i in range(2):
            (tmp_path / name).mkdir(exist_ok=True)
            image.save(tmp_path / name / f"{i}.png", transparency=b"\x00\x80")

    splits = load_image_folder(tmp_path, grayscale=False)

    assert splits.warnings == ()
    assert len(splits.train_labels) + len(splits.test_labels) == 4
    # Index 1 is half transparent (alpha 0x80): composited on black, as everywhere else.
    assert splits.train_images[0, :, 0, 0].tolist() == [100, 50, 25]


def test_one_image_per_class_says_the_split_is_too_small(tmp_path: Path) -> None:
    for name, value in (("cat", 10), ("dog", 200)):
        save_image(tmp_path / name / "only.png", value)

    with pytest.raises(DatasetError) as caught:
        load_dataset(f"folder:{tmp_path}")

    message = str(caught.value)
    assert "too small to split into train and test" in message
    assert "(cat 1, dog 1)" in message and "train/ and test/" in message
    assert "no readable images" not in message


def test_an_empty_test_folder_is_named(tmp_path: Path) -> None:
    for name in ("a", "b"):
        save_image(tmp_path / "train" / name / "0.png", 5)
    (tmp_path / "test" / "a").mkdir(parents=True)

    with pytest.raises(DatasetError, match=r"test has no PNG/JPEG/BMP files"):
        load_image_folder(tmp_path)


def test_unreadable_images_still_say_no_readable_images(tmp_path: Path) -> None:
    for name in ("a", "b"):
        for i in range(3):
            (tmp_path / name).mkdir(exist_ok=True)
            (tmp_path / name / f"{i}.png").write_bytes(b"not a png")

    with pytest.raises(DatasetError, match="none of the 6 image files could be read"):
        load_image_folder(tmp_path)
