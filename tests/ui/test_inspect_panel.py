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
from explorer.ui.inspect.feature_maps import MOSAIC_ASPECT
from explorer.ui.inspect.panel import InspectPanel
from tests.ui.test_feature_maps import map_point, row_images, tile_values


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
    # Every layer, those inside blocks too, and each block's merged output.
    assert {layer.path: layer.name for layer in result.layers} == spec.names()
    assert len(result.layers) == len(spec.names())
    # The initial draw uses the spec's seeded initial weights on the blank default image.
    model = build_model(spec, seed=spec.training.seed)
    want = capture(model, panel.picker.current)
    images = row_images(panel.feature_maps)
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
    assert blocker.args == [relu.path, channel]
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


def test_hidden_tabs_draw_only_once_they_are_shown(qtbot, panel) -> None:
    spec = load_template("keras-mnist")
    with qtbot.waitSignal(panel.controller.captured, timeout=30_000):
        panel.set_spec(spec)
    assert panel.tabs.currentWidget() is panel.feature_maps
    assert panel.filters.layer_combo.count() == 0  # the Filters tab has drawn nothing yet
    assert tile_values(panel.activations) == {}
    panel.tabs.setCurrentWidget(panel.filters)
    assert [panel.filters.layer_combo.itemText(i) for i in range(2)] == ["conv2d_1", "conv2d_2"]
    panel.tabs.setCurrentWidget(panel.activations)
    assert set(tile_values(panel.activations)) >= {"relu", "tanh"}


def test_a_network_too_large_to_capture_says_how_much_it_needs(qtbot, panel) -> None:
    from explorer.core.analysis import analyze
    from explorer.core.spec import LayerSpec, NetworkSpec
    from explorer.core.summary import format_bytes

    conv = LayerSpec.create("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"})
    spec = NetworkSpec(
        input=InputSpec(3, 1200, 1200), layers=(conv, conv, LayerSpec.create("Flatten"))
    )
    with qtbot.waitSignal(panel.controller.failed, timeout=30_000) as failed:
        panel.set_spec(spec)
    needed = format_bytes(analyze(spec).forward_bytes)  # every layer's output, 1.12 GB
    assert f"need {needed}, more than the 1.00 GB" in failed.args[0]
    assert panel.error_label.isVisible() and failed.args[0] in panel.error_label.text()


def _window(qtbot, spec):
    from explorer.ui.shell.main_window import MainWindow
    from explorer.ui.shell.workbench import Workbench

    window = MainWindow(spec)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    return window, Workbench(window, warm_up=False)


def _close(window, bench) -> None:
    bench.shutdown()
    window.recovery.timer.stop()
    window.document.undo_stack.setClean()


def test_docked_inspect_fits_a_1280_by_800_window_without_sideways_scrolling(qtbot) -> None:
    window, bench = _window(qtbot, load_template("keras-mnist"))
    try:
        bench.inspect_dock.raise_()
        qtbot.waitUntil(lambda: bench.inspect.isVisible(), timeout=5000)
        qtbot.waitUntil(lambda: bench.inspect.feature_maps.model.rowCount() > 0, timeout=30_000)
        area = bench.inspect_dock.widget()
        assert bench.inspect.minimumSizeHint().width() <= area.viewport().width()
        assert area.horizontalScrollBar().maximum() == 0
        # The feature-map controls and the tabs are all inside the panel, none cut off.
        maps = bench.inspect.feature_maps
        for widget in (maps.save_button, maps.shared_check, maps.colormap_combo):
            right = widget.mapTo(area.viewport(), widget.rect().topRight()).x()
            assert right <= area.viewport().width()
    finally:
        _close(window, bench)


def test_a_huge_input_in_the_window_is_refused_and_training_and_export_stay(qtbot) -> None:
    import tracemalloc

    spec = dataclasses.replace(load_template("strided-cifar"), input=InputSpec(3, 10000, 10000))
    tracemalloc.start()
    try:
        window, bench = _window(qtbot, spec)
        bench.inspect_dock.raise_()
        qtbot.waitUntil(lambda: bench.inspect.error_label.isVisible(), timeout=10_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        assert peak < 100 * 2**20  # one input image alone is 1.12 GB
        text = bench.inspect.error_label.text()
        assert "3×10000×10000" in text and "1.12 GB" in text
        assert bench.inspect.picker.current is None
        assert "trainingDock" in window.docks and bench.training is not None
        assert bench.export.menu.isEnabled() and bench.export.menu.actions()
        # Back to a size that fits: the maps come back.
        window.document.set_input(InputSpec(3, 32, 32))
        qtbot.waitUntil(lambda: bench.inspect.feature_maps.model.rowCount() > 0, timeout=30_000)
        assert not bench.inspect.error_label.isVisible()
    finally:
        _close(window, bench)
