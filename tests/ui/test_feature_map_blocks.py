"""The feature-map list, filters and channel detail of networks with blocks: nested rows,
merged outputs, and the selection, with real captures, widgets and mouse and key events."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from torch import nn

from explorer.core.builder import Network
from explorer.core.capture import capture
from explorer.core.paths import LayerPath
from explorer.ui.inspect.feature_map_rows import NAME_WIDTH, PAD
from explorer.ui.inspect.feature_maps import FeatureMapPanel
from explorer.ui.inspect.filters import FiltersView
from explorer.ui.inspect.panel import kernel_source
from explorer.ui.inspect.row_marks import INDENT
from tests.core.blocks_by_hand import build_by_hand, nested_spec

P = LayerPath


@pytest.fixture(autouse=True)
def _row_major() -> None:
    pg.setConfigOptions(imageAxisOrder="row-major")


@pytest.fixture
def result() -> Any:
    torch.manual_seed(0)
    return capture(build_by_hand(nested_spec(), seed=0), torch.randn(2, 6, 6))


@pytest.fixture
def panel(qtbot: Any, result: Any) -> FeatureMapPanel:
    widget = FeatureMapPanel()
    qtbot.addWidget(widget)
    widget.resize(700, 900)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_spec(nested_spec())
    widget.show_capture(result)
    return widget


def _on_screen(qtbot: Any, panel: FeatureMapPanel, row: int) -> Any:
    view = panel.view
    index = panel.model.index(row)
    view.scrollTo(index)
    qtbot.waitUntil(
        lambda: view.viewport().rect().intersects(view.visualRect(index)), timeout=10_000
    )
    return view.visualRect(index)


def test_every_nested_layer_and_each_merged_block_is_a_row_in_stack_order(panel, result) -> None:
    labels = [panel.delegate.text_lines(row)[0][1] for row in range(panel.model.rowCount())]
    assert labels == [
        "conv2d_1",
        "conv2d_2",
        "batch_norm_1",
        "residual_1 (merged)",
        "conv2d_3",
        "conv2d_4",
        "residual_2 (merged)",
        "parallel_1 (merged)",
        "flatten_1",
        "dense_1",
        "prediction",
    ]
    texts = [text for _, text in panel.delegate.text_lines(3)]
    assert "Residual ×2" in " ".join(texts)
    assert "4×6×6" in texts
    assert any("Parallel" in text for _, text in panel.delegate.text_lines(7))
    # The first layer of each sub-stack says which one it opens.
    notes = {
        row: [text for font, text in panel.delegate.text_lines(row) if font.italic()]
        for row in range(10)
    }
    assert " · ".join(notes[1]) == "residual_1 › body · copy 1 of 2"
    assert notes[2] == [] and notes[3] == []
    assert notes[4] == ["parallel_1 › branch 1"]
    assert notes[5] == ["parallel_1 › branch 2", "residual_2 › body"]  # wrapped


def test_nested_rows_are_indented_with_a_guide_line_per_block_around_them(qtbot, panel) -> None:
    image = panel.view.viewport().grab().toImage()

    def guide(row: int, level: int) -> bool:
        rect = _on_screen(qtbot, panel, row)
        shot = panel.view.viewport().grab().toImage()
        x = PAD + level * INDENT + INDENT // 2 - 2
        colour = shot.pixelColor(x, rect.top() + rect.height() // 2)
        return colour.name() == "#9aa7b4"

    assert image.width() > 0
    assert not guide(0, 0)  # a top-level layer
    assert guide(1, 0)  # in residual_1's body
    assert not guide(3, 0)  # residual_1's merged output is back at its own level
    assert guide(5, 0) and guide(5, 1)  # in residual_2 inside parallel_1's branch
    assert not guide(6, 1) and guide(6, 0)  # residual_2's merged row closes its level


def test_selecting_a_path_selects_and_scrolls_to_its_row_without_reporting_it(qtbot, panel) -> None:
    panel.resize(700, 250)
    with qtbot.assertNotEmitted(panel.layer_selected):
        panel.select_path(P((2, 1, 0)))  # a nested block: its merged output
        qtbot.wait(20)
    current = panel.view.currentIndex()
    assert current.row() == 6
    assert panel.view.selectionModel().isSelected(current)
    viewport = panel.view.viewport().rect()
    qtbot.waitUntil(lambda: viewport.intersects(panel.view.visualRect(current)), timeout=5000)
    rect = panel.view.visualRect(current)
    shot = panel.view.viewport().grab().toImage()
    y = rect.top() + rect.height() // 2
    assert shot.pixelColor(1, y).name() == "#2a82da"  # the selection's accent
    assert shot.pixelColor(NAME_WIDTH - 3, y).name() == "#cfe3f7"
    panel.select_path(None)
    assert not panel.view.selectionModel().selectedIndexes()


def test_choosing_a_row_by_mouse_or_keys_reports_its_layer(qtbot, panel) -> None:
    rect = _on_screen(qtbot, panel, 2)
    with qtbot.waitSignal(panel.layer_selected, timeout=3000) as chosen:
        qtbot.mouseClick(
            panel.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(20, rect.center().y())
        )
    assert chosen.args == [P((1, 0, 1))]
    panel.view.setFocus()
    with qtbot.waitSignal(panel.layer_selected, timeout=3000) as moved:
        qtbot.keyClick(panel.view, Qt.Key.Key_Down)
    assert moved.args == [P((1,))]
    assert panel.selected_path == P((1,))


def test_a_new_capture_keeps_the_selected_layer_selected(qtbot, panel) -> None:
    panel.select_path(P((2, 0, 0)))
    again = capture(build_by_hand(nested_spec(), seed=9), torch.randn(2, 6, 6))
    panel.show_capture(again)
    assert panel.view.currentIndex().row() == 4
    panel.clear()
    panel.show_capture(again)  # rows laid out anew
    assert panel.view.currentIndex().row() == 4
    assert panel.view.selectionModel().isSelected(panel.view.currentIndex())


def test_the_kernels_of_a_map_come_from_the_convolution_that_feeds_it(result) -> None:
    position = result.position
    conv2d_2 = result.layers[position(P((1, 0, 0)))]
    assert kernel_source(result, position(P((1, 0, 1)))) is conv2d_2  # BN after the conv
    assert kernel_source(result, position(P((1,)))) is None  # a merge mixes its inputs
    assert kernel_source(result, position(P((3,)))) is None  # flatten: no maps
    assert result.input_of(P((2, 1, 0, 0, 0))) is result.layers[position(P((1,)))]
    assert result.input_of(P((0,))) is None


def test_filters_list_nested_convolutions_with_the_blocks_around_them(qtbot, result) -> None:
    view = FiltersView()
    qtbot.addWidget(view)
    view.show_capture(result, input_channels=2)
    items = [view.layer_combo.itemText(i) for i in range(view.layer_combo.count())]
    assert items == [
        "conv2d_1",
        "conv2d_2 in residual_1",
        "conv2d_3 in parallel_1",
        "conv2d_4 in parallel_1 › residual_2",
    ]
    view.layer_combo.setCurrentText(items[3])
    assert "<b>conv2d_4</b>" in view.info_label.text()
    assert view.image.image is not None
    kernel = result.layers[result.position(P((2, 1, 0, 0, 0)))].kernel
    assert "4 input channels" in view.info_label.text() and kernel.shape[1] == 4


def test_a_depthwise_kernel_is_one_2d_filter_per_channel(qtbot) -> None:
    torch.manual_seed(1)
    depthwise = nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 6, 3, padding=1, groups=3)))
    model = Network(
        [("conv2d_1", depthwise), ("flatten_1", nn.Flatten())],
        input_shape=(3, 5, 5),
        final_softmax=False,
        penalties={},
    ).eval()
    result = capture(model, torch.randn(3, 5, 5))
    view = FiltersView()
    qtbot.addWidget(view)
    view.show_capture(result, input_channels=3)
    assert "6 depthwise kernels 3×3, one per channel" in view.info_label.text()
    shown = view.image.image
    weights = depthwise.conv.weight.detach().numpy()
    bound = float(np.abs(weights).max())
    # The grid's first tile is the first channel's kernel, grey at zero.
    np.testing.assert_allclose(shown[:3, :3], weights[0, 0] * (0.5 / bound) + 0.5, rtol=1e-5)


def test_the_gallery_uses_the_first_convolution_even_inside_a_block(qtbot) -> None:
    from explorer.core.block_spec import BlockSpec
    from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
    from explorer.ui.inspect.gallery import ActivationGallery

    conv = LayerSpec.create("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same"})
    block = BlockSpec.create("Residual", {}, [[conv]])
    spec = NetworkSpec(
        input=InputSpec(2, 6, 6),
        num_classes=3,
        layers=(block, LayerSpec.create("Flatten"), LayerSpec.create("Dense", {"units": 3})),
    )
    model = build_by_hand(spec, seed=2)
    image = torch.randn(2, 6, 6)
    gallery = ActivationGallery()
    qtbot.addWidget(gallery)
    gallery.set_image(image)
    gallery.show_capture(capture(model, image))
    assert "filter 0 of conv2d_1" in gallery.info_label.text()
    weight = model.get_submodule("residual_1.body.conv2d_1").conv.weight[0]
    np.testing.assert_array_equal(gallery._kernel, weight.detach().numpy())


def test_a_built_nested_network_draws_and_a_nested_map_opens_beside_its_kernels(qtbot) -> None:
    from explorer.core.builder import build_model
    from explorer.ui.inspect.panel import InspectPanel
    from tests.ui.test_feature_maps import map_point

    spec = nested_spec()
    panel = InspectPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    try:
        with qtbot.waitSignal(panel.controller.captured, timeout=60_000):
            panel.set_spec(spec)  # through the capture thread, with the real builder
        result = panel.feature_maps.result
        want = capture(build_model(spec, seed=spec.training.seed), panel.picker.current)
        assert [(layer.path, layer.merged) for layer in result.layers] == [
            (layer.path, layer.merged) for layer in want.layers
        ]
        for got, expected in zip(result.layers, want.layers, strict=True):
            np.testing.assert_allclose(got.output, expected.output, rtol=1e-5, atol=1e-5)
        maps = panel.feature_maps
        row = result.position(P((1, 0, 1)))  # batch_norm_1 in residual_1's body
        channel = 2
        layout = maps.row_mosaic(row).layout
        y = (channel // layout.cols) * (layout.height + layout.gap) + 1
        x = (channel % layout.cols) * (layout.width + layout.gap) + 1
        point = map_point(qtbot, maps, row, y, x)
        qtbot.mouseClick(maps.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
        detail = panel.detail
        assert detail is not None and detail.isVisible()
        np.testing.assert_array_equal(detail.map_image.image, result.layers[row].output[channel])
        assert "conv2d_2" in detail.kernel_label.text  # the conv before it in the body
        assert maps.selected_path == P((1, 0, 1))
    finally:
        panel.shutdown()


def test_depthwise_and_separable_filters_of_built_layers(qtbot) -> None:
    from explorer.core.builder import build_model
    from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec

    layers = (
        LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}),
        LayerSpec.create("DepthwiseConv2D", {"kernel_size": 3, "padding": "same"}),
        LayerSpec.create("SeparableConv2D", {"filters": 6, "kernel_size": 3, "padding": "same"}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 3}),
    )
    spec = NetworkSpec(input=InputSpec(1, 6, 6), num_classes=3, layers=layers)
    model = build_model(spec, seed=0).eval()
    result = capture(model, torch.randn(1, 6, 6))
    view = FiltersView()
    qtbot.addWidget(view)
    view.show_capture(result, input_channels=1)
    view.layer_combo.setCurrentText("depthwise_conv2d_1")
    assert "4 depthwise kernels 3×3, one per channel" in view.info_label.text()
    view.layer_combo.setCurrentText("separable_conv2d_1")
    assert "then a 1×1 pointwise convolution mixes them into 6 maps" in view.info_label.text()
    separable = result.layers[2]
    depthwise_weight = model.separable_conv2d_1.depthwise.weight.detach().numpy()
    np.testing.assert_array_equal(separable.kernel, depthwise_weight)
    assert separable.kernels == 2
    # Its maps are the pointwise step's: no one kernel made any of them.
    assert kernel_source(result, 2) is None
    assert kernel_source(result, 1) is result.layers[1]
