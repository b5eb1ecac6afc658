"""Which trained weights belong to which network: the architecture decides, not the name
or the training settings."""

from __future__ import annotations

from dataclasses import replace

import torch

from explorer.core.app.trained_weights import TrainedWeights, share_weights
from explorer.core.builder import build_model
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec


def lenet() -> NetworkSpec:
    return NetworkSpec(
        name="LeNet",
        input=InputSpec(1, 12, 12),
        num_classes=3,
        layers=(
            LayerSpec.create("Conv2D", {"filters": 2, "kernel_size": 3}),
            LayerSpec.create("Flatten"),
            LayerSpec.create("Dense", {"units": 3}),
        ),
    )


def trained(spec: NetworkSpec) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in build_model(spec).state_dict().items()}


def test_weights_fit_a_renamed_network_with_other_training_settings() -> None:
    spec = lenet()
    other = replace(spec, name="Renamed", training=spec.training.with_values(epochs=7))
    assert share_weights(spec, other)
    weights = TrainedWeights()
    state = trained(spec)
    weights.hold(spec, state)
    assert weights.for_network(other) is state
    # The weights held load into a model built for the other spec.
    build_model(other).load_state_dict(state)


def test_weights_do_not_fit_a_network_with_another_layer_or_class_count() -> None:
    spec = lenet()
    wider = spec.replace_layer(0, LayerSpec.create("Conv2D", {"filters": 3, "kernel_size": 3}))
    fewer_classes = replace(spec, num_classes=2)
    weights = TrainedWeights()
    weights.hold(spec, trained(spec))
    for other in (wider, fewer_classes, replace(spec, input=InputSpec(1, 14, 14))):
        assert not share_weights(spec, other)
        assert weights.for_network(other) is None
        assert weights.state is not None  # asking does not forget them


def test_an_edit_of_the_network_forgets_the_weights_once() -> None:
    spec = lenet()
    weights = TrainedWeights()
    weights.hold(spec, trained(spec))
    assert not weights.forget_unless_for(replace(spec, name="only renamed"))
    assert weights.state is not None
    edited = spec.with_layers(spec.layers[1:])
    assert weights.forget_unless_for(edited)
    assert weights.state is None and weights.for_network(spec) is None
    assert not weights.forget_unless_for(spec)  # nothing left to forget


def test_holding_none_holds_nothing() -> None:
    spec = lenet()
    weights = TrainedWeights()
    assert weights.state is None and not weights.belong_to(spec)
    weights.hold(spec, trained(spec))
    weights.hold(spec, None)
    assert weights.state is None and not weights.belong_to(spec)
