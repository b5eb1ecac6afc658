"""Which trained weights belong to which network: the architecture decides, not the name
or the training settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.core.app.preparation import BadRunInput
from explorer.core.app.trained_weights import TrainedWeights, evaluate_weights, share_weights
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


def test_weights_are_evaluated_on_the_test_split_of_the_dataset_given() -> None:
    from tests.core.test_trainer import quadrant_dataset, tiny_spec

    spec = tiny_spec()
    dataset = quadrant_dataset()
    generator = torch.Generator().manual_seed(1)
    # Weights no freshly built model has, so only these can give these predictions.
    state = {k: v + torch.randn(v.shape, generator=generator) for k, v in trained(spec).items()}
    evaluation, used = evaluate_weights(spec, state, dataset)
    assert used is dataset
    assert evaluation.split == "test" and evaluation.size == dataset.size("test")
    # What a model holding those weights predicts, image by image.
    from explorer.core.evaluation import evaluate

    model = build_model(spec)
    fresh = evaluate(model, dataset, "test").predicted
    model.load_state_dict(state)
    assert not np.array_equal(fresh, evaluation.predicted)
    assert np.array_equal(evaluate(model, dataset, "test").predicted, evaluation.predicted)


def test_without_a_dataset_the_network_s_own_is_loaded_but_never_downloaded(
    tmp_path: Path,
) -> None:
    spec = replace(
        lenet(),
        input=InputSpec(1, 12, 12),
        num_classes=10,
        layers=(LayerSpec.create("Flatten"), LayerSpec.create("Dense", {"units": 10})),
    )
    shapes = replace(spec, training=spec.training.with_values(dataset="shapes"))
    evaluation, dataset = evaluate_weights(shapes, trained(shapes), None)
    assert dataset.device.type == "cpu" and evaluation.size == dataset.size("test")
    mnist = replace(spec, training=spec.training.with_values(dataset="mnist"))
    with pytest.raises(BadRunInput, match="not on this computer yet"):
        evaluate_weights(mnist, trained(mnist), None, tmp_path / "empty")


def test_an_ensembles_members_are_held_and_forgotten_with_its_weights() -> None:
    spec = lenet()
    members = [trained(spec), trained(spec)]
    weights = TrainedWeights()
    weights.hold(spec, members[0], members)
    assert weights.members == tuple(members) and weights.for_network(spec) is members[0]
    weights.hold(spec, trained(spec))
    assert weights.members == ()
    weights.hold(spec, members[1], members)
    assert weights.forget_unless_for(replace(spec, num_classes=4))
    assert weights.members == () and weights.state is None
    with pytest.raises(ValueError, match="two or more"):
        weights.hold(spec, members[0], members[:1])
