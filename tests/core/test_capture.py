"""Capture against independent torch computations, on snapshots, with real threads."""

from __future__ import annotations

import queue
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.core.builder import build_model
from explorer.core.capture import activation_responses, capture, snapshot_model
from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.vocabulary.activation_functions import ACTIVATION_NAMES


def _spec(final: str = "softmax") -> NetworkSpec:
    layers = (
        LayerSpec.create("Conv2D", {"filters": 6, "kernel_size": 3, "padding": "same"}),
        LayerSpec.create("BatchNorm"),
        LayerSpec.create("Activation", {"function": "relu"}),
        LayerSpec.create("MaxPool2D", {"pool_size": 2}),
        LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "tanh"}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 5, "activation": final}),
    )
    return NetworkSpec(input=InputSpec(2, 12, 12), num_classes=5, layers=layers)


def _trained_bn(model: torch.nn.Module) -> None:
    # Give the BatchNorm non-trivial running statistics so eval mode matters.
    bn = model.batch_norm_1
    bn.running_mean.copy_(torch.linspace(-0.5, 0.5, 6))
    bn.running_var.copy_(torch.linspace(0.5, 2.0, 6))


def test_each_layer_output_equals_the_functional_forward_pass() -> None:
    torch.manual_seed(0)
    model = build_model(_spec(), seed=3)
    _trained_bn(model)
    image = torch.randn(2, 12, 12)

    result = capture(model, image)

    conv1, bn, conv2, dense = (
        model.conv2d_1.conv,
        model.batch_norm_1,
        model.conv2d_2.conv,
        model.dense_1.linear,
    )
    x = image.unsqueeze(0)
    expected = []
    x = F.conv2d(x, conv1.weight, conv1.bias, padding=1)
    expected.append(x)
    x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    expected.append(x)
    x = torch.clamp(x, min=0)
    expected.append(x)
    x = F.max_pool2d(x, 2)
    expected.append(x)
    x = torch.tanh(F.conv2d(x, conv2.weight, conv2.bias))
    expected.append(x)
    x = x.reshape(1, -1)
    expected.append(x)
    x = F.linear(x, dense.weight, dense.bias)
    expected.append(x)

    assert [layer.name for layer in result.layers] == list(_spec().layer_names())
    for layer, want in zip(result.layers, expected, strict=True):
        assert layer.output.dtype == np.float32
        assert layer.shape == tuple(want.shape[1:])
        np.testing.assert_allclose(layer.output, want[0].detach().numpy(), rtol=1e-5, atol=1e-5)
    probabilities = torch.softmax(expected[-1][0], dim=0).detach().numpy()
    np.testing.assert_allclose(result.probabilities, probabilities, rtol=1e-5, atol=1e-6)
    assert result.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert model.final_softmax


def test_outputs_are_copies_not_views_of_torch_memory() -> None:
    model = build_model(_spec(), seed=0)
    result = capture(model, torch.randn(2, 12, 12))
    before = [layer.output.copy() for layer in result.layers]
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(-2.0)
    capture(model, torch.randn(2, 12, 12))
    for layer, old in zip(result.layers, before, strict=True):
        np.testing.assert_array_equal(layer.output, old)


def test_train_mode_is_restored_and_running_statistics_are_untouched() -> None:
    model = build_model(_spec(), seed=0)
    model.train()
    model.conv2d_2.eval()  # a mixed state must come back exactly
    modes = {name: m.training for name, m in model.named_modules()}
    buffers = {k: v.clone() for k, v in model.state_dict().items()}

    capture(model, torch.randn(2, 12, 12))

    assert {name: m.training for name, m in model.named_modules()} == modes
    for key, value in model.state_dict().items():
        assert torch.equal(value, buffers[key]), key


def test_an_error_midway_restores_modes_and_leaves_no_hooks() -> None:
    model = build_model(_spec(), seed=0)
    model.train()
    # A 3-channel image into a 2-channel convolution fails inside the forward pass.
    with pytest.raises(RuntimeError):
        capture(model, torch.randn(3, 12, 12))
    assert all(m.training for m in model.modules())
    for module in model.modules():
        assert not module._forward_hooks
        assert not module._forward_pre_hooks


def test_wide_layers_keep_only_the_first_channels() -> None:
    model = build_model(_spec(), seed=0)
    image = torch.randn(2, 12, 12)
    full = capture(model, image)
    capped = capture(model, image, max_channels=3)
    first = capped.layers[0]
    assert first.shape == (6, 12, 12)
    assert first.output.shape == (3, 12, 12)
    assert first.truncated and not full.layers[0].truncated
    np.testing.assert_array_equal(first.output, full.layers[0].output[:3])
    assert first.kernel is not None and first.kernel.shape == (3, 2, 3, 3)
    # Vectors are never cut.
    assert capped.layers[-2].output.shape == full.layers[-2].output.shape


def test_snapshot_is_independent_of_the_source_model() -> None:
    spec = _spec()
    source = build_model(spec, seed=1)
    snapshot = snapshot_model(spec, source.state_dict())
    assert not snapshot.training
    with torch.no_grad():
        for p in source.parameters():
            p.add_(1.0)
    for (name, a), b in zip(snapshot.named_parameters(), source.parameters(), strict=True):
        assert not torch.equal(a, b), name


def _train(model: torch.nn.Module, steps: int, out: queue.Queue | None) -> None:
    generator = torch.Generator().manual_seed(7)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    for _ in range(steps):
        x = torch.randn(8, 2, 12, 12, generator=generator)
        y = torch.randint(0, 5, (8,), generator=generator)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if out is not None:
            # What the trainer hands out between steps: a CPU copy of the weights.
            out.put({k: v.detach().clone() for k, v in model.state_dict().items()})
    if out is not None:
        out.put(None)


def test_capturing_snapshots_while_another_thread_trains_changes_nothing() -> None:
    torch.set_num_threads(1)
    spec = _spec()
    reference = build_model(spec, seed=5)
    _train(reference, 30, None)

    trained = build_model(spec, seed=5)
    snapshots: queue.Queue = queue.Queue()
    worker = threading.Thread(target=_train, args=(trained, 30, snapshots))
    image = torch.randn(2, 12, 12)
    worker.start()
    captured = []
    while (state := snapshots.get(timeout=30)) is not None:
        model = snapshot_model(spec, state)
        captured.append((state, capture(model, image)))
    worker.join()

    assert len(captured) == 30
    # Training was not disturbed: same weights and BN statistics as without captures.
    for key, value in reference.state_dict().items():
        assert torch.equal(trained.state_dict()[key], value), key
    # Each capture is exactly what its snapshot gives when nothing else is running.
    for state, result in captured[::10]:
        again = capture(snapshot_model(spec, state), image)
        for a, b in zip(result.layers, again.layers, strict=True):
            np.testing.assert_array_equal(a.output, b.output)


def test_activation_responses_apply_each_vocabulary_function_to_one_convolution() -> None:
    image = torch.randn(1, 9, 9)
    pre, responses = activation_responses(image)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    want = F.conv2d(image.unsqueeze(0), sobel.view(1, 1, 3, 3), padding=1)[0, 0]
    np.testing.assert_allclose(pre, want.numpy(), rtol=1e-5, atol=1e-5)
    assert tuple(responses) == ACTIVATION_NAMES
    np.testing.assert_allclose(responses["relu"], np.maximum(pre, 0), atol=1e-6)
    np.testing.assert_allclose(responses["tanh"], np.tanh(pre), atol=1e-6)
    np.testing.assert_allclose(responses["sigmoid"], 1 / (1 + np.exp(-pre)), atol=1e-6)
    np.testing.assert_allclose(responses["softsign"], pre / (1 + np.abs(pre)), atol=1e-6)
    # Softmax spreads one unit of probability over the whole map.
    assert responses["softmax"].sum() == pytest.approx(1.0, abs=1e-5)
    assert responses["softmax"].shape == pre.shape


def test_activation_responses_use_a_given_multichannel_kernel() -> None:
    image = torch.randn(3, 6, 6)
    kernel = np.random.default_rng(0).normal(size=(3, 5, 5)).astype(np.float32)
    pre, _ = activation_responses(image, kernel)
    want = F.conv2d(image.unsqueeze(0), torch.from_numpy(kernel).unsqueeze(0), padding=2)
    np.testing.assert_allclose(pre, want[0, 0].numpy(), rtol=1e-5, atol=1e-5)


def test_with_mosaics_tiles_large_layers_and_leaves_small_ones_to_the_view() -> None:
    from explorer.core.capture import TILE_IN_BACKGROUND, with_mosaics
    from explorer.core.mosaic import layer_mosaics

    layers = (
        LayerSpec.create("Conv2D", {"filters": 32, "kernel_size": 3, "padding": "same"}),
        LayerSpec.create("MaxPool2D", {"pool_size": 4}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 10}),
    )
    spec = NetworkSpec(input=InputSpec(1, 32, 32), layers=layers)
    result = capture(build_model(spec, seed=0), torch.randn(1, 32, 32))
    tiled = with_mosaics(result)
    assert tiled.layers is result.layers and len(tiled.mosaics) == 4
    big, pooled, flat, dense = tiled.mosaics
    assert result.layers[0].output.size == 32 * 32 * 32 >= TILE_IN_BACKGROUND
    assert big is not None and pooled is None and flat is None and dense is None
    want = layer_mosaics(result.layers[0].output)
    np.testing.assert_array_equal(big.per_map.image, want.per_map.image)
    np.testing.assert_array_equal(big.shared.image, want.shared.image)
    assert with_mosaics(tiled) is tiled  # already tiled: nothing done twice


def test_each_capture_names_the_path_of_its_layer_in_the_spec() -> None:
    spec = _spec()
    result = capture(build_model(spec, seed=0), torch.randn(2, 12, 12))
    names = spec.layer_names()
    for index, layer in enumerate(result.layers):
        assert layer.path == LayerPath.top(index) and layer.name == names[index]
        assert result.position(layer.path) == index
    assert result.position(LayerPath.top(len(spec.layers))) is None
