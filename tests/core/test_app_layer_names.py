"""Layer names across edits: inserted layers drop taken names, and no layer already in the
network is renamed by inserting, removing or moving its neighbours."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from explorer.core.app.layer_names import keep_names, without_taken_names
from explorer.core.paths import LayerPath, move_to
from explorer.core.spec import BlockSpec, LayerSpec, NetworkSpec


def conv(name: str | None = None) -> LayerSpec:
    return LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3}, name=name)


def dense(name: str | None = None) -> LayerSpec:
    return LayerSpec.create("Dense", {"units": 10}, name=name)


def network(*layers: LayerSpec) -> NetworkSpec:
    return NetworkSpec().with_layers(layers)


def test_a_pasted_layer_drops_a_name_given_in_the_network() -> None:
    spec = network(conv("edges"), dense())
    fresh = without_taken_names(spec, [conv("edges"), conv("blobs")])
    assert [layer.name for layer in fresh] == [None, "blobs"]
    # Only the name changes: the layer keeps its type and values.
    assert fresh[0] == conv()


def test_a_pasted_layer_drops_a_name_the_network_generated() -> None:
    spec = network(conv(), dense())
    generated = spec.layer_names()[0]
    fresh = without_taken_names(spec, [conv(generated)])
    assert fresh[0].name is None


def test_two_inserted_layers_with_one_name_keep_it_only_once() -> None:
    fresh = without_taken_names(network(dense()), [conv("twin"), conv("twin")])
    assert [layer.name for layer in fresh] == ["twin", None]


def test_inserted_layers_with_free_names_keep_them() -> None:
    layers = [conv("a"), dense("b")]
    assert without_taken_names(network(conv()), layers) == layers


def test_inserting_before_a_layer_keeps_its_generated_name() -> None:
    old = network(conv(), conv())
    names = old.layer_names()
    items = [conv(), *old.layers]
    kept = keep_names(old, items, [None, 0, 1])
    new_names = old.with_layers(kept).layer_names()
    assert new_names[1:] == names  # the layers already there keep theirs
    assert len(set(new_names)) == 3 and new_names[0] not in names


def test_removing_a_layer_keeps_the_names_after_it() -> None:
    old = network(conv(), conv(), conv())
    names = old.layer_names()
    kept = keep_names(old, [old.layers[1], old.layers[2]], [1, 2])
    assert old.with_layers(kept).layer_names() == names[1:]


def test_an_edit_that_renames_nothing_changes_nothing() -> None:
    old = network(conv(), dense())
    items = [*old.layers, dense()]
    assert keep_names(old, items, [0, 1, None]) == tuple(items)


@given(
    st.lists(st.sampled_from(["conv", "dense"]), min_size=1, max_size=6),
    st.data(),
)
def test_moving_layers_never_renames_one(kinds: list[str], data: st.DataObject) -> None:
    old = network(*(conv() if kind == "conv" else dense() for kind in kinds))
    count = len(kinds)
    rows = data.draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=count))
    destination = data.draw(st.integers(0, count))
    origin = list(move_to(range(count), map(LayerPath.top, rows), LayerPath.top(destination)))
    kept = keep_names(old, [old.layers[i] for i in origin], origin)
    names = old.with_layers(kept).layer_names()
    assert [names[i] for i in range(count)] == [old.layer_names()[row] for row in origin]


def block(*layers: LayerSpec, name: str | None = None) -> BlockSpec:
    return BlockSpec.create("Residual", {}, [list(layers)], name=name)


def test_a_pasted_block_drops_taken_names_inside_it_and_keeps_its_contents() -> None:
    spec = network(conv("edges"), dense())
    fresh = without_taken_names(spec, [block(conv("edges"), conv("blobs"), name="stage")])
    (pasted,) = fresh
    assert isinstance(pasted, BlockSpec) and pasted.name == "stage"
    assert [layer.name for layer in pasted.stacks[0]] == [None, "blobs"]
    assert pasted.stacks[0][0] == conv()


def test_inserting_before_a_block_keeps_the_generated_names_inside_it() -> None:
    old = network(conv(), block(conv(), conv()), dense())
    names = old.names()
    items = [conv(), *old.layers]
    kept = keep_names(old, items, [None, 0, 1, 2])
    new = old.with_layers(kept).names()
    # every layer already there keeps its name, the ones inside the block included
    for path, name in names.items():
        assert new[LayerPath((path.steps[0] + 1, *path.steps[1:]))] == name
    assert len(set(new.values())) == len(new)
