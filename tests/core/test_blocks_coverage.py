"""Receptive fields and coverage through blocks, checked against torch autograd as in
test_analysis_coverage.py: an input pixel reaches the collapse when a path of non-zero
gradient leads there through any sub-stack or shortcut."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings

from explorer.core.analysis import analyze
from explorer.core.builder import build_model
from explorer.core.spec import BlockSpec, InputSpec, LayerOrBlock, LayerSpec, NetworkSpec
from tests.core.nested_specs import nested_specs

L = LayerSpec.create
torch.set_num_threads(1)

_SAME_WINDOWS = {"MaxPool2D": "AvgPool2D", "GlobalMaxPool2D": "GlobalAvgPool2D"}


def _twin(item: LayerOrBlock) -> LayerOrBlock:
    """The same windows with linear activations and average pooling, through blocks."""
    if isinstance(item, BlockSpec):
        stacks = [[_twin(inner) for inner in stack] for stack in item.stacks]
        return item.with_values(activation="linear").with_stacks(stacks)
    if item.type == "Activation":
        return L("Dropout", {"rate": 0.0})
    values = item.json_values()
    key = item.entry.activation_key
    if key:
        values[key] = "linear"
    return L(_SAME_WINDOWS.get(item.type, item.type), values)


def _reaching_pixels(spec: NetworkSpec, upto: int) -> torch.Tensor:
    """(H, W) mask of input pixels whose gradient reaches the output of row `upto`."""
    model = build_model(spec.with_layers(map(_twin, spec.layers)), seed=0).eval().double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.abs() + 0.1)
    image = torch.ones(1, *spec.input.shape, dtype=torch.float64, requires_grad=True)
    x = image
    for _, module in model.layer_modules()[: upto + 1]:
        x = module(x)
    x.sum().backward()
    assert image.grad is not None
    if not torch.isfinite(image.grad).all():
        # Nested, repeated multiply merges raise the values to high powers; where even
        # float64 overflows, the gradient cannot say which pixels reach the output.
        assume(False)
    return image.grad[0].abs().sum(0) > 0


def _check_coverage(spec: NetworkSpec) -> None:
    analysis = analyze(spec)
    assert analysis.ok
    upto = len(spec.layers) - 2  # the global pooling or Flatten before the class scores
    rf = analysis.layers[upto].receptive_field
    assert rf is not None and rf.jump is None and rf.covered is not None
    mask = _reaching_pixels(spec, upto)
    rows, columns = int(mask.any(1).sum()), int(mask.any(0).sum())
    assert rf.covered == (rows, columns)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_specs())
def test_coverage_through_blocks_is_what_autograd_reaches(spec: NetworkSpec) -> None:
    _check_coverage(spec)


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_specs())
def test_coverage_through_many_blocks_is_what_autograd_reaches(spec: NetworkSpec) -> None:
    _check_coverage(spec)


def test_a_branch_reaching_further_covers_what_the_other_misses() -> None:
    # on 7 pixels, 2×2 pooling with stride 2 never reads the last row; the 3×3 stride-2
    # convolution beside it does, so the concatenation reaches all of them
    pooled = L("MaxPool2D", {"pool_size": 2})
    strided = L("Conv2D", {"filters": 1, "kernel_size": 3, "stride": 2})
    tail = (L("Flatten"), L("Dense", {"units": 10}))
    alone = NetworkSpec(input=InputSpec(1, 7, 7), layers=(pooled, *tail))
    both = alone.with_layers(
        [BlockSpec.create("Parallel", {"merge": "concat"}, [[pooled], [strided]]), *tail]
    )
    assert analyze(alone).layers[1].receptive_field.covered == (6, 6)  # type: ignore[union-attr]
    merged = analyze(both)
    rf = merged.layers[1].receptive_field
    assert rf is not None and rf.covered == (7, 7) and rf.whole_input
    # the block's own field is the larger of its branches', at their common jump
    block_field = merged.layers[0].receptive_field
    assert block_field is not None and block_field.size == (3, 3) and block_field.jump == (2, 2)
    _check_coverage(both)


def test_branches_whose_positions_do_not_line_up_are_warned_about() -> None:
    # both give 3×3 maps from 5×5, one with jump 1 (valid 3×3), one with jump 2 (stride 2)
    valid = L("Conv2D", {"filters": 2, "kernel_size": 3})
    strided = L("Conv2D", {"filters": 2, "kernel_size": 1, "stride": 2})
    spec = NetworkSpec(
        input=InputSpec(1, 5, 5),
        layers=(
            BlockSpec.create("Parallel", {"merge": "add"}, [[valid], [strided]]),
            L("Flatten"),
            L("Dense", {"units": 10}),
        ),
    )
    analysis = analyze(spec)
    assert analysis.ok
    (warning,) = analysis.at(spec.walk().__next__()[0]).diagnostics
    assert "do not line up" in warning.message and warning.path is not None
