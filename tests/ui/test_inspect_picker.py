"""The input picker: drawing with the mouse, opening real files, browsing a real dataset."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from explorer.ui.input_picker import InputPicker


@pytest.fixture
def picker(qtbot) -> InputPicker:
    widget = InputPicker()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _draw_stroke(qtbot, canvas, points: list[tuple[int, int]]) -> None:
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(*points[0]))
    for x, y in points[1:]:
        qtbot.mouseMove(canvas, QPoint(x, y))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(*points[-1]))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_drawing_gives_an_input_of_the_networks_shape(qtbot, picker, shape) -> None:
    picker.set_input_shape(shape)
    picker.tabs.setCurrentIndex(2)
    canvas = picker.canvas
    with qtbot.waitSignal(picker.image_chosen) as blocker:
        _draw_stroke(qtbot, canvas, [(140, 40), (140, 100), (140, 160), (140, 240)])
    tensor, description = blocker.args
    assert isinstance(tensor, torch.Tensor) and tuple(tensor.shape) == shape
    strokes = canvas.strokes()
    assert strokes[40:240, 135:146].min() == 255  # the whole vertical line was drawn
    assert strokes[:, :100].max() == 0
    # Ink is bright and the background is the normalised black level.
    assert float(tensor.max()) > float(tensor.min())
    assert float(tensor[0, 0, 0]) == pytest.approx((0 - 0.5) / 0.5)
    assert "centred" in description


def test_clear_and_stroke_width_change_the_drawing(qtbot, picker) -> None:
    canvas = picker.canvas
    picker.stroke_spin.setValue(6)
    _draw_stroke(qtbot, canvas, [(50, 140), (230, 140)])
    thin = int((canvas.strokes()[:, 140] > 0).sum())
    picker.clear_button.click()
    assert canvas.strokes().max() == 0
    picker.stroke_spin.setValue(40)
    _draw_stroke(qtbot, canvas, [(50, 140), (230, 140)])
    thick = int((canvas.strokes()[:, 140] > 0).sum())
    assert thin <= 8 < 30 <= thick


@pytest.mark.parametrize("suffix", ["png", "jpg", "bmp"])
def test_a_file_of_another_size_and_channels_is_converted(
    qtbot, picker, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"cat.{suffix}"
    rgb = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    picker.set_input_shape((1, 28, 28))
    picker.set_normalization((0.1307,), (0.3081,))
    with qtbot.waitSignal(picker.image_chosen) as blocker:
        assert picker.open_file(str(path))
    tensor, description = blocker.args
    assert tuple(tensor.shape) == (1, 28, 28)
    assert "RGB 640×480 → grayscale 28×28" in description
    assert "RGB 640×480 → grayscale 28×28" in picker.file_label.text()
    assert picker.preview.pixmap() is not None and not picker.preview.pixmap().isNull()


def test_an_unreadable_file_is_reported_and_chooses_nothing(qtbot, picker, tmp_path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8 not really")
    with qtbot.assertNotEmitted(picker.image_chosen):
        assert not picker.open_file(str(path))
    assert "cannot read broken.jpg" in picker.file_label.text()


def _idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path) as f:
        return np.frombuffer(f.read()[header:], np.uint8)


def test_browsing_real_mnist_filters_by_class_and_jumps_at_random(
    qtbot, picker, real_datasets: Path
) -> None:
    images = _idx(real_datasets / "mnist" / "t10k-images-idx3-ubyte.gz", 16)
    labels = _idx(real_datasets / "mnist" / "t10k-labels-idx1-ubyte.gz", 8)
    images = images.reshape(-1, 1, 28, 28)[:500]
    labels = labels[:500].astype(np.int64)
    names = [str(i) for i in range(10)]
    picker.set_samples(images, labels, names, (0.1307,), (0.3081,))
    assert picker.grid.count() == 120

    picker.class_combo.setCurrentIndex(1 + 3)  # "3"
    assert picker.grid.count() == int((labels == 3).sum())
    labels_shown = {
        picker.grid.item(i).data(Qt.ItemDataRole.UserRole) for i in range(picker.grid.count())
    }
    assert labels_shown == {"3"}

    with qtbot.waitSignal(picker.image_chosen) as blocker:
        picker.random_button.click()
    tensor, description = blocker.args
    index = int(description.split("#")[1].split()[0])
    assert labels[index] == 3 and description.endswith("label 3")
    want = (torch.from_numpy(images[index].astype(np.float32)) / 255 - 0.1307) / 0.3081
    torch.testing.assert_close(tensor, want)

    with qtbot.waitSignal(picker.image_chosen) as blocker:
        picker.grid.setCurrentRow(2)
    assert blocker.args[1].endswith("label 3")
