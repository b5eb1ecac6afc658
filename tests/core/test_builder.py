"""The builder: layer names, the final-softmax rule, seeding, L1/L2 penalties."""

from __future__ import annotations

import pytest
import torch

from explorer.core.builder import BuildError, build_model, kernel_weight
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.templates import load_template

L = LayerSpec.create


def test_submodules_are_named_after_the_layers() -> None:
    spec = load_template("lenet5")
    model = build_model(spec)
    assert model.layer_names == spec.layer_names()
    assert [name for name, _ in model.named_children()] == list(spec.layer_names())
    assert "c1.conv.weight" in model.state_dict()


def test_final_softmax_is_left_out_of_forward_so_the_loss_sees_logits() -> None:
    with_softmax = load_template("keras-mnist")
    layers = list(with_softmax.layers)
    layers[-1] = layers[-1].with_values(activation="linear")
    without = with_softmax.with_layers(layers)
    a, b = build_model(with_softmax, seed=3), build_model(without, seed=3)
    x = torch.randn(4, 1, 28, 28)
    assert a.final_softmax and not b.final_softmax
    assert torch.equal(a(x), b(x))
    probabilities = a.predict_proba(x)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(4))
    assert torch.allclose(probabilities, torch.softmax(b(x), dim=1))


def test_a_final_softmax_activation_layer_is_also_left_out() -> None:
    spec = NetworkSpec(
        layers=(L("Flatten"), L("Dense", {"units": 10}), L("Activation", {"function": "softmax"}))
    )
    model = build_model(spec, seed=0)
    x = torch.randn(2, 1, 28, 28)
    assert model.final_softmax
    assert not torch.allclose(model(x).sum(dim=1), torch.ones(2))


def test_same_seed_same_weights_and_the_global_rng_is_untouched() -> None:
    spec = load_template("keras-mnist")
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(spec, seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    b = build_model(spec, seed=7)
    c = build_model(spec, seed=8)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])
    assert not torch.equal(
        a.state_dict()["conv2d_1.conv.weight"], c.state_dict()["conv2d_1.conv.weight"]
    )


def test_same_padding_with_stride_matches_keras_asymmetric_padding() -> None:
    spec = NetworkSpec(
        input=load_template("strided-cifar").input,
        layers=(
            L(
                "Conv2D",
                {"filters": 1, "kernel_size": 3, "stride": 2, "padding": "same", "use_bias": False},
            ),
            L("Flatten"),
            L("Dense", {"units": 10}),
        ),
    )
    model = build_model(spec)
    conv = kernel_weight(model.conv2d_1)
    x = torch.randn(1, 3, 32, 32)
    # TensorFlow 'same' for even input and stride 2 pads 0 before and 1 after.
    reference = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (0, 1, 0, 1)), conv, stride=2)
    assert torch.allclose(model.conv2d_1(x), reference, atol=1e-6)


def test_penalty_is_keras_l1_plus_l2_on_kernels_only() -> None:
    spec = NetworkSpec(
        layers=(
            L("Conv2D", {"filters": 2, "kernel_size": 3, "l1": 0.01}),
            L("Flatten"),
            L("Dense", {"units": 10, "l2": 0.5}),
        )
    )
    model = build_model(spec, seed=0)
    conv_w, dense_w = kernel_weight(model.conv2d_1), kernel_weight(model.dense_1)
    expected = 0.01 * conv_w.abs().sum() + 0.5 * dense_w.square().sum()
    penalty = model.penalty()
    assert penalty is not None
    assert torch.allclose(penalty, expected)
    penalty.backward()
    assert torch.allclose(dense_w.grad, 2 * 0.5 * dense_w.detach())
    assert model.dense_1.linear.bias.grad is None
    assert build_model(load_template("keras-mnist")).penalty() is None


def test_a_spec_with_errors_is_refused_with_the_messages() -> None:
    spec = NetworkSpec(
        layers=(
            L("Conv2D", {"filters": 2, "kernel_size": 40}),
            L("Flatten"),
            L("Dense", {"units": 10}),
        )
    )
    with pytest.raises(BuildError, match="layer 1: kernel 40 > input 28"):
        build_model(spec)


def test_building_with_weights_draws_no_random_numbers_and_holds_those_weights() -> None:
    from explorer.core.builder import build_with_weights

    spec = load_template("fashion-bn")
    trained = build_model(spec, seed=5).state_dict()
    trained["batch_norm_1.running_mean"] = torch.randn(16)  # a buffer, not only parameters
    state_before = torch.random.get_rng_state()
    model = build_with_weights(spec, trained)
    # A capture in another thread must not shift the dropout draws of a run in progress.
    assert torch.equal(torch.random.get_rng_state(), state_before)
    assert not model.training
    for key, value in model.state_dict().items():
        assert value.device.type == "cpu"
        assert torch.equal(value, trained[key]), key
    reference = build_model(spec, seed=0)
    reference.load_state_dict(trained)
    x = torch.randn(3, 1, 28, 28)
    assert torch.equal(model(x), reference.eval()(x))


def test_seeded_builds_in_threads_at_once_give_the_seeds_weights() -> None:
    import threading

    spec = NetworkSpec(
        input=InputSpec(1, 12, 12),
        layers=(
            LayerSpec.create("Conv2D", {"filters": 8, "kernel_size": 3}),
            LayerSpec.new("Flatten"),
            LayerSpec.create("Dense", {"units": 10}),
        ),
    )
    expected = build_model(spec, seed=3).state_dict()
    built: list[dict[str, torch.Tensor]] = []

    def build() -> None:
        for _ in range(20):
            built.append(build_model(spec, seed=3).state_dict())

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 60
    for state in built:
        assert all(torch.equal(state[key], expected[key]) for key in expected)
