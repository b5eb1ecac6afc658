"""Layer and network specs: validation messages, defaults, immutable edits, names."""

from __future__ import annotations

import pytest
from torch import nn

from explorer.core.layers import LAYER_TYPES
from explorer.core.spec import (
    RESERVED_NAMES,
    LayerSpec,
    NetworkSpec,
    SpecError,
    TrainingSpec,
    check_layer_name,
)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"filters": 0, "kernel_size": 3},
            "layer 5 (Conv2D): 'filters': 0 is out of range: must be in [1, 65536]",
        ),
        (
            {"filters": "32", "kernel_size": 3},
            "layer 5 (Conv2D): 'filters': expected an integer, got '32'",
        ),
        (
            {"filters": 8, "kernel_size": [3, 3, 3]},
            "'kernel_size': expected an int or [h, w]; got [3, 3, 3]",
        ),
        (
            {"filters": 8, "kernel_size": 3, "padding": "full"},
            "'padding': expected 'valid', 'same', an int or [h, w]; got 'full'",
        ),
        ({"filters": 8, "kernel_size": 3, "activation": "swish"}, "'activation': expected one of "),
        (
            {"filters": 8, "kernel_size": 3, "use_bias": 1},
            "'use_bias': expected true or false, got 1",
        ),
        (
            {"filters": 8, "kernel_size": 3, "kernal": 3},
            "unknown key 'kernal' (valid keys: filters,",
        ),
        ({"filters": 8}, "layer 5 (Conv2D): missing required key 'kernel_size'"),
    ],
)
def test_bad_values_name_the_layer_key_and_value(values: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as caught:
        LayerSpec.create("Conv2D", values, index=4)  # the fifth layer: messages count from 1
    assert message in str(caught.value)
    assert caught.value.layer_index == 4


def test_unknown_type_lists_the_vocabulary() -> None:
    with pytest.raises(SpecError, match="unknown layer type 'Conv3D'; expected one of Conv2D"):
        LayerSpec.create("Conv3D", {}, index=0)


def test_ranges_are_enforced_for_floats() -> None:
    with pytest.raises(SpecError, match=r"'rate': 1.0 is out of range: must be in \[0, 1\)"):
        LayerSpec.create("Dropout", {"rate": 1.0})
    with pytest.raises(SpecError, match=r"'momentum': 0\.0 is out of range"):
        LayerSpec.create("BatchNorm", {"momentum": 0.0})
    with pytest.raises(SpecError, match="finite"):
        LayerSpec.create("Dropout", {"rate": float("nan")})


def test_omitted_keys_take_the_documented_defaults() -> None:
    conv = LayerSpec.create("Conv2D", {"filters": 8, "kernel_size": 5}).resolved()
    assert conv == {
        "filters": 8,
        "kernel_size": 5,
        "stride": 1,
        "padding": "valid",
        "dilation": 1,
        "groups": 1,
        "activation": "linear",
        "use_bias": True,
        "l1": 0.0,
        "l2": 0.0,
    }
    pool = LayerSpec.create("MaxPool2D").resolved()
    assert pool == {"pool_size": 2, "stride": None, "padding": "valid"}
    assert LayerSpec.create("BatchNorm").resolved() == {"momentum": 0.1, "eps": 1e-5}
    assert LayerSpec.create("Dropout").get("rate") == 0.5


def test_only_keys_the_user_set_are_stored_and_saved() -> None:
    layer = LayerSpec.create("Conv2D", {"filters": 8, "kernel_size": [3, 5], "stride": 1})
    assert layer.to_json() == {"type": "Conv2D", "filters": 8, "kernel_size": [3, 5], "stride": 1}
    assert layer.with_values(stride=None).to_json() == {
        "type": "Conv2D",
        "filters": 8,
        "kernel_size": [3, 5],
    }


def test_edits_return_new_specs_and_leave_the_original_alone() -> None:
    a, b, c, d = (LayerSpec.create("Dense", {"units": n}) for n in (1, 2, 3, 4))
    spec = NetworkSpec(layers=(a, b, c, d))
    assert spec.move([0], 3).layers == (b, c, a, d)
    assert spec.move([3], 0).layers == (d, a, b, c)
    assert spec.move([0, 2], 4).layers == (b, d, a, c)
    assert spec.remove([1, 2]).layers == (a, d)
    assert spec.insert(1, c, c).layers == (a, c, c, b, c, d)
    assert spec.layers == (a, b, c, d)
    with pytest.raises(AttributeError):
        spec.layers = ()  # type: ignore[misc]


def test_every_registry_type_can_be_dropped_with_start_values() -> None:
    for name in LAYER_TYPES:
        layer = LayerSpec.new(name)
        assert layer.type == name
        assert layer.describe()


def test_reserved_names_cover_every_torch_module_attribute() -> None:
    public = {name for name in dir(nn.Module) if not name.startswith("_")}
    assert public <= RESERVED_NAMES
    assert check_layer_name("forward") == "is reserved by PyTorch modules"
    assert check_layer_name("class") == "is a Python keyword"
    assert check_layer_name("conv-1") is not None
    assert check_layer_name("block1_conv1") is None


def test_training_spec_validates_and_round_trips() -> None:
    training = TrainingSpec.create({"optimizer": "adam", "learning_rate": 0.001})
    assert training.optimizer == "adam" and training.batch_size == 100
    assert TrainingSpec.create(training.to_json()) == training
    with pytest.raises(SpecError, match="training: 'optimizer': expected one of sgd, adam"):
        TrainingSpec.create({"optimizer": "lbfgs"})
    with pytest.raises(SpecError, match="training: unknown key 'lr'"):
        TrainingSpec.create({"lr": 0.1})
