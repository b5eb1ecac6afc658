"""Edits of a network with blocks through the document: anywhere in the tree, one undo step
each, undo and redo giving back exactly the specs they replaced, and no layer renamed by an
edit of its neighbours."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, InputSpec, LayerOrBlock, LayerSpec, NetworkSpec
from explorer.ui.common.document import ProjectDocument


def conv(filters: int = 4) -> LayerSpec:
    return LayerSpec.create("Conv2D", {"filters": filters, "kernel_size": 3, "padding": "same"})


def relu() -> LayerSpec:
    return LayerSpec.create("Activation", {"function": "relu"})


def residual(*body: LayerOrBlock, **values: Any) -> BlockSpec:
    return BlockSpec.create("Residual", values, [body])


def parallel(*branches: tuple[LayerOrBlock, ...], **values: Any) -> BlockSpec:
    return BlockSpec.create("Parallel", values, branches)


def network(*layers: LayerOrBlock) -> NetworkSpec:
    return NetworkSpec(input=InputSpec(4, 8, 8), layers=layers)


def at(*steps: int) -> LayerPath:
    return LayerPath(steps)


@pytest.fixture
def blocks() -> ProjectDocument:
    """conv2d_1, residual_1 [conv2d_2, activation_1, conv2d_3], parallel_1 [[conv2d_4], []],
    flatten_1."""
    return _blocks()


def _blocks() -> ProjectDocument:
    return ProjectDocument(
        network(
            conv(),
            residual(conv(), relu(), conv()),
            parallel((conv(),), ()),
            LayerSpec.new("Flatten"),
        )
    )


def _names(document: ProjectDocument) -> dict[str, LayerPath]:
    return {name: path for path, name in document.spec.names().items()}


def _one_step_round_trip(document: ProjectDocument, before: NetworkSpec) -> None:
    """The last edit was one undo step: undo gives `before` back, redo the edited spec."""
    after = document.spec
    document.undo_stack.undo()
    assert document.spec == before
    document.undo_stack.redo()
    assert document.spec == after


def test_wrapping_layers_in_a_residual_block_makes_them_its_body(
    blocks: ProjectDocument,
) -> None:
    before = blocks.spec
    steps = blocks.undo_stack.count()
    assert blocks.wrap_in_block([at(0)], "Residual")
    assert blocks.undo_stack.count() == steps + 1
    block = blocks.spec.layers[0]
    assert isinstance(block, BlockSpec) and block.type == "Residual"
    assert block.stacks == ((before.layers[0],),)
    assert blocks.spec.layers[1:] == before.layers[1:]
    assert blocks.undo_stack.undoText() == "Wrap in Residual block"
    _one_step_round_trip(blocks, before)


def test_wrapping_in_parallel_branches_adds_an_empty_second_branch(
    blocks: ProjectDocument,
) -> None:
    before = blocks.spec
    body = at(1, 0, 0), at(1, 0, 2)  # two layers of the residual body, not neighbours
    assert blocks.wrap_in_block(list(body), "Parallel")
    residual_block = blocks.spec.layers[1]
    assert isinstance(residual_block, BlockSpec)
    wrapped = residual_block.stacks[0][0]
    assert isinstance(wrapped, BlockSpec) and wrapped.type == "Parallel"
    assert wrapped.stacks == ((conv(), conv()), ())
    assert residual_block.stacks[0][1:] == (relu(),)
    _one_step_round_trip(blocks, before)


def test_layers_of_different_stacks_cannot_be_wrapped_together(blocks: ProjectDocument) -> None:
    assert not blocks.can_wrap([at(0), at(1, 0, 0)])
    assert not blocks.wrap_in_block([at(0), at(1, 0, 0)], "Residual")
    assert blocks.undo_stack.count() == 0


def test_unwrapping_a_block_lifts_its_first_sub_stack_and_says_what_goes(
    blocks: ProjectDocument,
) -> None:
    before = blocks.spec
    names = _names(blocks)
    assert blocks.unwrap_block(at(1))
    assert blocks.undo_stack.undoText() == (
        "Unwrap residual_1, dropping its shortcut, the relu after the merge"
    )
    assert [layer.type for layer in blocks.spec.layers] == [
        "Conv2D", "Conv2D", "Activation", "Conv2D", "Parallel", "Flatten",
    ]  # fmt: skip
    # the lifted layers keep their names
    assert _names(blocks)["conv2d_3"] == at(3) and names["conv2d_3"] == at(1, 0, 2)
    _one_step_round_trip(blocks, before)
    blocks.unwrap_block(at(4))
    assert blocks.undo_stack.undoText() == "Unwrap parallel_1, dropping branch 2 (0 layers)"


def test_moving_a_layer_into_and_out_of_a_block_renames_nothing(blocks: ProjectDocument) -> None:
    before = blocks.spec
    names = set(blocks.spec.names().values())
    assert blocks.move_layers([at(0)], at(2, 1, 0))  # into the empty branch 2
    parallel_block = blocks.spec.layers[1]
    assert isinstance(parallel_block, BlockSpec)
    # its name written out: generated names follow position
    assert parallel_block.stacks[1] == (before.layers[0].with_name("conv2d_1"),)
    assert set(blocks.spec.names().values()) == names
    assert _names(blocks)["conv2d_1"] == at(1, 1, 0)
    assert blocks.move_layers([at(1, 1, 0)], at(3))  # back out, before the flatten
    assert _names(blocks)["conv2d_1"] == at(3)
    assert set(blocks.spec.names().values()) == names
    blocks.undo_stack.undo()
    blocks.undo_stack.undo()
    assert blocks.spec == before


def test_a_block_cannot_move_into_itself(blocks: ProjectDocument) -> None:
    assert not blocks.move_layers([at(1)], at(1, 0, 1))
    assert blocks.undo_stack.count() == 0


def test_a_layer_inserted_inside_a_block_takes_the_next_free_name(
    blocks: ProjectDocument,
) -> None:
    names = blocks.spec.names()
    assert blocks.insert_layers(at(1, 0, 0), [conv()])
    assert blocks.spec.name_of(at(1, 0, 0)) == "conv2d_5"
    kept = {name for path, name in blocks.spec.names().items() if path != at(1, 0, 0)}
    assert kept == set(names.values())


def test_a_duplicated_block_keeps_its_contents_under_names_of_its_own(
    blocks: ProjectDocument,
) -> None:
    named = blocks.spec.replace_at(at(1, 0, 1), relu().with_name("gate"))
    blocks.reset(named)
    assert blocks.duplicate_layers([at(1)])
    original, copy = blocks.spec.layers[1], blocks.spec.layers[2]
    assert isinstance(copy, BlockSpec) and isinstance(original, BlockSpec)
    assert [x.type for x in copy.stacks[0]] == [x.type for x in original.stacks[0]]
    names = list(blocks.spec.names().values())
    assert len(names) == len(set(names))  # the copy's "gate" lost its taken name
    assert blocks.spec.name_of(at(1, 0, 1)) == "gate"
    assert blocks.spec.name_of(at(2, 0, 1)) != "gate"


def test_removing_a_nested_layer_selects_its_neighbour(blocks: ProjectDocument) -> None:
    asked: list[list[LayerPath]] = []
    blocks.selection_requested.connect(asked.append)
    assert blocks.remove_layers([at(1, 0, 2)])
    assert asked[-1] == [at(1, 0, 1)]
    assert blocks.remove_layers([at(2, 0, 0)])  # the branch's only layer
    assert asked[-1] == [at(2)]  # its block


def test_branches_are_added_and_removed_in_one_step_each(blocks: ProjectDocument) -> None:
    before = blocks.spec
    assert blocks.add_branch(at(2))
    block = blocks.spec.layers[2]
    assert isinstance(block, BlockSpec) and len(block.stacks) == 3
    assert blocks.remove_branch(at(2), 0)
    block = blocks.spec.layers[2]
    assert isinstance(block, BlockSpec) and block.stacks == ((), ())
    assert not blocks.remove_branch(at(2), 0)  # a parallel block keeps two
    blocks.undo_stack.undo()
    blocks.undo_stack.undo()
    assert blocks.spec == before


def test_ctrl_up_and_down_move_within_the_sub_stack_only(blocks: ProjectDocument) -> None:
    assert not blocks.move_by([at(1, 0, 0)], -1)  # already first in the body
    assert blocks.move_by([at(1, 0, 0)], +1)
    block = blocks.spec.layers[1]
    assert isinstance(block, BlockSpec)
    assert [x.type for x in block.stacks[0]] == ["Activation", "Conv2D", "Conv2D"]
    assert not blocks.move_by([at(0), at(1, 0, 0)], +1)  # two stacks: no one place


def test_a_block_keeps_its_key_edits_in_one_undo_step(blocks: ProjectDocument) -> None:
    block = blocks.spec.layers[1]
    assert isinstance(block, BlockSpec)
    for repeat in (2, 3, 4):
        blocks.replace_layer(at(1), block.with_values(repeat=repeat), "repeat")
    assert blocks.undo_stack.count() == 1
    assert blocks.undo_stack.undoText() == "Change repeat of residual_1"
    blocks.undo_stack.undo()
    assert blocks.spec.layers[1] == block


# ---- any edits: names kept, undo exact ---------------------------------------------------


def _paths(document: ProjectDocument) -> list[LayerPath]:
    return [path for path, _ in document.spec.walk()]


_EDIT = st.tuples(
    st.sampled_from(["insert", "remove", "move", "wrap", "unwrap", "duplicate"]),
    st.integers(0, 40),
    st.integers(0, 40),
)


@settings(max_examples=40, deadline=None)
@given(edits=st.lists(_EDIT, min_size=1, max_size=6))
def test_any_edits_of_the_tree_keep_names_and_undo_exactly(
    edits: list[tuple[str, int, int]],
) -> None:
    blocks = _blocks()
    history = [blocks.spec]
    for kind, first, second in edits:
        paths = _paths(blocks)
        if not paths:
            break
        chosen = paths[first % len(paths)]
        other = paths[second % len(paths)]
        old_names = dict(blocks.spec.names())
        seen = [id(item) for _, item in blocks.spec.walk()]
        kept_items = {  # by identity: an item there once (a duplicate shares its copy's)
            id(item): old_names[path]
            for path, item in blocks.spec.walk()
            if seen.count(id(item)) == 1
        }
        if kind == "insert":
            done = blocks.insert_layers(other, [conv(2)])
        elif kind == "remove":
            done = blocks.remove_layers([chosen])
        elif kind == "move":
            done = blocks.move_layers([chosen], other)
        elif kind == "wrap":
            done = blocks.wrap_in_block([chosen], "Residual" if second % 2 else "Parallel")
        elif kind == "unwrap":
            done = blocks.unwrap_block(chosen)
        else:
            done = blocks.duplicate_layers([chosen])
        names = blocks.spec.names()
        assert len(set(names.values())) == len(names)
        # a layer that was there keeps its name wherever it went (leaves keep identity)
        for path, item in blocks.spec.walk():
            if isinstance(item, LayerSpec) and id(item) in kept_items and kind != "duplicate":
                assert names[path] == kept_items[id(item)]
        if done:
            history.append(blocks.spec)
    for spec in reversed(history[:-1]):
        blocks.undo_stack.undo()
        assert blocks.spec == spec
