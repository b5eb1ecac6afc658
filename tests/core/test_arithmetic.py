"""The written-out output-size arithmetic agrees with the analysis for conv and pooling."""

from __future__ import annotations

import pytest

from explorer.core.analysis import analyze
from explorer.core.arithmetic import output_arithmetic
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec


def test_valid_convolution_on_mnist_reads_like_the_textbook() -> None:
    layer = LayerSpec.create("Conv2D", {"filters": 32, "kernel_size": 5})
    height, width = output_arithmetic(layer, (1, 28, 28))
    assert height.text == "⌊(28 + 2·0 − 5)/1⌋ + 1 = 24"
    assert width.size == 24


def test_same_padding_with_odd_total_shows_both_sides() -> None:
    layer = LayerSpec.create(
        "Conv2D", {"filters": 4, "kernel_size": 4, "stride": 2, "padding": "same"}
    )
    height, _ = output_arithmetic(layer, (3, 9, 9))
    assert height.text == "⌊(9 + 1 + 2 − 4)/2⌋ + 1 = 5"


def test_dilation_is_written_out() -> None:
    layer = LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "dilation": 2})
    height, _ = output_arithmetic(layer, (1, 10, 10))
    assert height.text == "⌊(10 + 2·0 − 2·(3−1) − 1)/1⌋ + 1 = 6"


def test_layers_without_a_window_have_no_arithmetic() -> None:
    assert output_arithmetic(LayerSpec.new("Flatten"), (1, 28, 28)) == ()
    assert output_arithmetic(LayerSpec.new("GlobalAvgPool2D"), (8, 4, 4)) == ()
    assert output_arithmetic(LayerSpec.new("Conv2D"), None) == ()
    assert output_arithmetic(LayerSpec.new("Conv2D"), (100,)) == ()


def test_impossible_kernel_gives_a_size_below_one() -> None:
    layer = LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 9})
    height, _ = output_arithmetic(layer, (1, 4, 4))
    assert height.size < 1


@pytest.mark.parametrize(
    "layer",
    [
        LayerSpec.create("Conv2D", {"filters": 3, "kernel_size": [3, 5], "stride": [2, 1]}),
        LayerSpec.create("Conv2D", {"filters": 3, "kernel_size": 3, "padding": [1, 2]}),
        LayerSpec.create("Conv2D", {"filters": 3, "kernel_size": 5, "padding": "same"}),
        LayerSpec.create("MaxPool2D", {"pool_size": 3, "stride": 2, "padding": 1}),
        LayerSpec.create("AvgPool2D", {"pool_size": [2, 3]}),
    ],
)
def test_arithmetic_agrees_with_the_analysis(layer: LayerSpec) -> None:
    spec = NetworkSpec(input=InputSpec(3, 17, 23), layers=(layer,))
    out = analyze(spec).layers[0].output_shape
    assert out is not None
    assert tuple(axis.size for axis in output_arithmetic(layer, (3, 17, 23))) == out[1:]
