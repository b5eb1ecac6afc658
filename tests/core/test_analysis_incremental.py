"""The analysis of an edit, made from the analysis before it, equals the analysis from
scratch: over random specs and random sequences of edits."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.core.analysis import Analysis, analyze
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerSpec, NetworkSpec
from tests.core.nested_specs import image_layers as nested_image_layers
from tests.core.nested_specs import nested_specs
from tests.core.test_analysis_vs_torch import collapse_layers, image_layers, specs, vector_layers

any_layer = st.one_of(image_layers, collapse_layers, vector_layers)


def _assert_same(incremental: Analysis, scratch: Analysis) -> None:
    assert incremental == scratch
    assert incremental.module_sources == scratch.module_sources
    assert incremental.autograd_nodes == scratch.autograd_nodes
    assert incremental.training_memory("adam") == scratch.training_memory("adam")
    assert incremental.training_memory_bytes(3) == scratch.training_memory_bytes(3)


@st.composite
def edits(draw: st.DrawFn, spec: NetworkSpec) -> NetworkSpec:
    """One edit as the editor makes them: mostly a layer replaced (its values changed),
    sometimes a layer named, inserted or removed, or the batch size changed."""
    layers = list(spec.layers)
    kind = draw(st.sampled_from(["replace"] * 6 + ["same", "name", "insert", "remove", "batch"]))
    if not layers or kind == "insert":
        layers.insert(draw(st.integers(0, len(layers))), draw(any_layer))
    elif kind == "replace":
        layers[draw(st.integers(0, len(layers) - 1))] = draw(any_layer)
    elif kind == "same":  # an equal layer, not the same object
        index = draw(st.integers(0, len(layers) - 1))
        layers[index] = LayerSpec(layers[index].type, layers[index].values, layers[index].name)
    elif kind == "name":
        index = draw(st.integers(0, len(layers) - 1))
        name = draw(st.sampled_from([None, "conv2d_1", "dense_1", "mine", "bad name"]))
        layers[index] = replace(layers[index], name=name)
    elif kind == "remove":
        del layers[draw(st.integers(0, len(layers) - 1))]
    else:
        return replace(spec, training=spec.training.with_values(batch_size=draw(st.integers(1, 3))))
    return spec.with_layers(layers)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_an_analysis_made_from_the_one_before_equals_the_analysis_from_scratch(
    data: st.DataObject,
) -> None:
    spec = data.draw(specs())
    # longer stacks than the torch comparison draws, so edits land between unchanged layers
    spec = spec.with_layers(data.draw(st.lists(image_layers, max_size=6)) + list(spec.layers))
    analysis = analyze(spec)
    for _ in range(data.draw(st.integers(1, 8))):
        spec = data.draw(edits(spec))
        analysis = analyze(spec, previous=analysis)
        _assert_same(analysis, analyze(spec))


def _deep(layers: int) -> NetworkSpec:
    body = [
        LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"})
        for _ in range(layers - 2)
    ]
    body += [LayerSpec.new("Flatten"), LayerSpec.create("Dense", {"units": 10})]
    return NetworkSpec(layers=tuple(body))


def test_an_edit_takes_over_the_results_of_the_layers_it_cannot_change() -> None:
    spec = _deep(40)
    before = analyze(spec)
    before.training_memory_bytes(4)
    edited = spec.replace_layer(20, spec.layers[20].with_values(filters=5))
    after = analyze(edited, previous=before)

    _assert_same(after, analyze(edited))
    # the layers before the edit, and those after the state is again the one before it
    # (the second convolution after it sees 4 channels again), are the very same results
    kept = [i for i, layer in enumerate(after.layers) if layer is before.layers[i]]
    assert kept == [*range(20), *range(22, 39)]
    assert after.layers[21].input_shape == (5, 28, 28)
    # and so are their sources of the memory estimate
    pairs = zip(after.module_sources, before.module_sources, strict=True)
    assert sum(a is b for a, b in pairs) == 37


def test_an_edit_that_changes_the_names_is_analysed_from_scratch() -> None:
    spec = _deep(10)
    before = analyze(spec)
    named = spec.replace_layer(3, spec.layers[3].with_name("conv2d_1"))  # a name taken
    after = analyze(named, previous=before)

    _assert_same(after, analyze(named))
    assert after.layers[0] is not before.layers[0]
    assert after.layers[0].name == "conv2d_2"


def test_a_layer_and_a_spec_work_out_what_the_analysis_asks_once() -> None:
    spec = _deep(5)
    layer = spec.layers[0]
    assert layer.resolved_view() is layer.resolved_view()
    assert layer.describe() is layer.describe()
    assert spec.layer_names() is spec.layer_names()
    # resolved() still hands out a dict of its own: changing it changes nothing kept
    values = layer.resolved()
    values["filters"] = 99
    assert layer.resolved()["filters"] == 4 and layer.resolved_view()["filters"] == 4
    assert layer.describe() == LayerSpec.create("Conv2D", layer.json_values()).describe()
    # equal layers and specs stay equal, whatever each has worked out
    assert layer == LayerSpec.create("Conv2D", layer.json_values())
    assert spec == _deep(5) and hash(layer) == hash(LayerSpec(layer.type, layer.values))


@st.composite
def nested_edits(draw: st.DrawFn, spec: NetworkSpec) -> NetworkSpec:
    """One edit anywhere in the tree: a layer replaced, a block's keys changed, a row
    inserted into a sub-stack or removed from it."""
    rows = list(spec.walk())
    path, item = draw(st.sampled_from(rows))
    kind = draw(st.sampled_from(["replace", "replace", "insert", "remove"]))
    if isinstance(item, BlockSpec) and kind == "replace":
        changes = draw(
            st.sampled_from(
                [{"repeat": 2}, {"repeat": 1}, {"activation": "tanh"}]
                + ([{"shortcut": "projection"}] if item.type == "Residual" else [{"merge": "add"}])
            )
        )
        return spec.replace_at(path, item.with_values(**changes))
    if kind == "replace":
        return spec.replace_at(path, draw(nested_image_layers(3)))
    if kind == "insert":
        return spec.insert_at(path, draw(nested_image_layers(3)))
    if len(spec.layers) == 1 and path.depth == 1:
        return spec
    return spec.remove_paths([path])


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_specs(), st.data())
def test_an_analysis_of_an_edit_inside_blocks_equals_the_analysis_from_scratch(
    spec: NetworkSpec, data: st.DataObject
) -> None:
    analysis = analyze(spec)
    analysis.training_memory_bytes(2)
    for _ in range(data.draw(st.integers(1, 6))):
        spec = data.draw(nested_edits(spec))
        analysis = analyze(spec, previous=analysis)
        _assert_same(analysis, analyze(spec))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_specs(), st.data())
def test_a_few_edits_inside_blocks_equal_the_analysis_from_scratch(
    spec: NetworkSpec, data: st.DataObject
) -> None:
    analysis = analyze(spec)
    for _ in range(3):
        spec = data.draw(nested_edits(spec))
        analysis = analyze(spec, previous=analysis)
        _assert_same(analysis, analyze(spec))


def _stages(blocks: int) -> NetworkSpec:
    conv = LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"})
    body = [conv, LayerSpec.new("BatchNorm"), conv]
    rows: list[LayerSpec | BlockSpec] = [conv]
    rows += [BlockSpec.create("Residual", {}, [body]) for _ in range(blocks)]
    rows += [LayerSpec.new("Flatten"), LayerSpec.create("Dense", {"units": 10})]
    return NetworkSpec(layers=tuple(rows))


def test_an_edit_inside_a_block_takes_over_the_other_rows() -> None:
    spec = _stages(8)
    before = analyze(spec)
    before.training_memory_bytes(4)
    inside = LayerPath((4, 0, 1))
    edited = spec.replace_at(inside, LayerSpec.create("BatchNorm", {"momentum": 0.5}))
    after = analyze(edited, previous=before)

    _assert_same(after, analyze(edited))
    kept = [i for i, layer in enumerate(after.layers) if layer is before.layers[i]]
    # the block's row is analysed again; the rows after it see the same state again
    assert kept == [*range(4), *range(5, 10)]
    assert after.at(inside) is not before.at(inside)
    assert after.at(inside) == before.at(inside)  # (momentum changes no count)
