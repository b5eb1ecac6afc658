"""Property-based: for random nested specs the analysis agrees with the built torch model.

Every nested layer's and block's output shape equals what its module gives (forward hooks
on the built model); every layer's and block's trainable and non-trainable counts equal
its module's parameters and buffers; the multiply-adds equal torch's own FLOP counter's
count for convolutions and matrix products (halved); the tensors autograd keeps equal the
memory estimate's account. A variant with one nested layer broken fails on that layer's
path, in the analysis and in the builder.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from explorer.core.analysis import analyze
from explorer.core.block_spec import label_of
from explorer.core.builder import BuildError, build_model
from explorer.core.spec import LayerSpec, NetworkSpec
from tests.core.nested_specs import nested_specs
from tests.core.test_analysis_memory import _saved_bytes

torch.set_num_threads(1)

_EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _counts(module: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in module.parameters())
    frozen = sum(
        b.numel() for n, b in module.named_buffers() if not n.endswith("num_batches_tracked")
    )
    return trainable, frozen


def _output_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Each module's output shape (without the batch) by qualified name."""
    seen: dict[str, tuple[int, ...]] = {}

    def hook(name: str):  # type: ignore[no-untyped-def]
        def record(module: nn.Module, args: object, output: torch.Tensor) -> None:
            seen[name] = tuple(output.shape[1:])

        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in model.named_modules()]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def check_against_torch(spec: NetworkSpec) -> None:
    analysis = analyze(spec)
    assert analysis.ok, [e.text() for e in analysis.errors]
    model = build_model(spec, seed=0).eval()
    x = torch.randn(2, *spec.input.shape)
    with torch.no_grad():
        shapes = _output_shapes(model, x)
        with FlopCounterMode(display=False) as flops:
            model(x)
    for layer in analysis.walk():
        assert layer.path is not None
        name = model.module_name(layer.path)
        assert shapes[name] == layer.output_shape, (name, layer.type)
        assert _counts(model.module_at(layer.path)) == (
            layer.trainable_params,
            layer.non_trainable_params,
        ), name
    assert _counts(model) == (analysis.trainable_params, analysis.non_trainable_params)
    assert flops.get_total_flops() == 2 * 2 * analysis.macs  # two images, two flops a MAC


@_EXAMPLES
@given(nested_specs())
def test_nested_shapes_counts_and_macs_equal_the_built_models(spec: NetworkSpec) -> None:
    check_against_torch(spec)


@pytest.mark.slow
@_MANY
@given(nested_specs())
def test_hundreds_of_nested_specs_equal_the_built_models(spec: NetworkSpec) -> None:
    check_against_torch(spec)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_specs())
def test_saved_tensors_of_blocks_match_what_autograd_keeps(spec: NetworkSpec) -> None:
    expected = analyze(spec).training_memory().saved_bytes_per_image
    per_image = (_saved_bytes(spec, 4) - _saved_bytes(spec, 2)) // 2
    assert per_image == expected


def _windowed(spec: NetworkSpec) -> list[tuple[object, LayerSpec]]:
    """The nested layers with a window (convolutions, pooling) and their paths."""
    return [
        (path, item)
        for path, item in spec.walk()
        if path.depth > 1
        and isinstance(item, LayerSpec)
        and item.type in ("Conv2D", "MaxPool2D", "AvgPool2D")
    ]


@_EXAMPLES
@given(nested_specs(), st.data())
def test_a_broken_nested_layer_fails_on_its_path(spec: NetworkSpec, data: st.DataObject) -> None:
    candidates = _windowed(spec)
    if not candidates:
        return
    path, layer = data.draw(st.sampled_from(candidates))
    reached = analyze(spec).at(path)  # type: ignore[arg-type]
    assert reached.input_shape is not None
    too_big = max(reached.input_shape[1:]) + 1
    key = "kernel_size" if layer.type == "Conv2D" else "pool_size"
    broken = spec.replace_at(path, layer.with_values(**{key: too_big, "padding": "valid"}))  # type: ignore[arg-type]
    errors = analyze(broken).errors
    assert errors and errors[0].path == path
    with pytest.raises(BuildError, match=f"{label_of(broken.layers, path)}: "):  # type: ignore[arg-type]
        build_model(broken)
