"""Attribution maps against independent references: Captum's own LayerGradCam, a hand-made
Grad-CAM, torch.autograd for saliency, the completeness axiom of integrated gradients, a
hand-run occlusion; and the layers Grad-CAM can use, inside blocks too."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional

from explorer.core.attribution import (
    AttributionError,
    AttributionStopped,
    attribution_model,
    blank_value,
    explain,
    layer_modules,
    map_layers,
    occlusion_window,
    top_pixels,
)
from explorer.core.attribution_methods import METHODS
from explorer.core.block_modules import ResidualBlock
from explorer.core.builder import Network
from explorer.core.spec import BlockSpec, InputSpec, LayerSpec, NetworkSpec
from explorer.core.templates import load_template

L = LayerSpec.create


def tiny_spec(channels: int = 1, activation: str = "relu") -> NetworkSpec:
    return NetworkSpec(
        input=InputSpec.create(channels, 8, 8),
        num_classes=3,
        layers=(
            L("Conv2D", {"filters": 2, "kernel_size": 3, "activation": activation}),
            L("Flatten"),
            L("Dense", {"units": 3}),
        ),
    )


def score(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    return model(x.unsqueeze(0))[0, target]


def test_gradcam_equals_captums_layer_gradcam_upsampled_bilinearly() -> None:
    from captum.attr import LayerGradCam

    spec = load_template("keras-mnist")
    model = attribution_model(spec, None)
    image = torch.randn(spec.input.shape, generator=torch.Generator().manual_seed(1))
    result = explain(model, image, "gradcam", target=4, layer="conv2d_1")
    reference = LayerGradCam(model, model.conv2d_1).attribute(
        image.unsqueeze(0).requires_grad_(True), target=4, relu_attributions=True
    )
    upsampled = functional.interpolate(reference, size=(28, 28), mode="bilinear")
    assert result.heat.shape == (28, 28) and result.heat.dtype == np.float32
    np.testing.assert_allclose(result.heat, upsampled[0, 0].detach().numpy(), rtol=1e-5, atol=1e-7)
    assert result.layer == "conv2d_1" and result.target == 4


def test_gradcam_matches_a_hand_computation_on_a_tiny_net() -> None:
    model = attribution_model(tiny_spec(), None)
    image = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(2))
    conv = model.get_submodule("conv2d_1")
    maps = conv(image.unsqueeze(0)).detach().requires_grad_(True)  # (1, 2, 6, 6)
    logits = model.dense_1(model.flatten_1(maps))
    (gradient,) = torch.autograd.grad(logits[0, 1], maps)
    weights = gradient.mean(dim=(2, 3), keepdim=True)  # α_k: the channel's mean gradient
    cam = torch.relu((weights * maps).sum(dim=1, keepdim=True))
    expected = functional.interpolate(cam, size=(8, 8), mode="bilinear")[0, 0]
    result = explain(model, image, "gradcam", target=1)
    assert result.layer == "conv2d_1"  # the only convolution: the default
    np.testing.assert_allclose(result.heat, expected.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_saliency_is_the_largest_absolute_input_gradient_over_the_channels() -> None:
    spec = load_template("strided-cifar")
    model = attribution_model(spec, None)
    image = torch.randn(spec.input.shape, generator=torch.Generator().manual_seed(3))
    result = explain(model, image, "saliency")
    x = image.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(score(model, x, result.predicted), x)
    expected = gradient.abs().amax(dim=0)
    assert result.heat.shape == (32, 32)
    np.testing.assert_allclose(result.heat, expected.numpy(), rtol=1e-5, atol=1e-9)
    assert result.target == result.predicted == int(np.argmax(result.probabilities))


def test_integrated_gradients_add_up_to_the_score_gained_from_the_blank_image() -> None:
    # A smooth network, so 50 steps of the path integral are exact to well under 1%.
    model = attribution_model(tiny_spec(activation="tanh"), None)
    image = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(4))
    blank = blank_value((0.1307,), (0.3081,))
    result = explain(model, image, "integrated-gradients", target=2, blank=blank)
    black = torch.full((1, 8, 8), blank[0])
    with torch.no_grad():
        gained = float(score(model, image, 2) - score(model, black, 2))
    # Completeness (Sundararajan et al. 2017): the shares sum to f(x) − f(baseline).
    assert abs(gained) > 0.05
    assert float(result.heat.sum()) == pytest.approx(gained, rel=0.005)


def test_occlusion_averages_the_score_drop_of_every_patch_over_a_pixel() -> None:
    spec = tiny_spec(channels=3)
    model = attribution_model(spec, None)
    image = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(5))
    blank = (-1.0, 0.5, 2.0)
    result = explain(model, image, "occlusion", target=0, blank=blank)
    side, stride = occlusion_window(8, 8)
    filled = torch.tensor(blank).view(3, 1, 1).expand(3, 8, 8)
    total, count = torch.zeros(8, 8), torch.zeros(8, 8)
    with torch.no_grad():
        base = score(model, image, 0)
        for top in range(0, 8 - side + 1, stride):
            for left in range(0, 8 - side + 1, stride):
                occluded = image.clone()
                window = (slice(None), slice(top, top + side), slice(left, left + side))
                occluded[window] = filled[window]
                total[window[1:]] += base - score(model, occluded, 0)
                count[window[1:]] += 1
    expected = torch.where(count > 0, total / count.clamp_min(1), torch.zeros(8, 8))
    np.testing.assert_allclose(result.heat, expected.numpy(), rtol=1e-4, atol=1e-6)


def test_smoothgrad_of_a_linear_network_is_its_saliency() -> None:
    # A linear network has the same gradient everywhere, so the noise changes nothing.
    spec = NetworkSpec(
        input=InputSpec.create(1, 6, 6),
        num_classes=4,
        layers=(L("Flatten"), L("Dense", {"units": 4})),
    )
    model = attribution_model(spec, None)
    image = torch.randn(1, 6, 6, generator=torch.Generator().manual_seed(6))
    smooth = explain(model, image, "smoothgrad", target=3)
    plain = explain(model, image, "saliency", target=3)
    np.testing.assert_allclose(smooth.heat, plain.heat, rtol=1e-5)
    assert np.count_nonzero(plain.heat) > 0


@pytest.mark.parametrize("template", ["keras-mnist", "strided-cifar", "fashion-bn", "lenet5"])
def test_every_method_gives_a_finite_map_at_the_input_size(template: str) -> None:
    spec = load_template(template)
    model = attribution_model(spec, None)
    image = torch.randn(spec.input.shape, generator=torch.Generator().manual_seed(7))
    for method in METHODS:
        result = explain(model, image, method)
        assert result.heat.shape == spec.input.shape[1:], method
        assert np.isfinite(result.heat).all(), method
        assert result.probabilities.shape == (spec.num_classes,)
        assert result.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("template", "layer"),
    [
        ("keras-mnist", "conv2d_2"),  # the pooling after it changes the shape
        ("fashion-bn", "activation_2"),  # through BatchNorm and ReLU: the rectified maps
        ("lenet5", "c3"),  # c5's maps are 1×1: nothing to locate
    ],
)
def test_gradcam_defaults_to_the_last_convolutions_maps(template: str, layer: str) -> None:
    spec = load_template(template)
    model = attribution_model(spec, None)
    result = explain(model, torch.zeros(spec.input.shape), "gradcam")
    assert result.layer == layer
    assert result.map_layers[0] == model.layer_names[0]


def test_the_model_explained_is_a_frozen_copy_of_the_weights() -> None:
    spec = tiny_spec()
    source = attribution_model(spec, None).state_dict()
    weights = {key: value.clone() for key, value in source.items()}
    model = attribution_model(spec, weights)
    weights["conv2d_1.conv.weight"].add_(1.0)
    assert not torch.equal(
        model.state_dict()["conv2d_1.conv.weight"], weights["conv2d_1.conv.weight"]
    )
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def nested_network() -> Network:
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
    inner = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
    repeated = nn.Sequential(
        ResidualBlock([("conv2d_3", nn.Conv2d(4, 4, 3, padding=1))]),
        ResidualBlock([("conv2d_3", nn.Conv2d(4, 4, 3, padding=1))]),
    )
    layers: list[tuple[str, nn.Module]] = [
        ("conv2d_1", conv),
        ("residual_1", ResidualBlock([("conv2d_2", inner)], activation=nn.ReLU())),
        ("residual_2", repeated),
        ("flatten_1", nn.Flatten()),
        ("dense_1", nn.Linear(4 * 8 * 8, 5)),
    ]
    model = Network(layers, input_shape=(1, 8, 8), final_softmax=False, penalties={})
    return model.eval()


def test_layers_inside_blocks_are_named_by_their_module_path_in_forward_order() -> None:
    model = nested_network()
    assert [name for name, _ in layer_modules(model)] == [
        "conv2d_1",
        "residual_1.body.conv2d_2",
        "residual_1",
        "residual_2.0.body.conv2d_3",
        "residual_2.0",
        "residual_2.1.body.conv2d_3",
        "residual_2.1",
        "flatten_1",
        "dense_1",
    ]
    assert map_layers(model)[-1] == "residual_2.1"


def test_gradcam_on_a_layer_inside_a_block_by_its_own_name() -> None:
    from captum.attr import LayerGradCam

    model = nested_network()
    image = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(8))
    result = explain(model, image, "gradcam", layer="conv2d_2", target=1)
    assert result.layer == "residual_1.body.conv2d_2"
    module = model.get_submodule("residual_1.body.conv2d_2")
    expected = LayerGradCam(model, module).attribute(
        image.unsqueeze(0).requires_grad_(True), target=1, relu_attributions=True
    )
    np.testing.assert_allclose(result.heat, expected[0, 0].detach().numpy(), rtol=1e-5, atol=1e-7)
    assert explain(model, image, "gradcam").layer == "residual_2.1"  # the last block convolves


def test_a_layer_in_every_copy_of_a_repeated_block_must_be_named_in_full() -> None:
    model = nested_network()
    image = torch.zeros(1, 8, 8)
    with pytest.raises(AttributionError, match=r"residual_2\.0\.body\.conv2d_3, residual_2\.1"):
        explain(model, image, "gradcam", layer="conv2d_3")
    full = explain(model, image, "gradcam", layer="residual_2.1.body.conv2d_3")
    assert full.layer == "residual_2.1.body.conv2d_3"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"method": "lime"}, "unknown method 'lime'"),
        ({"method": "gradcam", "layer": "dense_1"}, "'dense_1' has no spatial maps"),
        ({"method": "gradcam", "layer": "conv9"}, "no layer named 'conv9'; layers with maps: "),
        ({"method": "saliency", "target": 10}, "target class 10 is out of range"),
        ({"method": "occlusion", "blank": (0.0, 1.0)}, "blank needs 1 values, got 2"),
    ],
)
def test_bad_requests_say_what_is_wrong(arguments: dict[str, object], message: str) -> None:
    spec = load_template("keras-mnist")
    model = attribution_model(spec, None)
    with pytest.raises(AttributionError, match=message):
        explain(model, torch.zeros(spec.input.shape), **arguments)  # type: ignore[arg-type]


def test_gradcam_needs_a_layer_with_maps_and_the_wrong_image_shape_is_refused() -> None:
    spec = NetworkSpec(
        input=InputSpec.create(1, 6, 6),
        num_classes=2,
        layers=(L("Flatten"), L("Dense", {"units": 2})),
    )
    model = attribution_model(spec, None)
    with pytest.raises(AttributionError, match="Grad-CAM needs a layer with spatial maps"):
        explain(model, torch.zeros(1, 6, 6), "gradcam")
    with pytest.raises(AttributionError, match=r"shape \(3, 6, 6\), the network takes \(1, 6, 6\)"):
        explain(model, torch.zeros(3, 6, 6), "saliency")


def test_top_pixels_marks_exactly_the_largest_share() -> None:
    heat = np.arange(100, dtype=np.float32).reshape(10, 10)
    mask = top_pixels(heat, 0.1)
    assert mask.sum() == 10
    assert mask[9].all() and not mask[:9].any()


@pytest.mark.slow
def test_explaining_imports_captum_only_when_a_method_runs() -> None:
    from tests.processes import run_python

    script = (
        "import sys, explorer.core.attribution, explorer.core.attribution_overlay\n"
        "print('captum' in sys.modules, 'matplotlib' in sys.modules)\n"
    )
    result = run_python("-c", script, check=True)
    assert result.stdout.strip() == "False False"


def block_spec(classes: int = 4) -> NetworkSpec:
    def conv(filters: int) -> LayerSpec:
        return L(
            "Conv2D",
            {"filters": filters, "kernel_size": 3, "padding": "same", "activation": "relu"},
        )

    return NetworkSpec(
        input=InputSpec.create(1, 12, 12),
        num_classes=classes,
        layers=(
            conv(4),
            BlockSpec.create("Residual", {"repeat": 2}, [[conv(4), conv(4)]]),
            BlockSpec.create("Parallel", {"merge": "concat"}, [[conv(2)], [conv(3)]]),
            L("GlobalAvgPool2D"),
            L("Dense", {"units": classes}),
        ),
    )


def test_gradcam_inside_blocks_the_builder_made_equals_captums_on_that_module() -> None:
    from captum.attr import LayerGradCam

    model = attribution_model(block_spec(), None)
    image = torch.randn(1, 12, 12, generator=torch.Generator().manual_seed(9))
    result = explain(model, image, "gradcam", layer="conv2d_4", target=2)
    assert result.layer == "parallel_1.branches.0.conv2d_4"
    module = model.get_submodule(result.layer)
    expected = LayerGradCam(model, module).attribute(
        image.unsqueeze(0).requires_grad_(True), target=2, relu_attributions=True
    )
    np.testing.assert_allclose(result.heat, expected[0, 0].detach().numpy(), rtol=1e-5, atol=1e-7)
    assert explain(model, image, "gradcam").layer == "parallel_1"  # the last block convolves
    # A repeated block by its name is its last copy, whose output is the block's.
    assert explain(model, image, "gradcam", layer="residual_1").layer == "residual_1.1"
    for method in METHODS:
        assert explain(model, image, method).heat.shape == (12, 12)


def test_a_stop_request_ends_occlusion_at_its_next_forward_pass() -> None:
    import threading

    spec = load_template("keras-mnist")
    model = attribution_model(spec, None)
    stop = threading.Event()
    calls = []

    def count(_module: nn.Module, _inputs: object, _output: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            stop.set()  # as a new image would, from the GUI thread

    counting = model.register_forward_hook(count)
    with pytest.raises(AttributionStopped):
        explain(model, torch.zeros(spec.input.shape), "occlusion", stop=stop)
    assert len(calls) == 3  # of more than a dozen forward passes a whole occlusion makes
    counting.remove()
    assert not model._forward_pre_hooks  # the check is gone: the model explains again
    assert explain(model, torch.zeros(spec.input.shape), "occlusion").heat.shape == (28, 28)
