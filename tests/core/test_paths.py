"""Layer paths and the edits addressed by them, checked on random lists against plain
list operations: insert, remove, replace and move keep every other item and its order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from explorer.core.paths import (
    LayerPath,
    PathError,
    insert_at,
    item_at,
    move_to,
    moved_paths,
    remove_at,
    replace_at,
)

# Distinct items, so that where each one went can be checked.
items_lists = st.lists(st.integers(), unique=True, max_size=12)


@st.composite
def items_and_rows(draw: st.DrawFn, *, end: bool = False) -> tuple[list[int], int]:
    items = draw(items_lists.filter(lambda xs: end or bool(xs)))
    return items, draw(st.integers(0, len(items) - (0 if end else 1)))


@st.composite
def items_and_subsets(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    items = draw(items_lists)
    rows = draw(st.lists(st.integers(0, len(items) - 1), max_size=6)) if items else []
    return items, rows


@given(items_and_rows(), st.integers())
def test_replace_at_changes_only_that_position(case: tuple[list[int], int], new: int) -> None:
    items, row = case
    expected = list(items)
    expected[row] = new
    assert replace_at(items, LayerPath.top(row), new) == tuple(expected)
    assert item_at(items, LayerPath.top(row)) == items[row]


@given(items_and_rows(end=True), st.lists(st.integers(), max_size=3))
def test_insert_at_puts_the_new_items_before_the_position(
    case: tuple[list[int], int], new: list[int]
) -> None:
    items, row = case
    assert insert_at(items, LayerPath.top(row), new) == (*items[:row], *new, *items[row:])


@given(items_and_subsets())
def test_remove_at_drops_each_named_item_once_and_keeps_the_rest_in_order(
    case: tuple[list[int], list[int]],
) -> None:
    items, rows = case
    left = remove_at(items, [LayerPath.top(row) for row in rows])
    assert left == tuple(x for i, x in enumerate(items) if i not in set(rows))


@given(items_and_subsets(), st.data())
def test_move_to_keeps_every_item_and_lands_the_moved_ones_where_moved_paths_says(
    case: tuple[list[int], list[int]], data: st.DataObject
) -> None:
    items, rows = case
    destination = LayerPath.top(data.draw(st.integers(0, len(items))))
    paths = [LayerPath.top(row) for row in rows]
    moved = move_to(items, paths, destination)
    assert sorted(moved) == sorted(items)
    chosen = [items[row] for row in sorted(set(rows))]
    landed = moved_paths(paths, destination)
    assert [item_at(moved, path) for path in landed] == chosen
    # the items not moved keep their order
    assert [x for x in moved if x not in chosen] == [x for x in items if x not in chosen]
    # moving them back where they were gives the list again, when they were together
    if chosen and landed and sorted(set(rows)) == list(range(min(rows), max(rows) + 1)):
        assert move_to(moved, landed, _back(moved, landed, min(rows))) == tuple(items)


def _back(moved: tuple[int, ...], landed: list[LayerPath], row: int) -> LayerPath:
    """The destination that puts a moved run of items back at `row`."""
    start = landed[0].row
    return LayerPath.top(row if row < start else row + len(landed))


def test_moving_rows_down_and_up_matches_the_spec_move() -> None:
    a, b, c, d = "abcd"
    items = [a, b, c, d]
    top = LayerPath.top
    assert move_to(items, [top(0)], top(3)) == (b, c, a, d)
    assert move_to(items, [top(3)], top(0)) == (d, a, b, c)
    assert move_to(items, [top(0), top(2)], top(4)) == (b, d, a, c)
    assert moved_paths([top(0), top(2)], top(4)) == [top(2), top(3)]


def test_paths_are_labelled_from_one_with_the_names_of_sub_stacks() -> None:
    assert str(LayerPath.top(2)) == "layer 3"
    assert LayerPath((2, 0, 1)).label(["body"]) == "layer 3 › body 2"
    assert LayerPath((0, 1, 4)).label(["branch 2 ›"]) == "layer 1 › branch 2 › 5"
    assert LayerPath((0, 0, 1, 1, 0)).label(["body", "branch 2 ›"]) == (
        "layer 1 › body 2 › branch 2 › 1"
    )


def test_paths_order_as_the_layers_appear() -> None:
    paths = [LayerPath((3,)), LayerPath((1, 0, 2)), LayerPath((1,)), LayerPath((0,))]
    assert sorted(paths) == [
        LayerPath((0,)),
        LayerPath((1,)),
        LayerPath((1, 0, 2)),
        LayerPath((3,)),
    ]


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=5).filter(lambda s: len(s) % 2))
def test_a_path_survives_json(steps: list[int]) -> None:
    path = LayerPath(tuple(steps))
    assert LayerPath.from_json(path.to_json()) == path


@pytest.mark.parametrize("value", [[], [-1], [1.5], ["1"], [True], 3, None, {"steps": [1]}])
def test_anything_but_a_list_of_indices_is_not_a_path(value: object) -> None:
    with pytest.raises(ValueError, match="layer path"):
        LayerPath.from_json(value)


def test_a_top_level_path_has_a_row_and_a_nested_one_does_not() -> None:
    assert LayerPath.top(4).row == 4
    nested = LayerPath((4, 1, 0))
    assert (nested.depth, nested.index, nested.stack, nested.top_row) == (2, 0, 1, 4)
    assert nested.parent == LayerPath.top(4)
    assert str(nested) == "layer 5 › stack 2 › 1"
    with pytest.raises(PathError, match=r"layer 5 › stack 2 › 1 is inside a block"):
        _ = nested.row
    with pytest.raises(PathError, match="layer 2 is no block"):
        insert_at([1, 2], LayerPath((1, 0, 0)), [3])
    with pytest.raises(ValueError, match="odd number of steps"):
        LayerPath((4, 0))


def test_a_position_past_the_end_is_named_in_the_error() -> None:
    with pytest.raises(PathError, match="there is no layer 3: the stack has 2 layers"):
        item_at([1, 2], LayerPath.top(2))
    with pytest.raises(PathError, match="there is no layer 4"):
        insert_at([1, 2], LayerPath.top(3), [0])
    assert insert_at([1, 2], LayerPath.top(2), [0]) == (1, 2, 0)
