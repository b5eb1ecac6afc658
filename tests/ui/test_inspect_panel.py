"""The inspect panel end to end: every template through the real capture thread."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PySide6.QtCore import Qt

from explorer.core.builder import build_model
from explorer.core.capture import DEFAULT_MAX_CHANNELS, capture, snapshot_model
from explorer.core.mosaic import feature_mosaic
from explorer.core.spec import InputSpec
from explorer.core.templates import load_template, template_names
from explorer.ui.feature_maps import MOSAIC_ASPECT
from explorer.ui.inspect_panel import InspectPanel
from tests.ui.test_feature_maps import map_point


@pytest.fixture(autouse=True)
def _row_major() -> None:
    pg.setConfigOptions(imageAxisOrder="row-major")


@pytest.fixture
def panel(qtbot):
    widget = InspectPanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    widget.shutdown()


def _small(name: str):
    spec = load_template(name)
    if spec.input.height > 64:
        # VGG16 at 224×224 would need gigabytes for its dense layers; 64×64 keeps its shape.
        spec = dataclasses.replace(spec, input=InputSpec(spec.input.channels, 64, 64))
    return spec


@pytest.mark.parametrize("name", template_names())
def test_every_template_draws_its_initial_weights(qtbot, panel, name: str) -> None:
    torch.set_num_threads(1)
    spec = _small(name)
    with qtbot.waitSignal(panel.controller.captured, timeout=60_000):
        panel.set_spec(spec)
    result = panel.feature_maps.result
    assert result is not None
    assert [layer.name for layer in result.layers] == list(spec.layer_names())
    # The initial draw uses the spec's seeded initial weights on the blank default image.
    model = build_model(spec, seed=spec.training.seed)
    want = capture(model, panel.picker.current)
    images = panel.feature_maps.row_images()
    for got, expected in zip(result.layers, want.layers, strict=True):
        np.testing.assert_allclose(got.output, expected.output, rtol=1e-5, atol=1e-5)
        assert got.output.shape[0] <= DEFAULT_MAX_CHANNELS or not got.is_image
        if got.is_image:
            tiled = feature_mosaic(got.output, indexed=True, aspect=MOSAIC_ASPECT)
            np.testing.assert_array_equal(images[got.name], tiled.image)
    assert result.probabilities.shape == (spec.num_classes,)
    capped = [layer for layer in result.layers if layer.truncated]
    if capped:
        assert "first 64 maps" in panel.feature_maps.status_label.text()
    if name.startswith("vgg16"):
        assert capped  # 128..512-channel blocks are capped


def test_training_weights_redraw_the_maps(qtbot, panel) -> None:
    spec = load_template("keras-mnist")
    with qtbot.waitSignal(panel.controller.captured, timeout=30_000):
        panel.set_spec(spec)
    before = panel.feature_maps.result
    trained = build_model(spec, seed=99).state_dict()
    with qtbot.waitSignal(panel.controller.captured, timeout=30_000) as blocker:
        panel.refresh_from_weights(trained)
    after = blocker.args[0]
    want = capture(snapshot_model(spec, trained), panel.picker.current)
    for got, expected in zip(after.layers, want.layers, strict=True):
        np.testing.assert_allclose(got.output, expected.output, rtol=1e-5, atol=1e-5)
    assert not np.array_equal(before.layers[0].output, after.layers[0].output)
    assert panel.feature_maps.result is after


def test_clicking_a_map_enlarges_it_beside_the_kernels_that_made_it(qtbot, panel) -> None:
    spec = load_template("fashion-bn")  # Conv2D -> BatchNorm -> relu: kernels come from the conv
    with qtbot.waitSignal(panel.controller.captured, timeout=30_000):
        panel.set_spec(spec)
    result = panel.feature_maps.result
    relu = result.layers[2]
    maps = panel.feature_maps
    layout = maps.row_mosaic(2).layout
    channel = 5
    y = (channel // layout.cols) * (layout.height + layout.gap) + 3
    x = (channel % layout.cols) * (layout.width + layout.gap) + 4
    point = map_point(qtbot, maps, 2, y, x)
    with qtbot.waitSignal(maps.channel_clicked) as blocker:
        qtbot.mouseClick(maps.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert blocker.args == [relu.name, channel]
    detail = panel.detail
    assert detail is not None and detail.isVisible()
    np.testing.assert_array_equal(detail.map_image.image, relu.output[channel])
    conv_kernel = result.layers[0].kernel
    assert detail.kernel_image.image.shape == conv_kernel[channel, 0].shape
    assert result.layers[0].name in detail.kernel_label.text

    qtbot.mouseMove(maps.view.viewport(), point)
    qtbot.waitUntil(lambda: "channel" in maps.hover_label.text(), timeout=3000)
    text = maps.hover_label.text()
    assert f"channel {channel} at (y 3, x 4)" in text
    assert f"{float(relu.output[channel, 3, 4]):.4g}" in text


def test_a_loaded_dataset_is_browsed_and_its_first_test_image_drawn(qtbot, panel) -> None:
    from explorer.core.data import load_dataset

    dataset = load_dataset("shapes")
    spec = dataclasses.replace(load_template("keras-mnist"), class_names=dataset.info.class_names)
    with qtbot.waitSignal(panel.controller.captured, timeout=30_000):
        panel.set_spec(spec)
    with qtbot.waitSignal(panel.controller.captured, timeout=30_000) as blocker:
        panel.set_dataset(dataset)
    image, label = dataset.sample("test", 0)
    torch.testing.assert_close(panel.picker.current, image)
    assert panel.picker.description.endswith(f"label {dataset.info.class_names[label]}")
    want = capture(build_model(spec, seed=spec.training.seed), image)
    np.testing.assert_allclose(blocker.args[0].probabilities, want.probabilities, atol=1e-6)
    assert panel.feature_maps.class_name(0) == dataset.info.class_names[0]
