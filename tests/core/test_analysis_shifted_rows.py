"""The analysis of an edit that inserts, removes, moves or renames rows (shifting the rows
after it and their automatic names) takes over the results of the rows it cannot have
changed, and equals the analysis from scratch."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.core.analysis import Analysis, analyze
from explorer.core.app.tree_edits import apply_edit, without_taken_tree_names
from explorer.core.paths import LayerPath, insert_at, move_to, remove_at, replace_at
from explorer.core.spec import LayerSpec, NetworkSpec
from explorer.core.stack_walk import Walker
from tests.core.nested_specs import image_layers as nested_image_layers
from tests.core.nested_specs import nested_specs
from tests.core.test_analysis_incremental import any_layer
from tests.core.test_analysis_vs_torch import image_layers, specs

# names a user may type (taken ones among them: the analysis says so)
_NAMES = [None, "conv2d_1", "conv2d_3", "activation_2", "dense_1", "mine"]


def _assert_same(incremental: Analysis, scratch: Analysis) -> None:
    assert incremental == scratch
    assert incremental.module_sources == scratch.module_sources
    assert incremental.windows_before(len(scratch.layers)) == scratch.windows_before(
        len(scratch.layers)
    )
    # what the next edit's analysis takes over: the state before each row
    assert incremental._trail is not None and scratch._trail is not None
    assert incremental._trail.states == scratch._trail.states
    assert incremental.autograd_nodes == scratch.autograd_nodes
    assert incremental.training_memory_bytes(3) == scratch.training_memory_bytes(3)


@st.composite
def tree_edits(draw: st.DrawFn, spec: NetworkSpec) -> NetworkSpec:
    """One edit as the window makes it (document.insert_layers, remove_layers,
    move_layers, a name typed into Properties): through `apply_edit`, which keeps the
    names of the rows already there, or a plain rename."""
    rows = list(spec.walk())
    if not rows:
        return spec.with_layers([draw(any_layer)])
    path, item = draw(st.sampled_from(rows))
    kind = draw(st.sampled_from(["insert", "insert", "remove", "move", "move", "rename"]))
    if kind == "rename":
        name = draw(st.sampled_from(_NAMES))
        return spec.with_layers(replace_at(spec.layers, path, item.with_name(name)))
    if kind == "insert":
        new = draw(any_layer if path.depth == 1 else nested_image_layers(3))
        fresh = without_taken_tree_names(spec, [new])
        at = path if draw(st.booleans()) else path.following()
        result = apply_edit(spec, lambda items, maker: insert_at(items, at, map(maker.new, fresh)))
        return result.spec
    if kind == "remove":
        if len(spec.layers) == 1 and path.depth == 1:
            return spec
        return apply_edit(spec, lambda items, maker: remove_at(items, [path])).spec
    others = [p for p, _ in rows if not path.contains(p)] + [path.following()]
    destination = draw(st.sampled_from(others))
    return apply_edit(spec, lambda items, maker: move_to(items, [path], destination)).spec


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_an_analysis_of_shifted_rows_equals_the_analysis_from_scratch(
    data: st.DataObject,
) -> None:
    spec = data.draw(specs())
    # long stacks, so that edits land between rows they leave alone
    spec = spec.with_layers(data.draw(st.lists(image_layers, max_size=8)) + list(spec.layers))
    analysis = analyze(spec)
    analysis.training_memory_bytes(2)
    for _ in range(data.draw(st.integers(1, 8))):
        spec = data.draw(tree_edits(spec))
        analysis = analyze(spec, previous=analysis)
        _assert_same(analysis, analyze(spec))


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_specs(), st.data())
def test_an_analysis_of_shifted_rows_and_blocks_equals_the_analysis_from_scratch(
    spec: NetworkSpec, data: st.DataObject
) -> None:
    analysis = analyze(spec)
    for _ in range(data.draw(st.integers(1, 6))):
        spec = data.draw(tree_edits(spec))
        analysis = analyze(spec, previous=analysis)
        _assert_same(analysis, analyze(spec))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_specs(), st.data())
def test_a_few_shifting_edits_equal_the_analysis_from_scratch(
    spec: NetworkSpec, data: st.DataObject
) -> None:
    analysis = analyze(spec)
    for _ in range(3):
        spec = data.draw(tree_edits(spec))
        analysis = analyze(spec, previous=analysis)
        _assert_same(analysis, analyze(spec))


def _pairs(pairs: int) -> NetworkSpec:
    """Conv2D 'same' + ReLU pairs, then Flatten and Dense: conv2d_1, activation_1, ..."""
    conv = {"filters": 4, "kernel_size": 3, "padding": "same"}
    rows: list[LayerSpec] = []
    for _ in range(pairs):
        rows += [
            LayerSpec.create("Conv2D", conv),
            LayerSpec.create("Activation", {"function": "relu"}),
        ]
    rows += [LayerSpec.new("Flatten"), LayerSpec.create("Dense", {"units": 10})]
    return NetworkSpec(layers=tuple(rows))


def _kept(after: Analysis, before: Analysis, shift: int, rows: range) -> list[int]:
    """The rows of `after` among `rows` whose results are those of the row `shift` rows
    before it, renamed and moved or the very object."""
    kept = []
    for row in rows:
        was = before.layers[row - shift]
        now = after.layers[row]
        moved = {"index": row, "name": now.name, "path": LayerPath.top(row)}
        if now is was or now == type(was)(**{**was.__dict__, **moved}):
            kept.append(row)
    return kept


def test_removing_an_activation_takes_over_every_row_after_it() -> None:
    spec = _pairs(20)
    before = analyze(spec)
    before.training_memory_bytes(4)
    removed = apply_edit(spec, lambda items, maker: remove_at(items, [LayerPath.top(21)])).spec
    after = analyze(removed, previous=before)

    _assert_same(after, analyze(removed))
    assert [r for r in range(21) if after.layers[r] is before.layers[r]] == list(range(21))
    # the rows after it, one place up, under the names they had (now written out)
    assert _kept(after, before, -1, range(22, 40)) == list(range(22, 40))
    assert after.layers[22].name == before.layers[23].name == "activation_12"
    assert after.layers[22].index == 22


def test_inserting_an_activation_takes_over_the_rows_after_it() -> None:
    spec = _pairs(20)
    before = analyze(spec)
    at = LayerPath.top(11)  # after conv2d_6's activation... between a conv and its relu
    new = apply_edit(
        spec, lambda items, maker: insert_at(items, at, [maker.new(LayerSpec.new("Dropout"))])
    ).spec
    after = analyze(new, previous=before)

    _assert_same(after, analyze(new))
    assert after.layers[11].name == "dropout_1"
    assert _kept(after, before, 1, range(12, 42)) == list(range(12, 42))


def test_moving_a_layer_past_its_neighbour_keeps_the_rows_after_the_pair() -> None:
    spec = _pairs(20)
    before = analyze(spec)
    moved = apply_edit(
        spec, lambda items, maker: move_to(items, [LayerPath.top(21)], LayerPath.top(20))
    ).spec
    after = analyze(moved, previous=before)

    _assert_same(after, analyze(moved))
    assert [r for r in range(22, 41) if after.layers[r] is before.layers[r]] == list(range(22, 41))


def test_renaming_a_layer_keeps_every_other_row_as_it_was() -> None:
    spec = _pairs(20)
    before = analyze(spec)
    renamed = spec.replace_layer(20, spec.layers[20].with_name("middle"))
    after = analyze(renamed, previous=before)

    _assert_same(after, analyze(renamed))
    assert after.layers[20].name == "middle"
    # conv2d_11 is gone: the automatic names after it are numbered again, one lower
    assert after.layers[22].name == "conv2d_11"
    assert [r for r in range(20) if after.layers[r] is before.layers[r]] == list(range(20))


def test_a_name_taken_again_by_a_later_row_is_an_error_there_not_a_reused_result() -> None:
    spec = _pairs(10)
    spec = spec.replace_layer(3, spec.layers[3].with_name("mine"))
    before = analyze(spec)
    named = spec.replace_layer(15, spec.layers[15].with_name("mine"))
    after = analyze(named, previous=before)

    _assert_same(after, analyze(named))
    assert [d.message for d in after.layers[15].diagnostics] == [
        "name 'mine' is already used by layer 4"
    ]


def test_inserting_a_convolution_grows_the_field_of_the_rows_after_it_without_their_walk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _pairs(20)
    before = analyze(spec)
    conv = spec.layers[0]
    at = LayerPath.top(20)
    new = apply_edit(spec, lambda items, maker: insert_at(items, at, [maker.new(conv)])).spec
    walked: list[LayerPath] = []
    real_item = Walker.item

    def item(self: Walker, at: LayerPath, *args: Any, **kwargs: Any) -> Any:
        walked.append(at)
        return real_item(self, at, *args, **kwargs)

    monkeypatch.setattr(Walker, "item", item)
    after = analyze(new, previous=before)
    monkeypatch.undo()

    _assert_same(after, analyze(new))
    # one convolution (the new one is alike the one it pushed down: either row may count
    # as new), Flatten (which works out what the field covers) and the last row
    assert walked == [LayerPath.top(21), LayerPath.top(41), LayerPath.top(42)]
    rf_before, rf_after = before.layers[30].receptive_field, after.layers[31].receptive_field
    assert rf_before is not None and rf_after is not None
    assert rf_after.size == (rf_before.size[0] + 2, rf_before.size[1] + 2)
