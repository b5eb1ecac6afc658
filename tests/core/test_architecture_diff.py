"""The architecture diff between two networks, on hand-built specs with exact expectations."""

from __future__ import annotations

from dataclasses import replace

from explorer.core.app.architecture_diff import (
    ADDED,
    CHANGED,
    REMOVED,
    LayerChange,
    ValueChange,
    diff_specs,
)
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, InputSpec, LayerSpec, NetworkSpec
from explorer.core.templates import load_template


def conv(filters: int, kernel: int = 3, **keys: object) -> LayerSpec:
    name = keys.pop("name", None)
    values = {"filters": filters, "kernel_size": kernel, "padding": "same", **keys}
    return LayerSpec.create("Conv2D", values, name=name)  # type: ignore[arg-type]


def layer(type_name: str, **keys: object) -> LayerSpec:
    return LayerSpec.create(type_name, keys)


def residual(*body: LayerSpec, **keys: object) -> BlockSpec:
    return BlockSpec.create("Residual", keys, [list(body)])


def network(*layers: LayerSpec | BlockSpec, **fields: object) -> NetworkSpec:
    return NetworkSpec(layers=tuple(layers), **fields)  # type: ignore[arg-type]


def P(*steps: int) -> LayerPath:
    return LayerPath(steps)


def test_the_same_network_has_no_differences() -> None:
    spec = load_template("resnet-mnist")
    diff = diff_specs(spec, spec)
    assert diff.same_architecture and diff.layers == () and diff.training == ()
    assert diff.lines() == ["  the same architecture"]
    assert diff.summary() == "the same architecture"


def test_a_changed_key_an_added_and_a_removed_layer_are_listed_in_order() -> None:
    old = network(conv(8), layer("MaxPool2D"), layer("Dropout", rate=0.5), layer("Flatten"))
    new = network(conv(16), layer("MaxPool2D"), layer("Flatten"), layer("Dense", units=4))
    diff = diff_specs(old, new)
    assert diff.layers == (
        LayerChange(CHANGED, P(0), P(0), "Conv2D", "conv2d_1", (ValueChange("filters", 8, 16),)),
        LayerChange(REMOVED, P(2), None, "Dropout", "dropout_1"),
        LayerChange(ADDED, None, P(3), "Dense", "dense_1"),
    )
    assert diff.lines() == [
        "~ layer 1 (Conv2D) conv2d_1: filters 8 → 16",
        "- layer 3 (Dropout) dropout_1",
        "+ layer 4 (Dense) dense_1",
    ]
    assert diff.summary() == "1 added, 1 removed, 1 changed"


def test_a_default_key_written_out_is_no_change_and_lists_compare_as_json() -> None:
    old = network(conv(8, kernel=3))
    new = network(LayerSpec.create("Conv2D", {"filters": 8, "kernel_size": [3, 3], "stride": 1}))
    new_padding = replace(new, layers=(new.layers[0].with_values(padding="same"),))
    assert diff_specs(old, new_padding).layers == ()
    wider = network(conv(8, kernel=3, stride=[1, 2]))
    (change,) = diff_specs(old, wider).layers
    assert change.changes == (ValueChange("stride", 1, [1, 2]),)
    assert diff_specs(old, wider).lines() == ["~ layer 1 (Conv2D) conv2d_1: stride 1 → [1, 2]"]


def test_changes_inside_a_residual_body_are_reported_at_their_nested_paths() -> None:
    stem = conv(8)
    old = network(stem, residual(conv(8), layer("BatchNorm"), conv(8)), layer("Flatten"))
    new = network(
        stem,
        residual(conv(8), layer("BatchNorm"), layer("Activation", function="relu"), conv(8, 5)),
        residual(conv(8)),
        layer("Flatten"),
    )
    diff = diff_specs(old, new)
    assert diff.layers == (
        LayerChange(ADDED, None, P(1, 0, 2), "Activation", "activation_1"),
        LayerChange(
            CHANGED,
            P(1, 0, 2),
            P(1, 0, 3),
            "Conv2D",
            "conv2d_3",
            (ValueChange("kernel_size", 3, 5),),
        ),
        LayerChange(ADDED, None, P(2), "Residual", "residual_2"),
    )
    assert diff.lines() == [
        "+ layer 2 › body 3 (Activation) activation_1",
        "~ layer 2 › body 4 (Conv2D) conv2d_3: kernel_size 3 → 5",
        "+ layer 3 (Residual) residual_2",
    ]


def test_a_block_key_and_a_parallel_branch_count_change_on_the_block_row() -> None:
    branches = [[conv(4)], [conv(4, 5)]]
    old = network(BlockSpec.create("Parallel", {"merge": "concat"}, branches))
    new = network(BlockSpec.create("Parallel", {"merge": "add"}, [*branches, [conv(4, 1)]]))
    diff = diff_specs(old, new)
    assert diff.layers == (
        LayerChange(
            CHANGED,
            P(0),
            P(0),
            "Parallel",
            "parallel_1",
            (ValueChange("merge", "concat", "add"), ValueChange("branches", 2, 3)),
        ),
        LayerChange(ADDED, None, P(0, 2, 0), "Conv2D", "conv2d_3"),
    )


def test_explicit_names_match_rows_that_moved_and_changed_type_or_keys() -> None:
    old = network(conv(8, name="stem"), layer("Flatten"), layer("Dense", units=4))
    new = network(
        LayerSpec.create("DepthwiseConv2D", {"kernel_size": 3}, name="stem"),
        layer("Flatten"),
        LayerSpec.create("Dense", {"units": 4}, name="head"),
    )
    diff = diff_specs(old, new)
    assert diff.layers[0] == LayerChange(
        CHANGED,
        P(0),
        P(0),
        "DepthwiseConv2D",
        "stem",
        diff.layers[0].changes,
    )
    assert diff.layers[0].changes[0] == ValueChange("type", "Conv2D", "DepthwiseConv2D")
    assert {c.key for c in diff.layers[0].changes} >= {"type", "filters"}
    assert diff.layers[1] == LayerChange(
        CHANGED, P(2), P(2), "Dense", "head", (ValueChange("name", "dense_1", "head"),)
    )


def test_default_names_that_shift_are_not_changes() -> None:
    # The old max_pool2d_1 is the new max_pool2d_2: the same row, only its default name moved.
    old = network(layer("MaxPool2D"), layer("Flatten"))
    new = network(layer("MaxPool2D", pool_size=3), layer("MaxPool2D"), layer("Flatten"))
    added = LayerChange(ADDED, None, P(0), "MaxPool2D", "max_pool2d_1")
    assert diff_specs(old, new).layers == (added,)


def test_input_class_count_and_training_changes() -> None:
    old = network(layer("Flatten"))
    new = replace(
        old.with_num_classes(3),
        input=InputSpec(3, 32, 32),
        training=old.training.with_values(learning_rate=0.1, batch_size=64),
    )
    diff = diff_specs(old, new)
    assert diff.input == ValueChange("input", [1, 28, 28], [3, 32, 32])
    assert diff.num_classes == ValueChange("num_classes", 10, 3)
    assert diff.training == (
        ValueChange("learning_rate", 0.01, 0.1),
        ValueChange("batch_size", 100, 64),
    )
    assert not diff.same_architecture
    assert diff.lines() == [
        "  input [1, 28, 28] → [3, 32, 32]",
        "  num_classes 10 → 3",
        "  training: learning_rate 0.01 → 0.1, batch_size 100 → 64",
    ]
