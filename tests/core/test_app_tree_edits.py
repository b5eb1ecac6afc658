"""Edits of the layer tree without the window: where every item came from, and names kept
through blocks."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from explorer.core.app.tree_edits import (
    apply_edit,
    unwrap_edit,
    unwrap_text,
    without_taken_tree_names,
    wrap_edit,
)
from explorer.core.paths import LayerPath, insert_at, move_to
from explorer.core.spec import BlockSpec, InputSpec, LayerSpec, NetworkSpec
from tests.core.nested_specs import nested_specs


def _conv() -> LayerSpec:
    return LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"})


def _spec() -> NetworkSpec:
    """conv2d_1, residual_1 [conv2d_2, conv2d_3], flatten_1."""
    body = [_conv(), _conv()]
    return NetworkSpec(
        input=InputSpec(4, 8, 8),
        layers=(_conv(), BlockSpec.create("Residual", {}, [body]), LayerSpec.new("Flatten")),
    )


def test_moving_a_layer_into_a_block_says_where_each_item_came_from() -> None:
    spec = _spec()
    result = apply_edit(
        spec, lambda items, maker: move_to(items, [LayerPath((0,))], LayerPath((1, 0, 1)))
    )
    assert result.origin == {
        LayerPath((0,)): LayerPath((1,)),  # the block, rebuilt around the moved layer
        LayerPath((0, 0, 0)): LayerPath((1, 0, 0)),
        LayerPath((0, 0, 1)): LayerPath((0,)),
        LayerPath((0, 0, 2)): LayerPath((1, 0, 1)),
        LayerPath((1,)): LayerPath((2,)),
    }
    # the first top-level row was row 1; row 0 went inside it
    assert result.top_origin == (1, 2)
    names = NetworkSpec(layers=result.layers).names()
    assert names[LayerPath((0, 0, 1))] == "conv2d_1"  # kept, written out
    assert names[LayerPath((0, 0, 0))] == "conv2d_2"
    assert names[LayerPath((0, 0, 2))] == "conv2d_3"


def test_a_new_layer_inside_a_block_takes_the_next_free_name() -> None:
    spec = _spec()
    result = apply_edit(
        spec,
        lambda items, maker: insert_at(items, LayerPath((1, 0, 0)), [maker.new(_conv())]),
    )
    assert result.origin[LayerPath((1, 0, 0))] is None
    names = NetworkSpec(layers=result.layers).names()
    assert names[LayerPath((1, 0, 0))] == "conv2d_4"
    assert [names[LayerPath((1, 0, i))] for i in (1, 2)] == ["conv2d_2", "conv2d_3"]


def test_wrap_then_unwrap_gives_the_stack_back() -> None:
    spec = _spec()
    wrapped = apply_edit(spec, wrap_edit([LayerPath((0,)), LayerPath((2,))], "Parallel"))
    block = wrapped.layers[0]
    assert isinstance(block, BlockSpec) and block.type == "Parallel"
    assert [x.type for x in block.stacks[0]] == ["Conv2D", "Flatten"] and block.stacks[1] == ()
    assert wrapped.top_origin == (None, 1)
    wrapped_spec = spec.with_layers(wrapped.layers)
    assert unwrap_text(wrapped_spec, LayerPath((0,))) == (
        "Unwrap parallel_1, dropping branch 2 (0 layers)"
    )
    back = apply_edit(wrapped_spec, unwrap_edit(LayerPath((0,))))
    assert [x.type for x in back.layers] == ["Conv2D", "Flatten", "Residual"]


def test_pasted_items_drop_names_taken_anywhere_in_the_tree() -> None:
    spec = _spec().replace_at(LayerPath((1, 0, 0)), _conv().with_name("edges"))
    pasted = BlockSpec.create("Residual", {}, [[_conv().with_name("edges")]], name="stage")
    (fresh,) = without_taken_tree_names(spec, [pasted])
    assert isinstance(fresh, BlockSpec)
    assert fresh.name == "stage" and fresh.stacks[0][0].name is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_specs(), nested_specs())
def test_the_names_of_rows_appended_are_those_of_the_spec_holding_them(
    spec: NetworkSpec, more: NetworkSpec
) -> None:
    items = without_taken_tree_names(spec, more.layers)
    appended = spec.with_layers([*spec.layers, *items]).names()
    count = len(spec.layers)
    assert spec.names_appended(items) == {
        path: name for path, name in appended.items() if path.steps[0] >= count
    }


def test_a_spec_whose_names_were_taken_over_names_rows_appended_too() -> None:
    spec = _spec()
    spec.names()
    edited = spec.replace_at(LayerPath((0,)), _conv().with_values(filters=5))
    assert edited.names_after(spec) is spec.names()  # (numbered alike: taken over)
    assert edited.names_appended([_conv(), LayerSpec.new("Flatten")]) == {
        LayerPath((3,)): "conv2d_4",
        LayerPath((4,)): "flatten_2",
    }
