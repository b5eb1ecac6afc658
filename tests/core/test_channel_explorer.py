"""The channel explorer against brute force: per-image maxima, receptive fields by autograd,
and activation maximisation against random inputs."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from explorer.core.builder import build_model
from explorer.core.channel_explorer import (
    centred_response,
    channel_maxima,
    crop,
    forward_to,
    maximise_channel,
    receptive_box,
)
from explorer.core.data.resident import DatasetInfo, DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec


def _spec(*, activation: str = "relu", pool: str = "MaxPool2D") -> NetworkSpec:
    layers = (
        LayerSpec.create(
            "Conv2D", {"filters": 4, "kernel_size": 3, "padding": 1, "activation": activation}
        ),
        LayerSpec.create(pool, {"pool_size": 2}),
        LayerSpec.create(
            "Conv2D", {"filters": 5, "kernel_size": 5, "dilation": 2, "activation": activation}
        ),
        LayerSpec.create("Conv2D", {"filters": 3, "kernel_size": 3, "stride": 2, "padding": 2}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 3, "activation": "softmax"}),
    )
    return NetworkSpec(input=InputSpec(1, 28, 28), num_classes=3, layers=layers)


def _dataset(n: int = 230) -> DeviceDataset:
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 3, (n,), generator=generator)
    info = DatasetInfo("noise", (1, 28, 28), ("a", "b", "c"))
    return DeviceDataset(info, images[:20], labels[:20], images, labels)


def test_top_nine_equal_an_argsort_of_each_images_own_maximum() -> None:
    model = build_model(_spec(), seed=0)
    dataset = _dataset()
    path = LayerPath.top(2)

    found = channel_maxima(model, dataset, path, batch_size=64)

    assert found is not None
    with torch.inference_mode():
        images = dataset.normalize(dataset.images(Split.TEST))
        maps = model.conv2d_2(model.max_pool2d_1(model.conv2d_1(images)))
    brute = maps.flatten(2).amax(dim=2).numpy()
    np.testing.assert_allclose(found.maxima, brute, rtol=1e-5, atol=1e-6)
    for channel in range(5):
        expected = np.argsort(-brute[:, channel], kind="stable")[:9]
        assert found.top(channel).tolist() == expected.tolist()
        for index in expected[:3]:
            row, column = found.position(int(index), channel)
            assert maps[index, channel, row, column] == pytest.approx(brute[index, channel])


def test_the_pass_stops_when_cancelled_and_refuses_vector_layers() -> None:
    model = build_model(_spec(), seed=0)
    cancel = threading.Event()
    cancel.set()
    assert channel_maxima(model, _dataset(), LayerPath.top(0), cancel=cancel) is None
    with pytest.raises(ValueError, match="not maps"):
        channel_maxima(model, _dataset(), LayerPath.top(5))


def _autograd_box(spec: NetworkSpec, index: int, row: int, column: int) -> tuple[int, ...]:
    """The input pixels whose gradient reaches one output position of a linear network with
    positive weights (and average pooling, whose gradient reaches its whole window): the
    receptive field measured, not computed."""
    model = build_model(spec, seed=0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.abs() + 0.01)
    image = torch.ones((1, 1, 28, 28), requires_grad=True)
    out = forward_to(model, LayerPath.top(index), image)
    out[0, 0, row, column].backward()
    assert image.grad is not None
    rows, columns = np.nonzero(image.grad[0, 0].numpy())
    return int(rows.min()), int(columns.min()), int(rows.max()) + 1, int(columns.max()) + 1


@pytest.mark.parametrize(
    ("index", "row", "column"), [(0, 0, 0), (0, 27, 13), (2, 0, 5), (2, 3, 2), (3, 0, 0), (3, 3, 1)]
)
def test_the_receptive_box_equals_the_pixels_autograd_reaches(
    index: int, row: int, column: int
) -> None:
    spec = _spec(activation="linear", pool="AvgPool2D")
    box = receptive_box(spec, LayerPath.top(index), (row, column))

    assert box is not None
    assert (box.top, box.left, box.bottom, box.right) == _autograd_box(spec, index, row, column)


def _resnet_with_average_pooling() -> NetworkSpec:
    """resnet-mnist with its max pooling averaged (whose gradient reaches the whole window)."""
    from dataclasses import replace

    from explorer.core.templates import load_template

    spec = load_template("resnet-mnist")
    layers = tuple(
        LayerSpec.create("AvgPool2D", {"pool_size": 2}) if layer.type == "MaxPool2D" else layer
        for layer in spec.layers
    )
    return replace(spec, layers=layers)


def _reached(spec: NetworkSpec, path: LayerPath, row: int, column: int) -> tuple[int, ...]:
    """The input pixels whose gradient reaches one output position of `spec` with positive
    weights, biases and BatchNorm scales, so every unit is active on a positive image."""
    model = build_model(spec, seed=0).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.abs() + 0.01)
    image = torch.ones((1, *spec.input.shape), requires_grad=True)
    out = forward_to(model, path, image)
    out[0, 0, row, column].backward()
    assert image.grad is not None
    rows, columns = np.nonzero(image.grad[0].sum(0).numpy())
    return int(rows.min()), int(columns.min()), int(rows.max()) + 1, int(columns.max()) + 1


RESNET_POSITIONS = [
    ((4, 0, 0), 0, 0),  # residual_1's first conv
    ((4, 0, 3), 6, 13),  # its second conv
    ((5, 0, 0), 3, 3),  # residual_2's first (strided) conv, after residual_1's merge
    ((5, 0, 3), 6, 0),
    ((6, 0, 0), 3, 1),  # residual_3's first conv, after a projection shortcut
    ((5,), 2, 5),  # a whole block's output: the body's reach joined with the shortcut's
]


@pytest.mark.parametrize(("steps", "row", "column"), RESNET_POSITIONS)
def test_the_receptive_box_of_a_nested_layer_equals_the_pixels_autograd_reaches(
    steps: tuple[int, ...], row: int, column: int
) -> None:
    spec = _resnet_with_average_pooling()
    path = LayerPath(steps)
    box = receptive_box(spec, path, (row, column))

    assert box is not None
    assert (box.top, box.left, box.bottom, box.right) == _reached(spec, path, row, column)


def test_an_inner_box_is_as_large_as_the_analysis_field_and_crops_the_image() -> None:
    from explorer.core.analysis import analyze

    spec = _spec()
    field = analyze(spec).layers[2].receptive_field
    box = receptive_box(spec, LayerPath.top(2), (2, 2))
    assert box is not None and field is not None
    assert box.size == field.size
    image = np.arange(28 * 28, dtype=np.float32).reshape(1, 28, 28)
    patch = crop(image, box)
    assert patch.shape == (1, *field.size)
    assert patch[0, 0, 0] == image[0, box.top, box.left]
    assert receptive_box(spec, LayerPath.top(5), (0, 0)) is None


@pytest.mark.slow
def test_the_maximised_image_excites_the_channel_far_more_than_random_images() -> None:
    model = build_model(_spec(), seed=0)
    path = LayerPath.top(2)
    steps: list[int] = []

    made = maximise_channel(model, path, 1, steps=80, progress=steps.append)

    assert made is not None
    assert steps[-1] == 80
    generator = torch.Generator().manual_seed(5)
    random_images = torch.randn((20, 1, 28, 28), generator=generator)
    with torch.no_grad():
        random_best = float(centred_response(forward_to(model, path, random_images), 1).max())
        again = float(
            centred_response(forward_to(model, path, torch.from_numpy(made.image)[None]), 1)[0]
        )
    assert made.activation == pytest.approx(again, rel=1e-5)
    assert made.activation > 3 * max(random_best, made.start_activation, 1e-3)
    assert made.image.shape == (1, 28, 28)
    assert all(parameter.grad is None for parameter in model.parameters())
    low, high = -1.0, 3.0
    assert made.image.min() >= low and made.image.max() <= high
