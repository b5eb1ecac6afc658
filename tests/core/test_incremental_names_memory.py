"""The pieces an edit of a deep network reuses equal what they would be from scratch: the
names taken over from the spec before the edit, and the training-memory estimate worked
out a slice at a time (abandoned half-way, too)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.core.analysis import analyze
from explorer.core.memory import WALK_SLICE, finished
from explorer.core.paths import LayerPath
from explorer.core.spec import LayerSpec, NetworkSpec
from tests.core.nested_specs import nested_specs
from tests.core.test_analysis_incremental import edits, nested_edits
from tests.core.test_analysis_vs_torch import image_layers, specs


def _scratch(spec: NetworkSpec) -> NetworkSpec:
    """An equal spec that has worked nothing out yet."""
    return replace(spec)


@st.composite
def settings_edits(draw: st.DrawFn, spec: NetworkSpec) -> NetworkSpec:
    """A layer's settings changed, its type and name kept: the edit that keeps names."""
    if not spec.layers:
        return spec
    index = draw(st.integers(0, len(spec.layers) - 1))
    old = spec.layers[index]
    drawn = draw(image_layers)
    if isinstance(old, LayerSpec) and drawn.type == old.type:
        return spec.replace_layer(index, replace(drawn, name=old.name))
    return spec.replace_layer(index, LayerSpec(old.type, old.values, old.name))


def _assert_names_as_from_scratch(spec: NetworkSpec, before: NetworkSpec) -> None:
    assert spec.names_after(before) == _scratch(spec).names()
    assert list(spec.names()) == list(_scratch(spec).names())  # in stack order
    assert spec.layer_names() == _scratch(spec).layer_names()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_names_taken_over_from_the_spec_before_an_edit_are_those_from_scratch(
    data: st.DataObject,
) -> None:
    spec = data.draw(specs())
    spec = spec.with_layers(data.draw(st.lists(image_layers, max_size=6)) + list(spec.layers))
    spec.layer_names()
    for _ in range(data.draw(st.integers(1, 6))):
        before = spec
        strategy = data.draw(st.sampled_from([edits, settings_edits]))
        spec = data.draw(strategy(before))
        _assert_names_as_from_scratch(spec, before)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_specs(), st.data())
def test_names_after_an_edit_inside_blocks_are_those_from_scratch(
    spec: NetworkSpec, data: st.DataObject
) -> None:
    spec.names()
    for _ in range(data.draw(st.integers(1, 4))):
        before = spec
        spec = data.draw(nested_edits(before))
        _assert_names_as_from_scratch(spec, before)


def _deep(layers: int) -> NetworkSpec:
    conv = {"filters": 4, "kernel_size": 3, "padding": "same"}
    body = [LayerSpec.create("Conv2D", conv) for _ in range(layers - 2)]
    body += [LayerSpec.new("Flatten"), LayerSpec.create("Dense", {"units": 10})]
    return NetworkSpec(layers=tuple(body))


def test_an_edit_of_a_layers_settings_takes_the_names_over_and_a_rename_does_not() -> None:
    spec = _deep(30)
    names = spec.names()
    edited = spec.replace_layer(12, spec.layers[12].with_values(filters=9))
    assert edited.names_after(spec) is names  # taken over, not worked out again
    assert edited.layer_names() == _scratch(edited).layer_names()
    renamed = spec.replace_layer(12, spec.layers[12].with_name("conv2d_1"))
    assert renamed.names_after(spec) is not names
    assert renamed.names()[LayerPath.top(0)] == "conv2d_2"
    assert renamed.names() == _scratch(renamed).names()
    dense = spec.replace_layer(12, LayerSpec.create("Dense", {"units": 3}))
    assert dense.names_after(spec) == _scratch(dense).names()
    assert dense.names()[LayerPath.top(12)] == "dense_1"


def test_the_estimate_a_slice_at_a_time_is_the_estimate_at_once() -> None:
    spec = _deep(3 * WALK_SLICE)
    analysis = analyze(spec)
    steps = analysis.training_memory_steps("adam", 0.0, 0.0)
    slices = 0
    while True:
        try:
            next(steps)
        except StopIteration as end:
            memory = end.value
            break
        slices += 1
    scratch = analyze(_scratch(spec))
    assert memory == scratch.training_memory("adam")
    assert analysis.training_memory("adam") is memory  # kept
    # the layers' nodes, then the forward and backward walks, each over many slices
    assert slices >= 3 * (len(scratch.autograd_nodes) // WALK_SLICE)


def test_an_estimate_abandoned_half_way_keeps_nothing_and_the_next_one_is_whole() -> None:
    spec = _deep(2 * WALK_SLICE)
    first = analyze(spec)
    steps = first.training_memory_steps()
    next(steps)  # among the layers' nodes
    steps.close()  # another edit came first
    assert "_nodes" not in first.__dict__ and not first._memory
    first.training_memory_bytes(4)
    edited = spec.replace_layer(WALK_SLICE, spec.layers[WALK_SLICE].with_values(filters=7))
    analysis = analyze(edited, previous=first)
    steps = analysis.training_memory_steps()
    for _ in range(3):  # the edited layers' nodes are new, the others' taken over
        next(steps)
    assert "_nodes" in analysis.__dict__  # whole, and in the walk now
    steps.close()
    assert not analysis._memory
    scratch = analyze(_scratch(edited))
    assert analysis.autograd_nodes == scratch.autograd_nodes
    assert analysis.training_memory() == scratch.training_memory()
    assert analysis.training_memory_bytes(5) == scratch.training_memory_bytes(5)
    assert finished(analysis.training_memory_steps()) is analysis.training_memory()
