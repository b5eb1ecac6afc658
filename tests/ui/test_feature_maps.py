"""Feature map, filter and activation views fed with real captures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PIL import Image

from explorer.core.activations import ACTIVATION_NAMES
from explorer.core.builder import build_model
from explorer.core.capture import activation_responses, capture
from explorer.core.mosaic import feature_mosaic, vector_strip
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.ui.activation_gallery import ActivationGallery
from explorer.ui.feature_maps import (
    MOSAIC_ASPECT,
    SEPARATOR_RGB,
    FeatureMapPanel,
    colormap_lut,
    save_png,
)
from explorer.ui.filters_view import FiltersView, kernel_image


@pytest.fixture(autouse=True)
def _row_major() -> None:
    pg.setConfigOptions(imageAxisOrder="row-major")


def _rgb_spec() -> NetworkSpec:
    layers = (
        LayerSpec.create("Conv2D", {"filters": 8, "kernel_size": 3, "activation": "relu"}),
        LayerSpec.create("MaxPool2D"),
        LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 3, "activation": "softmax"}),
    )
    return NetworkSpec(
        input=InputSpec(3, 16, 16),
        num_classes=3,
        layers=layers,
        class_names=("cat", "dog", "bird"),
    )


@pytest.fixture
def result():
    torch.manual_seed(0)
    return capture(build_model(_rgb_spec(), seed=0), torch.randn(3, 16, 16))


@pytest.fixture
def panel(qtbot, result) -> FeatureMapPanel:
    widget = FeatureMapPanel()
    qtbot.addWidget(widget)
    widget.resize(700, 600)
    widget.show()
    widget.set_spec(_rgb_spec())
    widget.show_capture(result)
    return widget


def test_each_layer_is_one_mosaic_and_vectors_a_strip(panel, result) -> None:
    images = panel.row_images()
    assert list(images) == [layer.name for layer in result.layers]
    for layer in result.layers:
        if layer.is_image:
            tiled = feature_mosaic(layer.output, indexed=True, aspect=MOSAIC_ASPECT)
        else:
            tiled = vector_strip(layer.output, indexed=True)
        np.testing.assert_array_equal(images[layer.name], tiled.image)
    row = panel._rows[0]
    assert "Conv2D 8 · 3×3 · relu" in row.label.text()
    assert "(per map)" in row.range_label.text()


def test_the_drawn_pixels_are_the_colormap_of_the_indices(panel, result) -> None:
    row = panel._rows[0]
    row.image.render()
    qimage = row.image.qimage
    indices = row.mosaic.image
    lut = colormap_lut("viridis", 255)
    for y, x in [(0, 0), (3, 5), (indices.shape[0] - 1, indices.shape[1] - 1), (0, 14)]:
        colour = qimage.pixelColor(x, y)
        index = int(indices[y, x])
        want = SEPARATOR_RGB if index == 0 else tuple(int(v) for v in lut[index - 1])
        assert (colour.red(), colour.green(), colour.blue()) == want
    assert (indices[:, 14] == 0).all()  # the separator after the first 14-pixel map


def test_shared_scale_and_colormap_toggle_redraw(panel, result) -> None:
    panel.shared_check.setChecked(True)
    first = result.layers[0]
    want = feature_mosaic(first.output, shared=True, indexed=True, aspect=MOSAIC_ASPECT).image
    np.testing.assert_array_equal(panel.row_images()[first.name], want)
    assert "(shared)" in panel._rows[0].range_label.text()
    panel.colormap_combo.setCurrentText("inferno")
    colours = panel._rows[0].image.colours
    inferno = colormap_lut("inferno", 255).astype(np.uint32)
    np.testing.assert_array_equal(colours[1:] & 0xFF, inferno[:, 2])
    np.testing.assert_array_equal((colours[1:] >> 16) & 0xFF, inferno[:, 0])


def test_probabilities_are_bars_with_the_top_class_highlighted(panel, result) -> None:
    top = int(np.argmax(result.probabilities))
    row = panel._probability_row
    np.testing.assert_allclose(row.bars.opts["width"], result.probabilities)
    assert ("cat", "dog", "bird")[top] in row.label.text()
    brushes = [b.color().name() for b in row.bars.opts["brushes"]]
    assert brushes.count("#f39c12") == 1 and brushes.index("#f39c12") == top


def test_many_classes_show_the_top_ten(qtbot) -> None:
    layers = (LayerSpec.create("Flatten"), LayerSpec.create("Dense", {"units": 100}))
    spec = NetworkSpec(input=InputSpec(1, 4, 4), num_classes=100, layers=layers)
    result = capture(build_model(spec, seed=1), torch.randn(1, 4, 4))
    panel = FeatureMapPanel()
    qtbot.addWidget(panel)
    panel.show_capture(result)
    widths = panel._probability_row.bars.opts["width"]
    np.testing.assert_allclose(widths, np.sort(result.probabilities)[::-1][:10])
    assert "top 10 of 100" in panel._probability_row.label.text()


def test_export_writes_a_png_of_what_is_shown(panel, tmp_path: Path) -> None:
    path = tmp_path / "maps.png"
    assert save_png(panel, str(path))
    with Image.open(path) as image:
        assert image.size == (panel.width(), panel.height())
        assert len(np.unique(np.asarray(image.convert("L")))) > 10  # not a blank canvas


def test_first_rgb_conv_kernels_are_colour_tiles(qtbot, result) -> None:
    view = FiltersView()
    qtbot.addWidget(view)
    view.show_capture(result, input_channels=3)
    kernel = result.layers[0].kernel
    image = view.image.image
    assert image.shape == kernel_image(kernel, rgb=True)[0].shape and image.shape[2] == 3
    # The tile of filter 0, channel 0 is the weights scaled around mid-grey.
    bound = np.abs(kernel).max()
    np.testing.assert_allclose(image[:3, :3, 0], kernel[0, 0] * 0.5 / bound + 0.5, rtol=1e-5)
    view.layer_combo.setCurrentIndex(1)  # the second conv: rows = outputs, cols = inputs
    second = result.layers[2].kernel
    assert view.image.image.ndim == 2
    assert view.image.image.shape == (4 * 4 - 1, 8 * 4 - 1)
    assert "rows: 4 output channels" in view.info_label.text()
    assert second.shape == (4, 8, 3, 3)


def test_activation_gallery_shows_every_function_of_the_vocabulary(qtbot, result) -> None:
    gallery = ActivationGallery()
    qtbot.addWidget(gallery)
    image = torch.randn(3, 16, 16)
    gallery.set_image(image)
    gallery.show_capture(result)
    shown = gallery.responses()
    assert tuple(shown) == ACTIVATION_NAMES
    _, want = activation_responses(image, result.layers[0].kernel[0])
    for name in ACTIVATION_NAMES:
        np.testing.assert_allclose(shown[name], want[name], rtol=1e-6)
    assert "filter 0 of conv2d_1" in gallery.info_label.text()


def test_moving_the_mouse_over_a_map_reports_its_channel_and_value(qtbot, panel, result) -> None:
    from PySide6.QtCore import QPoint, QPointF

    row = panel._rows[0]
    layout = row.mosaic.layout
    channel, y, x = 3, 5, 7
    pixel = QPointF(
        (channel % layout.cols) * (layout.width + layout.gap) + x + 0.5,
        (channel // layout.cols) * (layout.height + layout.gap) + y + 0.5,
    )
    qtbot.waitExposed(row.view)
    scene_point = row.image.mapToScene(pixel)
    view_point = row.view.mapFromScene(scene_point)
    qtbot.mouseMove(row.view.viewport(), QPoint(view_point.x(), view_point.y()))
    qtbot.waitUntil(lambda: "channel" in panel.hover_label.text(), timeout=3000)
    value = float(result.layers[0].output[channel, y, x])
    want = f"conv2d_1 · channel {channel} at (y {y}, x {x}): {value:.4g}"
    assert panel.hover_label.text() == want


def test_clicking_a_map_with_the_mouse_reports_its_channel(qtbot, panel) -> None:
    from PySide6.QtCore import QPoint, QPointF, Qt

    row = panel._rows[1]  # the pooled maps
    layout = row.mosaic.layout
    channel = 6
    pixel = QPointF(
        (channel % layout.cols) * (layout.width + layout.gap) + 2.5,
        (channel // layout.cols) * (layout.height + layout.gap) + 2.5,
    )
    qtbot.waitExposed(row.view)
    panel.scroll.ensureWidgetVisible(row.view)
    point = row.view.mapFromScene(row.image.mapToScene(pixel))
    with qtbot.waitSignal(panel.channel_clicked, timeout=3000) as blocker:
        qtbot.mouseClick(
            row.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(point.x(), point.y())
        )
    assert blocker.args == [row.name, channel]
