"""Analysis facts checked against published numbers and the design's rules."""

from __future__ import annotations

import pytest

from explorer.core.analysis import analyze
from explorer.core.fixes import apply_fix
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.templates import load_template, template_names

L = LayerSpec.create


def _net(*layers: LayerSpec, size: int = 28, channels: int = 1, classes: int = 10) -> NetworkSpec:
    return NetworkSpec(
        input=InputSpec(channels, size, size), num_classes=classes, layers=tuple(layers)
    )


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("keras-mnist", 62_346),
        ("notebook-mnist", 57_170),
        ("lenet5", 61_706),
        ("vgg16", 138_357_544),
    ],
)
def test_template_totals_match_the_published_counts(name: str, params: int) -> None:
    analysis = analyze(load_template(name))
    assert analysis.ok
    assert analysis.params == params


def test_every_template_analyses_without_errors_or_warnings() -> None:
    names = template_names()
    assert {
        "keras-mnist",
        "notebook-mnist",
        "fashion-bn",
        "strided-cifar",
        "strided-cifar-dropout",
        "lenet5",
        "vgg16",
    } <= set(names)
    for name in names:
        analysis = analyze(load_template(name))
        assert analysis.diagnostics == (), (name, [d.text() for d in analysis.diagnostics])


def test_notebook_template_spatial_sizes() -> None:
    analysis = analyze(load_template("notebook-mnist"))
    spatial = [
        layer.output_shape[1]
        for layer in analysis.layers
        if layer.output_shape and len(layer.output_shape) == 3
    ]
    assert spatial == [28, 28, 14, 12, 10, 8, 4]
    flatten = next(layer for layer in analysis.layers if layer.type == "Flatten")
    assert flatten.output_shape == (256,)


def test_fashion_bn_counts_batchnorm_as_keras_does() -> None:
    analysis = analyze(load_template("fashion-bn"))
    batchnorms = [layer for layer in analysis.layers if layer.type == "BatchNorm"]
    assert [(b.trainable_params, b.non_trainable_params) for b in batchnorms] == [
        (32, 32),
        (64, 64),
    ]
    assert analysis.non_trainable_params == 96


def test_vgg16_memory_matches_the_well_known_breakdown() -> None:
    """cs231n's VGG16 table: 224·224·64 ≈ 3.2M elements for the first convs, and so on."""
    analysis = analyze(load_template("vgg16"))
    elements = {layer.name: layer.activation_elements for layer in analysis.layers}
    assert elements["block1_conv1"] == elements["block1_conv2"] == 224 * 224 * 64  # 3.2M
    assert elements["block1_pool"] == 112 * 112 * 64  # 800K
    assert elements["block2_conv1"] == 112 * 112 * 128  # 1.6M
    assert elements["block3_conv3"] == 56 * 56 * 256  # 800K
    assert elements["block4_conv1"] == 28 * 28 * 512  # 400K
    assert elements["block5_conv3"] == 14 * 14 * 512  # 100K
    assert elements["block5_pool"] == 7 * 7 * 512  # 25K
    assert elements["fc1"] == 4096
    assert analysis.layers[0].activation_bytes == 224 * 224 * 64 * 4
    # The table's rows (input, convs, pools, FCs; ReLU in place) sum to 15.2M values.
    table_rows = [layer for layer in analysis.layers if layer.type not in ("Flatten", "Dropout")]
    total = 3 * 224 * 224 + sum(layer.activation_elements for layer in table_rows)
    assert abs(total - 15.2e6) < 0.05e6
    assert analysis.forward_bytes / 1e6 == pytest.approx(61.1, abs=0.3)
    weights = {layer.name: layer.params for layer in analysis.layers}
    assert weights["fc1"] == 7 * 7 * 512 * 4096 + 4096  # the famous 102M
    assert analysis.macs == pytest.approx(15.47e9, rel=0.01)


def test_vgg16_receptive_fields_match_published_values() -> None:
    analysis = analyze(load_template("vgg16"))
    rf = {layer.name: layer.receptive_field for layer in analysis.layers}
    published = {
        "block1_conv1": 3,
        "block1_conv2": 5,
        "block1_pool": 6,
        "block2_conv2": 14,
        "block3_conv3": 40,
        "block4_conv3": 92,
        "block5_conv3": 196,
        "block5_pool": 212,
    }
    for name, size in published.items():
        assert rf[name] is not None
        assert rf[name].size == (size, size), name
    assert rf["block5_pool"].jump == (32, 32)
    assert rf["fc1"].jump is None and rf["fc1"].size == (224, 224)


def test_kernel_larger_than_input_is_an_error_with_a_padding_fix() -> None:
    spec = _net(
        L("Conv2D", {"filters": 4, "kernel_size": 5}),
        L("Flatten"),
        L("Dense", {"units": 10}),
        size=3,
    )
    analysis = analyze(spec)
    error = analysis.layers[0].error
    assert error is not None
    assert error.message == "kernel 5 > input 3: use padding 'same' or a smaller kernel"
    assert [layer.known for layer in analysis.layers] == [False, False, False]
    fixed = analyze(apply_fix(spec, error.fix))
    assert fixed.ok
    assert fixed.layers[0].output_shape == (4, 3, 3)


def test_error_marks_only_the_offending_layer_and_later_layers_are_unknown() -> None:
    spec = _net(
        L("Conv2D", {"filters": 8, "kernel_size": 3}),
        L("MaxPool2D"),
        L("Conv2D", {"filters": 8, "kernel_size": 15}),
        L("Flatten"),
        L("Dense", {"units": 10}),
    )
    analysis = analyze(spec)
    assert [layer.error is not None for layer in analysis.layers] == [
        False,
        False,
        True,
        False,
        False,
    ]
    assert [layer.known for layer in analysis.layers] == [True, True, False, False, False]
    assert analysis.layers[2].input_shape == (8, 13, 13)
    assert len(analysis.errors) == 1


def test_dense_on_maps_suggests_inserting_a_flatten() -> None:
    spec = _net(L("Conv2D", {"filters": 2, "kernel_size": 3}), L("Dense", {"units": 10}))
    error = analyze(spec).layers[1].error
    assert error is not None and "insert a Flatten" in error.message
    fixed = apply_fix(spec, error.fix)
    assert [layer.type for layer in fixed.layers] == ["Conv2D", "Flatten", "Dense"]
    assert analyze(fixed).ok


def test_pool_larger_than_input_offers_removal() -> None:
    spec = _net(L("MaxPool2D", {"pool_size": 4}), L("Flatten"), L("Dense", {"units": 10}), size=3)
    error = analyze(spec).layers[0].error
    assert error is not None and error.message.startswith("pool 4 > input 3")
    assert analyze(apply_fix(spec, error.fix)).ok


def test_shrinking_to_nothing_through_valid_convs_is_caught_where_it_happens() -> None:
    spec = _net(
        *[L("Conv2D", {"filters": 2, "kernel_size": 3}) for _ in range(5)],
        L("Flatten"),
        L("Dense", {"units": 10}),
        size=8,
    )
    analysis = analyze(spec)
    assert [
        layer.output_shape[1] if layer.output_shape else None for layer in analysis.layers[:4]
    ] == [6, 4, 2, None]
    assert analysis.layers[3].error is not None


def test_softmax_before_the_last_layer_is_a_warning_with_fix() -> None:
    spec = _net(
        L("Flatten"),
        L("Dense", {"units": 32, "activation": "softmax"}),
        L("Dense", {"units": 10, "activation": "softmax"}),
    )
    analysis = analyze(spec)
    assert analysis.ok
    warning = analysis.layers[1].diagnostic
    assert warning is not None and not warning.is_error and "softmax" in warning.message
    assert analysis.layers[2].diagnostics == ()
    assert apply_fix(spec, warning.fix).layers[1].get("activation") == "relu"


def test_stacked_sigmoids_warn() -> None:
    spec = _net(
        L("Flatten"),
        L("Dense", {"units": 32, "activation": "sigmoid"}),
        L("Dropout"),
        L("Dense", {"units": 32, "activation": "sigmoid"}),
        L("Dense", {"units": 10}),
    )
    analysis = analyze(spec)
    assert analysis.layers[1].diagnostics == ()
    assert "sigmoid" in analysis.layers[3].diagnostics[0].message


def test_huge_dense_without_downsampling_warns_but_not_after_pooling() -> None:
    big = _net(
        L("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"}),
        L("Flatten"),
        L("Dense", {"units": 128}),
        L("Dense", {"units": 10}),
        size=32,
    )
    warning = analyze(big).layers[2].diagnostic
    assert warning is not None and "add pooling" in warning.message
    pooled = big.insert(1, L("MaxPool2D"))
    assert analyze(pooled).layers[3].diagnostics == ()


def test_output_must_match_the_class_count() -> None:
    spec = _net(L("Flatten"), L("Dense", {"units": 12}))
    error = analyze(spec).layers[-1].error
    assert error is not None and "12 values but there are 10 classes" in error.message
    assert analyze(apply_fix(spec, error.fix)).ok
    maps = _net(L("Conv2D", {"filters": 10, "kernel_size": 3}))
    assert "ends in maps" in analyze(maps).errors[0].message


def test_empty_network_is_an_error_not_a_crash() -> None:
    analysis = analyze(_net())
    assert not analysis.ok and "no layers" in analysis.errors[0].message


def test_duplicate_explicit_names_are_reported_on_the_second_layer() -> None:
    spec = _net(L("Flatten", name="features"), L("Dense", {"units": 10}, name="features"))
    analysis = analyze(spec)
    assert analysis.layers[0].error is None
    error = analysis.layers[1].error
    assert error is not None and "already used by layer 1" in error.message
    assert analyze(apply_fix(spec, error.fix)).ok


def test_automatic_names_skip_names_taken_explicitly() -> None:
    spec = _net(L("Flatten", name="dense_1"), L("Dense", {"units": 10}))
    assert spec.layer_names() == ("dense_1", "dense_2")
