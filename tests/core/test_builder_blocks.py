"""The builder on networks with blocks: penalties on nested kernels, the modules a path
names in every copy, structure-only and weighted builds, TorchScript and tracing, and the
memory estimate against torch's profiler."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from explorer.core.analysis import analyze
from explorer.core.builder import build_model, build_structure, build_with_weights
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, InputSpec, LayerSpec, NetworkSpec
from tests.core.nested_specs import nested_specs
from tests.core.test_blocks_analysis import resnet20

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from memory_estimate import estimate, profiled_peak

L = LayerSpec.create
torch.set_num_threads(1)


def _penalised() -> NetworkSpec:
    conv = L("Conv2D", {"filters": 2, "kernel_size": 3, "padding": "same", "l2": 0.5})
    dense = L("Dense", {"units": 2, "l1": 0.25})
    return NetworkSpec(
        input=InputSpec(2, 6, 6),
        layers=(
            BlockSpec.create("Residual", {"repeat": 2}, [[conv]]),
            BlockSpec.create(
                "Parallel", {"merge": "multiply"}, [[], [L("GlobalAvgPool2D"), dense]]
            ),
            L("Flatten"),
            L("Dense", {"units": 10, "activation": "softmax"}),
        ),
    )


def test_penalties_reach_the_kernels_of_nested_layers_in_every_copy() -> None:
    model = build_model(_penalised(), seed=0)
    assert set(model.penalties) == {
        "residual_1.0.body.conv2d_1",
        "residual_1.1.body.conv2d_1",
        "parallel_1.branches.1.dense_1",
    }
    kernels = [
        model.module_at(LayerPath((0, 0, 0)), copy=0).conv.weight,
        model.module_at(LayerPath((0, 0, 0)), copy=1).conv.weight,
    ]
    dense = model.module_at(LayerPath((1, 1, 1))).linear.weight
    expected = sum(0.5 * k.square().sum() for k in kernels) + 0.25 * dense.abs().sum()
    penalty = model.penalty()
    assert penalty is not None and torch.allclose(penalty, expected)
    penalty.backward()
    assert dense.grad is not None and torch.allclose(dense.grad, 0.25 * dense.detach().sign())
    # the final softmax stays out of forward, as without blocks
    assert model.final_softmax


def test_a_path_names_its_module_and_a_missing_copy_is_refused() -> None:
    model = build_model(_penalised(), seed=0)
    assert model.module_name(LayerPath.top(0)) == "residual_1"
    assert model.module_name(LayerPath((0, 0, 0)), copy=1) == "residual_1.1.body.conv2d_1"
    assert model.module_name(LayerPath((1, 1, 0))) == "parallel_1.branches.1.global_avg_pool2d_1"
    with pytest.raises(KeyError):
        model.module_name(LayerPath((0, 0, 0)), copy=2)
    with pytest.raises(KeyError):
        model.module_name(LayerPath((1, 1, 0)), copy=1)  # not in a repeated block
    with pytest.raises(KeyError):
        model.module_name(LayerPath((5,)))
    assert model.layer_names == ("residual_1", "parallel_1", "flatten_1", "dense_2")


def test_structure_and_weights_builds_hold_the_same_keys_with_blocks() -> None:
    spec = resnet20("auto")
    trained = build_model(spec, seed=1).state_dict()
    structure = build_structure(spec)
    assert list(structure.state_dict()) == list(trained)
    assert all(t.device.type == "meta" for t in structure.state_dict().values())
    copy = build_with_weights(spec, trained)
    key = "residual_2.shortcut.0.conv.weight"  # the projection where stage 2 starts
    assert key in trained and torch.equal(copy.state_dict()[key], trained[key])
    x = torch.randn(2, 3, 32, 32)
    reference = build_model(spec, seed=1).eval()
    assert torch.allclose(copy(x), reference(x), atol=1e-6)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:`torch.jit.trace.*` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_specs())
def test_random_networks_with_blocks_script_and_trace(spec: NetworkSpec) -> None:
    model = build_model(spec, seed=0).eval()
    x = torch.randn(2, *spec.input.shape)
    expected = model(x)
    assert torch.allclose(torch.jit.script(model)(x), expected, atol=1e-5)
    assert torch.allclose(torch.jit.trace(model, x)(x), expected, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("shortcut", ["pad", "auto"])
def test_the_memory_estimate_of_resnet20_is_within_a_fifth_of_the_profiled_peak(
    shortcut: str,
) -> None:
    spec = resnet20(shortcut)
    ratio = estimate(spec, 16) / profiled_peak(spec, 16)
    assert 0.8 <= ratio <= 1.2, ratio


def test_softmax_inside_a_body_is_advice_for_a_hidden_layer() -> None:
    inner = L("Conv2D", {"filters": 1, "kernel_size": 1, "activation": "softmax"})
    spec = NetworkSpec(
        input=InputSpec(1, 4, 4),
        layers=(
            BlockSpec.create("Residual", {}, [[inner]]),
            L("Flatten"),
            L("Dense", {"units": 10}),
        ),
    )
    (warning,) = analyze(spec).warnings
    assert warning.path == LayerPath((0, 0, 0))
    assert "softmax before the last layer squashes features" in warning.message
