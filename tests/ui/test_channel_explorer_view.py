"""The channel explorer on real MNIST: the top images a brute-force ranking gives, a real
mouse hover that outlines the receptive field, and activation maximisation off the GUI thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from explorer.core.builder import build_model
from explorer.core.channel_explorer import centred_response, forward_to, receptive_box
from explorer.core.paths import LayerPath
from explorer.ui.inspect.channel_explorer import ChannelExplorer
from tests.core.test_evaluation import mnist_subset, small_net


@pytest.fixture
def explorer(qtbot: Any, real_datasets: Path) -> Any:
    torch.set_num_threads(1)
    dataset = mnist_subset(real_datasets, train=200, test=300)
    spec = small_net()
    model = build_model(spec, seed=4).eval()
    view = ChannelExplorer()
    qtbot.addWidget(view)
    view.set_spec(spec, model.state_dict())
    view.set_dataset(dataset)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    yield view, spec, model, dataset
    view.shutdown()


def test_top_images_match_a_brute_force_ranking_and_hover_outlines_the_field(
    qtbot, explorer
) -> None:
    view, spec, model, dataset = explorer
    path = LayerPath.top(0)
    assert view.layer.count() == 3  # the conv, the BatchNorm and the Dropout give maps
    assert view.layer.currentData() == LayerPath.top(2)  # the deepest, by default
    view.layer.setCurrentIndex(0)
    assert view.layer.currentData() == path
    with qtbot.waitSignal(view.shown, timeout=30000):
        qtbot.mouseClick(view.find_button, Qt.MouseButton.LeftButton)
    with torch.inference_mode():
        maps = forward_to(model, path, dataset.normalize(dataset.images("test")))
    for channel in (0, 5):
        view.channel.setValue(channel)
        peaks = maps[:, channel].amax(dim=(1, 2)).numpy()
        assert view.top_indices() == np.argsort(-peaks, kind="stable")[:9].tolist()
        assert all(not tile.pixmap().isNull() for tile in view.tiles)

    qtbot.waitUntil(
        lambda: view._top_maps is not None and view._top_maps.channel == 5, timeout=30000
    )
    where = view.map_view.centre_of(7, 2)
    qtbot.mouseMove(view.map_view, pos=where)
    box = receptive_box(spec, path, (7, 2))
    assert box is not None
    qtbot.waitUntil(lambda: "(7, 2)" in view.map_caption.text(), timeout=5000)
    assert f"rows {box.top}–{box.bottom - 1}, columns {box.left}–{box.right - 1}" in (
        view.map_caption.text()
    )
    assert box.size == (5, 5) and (box.top, box.left) == (14, 4)


@pytest.mark.slow
def test_maximise_runs_in_the_background_and_excites_the_channel(qtbot, explorer) -> None:
    view, _spec, model, dataset = explorer
    view.channel.setRange(0, 7)
    view.channel.setValue(3)
    with qtbot.waitSignal(view.maximised, timeout=120000):
        qtbot.keyClick(view, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
        assert view.progress.isVisible()
    assert not view.maximised_view.pixmap().isNull()
    made = view.last_maximised
    assert made is not None and made.channel == 3
    assert f"{made.activation:.3f}" in view.maximised_caption.text()
    with torch.inference_mode():
        maps = forward_to(model, made.path, dataset.normalize(dataset.images("test")))
    best_real = float(centred_response(maps, 3).max())
    assert made.activation > 3 * max(made.start_activation, 1e-3)
    assert made.activation > 1.5 * best_real


def test_the_inspect_panel_has_a_channels_tab(qtbot) -> None:
    from explorer.ui.inspect.panel import InspectPanel

    panel = InspectPanel()
    qtbot.addWidget(panel)
    titles = [panel.tabs.tabText(i) for i in range(panel.tabs.count())]
    assert "Channels" in titles
    panel.shutdown()


def test_a_layer_inside_a_block_is_listed_and_its_hover_outlines_its_field(
    qtbot: Any, real_datasets: Path
) -> None:
    from explorer.core.templates import load_template

    torch.set_num_threads(1)
    dataset = mnist_subset(real_datasets, train=200, test=300)
    spec = load_template("resnet-mnist")
    model = build_model(spec, seed=4).eval()
    view = ChannelExplorer()
    qtbot.addWidget(view)
    view.set_spec(spec, model.state_dict())
    view.set_dataset(dataset)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    try:
        path = LayerPath((5, 0, 3))  # residual_2's second conv, after residual_1's merge
        listed = [view.layer.itemData(i) for i in range(view.layer.count())]
        assert path in listed and LayerPath.top(5) in listed
        view.layer.setCurrentIndex(listed.index(path))
        assert view.layer.currentText().startswith("    conv2d_5 · 32 channels")
        with qtbot.waitSignal(view.shown, timeout=30000):
            qtbot.mouseClick(view.find_button, Qt.MouseButton.LeftButton)
        with torch.inference_mode():
            maps = forward_to(model, path, dataset.normalize(dataset.images("test")))
        peaks = maps[:, 0].amax(dim=(1, 2)).numpy()
        assert view.top_indices() == np.argsort(-peaks, kind="stable")[:9].tolist()
        qtbot.waitUntil(lambda: view._top_maps is not None, timeout=30000)
        qtbot.mouseMove(view.map_view, pos=view.map_view.centre_of(6, 0))
        box = receptive_box(spec, path, (6, 0))
        assert box is not None and box.size != (28, 28)
        qtbot.waitUntil(lambda: "(6, 0)" in view.map_caption.text(), timeout=5000)
        assert f"rows {box.top}–{box.bottom - 1}, columns {box.left}–{box.right - 1}" in (
            view.map_caption.text()
        )
    finally:
        view.shutdown()


def test_a_finished_runs_saved_top_images_show_without_a_pass_until_the_weights_change(
    qtbot: Any, explorer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.core.app.run_views import CHANNELS_FILE
    from explorer.core.channel_tops import channel_tops, conv_paths, save_channel_tops
    from explorer.ui.inspect import channel_explorer

    view, spec, model, dataset = explorer
    tops = channel_tops(model, conv_paths(spec), dataset)  # what a finished run writes
    assert tops is not None
    save_channel_tops(tmp_path / CHANNELS_FILE, tops)
    view.layer.setCurrentIndex(0)  # the convolution

    def no_pass(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the test split was ranked again")

    monkeypatch.setattr(channel_explorer, "find_job", no_pass)
    with qtbot.waitSignal(view.shown, timeout=30000):
        assert view.show_run(tmp_path)
    with torch.inference_mode():
        maps = forward_to(model, LayerPath.top(0), dataset.normalize(dataset.images("test")))
    for channel in (0, 6):
        view.channel.setValue(channel)
        peaks = maps[:, channel].amax(dim=(1, 2)).numpy()
        assert view.top_indices() == np.argsort(-peaks, kind="stable")[:9].tolist()
    assert f"of {dataset.size('test'):,}" in view.status.text()
    with qtbot.waitSignal(view.shown, timeout=5000):
        qtbot.mouseClick(view.find_button, Qt.MouseButton.LeftButton)  # still no pass
    # New weights: the saved ranking is of the old ones, so Find ranks again.
    view.set_weights(build_model(spec, seed=9).state_dict())
    monkeypatch.undo()
    with qtbot.waitSignal(view.shown, timeout=30000):
        qtbot.mouseClick(view.find_button, Qt.MouseButton.LeftButton)
    assert isinstance(view._maxima, channel_explorer.ChannelMaxima)
