"""Feature map, filter and activation views fed with real captures."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPoint
from PySide6.QtGui import QFontMetrics

from explorer.core.builder import build_model
from explorer.core.capture import activation_responses, capture, with_mosaics
from explorer.core.mosaic import feature_mosaic, layer_mosaics, vector_strip
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.vocabulary.activation_functions import ACTIVATION_NAMES
from explorer.ui.inspect.feature_map_rows import NOT_FINITE_TEXT
from explorer.ui.inspect.feature_maps import (
    MOSAIC_ASPECT,
    SEPARATOR_RGB,
    FeatureMapPanel,
    colormap_lut,
    save_png,
)
from explorer.ui.inspect.filters import FiltersView, kernel_image
from explorer.ui.inspect.gallery import ActivationGallery
from tests.ui.test_deep_networks import deep_spec


def row_images(panel: FeatureMapPanel) -> dict[str, np.ndarray]:
    """The colour-index mosaic each layer row shows, or will show once drawn (0 on
    separators), at the panel's scale setting."""
    result = panel.result
    if result is None:
        return {}
    shared = panel.shared_check.isChecked()
    images = {}
    for row, layer in enumerate(result.layers):
        drawn = panel.model.mosaics(row) if panel.model.result is result else None
        kept = result.mosaics[row] if result.mosaics else None
        mosaics = drawn or kept or layer_mosaics(layer.output)
        images[layer.name] = mosaics.get(shared).image
    return images


def tile_values(gallery: ActivationGallery) -> dict[str, np.ndarray]:
    """The raw values each activation tile shows."""
    shown = {name: tile.item.image for name, tile in gallery.tiles.items()}
    return {name: image for name, image in shown.items() if image is not None}


@pytest.fixture(autouse=True)
def _row_major() -> None:
    pg.setConfigOptions(imageAxisOrder="row-major")


def _shown_panel(qtbot, spec: NetworkSpec, result, size: tuple[int, int] | None = None):
    """A shown feature-map panel of `spec` with `result` captured."""
    panel = FeatureMapPanel()
    qtbot.addWidget(panel)
    if size is not None:
        panel.resize(*size)
    panel.show()
    panel.set_spec(spec)
    panel.show_capture(result)
    return panel


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


def map_point(qtbot, panel: FeatureMapPanel, row: int, y: int, x: int) -> QPoint:
    """The viewport point over pixel (y, x) of row `row`'s mosaic, scrolled into view."""
    view = panel.view
    index = panel.model.index(row)
    qtbot.waitUntil(lambda: view.visualRect(index).height() > 0, timeout=3000)
    view.scrollTo(index)
    # The list may lay itself out again after scrolling (a delayed layout under load):
    # read the row's place only once it is on screen.
    qtbot.waitUntil(
        lambda: view.viewport().rect().intersects(view.visualRect(index)), timeout=10_000
    )
    geometry = panel.delegate.geometry(row)
    rect = geometry.image.translated(view.visualRect(index).topLeft())
    return QPoint(
        int(rect.left() + (x + 0.5) * geometry.scale), int(rect.top() + (y + 0.5) * geometry.scale)
    )


def test_each_layer_is_one_mosaic_and_vectors_a_strip(panel, result) -> None:
    images = row_images(panel)
    assert list(images) == [layer.name for layer in result.layers]
    for layer in result.layers:
        if layer.is_image:
            tiled = feature_mosaic(layer.output, indexed=True, aspect=MOSAIC_ASPECT)
        else:
            tiled = vector_strip(layer.output, indexed=True)
        np.testing.assert_array_equal(images[layer.name], tiled.image)
    texts = [text for _, text in panel.delegate.text_lines(0)]
    assert texts == ["conv2d_1", "Conv2D 8 · 3×3 · relu", "8×14×14"]
    assert "(per map)" in panel.range_text(0)
    assert [text for _, text in panel.delegate.text_lines(4)][2] == "logits (before softmax)"


def test_the_drawn_pixels_are_the_colormap_of_the_indices(qtbot, panel, result) -> None:
    qtbot.waitUntil(lambda: 0 in sorted(panel.delegate.images), timeout=3000)
    qimage = panel.delegate.image(0)
    indices = panel.row_mosaic(0).image
    lut = colormap_lut("viridis", 255)
    for y, x in [(0, 0), (3, 5), (indices.shape[0] - 1, indices.shape[1] - 1), (0, 14)]:
        colour = qimage.pixelColor(x, y)
        index = int(indices[y, x])
        want = SEPARATOR_RGB if index == 0 else tuple(int(v) for v in lut[index - 1])
        assert (colour.red(), colour.green(), colour.blue()) == want
    assert (indices[:, 14] == 0).all()  # the separator after the first 14-pixel map
    # And the screen shows them: the view's pixel over map pixel (3, 5) has its colour.
    point = map_point(qtbot, panel, 0, 3, 5)
    shown = panel.view.viewport().grab().toImage().pixelColor(point)
    want = tuple(int(v) for v in lut[int(indices[3, 5]) - 1])
    assert (shown.red(), shown.green(), shown.blue()) == want


def test_shared_scale_and_colormap_toggle_redraw(panel, result) -> None:
    panel.shared_check.setChecked(True)
    first = result.layers[0]
    want = feature_mosaic(first.output, shared=True, indexed=True, aspect=MOSAIC_ASPECT).image
    np.testing.assert_array_equal(row_images(panel)[first.name], want)
    assert "(shared)" in panel.range_text(0)
    panel.colormap_combo.setCurrentText("inferno")
    colours = panel.colours
    inferno = colormap_lut("inferno", 255).astype(np.uint32)
    np.testing.assert_array_equal(colours[1:] & 0xFF, inferno[:, 2])
    np.testing.assert_array_equal((colours[1:] >> 16) & 0xFF, inferno[:, 0])
    assert sorted(panel.delegate.images) == []  # every row is coloured again when next painted


def test_probabilities_are_bars_with_the_top_class_highlighted(qtbot, panel, result) -> None:
    top = int(np.argmax(result.probabilities))
    np.testing.assert_array_equal(panel.bar_order(), np.arange(3))
    prediction = len(result.layers)
    texts = [text for _, text in panel.delegate.text_lines(prediction)]
    assert texts[1].startswith(("cat", "dog", "bird")[top])
    panel.view.scrollToBottom()
    qtbot.wait(50)
    rect = panel.view.visualRect(panel.model.index(prediction))
    shot = panel.view.viewport().grab(rect).toImage()
    orange = sum(
        shot.pixelColor(x, y).name() == "#f39c12"
        for y in range(0, shot.height(), 2)
        for x in range(0, shot.width(), 2)
    )
    assert orange > 0  # the top class's bar is drawn in the highlight colour


def test_many_classes_show_the_top_ten(qtbot) -> None:
    layers = (LayerSpec.create("Flatten"), LayerSpec.create("Dense", {"units": 100}))
    spec = NetworkSpec(input=InputSpec(1, 4, 4), num_classes=100, layers=layers)
    result = capture(build_model(spec, seed=1), torch.randn(1, 4, 4))
    panel = _shown_panel(qtbot, spec, result)
    order = panel.bar_order()
    np.testing.assert_array_equal(order, np.argsort(result.probabilities)[::-1][:10])
    texts = [text for _, text in panel.delegate.text_lines(len(result.layers))]
    assert "top 10 of 100" in texts[-1]


def test_the_logits_strip_names_each_class(qtbot, panel, result) -> None:
    logits = len(result.layers) - 1
    point = map_point(qtbot, panel, logits, 0, 1)
    value = float(result.layers[logits].output[1])
    want = f"dense_1 · dog (unit 1): {value:.4g}"

    def hovered() -> bool:
        # From somewhere else first: a move to where the cursor already is (left there by
        # an earlier test) sends no event.
        qtbot.mouseMove(panel.view.viewport(), QPoint(0, 0))
        qtbot.mouseMove(panel.view.viewport(), point)
        return panel.hover_label.text() == want

    try:
        qtbot.waitUntil(hovered, timeout=10_000)
    except Exception:
        raise AssertionError(f"hover reads {panel.hover_label.text()!r}, want {want!r}") from None
    # The names are written under the cells: the row is taller than its strip.
    geometry = panel.delegate.geometry(logits)
    assert geometry.height >= geometry.image.height() + panel.delegate.small_line


def test_a_hidden_panel_draws_nothing_and_a_shown_one_only_the_rows_on_screen(qtbot) -> None:
    spec = deep_spec(150, classes=3)
    result = with_mosaics(capture(build_model(spec, seed=0), torch.randn(1, 6, 6)))
    panel = FeatureMapPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 500)
    panel.set_spec(spec)
    panel.show_capture(result)
    qtbot.wait(50)
    assert panel.result is result
    assert panel.model.rowCount() == 0 and sorted(panel.delegate.images) == []
    assert panel.delegate.images == {} and panel._titles == {}  # nothing described either

    panel.show()
    qtbot.waitExposed(panel)
    qtbot.waitUntil(lambda: bool(sorted(panel.delegate.images)), timeout=3000)
    assert panel.model.rowCount() == len(result.layers) + 1
    viewport = panel.view.viewport().rect()
    coloured = sorted(panel.delegate.images)
    assert 0 < len(coloured) < 20
    for row in coloured:
        assert panel.view.visualRect(panel.model.index(row)).intersects(viewport)

    panel.view.scrollToBottom()
    qtbot.waitUntil(lambda: len(result.layers) - 1 in sorted(panel.delegate.images), timeout=3000)
    assert len(sorted(panel.delegate.images)) < 40

    panel.hide()  # a new capture while hidden is kept, not drawn
    again = with_mosaics(capture(build_model(spec, seed=1), torch.randn(1, 6, 6)))
    panel.show_capture(again)
    assert panel.model.result is result and panel.result is again
    panel.show()
    qtbot.waitUntil(lambda: panel.model.result is again, timeout=3000)


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
    shown = tile_values(gallery)
    assert tuple(shown) == ACTIVATION_NAMES
    _, want = activation_responses(image, result.layers[0].kernel[0])
    for name in ACTIVATION_NAMES:
        np.testing.assert_allclose(shown[name], want[name], rtol=1e-6)
    assert "filter 0 of conv2d_1" in gallery.info_label.text()


def test_moving_the_mouse_over_a_map_reports_its_channel_and_value(qtbot, panel, result) -> None:
    layout = panel.row_mosaic(0).layout
    channel, y, x = 3, 5, 7
    point = map_point(
        qtbot,
        panel,
        0,
        (channel // layout.cols) * (layout.height + layout.gap) + y,
        (channel % layout.cols) * (layout.width + layout.gap) + x,
    )
    qtbot.mouseMove(panel.view.viewport(), point)
    qtbot.waitUntil(lambda: "channel" in panel.hover_label.text(), timeout=3000)
    value = float(result.layers[0].output[channel, y, x])
    want = f"conv2d_1 · channel {channel} at (y {y}, x {x}): {value:.4g}"
    assert panel.hover_label.text() == want


def test_clicking_a_map_with_the_mouse_reports_its_channel(qtbot, panel, result) -> None:
    from PySide6.QtCore import Qt

    layout = panel.row_mosaic(1).layout  # the pooled maps
    channel = 6
    point = map_point(
        qtbot,
        panel,
        1,
        (channel // layout.cols) * (layout.height + layout.gap) + 2,
        (channel % layout.cols) * (layout.width + layout.gap) + 2,
    )
    with qtbot.waitSignal(panel.channel_clicked, timeout=3000) as blocker:
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert blocker.args == [result.layers[1].path, channel]


def test_a_mosaic_shown_smaller_than_its_pixels_is_coloured_at_about_that_size(qtbot) -> None:
    conv = LayerSpec.create("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"})
    tail = (LayerSpec.create("GlobalAvgPool2D"), LayerSpec.create("Dense", {"units": 10}))
    spec = NetworkSpec(input=InputSpec(3, 96, 96), layers=(conv, *tail))
    result = capture(build_model(spec, seed=0), torch.randn(3, 96, 96))
    panel = _shown_panel(qtbot, spec, result, (700, 500))
    qtbot.waitUntil(lambda: 0 in sorted(panel.delegate.images), timeout=3000)
    indices = panel.row_mosaic(0).image
    geometry = panel.delegate.geometry(0)
    assert geometry.scale < 0.5 and indices.shape[1] > 2 * geometry.image.width()
    image = panel.delegate.image(0)
    assert image.width() <= 2 * geometry.image.width()
    step = int(1 / geometry.scale)
    lut = colormap_lut("viridis", 255)
    for y, x in [(0, 0), (5, 9), (image.height() - 1, image.width() - 1)]:
        index = int(indices[y * step, x * step])
        want = SEPARATOR_RGB if index == 0 else tuple(int(v) for v in lut[index - 1])
        colour = image.pixelColor(x, y)
        assert (colour.red(), colour.green(), colour.blue()) == want


def test_a_long_layer_description_wraps_between_its_parts_instead_of_being_cut(qtbot) -> None:
    conv = LayerSpec.create(
        "Conv2D",
        {"filters": 16, "kernel_size": 5, "padding": 2, "dilation": 2, "activation": "leaky_relu"},
    )
    tail = (LayerSpec.create("Flatten"), LayerSpec.create("Dense", {"units": 10}))
    spec = NetworkSpec(input=InputSpec(1, 28, 28), layers=(conv, *tail))
    panel = _shown_panel(qtbot, spec, capture(build_model(spec, seed=0), torch.zeros(1, 28, 28)))
    description = conv.describe()
    metrics = QFontMetrics(panel.font())
    assert metrics.horizontalAdvance(description) > 170  # too wide for the name column
    lines = [text for _, text in panel.delegate.text_lines(0)][1:-1]
    assert len(lines) >= 2 and " · ".join(lines) == description
    assert all(metrics.horizontalAdvance(line) <= 170 for line in lines)
    geometry = panel.delegate.geometry(0)
    fonts = panel.delegate.text_fonts(0)
    assert geometry.height >= sum(QFontMetrics(font).height() for font in fonts)


def test_outputs_that_overflowed_are_said_so_and_the_rows_still_draw(qtbot, caplog) -> None:
    # a deep residual stack's activations overflow to inf, and its logits to NaN
    spec = _rgb_spec()
    model = build_model(spec, seed=0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("inf"))
    result = with_mosaics(capture(model, torch.randn(3, 16, 16)))
    assert not np.isfinite(result.probabilities).all()
    panel = _shown_panel(qtbot, spec, result, (700, 600))
    last = panel.model.rowCount() - 1  # the prediction row
    assert panel.model.layer(last) is None
    texts = [text for _, text in panel.delegate.text_lines(last)]
    assert texts == ["prediction", NOT_FINITE_TEXT]
    panel.view.scrollToBottom()
    with caplog.at_level(logging.ERROR, logger="explorer.ui.inspect.feature_map_rows"):
        image = panel.view.viewport().grab()  # every row on screen painted, the last too
    painted = [r for r in caplog.records if r.name == "explorer.ui.inspect.feature_map_rows"]
    assert not image.isNull() and painted == []
