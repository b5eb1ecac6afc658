"""Blocks in the spec: nested paths, edits anywhere in the tree, names, and format v2."""

from __future__ import annotations

import json

import pytest

from explorer.core.paths import LayerPath, PathError, moved_paths
from explorer.core.project import ProjectError, decode_json, dumps_project, parse_project
from explorer.core.spec import BlockSpec, LayerSpec, NetworkSpec
from explorer.core.templates import load_template, template_names


def conv(filters: int = 8, **values: object) -> LayerSpec:
    return LayerSpec.create("Conv2D", {"filters": filters, "kernel_size": 3, **values})


def residual(*body: LayerSpec | BlockSpec, **values: object) -> BlockSpec:
    return BlockSpec.create("Residual", values, [list(body)])


def network() -> NetworkSpec:
    inner = BlockSpec.create(
        "Parallel", {"merge": "concat"}, [[conv(4)], [LayerSpec.new("MaxPool2D")]]
    )
    block = residual(conv(8, padding="same"), inner, repeat=2)
    return NetworkSpec(layers=(conv(8), block, LayerSpec.new("Flatten")))


def test_walk_lists_every_row_with_its_path_in_stack_order() -> None:
    rows = [(path.steps, item.type) for path, item in network().walk()]
    assert rows == [
        ((0,), "Conv2D"),
        ((1,), "Residual"),
        ((1, 0, 0), "Conv2D"),
        ((1, 0, 1), "Parallel"),
        ((1, 0, 1, 0, 0), "Conv2D"),
        ((1, 0, 1, 1, 0), "MaxPool2D"),
        ((2,), "Flatten"),
    ]


def test_names_are_numbered_through_the_blocks() -> None:
    spec = network()
    names = spec.names()
    assert [names[path] for path, _ in spec.walk()] == [
        "conv2d_1",
        "residual_1",
        "conv2d_2",
        "parallel_1",
        "conv2d_3",
        "max_pool2d_1",
        "flatten_1",
    ]
    assert spec.layer_names() == (names[LayerPath((0,))], "residual_1", "flatten_1")


def test_labels_name_the_sub_stacks() -> None:
    spec = network()
    assert spec.label(LayerPath((1, 0, 0))) == "layer 2 › body 1 (Conv2D)"
    assert spec.label(LayerPath((1, 0, 1, 1, 0))) == "layer 2 › body 2 › branch 2 › 1 (MaxPool2D)"


def test_edits_reach_inside_blocks_and_leave_the_rest_alone() -> None:
    spec = network()
    path = LayerPath((1, 0, 1, 0, 0))
    changed = spec.replace_at(path, conv(16))
    assert changed.at(path).get("filters") == 16
    assert changed.layers[0] is spec.layers[0] and changed.layers[2] is spec.layers[2]
    inserted = spec.insert_at(LayerPath((1, 0, 0)), LayerSpec.new("BatchNorm"))
    assert [item.type for item in inserted.at(LayerPath((1,))).stacks[0]] == [
        "BatchNorm",
        "Conv2D",
        "Parallel",
    ]
    removed = spec.remove_paths([LayerPath((1,)), LayerPath((1, 0, 0))])
    assert [item.type for item in removed.layers] == ["Conv2D", "Flatten"]


def test_moves_go_into_out_of_and_between_sub_stacks() -> None:
    spec = network()
    # the top-level Conv2D into the inner parallel block's second branch, at its end
    destination = LayerPath((1, 0, 1, 1, 1))
    moved = spec.move_paths([LayerPath((0,))], destination)
    (where,) = moved_paths([LayerPath((0,))], destination)
    assert where == LayerPath((0, 0, 1, 1, 1))
    assert moved.at(where) == spec.layers[0]
    assert len(moved.layers) == 2
    # and back out, to the end of the top-level stack
    back = moved.move_paths([where], LayerPath((2,)))
    assert [item.type for item in back.layers] == ["Residual", "Flatten", "Conv2D"]
    with pytest.raises(PathError):
        spec.move_paths([LayerPath((1,))], LayerPath((1, 0, 0)))


def test_a_parallel_block_needs_two_branches() -> None:
    with pytest.raises(ValueError, match="2 to 16 branches, got 1"):
        BlockSpec.create("Parallel", {}, [[conv()]])


def test_format_v2_round_trips_and_a_flat_project_stays_v1() -> None:
    spec = network()
    text = dumps_project(spec)
    data = json.loads(text)
    assert data["version"] == 2
    assert data["layers"][1]["body"][1]["branches"][1] == [{"type": "MaxPool2D"}]
    assert parse_project(decode_json(text)) == spec
    flat = NetworkSpec(layers=(conv(),))
    assert json.loads(dumps_project(flat))["version"] == 1


def test_bad_input_inside_a_block_names_its_path() -> None:
    data = json.loads(dumps_project(network()))
    data["layers"][1]["body"][0]["filters"] = "1"
    with pytest.raises(ProjectError) as caught:
        parse_project(data)
    assert str(caught.value) == (
        "layer 2 › body 1 (Conv2D): 'filters': expected an integer, got '1'"
    )


def test_a_version_1_file_cannot_hold_blocks() -> None:
    data = json.loads(dumps_project(network()))
    data["version"] = 1
    with pytest.raises(ProjectError, match="layer 2: Residual blocks need format version 2"):
        parse_project(data)


@pytest.mark.parametrize("name", ["blocks", *sorted(template_names())])
def test_the_size_counts_every_layer_and_block_the_spec_walks(name: str) -> None:
    spec = network() if name == "blocks" else load_template(name)
    wrapped = NetworkSpec(
        input=spec.input, layers=(residual(*spec.layers[:2]), *spec.layers, *spec.layers)
    )
    for tree in (spec, wrapped):
        assert tree.size == sum(1 for _ in tree.walk())
