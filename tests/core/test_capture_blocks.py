"""Capture of networks with blocks: every nested layer by its qualified module name, and
each block's merged output, against torch's own hooks and hand-written forward passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.core.capture import capture, capture_points
from explorer.core.paths import LayerPath
from tests.core.blocks_by_hand import build_by_hand, nested_spec

P = LayerPath

# Written out by hand from block_modules' naming scheme (not computed from it).
EXPECTED = [
    (P((0,)), "conv2d_1", "conv2d_1", False),
    (P((1, 0, 0)), "conv2d_2", "residual_1.0.body.conv2d_2", False),
    (P((1, 0, 1)), "batch_norm_1", "residual_1.0.body.batch_norm_1", False),
    (P((1,)), "residual_1", "residual_1", True),
    (P((2, 0, 0)), "conv2d_3", "parallel_1.branches.0.conv2d_3", False),
    (P((2, 1, 0, 0, 0)), "conv2d_4", "parallel_1.branches.1.residual_2.body.conv2d_4", False),
    (P((2, 1, 0)), "residual_2", "parallel_1.branches.1.residual_2", True),
    (P((2,)), "parallel_1", "parallel_1", True),
    (P((3,)), "flatten_1", "flatten_1", False),
    (P((4,)), "dense_1", "dense_1", False),
]


def _hooked(model: torch.nn.Module, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every module's output by qualified name, from torch's own hooks."""
    seen: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_hook(
            lambda _m, _i, out, name=name: seen.setdefault(name, out.detach().clone())
        )
        for name, module in model.named_modules()
    ]
    try:
        with torch.no_grad():
            model(image.unsqueeze(0))
    finally:
        for handle in handles:
            handle.remove()
    return seen


def test_points_are_every_layer_by_qualified_name_and_each_block_after_its_stacks() -> None:
    spec = nested_spec()
    model = build_by_hand(spec)
    points = [(p.path, p.name, p.module, p.merged) for p in capture_points(model)]
    assert points == EXPECTED
    assert {path: name for path, name, _, _ in points} == spec.names()
    for _, _, module, _ in points:
        model.get_submodule(module)  # each one a real module of the model


def test_each_capture_equals_a_forward_hook_on_the_module_at_its_path() -> None:
    spec = nested_spec()
    model = build_by_hand(spec, seed=1)
    image = torch.randn(2, 6, 6)
    result = capture(model, image)
    hooked = _hooked(model, image)

    assert [(layer.path, layer.name, layer.merged) for layer in result.layers] == [
        (path, name, merged) for path, name, _, merged in EXPECTED
    ]
    for layer, (_, _, module, _) in zip(result.layers, EXPECTED, strict=True):
        want = hooked[module][0].numpy()
        assert layer.shape == want.shape
        np.testing.assert_allclose(layer.output, want, rtol=1e-6, atol=1e-6)
    assert result.position(P((2, 1, 0))) == 6
    assert result.layers[3].label == "residual_1 (merged)"
    assert result.layers[5].depth == 3


def test_merged_outputs_are_the_blocks_sums_and_concatenation_by_hand() -> None:
    model = build_by_hand(nested_spec(), seed=2)
    image = torch.randn(2, 6, 6)
    result = capture(model, image)
    out = {
        (layer.path, layer.merged): torch.from_numpy(layer.output)[None] for layer in result.layers
    }

    x = out[P((0,)), False]
    with torch.no_grad():
        for copy in model.residual_1:  # ×2: relu(body(x) + x), twice
            x = torch.relu(copy.body(x) + x)
        torch.testing.assert_close(out[P((1,)), True], x, rtol=1e-5, atol=1e-5)
        inner = model.parallel_1.branches[1].residual_2
        residual = torch.tanh(inner.body(x) + x)
        torch.testing.assert_close(out[P((2, 1, 0)), True], residual, rtol=1e-5, atol=1e-5)
        first = model.parallel_1.branches[0](x)
        concatenated = torch.cat([first, residual, x], dim=1)  # the empty branch passes x on
    torch.testing.assert_close(out[P((2,)), True], concatenated, rtol=1e-5, atol=1e-5)
    assert result.layers[7].shape == (11, 6, 6)


def test_a_repeated_blocks_layers_are_those_of_its_first_copy() -> None:
    model = build_by_hand(nested_spec(), seed=3)
    image = torch.randn(2, 6, 6)
    result = capture(model, image)
    conv = result.layers[result.position(P((1, 0, 0))) or 0]
    first, second = (copy.body.conv2d_2.conv.weight for copy in model.residual_1)
    assert not torch.equal(first, second)
    assert conv.kernel is not None
    np.testing.assert_array_equal(conv.kernel, first.detach().numpy())
    with torch.no_grad():
        want = model.residual_1[0].body.conv2d_2(torch.from_numpy(result.layers[0].output)[None])
    np.testing.assert_allclose(conv.output, want[0].numpy(), rtol=1e-6, atol=1e-6)


def test_blocks_have_no_kernel_and_nested_convolutions_have_theirs() -> None:
    model = build_by_hand(nested_spec(), seed=4)
    result = capture(model, torch.randn(2, 6, 6))
    for layer in result.layers:
        assert (layer.kernel is None) == (
            layer.merged or not layer.name.startswith(("conv", "dense"))
        )
    nested = result.layers[result.position(P((2, 1, 0, 0, 0))) or 0]
    weight = model.get_submodule("parallel_1.branches.1.residual_2.body.conv2d_4").conv.weight
    assert nested.kernel is not None
    np.testing.assert_array_equal(nested.kernel, weight.detach().numpy())


def test_wide_merged_outputs_keep_only_their_first_channels() -> None:
    model = build_by_hand(nested_spec(), seed=5)
    result = capture(model, torch.randn(2, 6, 6), max_channels=3)
    merged = result.layers[result.position(P((2,))) or 0]
    assert merged.shape == (11, 6, 6)
    assert merged.output.shape == (3, 6, 6)
    assert merged.truncated


def test_an_error_inside_a_block_restores_modes_and_removes_every_hook() -> None:
    model = build_by_hand(nested_spec())
    model.train()
    with pytest.raises(RuntimeError):
        capture(model, torch.randn(3, 6, 6))  # 3 channels into a 2-channel convolution
    assert all(module.training for module in model.modules())
    assert not any(module._forward_hooks for module in model.modules())
