"""The Explain tab in Inspect, through the real task thread: the picture is the core's
attribution blended at the slider's opacity, the pickers re-explain, a hidden tab waits."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PySide6.QtCore import Qt

from explorer.core.attribution import attribution_model, explain
from explorer.core.attribution_overlay import blend, colour_ramp, display_pixels, heat_levels
from explorer.core.builder import build_model
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.templates import load_template
from explorer.ui.inspect.explain import Explained, ExplainTab
from explorer.ui.inspect.panel import InspectPanel

TIMEOUT_MS = 20_000


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


def shown_explain(qtbot, panel: InspectPanel, spec: NetworkSpec, weights=None) -> Explained:
    """Set the network, bring the Explain tab up and wait for its first picture."""
    tab = panel.explain
    with qtbot.waitSignal(tab.explained, timeout=TIMEOUT_MS) as blocker:
        panel.set_spec(spec, weights)
        panel.tabs.setCurrentWidget(tab)
    return blocker.args[0]


def expected_heat(spec: NetworkSpec, weights, image: torch.Tensor, method: str, **kw):
    return explain(attribution_model(spec, weights), image, method, blank=(-1.0,), **kw)


def test_the_picture_is_the_cores_gradcam_blended_at_the_sliders_opacity(qtbot, panel) -> None:
    spec = load_template("keras-mnist")
    result = shown_explain(qtbot, panel, spec)
    image = panel.picker.current
    assert image is not None
    reference = expected_heat(spec, None, image, "gradcam")
    assert result.method == "gradcam" and result.layer == "conv2d_2"
    np.testing.assert_allclose(result.levels, heat_levels(reference.heat), atol=1e-6)
    tab = panel.explain
    rgb = display_pixels(image.numpy(), (0.5,), (0.5,))
    levels = heat_levels(reference.heat)
    assert np.array_equal(tab.picture.pixels, blend(rgb, colour_ramp(levels), levels, 0.6))
    # The keyboard moves the opacity; Home leaves the input as it is.
    tab.opacity_slider.setFocus()
    qtbot.keyClick(tab.opacity_slider, Qt.Key.Key_Home)
    assert tab.opacity_slider.value() == 0
    assert np.array_equal(tab.picture.pixels, rgb)
    qtbot.keyClick(tab.opacity_slider, Qt.Key.Key_End)
    assert np.array_equal(tab.picture.pixels, blend(rgb, colour_ramp(levels), levels, 1.0))
    assert tab.layer_combo.itemData(1) == "conv2d_1"
    assert "Grad-CAM on conv2d_2 for class" in tab.status.text()


def test_choosing_a_method_a_target_and_a_layer_explains_again(qtbot, panel) -> None:
    spec = load_template("keras-mnist")
    shown_explain(qtbot, panel, spec)
    tab, image = panel.explain, panel.picker.current
    with qtbot.waitSignal(tab.explained, timeout=TIMEOUT_MS) as blocker:
        tab.layer_combo.setCurrentIndex(tab.layer_combo.findData("conv2d_1"))
    assert blocker.args[0].layer == "conv2d_1"
    with qtbot.waitSignal(tab.explained, timeout=TIMEOUT_MS) as blocker:
        tab.target_combo.setCurrentIndex(tab.target_combo.findData(3))
    assert blocker.args[0].target == 3
    assert [chosen for _, _, chosen in tab.bars.rows].count(True) == 1
    tab.method_combo.setFocus()
    with qtbot.waitSignal(tab.explained, timeout=TIMEOUT_MS) as blocker:
        qtbot.keyClick(tab.method_combo, Qt.Key.Key_Down)  # Grad-CAM -> Saliency
    result = blocker.args[0]
    assert result.method == "saliency" and result.layer is None and result.target == 3
    assert not tab.layer_combo.isEnabled()
    reference = expected_heat(spec, None, image, "saliency", target=3)
    np.testing.assert_allclose(result.levels, heat_levels(reference.heat), atol=1e-6)


def test_a_hidden_tab_waits_and_new_weights_are_explained_when_shown(qtbot, panel) -> None:
    spec = load_template("keras-mnist")
    shown_explain(qtbot, panel, spec)
    tab = panel.explain
    panel.tabs.setCurrentWidget(panel.feature_maps)
    trained = build_model(spec, seed=42).state_dict()
    panel.refresh_from_weights(trained)
    qtbot.wait(200)
    assert not tab.busy  # nothing computed behind another tab
    with qtbot.waitSignal(tab.explained, timeout=TIMEOUT_MS) as blocker:
        panel.tabs.setCurrentWidget(tab)
    reference = expected_heat(spec, trained, panel.picker.current, "gradcam")
    np.testing.assert_allclose(blocker.args[0].probabilities, reference.probabilities, atol=1e-6)
    np.testing.assert_allclose(blocker.args[0].levels, heat_levels(reference.heat), atol=1e-6)


def test_colour_inputs_are_explained_and_shown_in_colour(qtbot, panel) -> None:
    spec = load_template("strided-cifar")
    result = shown_explain(qtbot, panel, spec)
    assert result.input_rgb.shape == (32, 32, 3) and result.levels.shape == (32, 32)
    assert panel.explain.target_combo.count() == 11


def test_a_network_without_maps_says_why_gradcam_cannot_explain_it(qtbot) -> None:
    tab = ExplainTab()
    qtbot.addWidget(tab)
    tab.show()
    spec = NetworkSpec(
        input=InputSpec.create(1, 8, 8),
        num_classes=2,
        layers=(LayerSpec.create("Flatten"), LayerSpec.create("Dense", {"units": 2})),
    )
    with qtbot.waitSignal(tab.failed, timeout=TIMEOUT_MS) as blocker:
        tab.set_spec(spec)
        tab.set_image(torch.zeros(1, 8, 8))
    assert "Grad-CAM needs a layer with spatial maps" in blocker.args[0]
    assert "Cannot explain" in tab.status.text() and tab.picture.pixels is None
    with qtbot.waitSignal(tab.explained, timeout=TIMEOUT_MS):
        tab.method_combo.setCurrentIndex(tab.method_combo.findData("occlusion"))
    tab.shutdown()


@pytest.mark.slow
def test_the_window_path_imports_no_captum() -> None:
    from tests.processes import run_python

    script = (
        "import sys, explorer.ui.shell.workbench\n"
        "print('captum' in sys.modules, 'matplotlib' in sys.modules)\n"
    )
    assert run_python("-c", script, check=True).stdout.strip() == "False False"


def test_layers_inside_blocks_are_offered_and_explained(qtbot) -> None:
    from tests.core.test_attribution import block_spec

    tab = ExplainTab()
    qtbot.addWidget(tab)
    tab.show()
    with qtbot.waitSignal(tab.explained, timeout=TIMEOUT_MS) as blocker:
        tab.set_spec(block_spec())
        tab.set_image(torch.zeros(1, 12, 12))
    assert blocker.args[0].layer == "parallel_1"
    offered = [tab.layer_combo.itemData(i) for i in range(tab.layer_combo.count())]
    assert "residual_1.1.body.conv2d_3" in offered and "parallel_1.branches.0.conv2d_4" in offered
    with qtbot.waitSignal(tab.explained, timeout=TIMEOUT_MS) as blocker:
        tab.layer_combo.setCurrentIndex(offered.index("residual_1.0.body.conv2d_2"))
    assert blocker.args[0].layer == "residual_1.0.body.conv2d_2"
    tab.shutdown()
