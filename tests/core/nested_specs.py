"""Hypothesis strategies for networks with blocks: random nested specs up to depth 3.

Each row is drawn for the shape that reaches it (worked out by the analysis of that one
row), so the specs are valid by construction: residual blocks take a shortcut their body
allows, parallel blocks a merge their branches allow (squeeze-and-excite branches give one
value per channel), repeats only where every copy fits. Grouped and depthwise convolutions
join when the registry has them.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from explorer.core.analysis import analyze
from explorer.core.layer_analysis import LayerAnalysis
from explorer.core.layers import LAYER_TYPES
from explorer.core.spec import BlockSpec, InputSpec, LayerOrBlock, LayerSpec, NetworkSpec

Shape = tuple[int, ...]
MAX_DEPTH = 3
_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "prelu", "leaky_relu")


def analysed(shape: Shape, item: LayerOrBlock) -> LayerAnalysis:
    """The analysis of `item` alone on maps of `shape` (C, H, W)."""
    spec = NetworkSpec(input=InputSpec(*shape), layers=(item,))
    return analyze(spec).layers[0]


def output_of(shape: Shape, item: LayerOrBlock) -> Shape | None:
    """The output shape of `item` on `shape`, None when it (or a layer inside it) fails."""
    return analysed(shape, item).output_shape


@st.composite
def conv_layers(draw: st.DrawFn, channels: int) -> LayerSpec:
    values: dict[str, object] = {
        "filters": draw(st.integers(1, 6)),
        "kernel_size": draw(st.integers(1, 3)),
        "stride": draw(st.sampled_from([1, 1, 2])),
        "padding": draw(st.sampled_from(["same", "same", "valid"])),
        "activation": draw(st.sampled_from(_ACTIVATIONS)),
        "use_bias": draw(st.booleans()),
    }
    keys = LAYER_TYPES["Conv2D"].keys
    if "groups" in keys and draw(st.booleans()):
        groups = draw(st.sampled_from([g for g in range(1, channels + 1) if channels % g == 0]))
        values["groups"] = groups
        values["filters"] = groups * draw(st.integers(1, 2))
    return LayerSpec.create("Conv2D", values)


@st.composite
def image_layers(draw: st.DrawFn, channels: int) -> LayerSpec:
    """A layer on maps, often a convolution."""
    kinds = ["Conv2D", "Conv2D", "Conv2D", "Pool", "BatchNorm", "Activation", "Dropout"]
    kinds += [name for name in ("DepthwiseConv2D", "SeparableConv2D") if name in LAYER_TYPES]
    kind = draw(st.sampled_from(kinds))
    if kind == "Conv2D":
        return draw(conv_layers(channels))
    if kind == "Pool":
        return LayerSpec.create(
            draw(st.sampled_from(["MaxPool2D", "AvgPool2D"])),
            {"pool_size": draw(st.integers(1, 2)), "stride": draw(st.integers(1, 2))},
        )
    if kind == "Activation":
        return LayerSpec.create("Activation", {"function": draw(st.sampled_from(_ACTIVATIONS))})
    if kind in ("DepthwiseConv2D", "SeparableConv2D"):
        values: dict[str, object] = {"kernel_size": draw(st.integers(1, 3)), "padding": "same"}
        if "filters" in LAYER_TYPES[kind].keys:
            values["filters"] = draw(st.integers(1, 6))
        return LayerSpec.create(kind, values)
    return LayerSpec.create(kind, {})


def squeeze_excite(channels: int) -> list[LayerSpec]:
    """A branch of one value per channel: global pooling, a bottleneck, a sigmoid gate."""
    return [
        LayerSpec.create("GlobalAvgPool2D"),
        LayerSpec.create("Dense", {"units": max(1, channels // 2), "activation": "relu"}),
        LayerSpec.create("Dense", {"units": channels, "activation": "sigmoid"}),
    ]


def draw_stack(
    draw: st.DrawFn, shape: Shape, depth: int, max_size: int
) -> tuple[list[LayerOrBlock], Shape]:
    """Up to `max_size` rows on maps of `shape` (each valid where it stands) and the
    shape after them."""
    items: list[LayerOrBlock] = []
    for _ in range(draw(st.integers(0, max_size))):
        item, out = draw_item(draw, shape, depth)
        items.append(item)
        shape = out
    return items, shape


def draw_item(draw: st.DrawFn, shape: Shape, depth: int) -> tuple[LayerOrBlock, Shape]:
    """A layer or (below MAX_DEPTH) a block valid on maps of `shape`, and its output."""
    if depth < MAX_DEPTH and draw(st.integers(0, 2)) == 0:
        block = draw_block(draw, shape, depth + 1)
        if block is not None:
            return block
    for _ in range(3):
        layer = draw(image_layers(shape[0]))
        out = output_of(shape, layer)
        if out is not None and len(out) == 3:
            return layer, out
    safe = LayerSpec.create("BatchNorm")
    return safe, shape


def _shortcuts(shape: Shape, body: Shape) -> list[str]:
    if body == shape:
        return ["auto", "identity", "projection"]
    if len(body) != 3:
        return []
    options = ["auto", "projection"]
    if body[0] >= shape[0]:
        options.append("pad")
    return options


def _merges(shapes: Sequence[Shape]) -> list[str]:
    options = []
    if len({s[1:] for s in shapes if len(s) == 3}) == 1 and all(len(s) == 3 for s in shapes):
        options.append("concat")
    if len(set(shapes)) == 1:
        options += ["add", "multiply"]
    return options


def draw_block(draw: st.DrawFn, shape: Shape, depth: int) -> tuple[BlockSpec, Shape] | None:
    """A residual or parallel block valid on `shape`, or None when the drawn one is not."""
    activation = draw(st.sampled_from(_ACTIVATIONS))
    if draw(st.booleans()):
        body, out = draw_stack(draw, shape, depth, 3)
        options = _shortcuts(shape, out)
        if not options:
            return None
        values: dict[str, object] = {
            "shortcut": draw(st.sampled_from(options)),
            "activation": activation,
        }
        block = BlockSpec.create("Residual", values, [body])
    else:
        if draw(st.integers(0, 3)) == 0:
            stacks: list[list[LayerOrBlock]] = [[], list(squeeze_excite(shape[0]))]
            merge = "multiply"
        else:
            stacks = []
            shapes = []
            for _ in range(draw(st.integers(2, 3))):
                branch, out = draw_stack(draw, shape, depth, 2)
                stacks.append(branch)
                shapes.append(out)
            merges = _merges(shapes)
            if not merges:
                return None
            merge = draw(st.sampled_from(merges))
        block = BlockSpec.create("Parallel", {"merge": merge, "activation": activation}, stacks)
    out_shape = output_of(shape, block)
    if out_shape is None:
        return None
    if draw(st.integers(0, 3)) == 0:
        repeated = block.with_values(repeat=2)
        twice = output_of(shape, repeated)
        if twice is not None:
            return repeated, twice
    return block, out_shape


@st.composite
def nested_specs(draw: st.DrawFn) -> NetworkSpec:
    """A valid network: a stem convolution, rows with blocks nested up to depth 3, then
    global pooling or Flatten and a Dense layer giving the class scores."""
    shape: Shape = (draw(st.integers(1, 3)), draw(st.integers(4, 10)), draw(st.integers(4, 10)))
    input_spec = InputSpec(*shape)
    stem = LayerSpec.create(
        "Conv2D", {"filters": draw(st.integers(2, 6)), "kernel_size": 3, "padding": "same"}
    )
    shape = (stem.get("filters"), *shape[1:])
    rows: list[LayerOrBlock] = [stem]
    for _ in range(draw(st.integers(1, 3))):
        block = draw_block(draw, shape, 1)
        if block is not None:
            rows.append(block[0])
            shape = block[1]
        more, shape = draw_stack(draw, shape, 1, 1)
        rows += more
    num_classes = draw(st.integers(2, 5))
    rows.append(LayerSpec.create(draw(st.sampled_from(["GlobalAvgPool2D", "Flatten"]))))
    rows.append(LayerSpec.create("Dense", {"units": num_classes}))
    return NetworkSpec(input=input_spec, num_classes=num_classes, layers=tuple(rows))
