"""Stacked sweep trials in the core: which trials group, and the stacked pass against each
network's own update (gradients, BatchNorm statistics, L1/L2 terms)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from explorer.core.app.sweep import plan_sweep
from explorer.core.app.sweep_stack import (
    MAX_STACKED,
    MIN_STACKED,
    alone_because,
    describe_group,
    first_group,
    stack_groups,
)
from explorer.core.builder import build_model
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.training.optim import make_optimizer
from explorer.core.training.stacked import StackedStep, random_layers, stacking_problem
from explorer.core.training.step import update
from explorer.core.training_spec import TrainingSpec


def _spec(*extra: LayerSpec, **training: object) -> NetworkSpec:
    layers = (
        LayerSpec.create("Conv2D", {"filters": 3, "kernel_size": 3, "activation": "relu"}),
        *extra,
        LayerSpec.create("MaxPool2D", {"pool_size": 2}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 10, "activation": "softmax"}),
    )
    base = {"dataset": "shapes", "batch_size": 32, "epochs": 1, "device": "cpu", "threads": 1}
    settings = TrainingSpec().with_values(**{**base, **training})
    return NetworkSpec(input=InputSpec(1, 12, 12), num_classes=10, layers=layers, training=settings)


def _groups(tmp_path: Path, spec: NetworkSpec, sets: list[str], **options: bool) -> list[list[int]]:
    plan = plan_sweep(spec, sets, tmp_path / "sweep")
    return [[t.number for t in group] for group in stack_groups(plan, plan.trials, **options)]


def test_trials_differing_in_their_own_trainers_settings_stack_together(tmp_path: Path) -> None:
    sets = ["learning_rate=0.1,0.01", "optimizer=sgd,adam", "ema_decay=0,0.9"]
    assert _groups(tmp_path, _spec(), sets) == [[1, 2, 3, 4, 5, 6, 7, 8]]
    assert _groups(tmp_path, _spec(), sets, stack=False) == [[n] for n in range(1, 9)]


def test_another_architecture_or_batch_size_starts_another_group(tmp_path: Path) -> None:
    rates = "learning_rate=0.1,0.01,0.001"
    # the first axis changes slowest: each architecture's rates are consecutive
    groups = _groups(tmp_path, _spec(), ["conv2d_1.filters=2,3", rates])
    assert groups == [[1, 2, 3], [4, 5, 6]]
    groups = _groups(tmp_path, _spec(), [rates, "conv2d_1.filters=2,3"])
    assert groups == [[n] for n in range(1, 7)]
    groups = _groups(tmp_path, _spec(), ["batch_size=16,32", rates])
    assert groups == [[1, 2, 3], [4, 5, 6]]
    groups = _groups(tmp_path, _spec(), ["seed=1,2,3"])  # another batch order
    assert groups == [[1], [2], [3]]


def test_fewer_than_min_stacked_trials_train_alone(tmp_path: Path) -> None:
    rates = ",".join(str(0.01 * (k + 1)) for k in range(MIN_STACKED - 1))
    groups = _groups(tmp_path, _spec(), ["conv2d_1.filters=2,3", f"learning_rate={rates}"])
    assert groups == [[n] for n in range(1, 2 * MIN_STACKED - 1)]


def test_a_group_holds_at_most_max_stacked_trials(tmp_path: Path) -> None:
    rates = ",".join(str(0.01 * (k + 1)) for k in range(MAX_STACKED + MIN_STACKED))
    groups = _groups(tmp_path, _spec(), [f"learning_rate={rates}"])
    assert [len(group) for group in groups] == [MAX_STACKED, MIN_STACKED]


def test_the_first_group_is_the_first_of_all_groups(tmp_path: Path) -> None:
    sets = ["conv2d_1.filters=2,3", "learning_rate=0.1,0.01,0.001"]
    plan = plan_sweep(_spec(), sets, tmp_path)
    assert first_group(plan, plan.trials) == stack_groups(plan, plan.trials)[0] == plan.trials[:3]
    assert first_group(plan, plan.trials[1:]) == plan.trials[1:2]  # two: too few
    assert first_group(plan, plan.trials, stack=False) == plan.trials[:1]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (_spec(LayerSpec.create("Dropout", {"rate": 0.25})), "draws random numbers"),
        (_spec(LayerSpec.create("Activation", {"function": "rrelu"})), "draws random"),
        (_spec(augment_flip=True), "augments"),
        (_spec(mixed_precision=True), "mixed precision"),
        (_spec(compile=True), "compiled"),
        (
            _spec(LayerSpec.create("Conv2D", {"filters": 256, "kernel_size": 1}), batch_size=4096),
            "not small",
        ),
    ],
)
def test_randomness_inside_the_step_or_a_big_step_keeps_a_trial_alone(
    tmp_path: Path, spec: NetworkSpec, reason: str
) -> None:
    assert reason in (alone_because(spec) or "")
    assert _groups(tmp_path, spec, ["learning_rate=0.1,0.01,0.001"]) == [[1], [2], [3]]


def test_dropout_at_rate_zero_draws_nothing_and_stacks() -> None:
    assert alone_because(_spec(LayerSpec.create("Dropout", {"rate": 0.0}))) is None
    assert random_layers(build_model(_spec(LayerSpec.create("Dropout", {"rate": 0.5})))) == [
        "dropout_1"
    ]


def test_groups_are_named_as_ranges(tmp_path: Path) -> None:
    plan = plan_sweep(_spec(), ["learning_rate=0.1,0.01,0.001"], tmp_path / "sweep")
    assert describe_group(plan.trials) == "trials 1–3"
    assert describe_group(plan.trials[:1]) == "trial 1"
    assert describe_group([plan.trials[0], plan.trials[2]]) == "trials 1, 3"


def test_the_stacked_pass_steps_each_model_as_its_own_update_would() -> None:
    """Three BatchNorm networks with L1/L2 terms and their own optimizers: stacked updates
    against each one's own `update`, 5 batches; float rounding only (vmap's grouped
    convolution sums in another order), so 1e-5."""
    torch.manual_seed(0)
    spec = _spec(LayerSpec.create("BatchNorm"))
    conv = {"filters": 3, "kernel_size": 3, "activation": "relu", "l1": 1e-3, "l2": 1e-2}
    spec = spec.with_layers([LayerSpec.create("Conv2D", conv), *spec.layers[1:]])
    settings = [
        spec.training.with_values(optimizer="sgd", learning_rate=0.1, momentum=0.9),
        spec.training.with_values(optimizer="adam", learning_rate=0.01),
        spec.training.with_values(optimizer="rmsprop", learning_rate=0.001),
    ]
    models = [build_model(spec, seed=k) for k in range(3)]
    own = [copy.deepcopy(model) for model in models]
    optimizers = [make_optimizer(m.parameters(), t) for m, t in zip(models, settings, strict=True)]
    own_optimizers = [make_optimizer(m.parameters(), t) for m, t in zip(own, settings, strict=True)]
    step = StackedStep(models)
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        images = torch.randn(16, 1, 12, 12, generator=generator)
        labels = torch.randint(0, 10, (16,), generator=generator)
        shares = step.compute(images, labels)
        for model, optimizer, share, mine, my_optimizer in zip(
            models, optimizers, shares, own, own_optimizers, strict=True
        ):
            loss, logits, penalty = share.apply(model, optimizer)
            my_loss, my_logits, my_penalty = update(mine, my_optimizer, images, labels)
            torch.testing.assert_close(loss, my_loss, atol=1e-5, rtol=0)
            torch.testing.assert_close(logits, my_logits, atol=1e-5, rtol=0)
            assert penalty is not None and my_penalty is not None
    for model, mine in zip(models, own, strict=True):
        state, my_state = model.state_dict(), mine.state_dict()
        assert int(state["batch_norm_1.num_batches_tracked"]) == 5
        for key, value in my_state.items():
            torch.testing.assert_close(state[key], value, atol=1e-5, rtol=0)


def test_a_left_model_keeps_its_weights_while_the_rest_train_on() -> None:
    models = [build_model(_spec(LayerSpec.create("BatchNorm")), seed=k) for k in range(3)]
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.1) for m in models]
    step = StackedStep(models)
    images, labels = torch.randn(8, 1, 12, 12), torch.randint(0, 10, (8,))
    shares = step.compute(images, labels)
    for share, model, optimizer in zip(shares, models, optimizers, strict=True):
        share.apply(model, optimizer)
    left = copy.deepcopy(models[1].state_dict())
    step.restack([models[0], models[2]])
    for share, k in zip(step.compute(images, labels), (0, 2), strict=True):
        share.apply(models[k], optimizers[k])
    assert int(models[0].state_dict()["batch_norm_1.num_batches_tracked"]) == 2
    for key, value in models[1].state_dict().items():
        assert torch.equal(value, left[key])


def test_stacking_is_refused_for_random_layers_and_tried_on_copies() -> None:
    images, labels = torch.randn(4, 1, 12, 12), torch.randint(0, 10, (4,))
    dropout = [build_model(_spec(LayerSpec.create("Dropout", {"rate": 0.5}))) for _ in range(2)]
    assert "dropout_1 draws random numbers" in (stacking_problem(dropout, images, labels) or "")
    models = [build_model(_spec(LayerSpec.create("BatchNorm")), seed=k) for k in range(2)]
    before = [copy.deepcopy(m.state_dict()) for m in models]
    assert stacking_problem(models, images, labels) is None
    for model, state in zip(models, before, strict=True):
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key])  # the running statistics too
