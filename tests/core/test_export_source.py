"""The source generator covers every layer type and activation of the registry."""

from __future__ import annotations

import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.core.builder import build_model
from explorer.core.export import (
    ExportError,
    class_name_for,
    export_onnx,
    export_torchscript,
    module_expression,
    pytorch_source,
)
from explorer.core.layers import LAYER_TYPES
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.core.vocabulary.activation_functions import ACTIVATION_NAMES


def _spec(name: str, layers: list[LayerSpec], channels: int = 2) -> NetworkSpec:
    return NetworkSpec(
        name=name, input=InputSpec(channels, 9, 9), num_classes=3, layers=tuple(layers)
    )


def coverage_specs() -> list[NetworkSpec]:
    """Networks that together use every layer type and every activation, with non-default
    keys (asymmetric 'same' padding, dilation, no bias, penalties, alpha)."""
    c = LayerSpec.create
    head = [
        c(
            "Conv2D",
            {
                "filters": 4,
                "kernel_size": [4, 2],
                "padding": "same",
                "stride": 1,
                "dilation": 1,
                "activation": "prelu",
                "l1": 0.01,
                "l2": 0.001,
            },
        ),
        c("BatchNorm", {"momentum": 0.2, "eps": 1e-3}),
        c("Conv2D", {"filters": 6, "kernel_size": 3, "padding": "same", "groups": 2}),
        c(
            "DepthwiseConv2D",
            {"kernel_size": 2, "padding": "same", "depth_multiplier": 2, "l2": 0.01},
        ),
        c("SeparableConv2D", {"filters": 4, "kernel_size": 3, "padding": 1, "l1": 0.001}),
        *[
            c("Conv2D", {"filters": 4, "kernel_size": 3, "padding": 1, "activation": act})
            for act in ACTIVATION_NAMES
        ],
        c("Activation", {"function": "leaky_relu", "alpha": 0.2}),
        c("Activation", {"function": "elu", "alpha": 0.5}),
        c("Activation", {"function": "prelu", "alpha": 0.1}),
        c(
            "Conv2D",
            {
                "filters": 4,
                "kernel_size": 2,
                "dilation": 2,
                "use_bias": False,
                "activation": "relu",
            },
        ),
        c("MaxPool2D", {"pool_size": 2, "stride": 1, "padding": 1}),
        c("AvgPool2D", {"pool_size": [2, 3]}),
        c("Dropout", {"rate": 0.25}),
    ]
    dense_tail = [
        c("Dense", {"units": 6, "activation": "selu", "use_bias": False, "l2": 0.1}),
        c("BatchNorm"),
        c("Dropout"),
        c("Dense", {"units": 3, "activation": "softmax"}),
    ]
    return [
        _spec("with flatten", [*head, c("Flatten"), *dense_tail]),
        _spec("with global max", [*head, c("GlobalMaxPool2D"), *dense_tail]),
        _spec(
            "with global avg",
            [
                *head,
                c("GlobalAvgPool2D"),
                c("Dense", {"units": 3}),
                c("Activation", {"function": "softmax"}),
            ],
        ),
    ]


def load_source(text: str) -> types.ModuleType:
    module = types.ModuleType("exported_network")
    exec(compile(text, "exported_network.py", "exec"), module.__dict__)
    return module


def test_the_coverage_networks_use_every_registry_type_and_activation() -> None:
    used_types = {layer.type for spec in coverage_specs() for layer in spec.layers}
    assert used_types == set(LAYER_TYPES), "add the new layer type to coverage_specs()"
    used_activations = {
        layer.resolved()[layer.entry.activation_key]
        for spec in coverage_specs()
        for layer in spec.layers
        if layer.entry.activation_key
    }
    assert used_activations == set(ACTIVATION_NAMES)


@pytest.mark.parametrize("index", range(3))
def test_source_for_every_layer_type_loads_the_app_weights_and_matches(index: int) -> None:
    spec = coverage_specs()[index]
    model = build_model(spec, seed=index)
    model.train()
    with torch.no_grad():  # move the BatchNorm statistics away from their defaults
        model(torch.randn(8, *spec.input.shape))
    model.eval()
    exported = load_source(pytorch_source(spec, model=model))
    network = exported.build_model()
    network.load_state_dict(model.state_dict(), strict=True)
    network.eval()
    inputs = torch.randn(4, *spec.input.shape)
    with torch.no_grad():
        torch.testing.assert_close(network(inputs), model(inputs), atol=1e-6, rtol=0)
        torch.testing.assert_close(
            network.predict_proba(inputs), model.predict_proba(inputs), atol=1e-6, rtol=0
        )
    assert spec.input.shape == exported.INPUT_SHAPE
    assert spec.num_classes == exported.NUM_CLASSES


def test_exported_penalty_equals_the_app_penalty() -> None:
    spec = coverage_specs()[0]
    model = build_model(spec, seed=0)
    network = load_source(pytorch_source(spec, model=model)).build_model()
    network.load_state_dict(model.state_dict())
    with torch.no_grad():
        app_penalty = model.penalty()
        assert app_penalty is not None and float(app_penalty) > 0
        torch.testing.assert_close(network.penalty(), app_penalty)


def test_every_module_the_builder_makes_is_written_back_equal() -> None:
    for spec in coverage_specs():
        for name, module in build_model(spec, seed=0).layer_modules():
            rebuilt = eval(module_expression(module), {"nn": torch.nn, "OrderedDict": OrderedDict})
            assert [n for n, _ in rebuilt.named_modules()] == [
                n for n, _ in module.named_modules()
            ], name
            assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
                k: v.shape for k, v in module.state_dict().items()
            }, name


def test_a_module_from_outside_torch_nn_is_refused() -> None:
    class Custom(torch.nn.Module):
        pass

    with pytest.raises(ExportError, match="Custom"):
        module_expression(Custom())


def test_class_names_are_python_identifiers() -> None:
    assert class_name_for(NetworkSpec(name="Keras tutorial CNN (MNIST)")) == "KerasTutorialCNN"
    assert class_name_for(NetworkSpec(name="3 layers")) == "Network3Layers"
    assert class_name_for(NetworkSpec(name="—")) == "Network"
    assert class_name_for(NetworkSpec(name="(MNIST)")) == "MNIST"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("index", range(3))
def test_torchscript_and_onnx_cover_every_layer_type(tmp_path: Path, index: int) -> None:
    spec = coverage_specs()[index]
    model = build_model(spec, seed=index).eval()
    inputs = torch.randn(3, *spec.input.shape)
    with torch.no_grad():
        expected = model(inputs)
    export_torchscript(model, tmp_path / "model.pt")
    with torch.no_grad():
        scripted = torch.jit.load(str(tmp_path / "model.pt"))(inputs)
    torch.testing.assert_close(scripted, expected, atol=1e-6, rtol=0)
    ort = pytest.importorskip(
        "onnxruntime", reason="onnxruntime not installed: pip install 'cnn-explorer[onnx]'"
    )
    export_onnx(model, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"images": inputs.numpy()})
    np.testing.assert_allclose(logits, expected.numpy(), rtol=1e-4, atol=1e-5)
