"""The input picker: drawing with the mouse, opening real files, browsing a real dataset."""

from __future__ import annotations

import gzip
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from explorer.ui.inspect import input_images
from explorer.ui.inspect.input_images import INLINE_VALUES, MAX_INPUT_VALUES
from explorer.ui.inspect.input_picker import InputPicker


@pytest.fixture
def picker(qtbot) -> Iterator[InputPicker]:
    widget = InputPicker()
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.shutdown()


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
    assert 0 < picker.grid.count() < 120  # the first thumbnails now, the rest a chunk a turn
    qtbot.waitUntil(lambda: picker.grid.count() == 120)
    assert not picker.grid_filling

    picker.class_combo.setCurrentIndex(1 + 3)  # "3"
    qtbot.waitUntil(lambda: not picker.grid_filling)
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


def test_a_large_input_is_converted_off_the_gui_thread(qtbot, picker, monkeypatch) -> None:
    shape = (3, 1024, 1024)
    assert INLINE_VALUES < 3 * 1024 * 1024 <= MAX_INPUT_VALUES
    threads: list[str] = []
    real = input_images.normalize_pixels

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(input_images, "normalize_pixels", recording)
    picker.set_input_shape(shape)
    with qtbot.waitSignal(picker.image_chosen, timeout=30_000) as blocker:
        picker.choose_default()
        assert picker.current is None  # nothing made here: the conversion runs elsewhere
    tensor, description = blocker.args
    assert threads and threading.main_thread().name not in threads
    assert tuple(tensor.shape) == shape and float(tensor.abs().max()) == 1.0
    assert "blank image" in description and picker.current is tensor
    assert not picker.preview.pixmap().isNull()


def test_a_huge_input_is_refused_with_its_size_and_nothing_input_sized_is_made(
    qtbot, picker, tmp_path: Path
) -> None:
    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(path)
    tracemalloc.start()
    try:
        with qtbot.assertNotEmitted(picker.image_chosen, wait=200):
            picker.set_input_shape((3, 10000, 10000))
            with qtbot.waitSignal(picker.input_refused) as refused:
                picker.choose_default()
            assert not picker.open_file(str(path))
            picker.tabs.setCurrentIndex(2)
            _draw_stroke(qtbot, picker.canvas, [(100, 100), (180, 180)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # the image alone would be 1.12 GB
    message = refused.args[0]
    assert "3×10000×10000" in message and "1.12 GB" in message
    assert "3×10000×10000" in picker.file_label.text()
    assert picker.current is None
    picker.set_input_shape((1, 28, 28))  # a network that fits is shown again at once
    with qtbot.waitSignal(picker.image_chosen):
        picker.choose_default()
    assert tuple(picker.current.shape) == (1, 28, 28)
