"""Each layer type's own advice (its `advice` rule) lands on the right layer, quotes the
values it is about, and its fix, applied, clears it."""

from __future__ import annotations

from explorer.core.analysis import analyze
from explorer.core.diagnostics import Diagnostic, RemoveLayer
from explorer.core.fixes import apply_fix
from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, TrainingSpec

L = LayerSpec.create


def _net(
    *layers: LayerSpec, shape: tuple[int, int, int] = (1, 8, 8), batch: int = 32
) -> NetworkSpec:
    return NetworkSpec(
        input=InputSpec(*shape),
        num_classes=10,
        layers=layers,
        training=TrainingSpec(batch_size=batch),
    )


def _warnings(spec: NetworkSpec, index: int) -> list[Diagnostic]:
    return [d for d in analyze(spec).layers[index].diagnostics if not d.is_error]


def test_a_flatten_of_a_vector_is_flagged_and_its_removal_clears_it() -> None:
    spec = _net(L("Flatten"), L("Flatten"), L("Dense", {"units": 10}))
    (warning,) = _warnings(spec, 1)
    assert warning.message == "the input is already a vector, so this Flatten does nothing"
    assert isinstance(warning.fix, RemoveLayer) and warning.fix.path == LayerPath.top(1)
    fixed = apply_fix(spec, warning.fix)
    assert [layer.type for layer in fixed.layers] == ["Flatten", "Dense"]
    assert analyze(fixed).ok and not analyze(fixed).warnings


def test_a_high_dropout_rate_is_flagged_with_the_rate_quoted() -> None:
    spec = _net(L("Flatten"), L("Dropout", {"rate": 0.85}), L("Dense", {"units": 10}))
    (warning,) = _warnings(spec, 1)
    assert warning.message.startswith("dropping 85% of inputs")
    assert warning.fix is not None
    fixed = apply_fix(spec, warning.fix)
    assert fixed.layers[1].get("rate") == 0.5
    assert not _warnings(fixed, 1)
    assert not _warnings(
        _net(L("Flatten"), L("Dropout", {"rate": 0.79}), L("Dense", {"units": 10})), 1
    )


def test_batchnorm_on_one_value_per_channel_is_flagged_only_for_batch_size_one() -> None:
    layers = (L("Flatten"), L("BatchNorm"), L("Dense", {"units": 10}))
    (warning,) = _warnings(_net(*layers, batch=1), 1)
    assert warning.message.startswith("BatchNorm on a vector with batch size 1")
    assert not _warnings(_net(*layers, batch=2), 1)
    maps = (L("BatchNorm"), L("Flatten"), L("Dense", {"units": 10}))
    (on_maps,) = _warnings(_net(*maps, shape=(3, 1, 1), batch=1), 0)
    assert "1×1 maps" in on_maps.message
    assert not _warnings(_net(*maps, shape=(3, 2, 1), batch=1), 0)


def test_a_huge_dense_on_unshrunk_maps_is_flagged_until_something_shrinks_them() -> None:
    conv = L("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"})
    head = (L("Flatten"), L("Dense", {"units": 32}), L("Dense", {"units": 10}))
    spec = _net(conv, *head, shape=(1, 28, 28))
    (warning,) = _warnings(spec, 2)
    assert warning.message.startswith("Dense on 50,176 features has 1.6M weights")
    assert not _warnings(_net(conv, L("MaxPool2D"), *head, shape=(1, 28, 28)), 3)
    strided = L("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same", "stride": 2})
    assert not _warnings(_net(strided, *head, shape=(1, 28, 28)), 2)


def test_the_wrong_class_count_is_fixed_on_the_layer_that_gives_the_scores() -> None:
    spec = _net(L("Flatten"), L("Dense", {"units": 7}), L("Dropout", {"rate": 0.2}))
    (error,) = analyze(spec).errors
    assert error.path == LayerPath.top(2)  # reported on the last layer
    assert error.fix is not None and error.fix.label == "set units to 10"
    assert error.fix.path == LayerPath.top(1)  # fixed where the width is set
    assert analyze(apply_fix(spec, error.fix)).ok
