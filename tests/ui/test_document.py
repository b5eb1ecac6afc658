"""Every document edit is one undo step that restores the exact spec it replaced."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.ui.common.document import ProjectDocument

EDITS: dict[str, Callable[[ProjectDocument], bool]] = {
    "insert": lambda d: d.insert_layers(
        LayerPath.top(1), [LayerSpec.new("BatchNorm"), LayerSpec.new("Dropout")]
    ),
    "remove": lambda d: d.remove_layers([LayerPath.top(0), LayerPath.top(3)]),
    "move down": lambda d: d.move_layers([LayerPath.top(0)], LayerPath.top(3)),
    "move up": lambda d: d.move_layers([LayerPath.top(4), LayerPath.top(5)], LayerPath.top(1)),
    "duplicate": lambda d: d.duplicate_layers([LayerPath.top(2)]),
    "replace": lambda d: d.replace_layer(
        LayerPath.top(0), d.spec.layers[0].with_values(filters=8), "filters"
    ),
    "input": lambda d: d.set_input(InputSpec(3, 32, 32)),
    "classes": lambda d: d.set_num_classes(7),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_edit_then_undo_and_redo_restores_the_exact_spec(
    document: ProjectDocument, name: str
) -> None:
    before = document.spec
    assert EDITS[name](document)
    after = document.spec
    assert after != before
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.spec == before
    document.undo_stack.redo()
    assert document.spec == after
    assert not document.is_clean


def test_moving_layers_keeps_their_order_at_the_destination(document: ProjectDocument) -> None:
    types_before = [layer.type for layer in document.spec.layers]
    document.move_layers([LayerPath.top(4), LayerPath.top(5)], LayerPath.top(1))
    assert [layer.type for layer in document.spec.layers] == [
        types_before[0],
        types_before[4],
        types_before[5],
        *types_before[1:4],
    ]


def test_changes_of_one_key_merge_into_one_undo_step(document: ProjectDocument) -> None:
    original = document.spec
    for filters in (33, 34, 35):
        layer = document.spec.layers[0].with_values(filters=filters)
        document.replace_layer(LayerPath.top(0), layer, "filters")
    assert document.undo_stack.count() == 1
    assert document.spec.layers[0].get("filters") == 35
    document.undo_stack.undo()
    assert document.spec == original


def test_end_merge_starts_a_new_step(document: ProjectDocument) -> None:
    document.replace_layer(
        LayerPath.top(0), document.spec.layers[0].with_values(filters=8), "filters"
    )
    document.end_merge()
    document.replace_layer(
        LayerPath.top(0), document.spec.layers[0].with_values(filters=9), "filters"
    )
    assert document.undo_stack.count() == 2


def test_merged_edits_back_to_the_start_leave_no_step(document: ProjectDocument) -> None:
    document.replace_layer(
        LayerPath.top(0), document.spec.layers[0].with_values(filters=8), "filters"
    )
    document.replace_layer(
        LayerPath.top(0), document.spec.layers[0].with_values(filters=32), "filters"
    )
    assert document.undo_stack.count() == 0
    assert document.is_clean


def test_locked_document_refuses_edits_and_says_so(document: ProjectDocument, qtbot: Any) -> None:
    before = document.spec
    with qtbot.waitSignal(document.lock_changed):
        document.set_locked(True)
    with qtbot.waitSignal(document.edit_refused):
        assert not document.remove_layers([LayerPath.top(0)])
    assert document.spec == before
    document.set_locked(False)
    assert document.remove_layers([LayerPath.top(0)])


def test_every_change_emits_spec_changed_once(document: ProjectDocument, qtbot: Any) -> None:
    seen: list[NetworkSpec] = []
    document.spec_changed.connect(lambda: seen.append(document.spec))
    document.duplicate_layers([LayerPath.top(0)])
    document.undo_stack.undo()
    assert len(seen) == 2
    assert seen[-1] == document.spec


def test_reset_clears_history_and_is_clean(document: ProjectDocument) -> None:
    document.remove_layers([LayerPath.top(0)])
    fresh = replace(NetworkSpec(), name="fresh")
    document.reset(fresh, "/tmp/x.json")
    assert document.spec == fresh
    assert document.undo_stack.count() == 0
    assert document.is_clean
    assert document.path == "/tmp/x.json"


def test_duplicates_drop_explicit_names(document: ProjectDocument) -> None:
    document.replace_layer(LayerPath.top(0), document.spec.layers[0].with_name("stem"))
    document.duplicate_layers([LayerPath.top(0)])
    assert document.spec.layers[0].name == "stem"
    # The copy takes the next free name; the Conv2D after it stays conv2d_1.
    assert document.spec.layer_names()[:4] == ("stem", "conv2d_2", "max_pool2d_1", "conv2d_1")
    assert document.analysis.ok


def test_inserted_layers_keep_free_names_and_drop_taken_ones(document: ProjectDocument) -> None:
    """What paste and drops between windows insert: a named layer from elsewhere."""
    document.replace_layer(LayerPath.top(0), document.spec.layers[0].with_name("stem"))
    pasted = [
        document.spec.layers[0],  # "stem" is taken here
        LayerSpec.create("Dropout", {"rate": 0.2}, name="drop"),
        LayerSpec.create("Dropout", {"rate": 0.3}, name="drop"),  # taken by the one before
    ]
    document.insert_layers(LayerPath.top(1), pasted)
    assert document.spec.layer_names()[:6] == (
        "stem",
        "conv2d_2",
        "drop",
        "dropout_1",
        "max_pool2d_1",
        "conv2d_1",
    )
    assert document.analysis.ok
