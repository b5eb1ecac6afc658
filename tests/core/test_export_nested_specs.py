"""Networks with blocks, from spec to builder to every export format and back: the exported
source loads the app's state_dict strictly and computes the same logits bit for bit, and
TorchScript and ONNX agree with torch."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

from explorer.core.block_spec import BlockSpec, LayerOrBlock
from explorer.core.builder import Network, build_model
from explorer.core.export import export_onnx, export_torchscript, pytorch_source
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from tests.core.nested_specs import nested_specs as random_specs
from tests.core.test_export import trained_looking
from tests.core.test_export_source import load_source


def _layer(type_name: str, **values: Any) -> LayerSpec:
    return LayerSpec.create(type_name, values)


def _conv(filters: int, stride: int = 1, **values: Any) -> LayerSpec:
    return _layer("Conv2D", filters=filters, kernel_size=3, padding=1, stride=stride, **values)


def _basic_body(filters: int, stride: int = 1, **values: Any) -> list[LayerOrBlock]:
    return [
        _conv(filters, stride, use_bias=False, **values),
        _layer("BatchNorm"),
        _layer("Activation", function="relu"),
        _conv(filters, use_bias=False),
        _layer("BatchNorm"),
    ]


def _residual(body: list[LayerOrBlock], **values: Any) -> BlockSpec:
    return BlockSpec.create("Residual", {"activation": "relu", **values}, [body])


def _parallel(branches: list[list[LayerOrBlock]], **values: Any) -> BlockSpec:
    return BlockSpec.create("Parallel", values, branches)


def _spec(name: str, layers: list[LayerOrBlock], channels: int = 3) -> NetworkSpec:
    return NetworkSpec(
        name=name, input=InputSpec(channels, 8, 8), num_classes=4, layers=tuple(layers)
    )


def block_specs() -> list[NetworkSpec]:
    """Every shortcut and merge, repeats, empty sub-stacks, blocks three deep, penalties on
    nested layers and a final softmax."""
    excite = [
        _layer("GlobalAvgPool2D"),
        _layer("Dense", units=2, activation="relu"),
        _layer("Dense", units=8, activation="sigmoid"),
    ]
    deep = _residual(
        [_parallel([[_residual([_conv(8, l1=0.01)], activation="linear")], []], merge="add")]
    )
    return [
        _spec(
            "resnet like",
            [
                _conv(8, activation="relu"),
                _residual(_basic_body(8), repeat=2),
                _residual(_basic_body(16, 2), shortcut="pad"),
                _residual(_basic_body(16, l2=0.01), shortcut="identity", repeat=2),
                _residual(_basic_body(32, 2), shortcut="projection"),
                _layer("GlobalAvgPool2D"),
                _layer("Dense", units=4, activation="softmax"),
            ],
        ),
        _spec(
            "branches",
            [
                _conv(8, activation="relu", l2=0.001),
                _parallel(
                    [[_conv(4)], [], [_layer("MaxPool2D", pool_size=3, stride=1, padding=1)]],
                    merge="concat",
                    repeat=2,
                ),
                _conv(8),
                _parallel([[], excite], merge="multiply"),
                deep,
                _parallel([[_conv(8)], [_conv(8, activation="tanh")]], activation="relu"),
                _layer("Flatten"),
                _layer("Dense", units=4),
            ],
        ),
    ]


def _model(spec: NetworkSpec) -> Network:
    model = trained_looking(spec)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():  # BatchNorm's affine weights too, so a swapped one would show
        for name, tensor in model.named_parameters():
            if "batch_norm" in name:
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
    return model


@pytest.mark.parametrize("index", range(len(block_specs())))
def test_exported_source_of_a_nested_spec_matches_the_app_bit_for_bit(index: int) -> None:
    spec = block_specs()[index]
    model = _model(spec)
    exported = load_source(pytorch_source(spec, model=model)).build_model()
    assert list(exported.state_dict()) == list(model.state_dict())
    exported.load_state_dict(model.state_dict(), strict=True)
    exported.eval()
    inputs = torch.randn(5, *spec.input.shape, generator=torch.Generator().manual_seed(index))
    with torch.no_grad():
        assert torch.equal(exported(inputs), model(inputs))
        assert torch.equal(exported.predict_proba(inputs), model.predict_proba(inputs))
        app_penalty = model.penalty()
        assert app_penalty is not None and float(app_penalty) > 0
        torch.testing.assert_close(exported.penalty(), app_penalty, atol=0, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("index", range(len(block_specs())))
def test_torchscript_and_onnx_of_a_nested_spec_match_torch(tmp_path: Path, index: int) -> None:
    spec = block_specs()[index]
    model = _model(spec)
    inputs = torch.randn(3, *spec.input.shape, generator=torch.Generator().manual_seed(index))
    with torch.no_grad():
        expected = model(inputs)
    export_torchscript(model, tmp_path / "model.pt")
    scripted = torch.jit.load(str(tmp_path / "model.pt"))
    assert list(scripted.state_dict()) == list(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(scripted(inputs), expected, atol=1e-6, rtol=0)
    ort = pytest.importorskip("onnxruntime")
    export_onnx(model, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"images": inputs.numpy()})
    np.testing.assert_allclose(logits, expected.numpy(), rtol=1e-4, atol=1e-5)


def test_the_nested_specs_build() -> None:
    # Guards the cases above against a spec that no longer builds (they would not run).
    for spec in block_specs():
        assert isinstance(build_model(spec), Network)


_RANDOM = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
@_RANDOM
@given(random_specs())
def test_exported_source_of_random_nested_specs_matches_the_app_bit_for_bit(
    spec: NetworkSpec,
) -> None:
    model = trained_looking(spec)
    exported = load_source(pytorch_source(spec, model=model)).build_model()
    exported.load_state_dict(model.state_dict(), strict=True)
    exported.eval()
    inputs = torch.randn(2, *spec.input.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(exported(inputs), model(inputs))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs())
def test_torchscript_of_random_nested_specs_matches_torch(spec: NetworkSpec) -> None:
    model = trained_looking(spec)
    with tempfile.TemporaryDirectory() as folder:  # hypothesis reuses no tmp_path
        export_torchscript(model, Path(folder) / "model.pt")
        scripted = torch.jit.load(str(Path(folder) / "model.pt"))
    inputs = torch.randn(2, *spec.input.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(scripted(inputs), model(inputs), atol=1e-6, rtol=0)
