"""ONNX import: the app's own exports and a plain torch model come back as projects that
compute the same outputs (checked against onnxruntime and the original torch model)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from explorer.core.analysis import analyze
from explorer.core.builder import Network, build_model, build_with_weights
from explorer.core.export import export_onnx
from explorer.core.onnx_import import OnnxImportError, import_onnx
from explorer.core.project_format import ProjectError
from explorer.core.spec import BlockSpec
from explorer.core.templates import load_template, template_names

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# Small enough for the unit run; the rest of the templates are in the slow round trip.
_QUICK = ("lenet5", "resnet-mnist", "inception-mini")


def _randomise_norms(model: nn.Module) -> None:
    """Running statistics away from 0/1, so a lost or misplaced BatchNorm shows."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            channels = module.num_features
            module.running_mean.copy_(torch.rand(channels, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(channels, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(channels, generator=generator) - 0.5)


def _onnxruntime(path: Path, images: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: images.numpy()})[0])


def _round_trip(name: str, tmp_path: Path) -> None:
    spec = load_template(name)
    model = build_model(spec, seed=0)
    _randomise_norms(model)
    model.eval()
    path = tmp_path / f"{name}.onnx"
    export_onnx(model, path)

    imported = import_onnx(path)
    rebuilt = build_with_weights(imported.spec, imported.state_dict).eval()
    images = torch.randn(3, *spec.input.shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours, original = rebuilt(images).numpy(), model(images).numpy()
    np.testing.assert_allclose(ours, _onnxruntime(path, images), atol=1e-5, rtol=0)
    np.testing.assert_allclose(ours, original, atol=1e-5, rtol=0)

    before, after = analyze(spec), analyze(imported.spec)
    assert after.ok
    assert imported.spec.input == spec.input
    assert imported.spec.num_classes == spec.num_classes
    assert after.output_shape == before.output_shape
    assert after.macs == before.macs
    # The export keeps each BatchNorm as a node of its own (not folded into the convolution
    # before it), so each comes back with its four numbers a channel.
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    nodes = onnx.load(str(path)).graph.node
    assert sum(node.op_type == "BatchNormalization" for node in nodes) == len(norms)
    assert after.params == before.params
    # Dropout and activation rows (dropped or fused) keep the shape: compare the changes.
    assert _shape_steps(after) == _shape_steps(before)


def _shape_steps(analysis: Any) -> list[Any]:
    shapes = [row.output_shape for row in analysis.layers]
    return [shape for i, shape in enumerate(shapes) if i == 0 or shape != shapes[i - 1]]


@pytest.mark.parametrize("name", _QUICK)
def test_a_template_exported_to_onnx_imports_with_the_same_outputs(
    name: str, tmp_path: Path
) -> None:
    _round_trip(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in template_names() if n not in _QUICK])
def test_every_template_round_trips_through_onnx(name: str, tmp_path: Path) -> None:
    _round_trip(name, tmp_path)


def test_residual_and_parallel_blocks_are_recognised(tmp_path: Path) -> None:
    for name, kinds in (
        ("resnet-mnist", {"Residual"}),
        ("resnet20-cifar", {"Residual"}),
        ("se-resnet-mini", {"Residual", "Parallel"}),
        ("inception-mini", {"Parallel"}),
    ):
        model = build_model(load_template(name), seed=0).eval()
        export_onnx(model, tmp_path / f"{name}.onnx")
        spec = import_onnx(tmp_path / f"{name}.onnx").spec
        blocks = [item for _, item in spec.walk() if isinstance(item, BlockSpec)]
        assert {b.type for b in blocks} == kinds, name
        if name == "resnet20-cifar":
            shortcuts = {dict(b.values).get("shortcut") for b in blocks}
            assert "pad" in shortcuts
        if name == "se-resnet-mini":
            merges = {dict(b.values).get("merge") for b in blocks if b.type == "Parallel"}
            assert merges == {"multiply"}
        if name == "inception-mini":
            merges = {dict(b.values).get("merge") for b in blocks}
            assert merges == {"concat"}


class _Plain(nn.Module):
    """A torch model written by hand, not by the app: BatchNorm kept (no exporter
    folding), a grouped conv, a depthwise conv, a leaky ReLU, a residual add."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1, groups=2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(8, 8, 3, padding=1, groups=8),
        )
        self.head = nn.Sequential(
            nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(8 * 7 * 7, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.head(torch.relu(self.body(x) + x))


def test_a_hand_written_torch_model_imports_with_its_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    plain = _Plain().eval()
    _randomise_norms(plain)
    path = tmp_path / "plain.onnx"
    example = torch.randn(2, 1, 14, 14)
    with warnings.catch_warnings():  # torch's exporter warns about its own internals
        warnings.simplefilter("ignore")
        torch.onnx.export(
            plain,
            (example,),
            str(path),
            dynamo=True,
            optimize=False,  # keep BatchNorm as its own node
            verbose=False,
            input_names=["x"],  # a fixed batch: its Flatten is a Reshape to constants
        )
    imported = import_onnx(path)
    spec = imported.spec
    types = [item.type for _, item in spec.walk()]
    assert "BatchNorm" in types and "DepthwiseConv2D" in types and "Residual" in types
    assert analyze(spec).trainable_params == sum(p.numel() for p in plain.parameters())
    rebuilt: Network = build_with_weights(spec, imported.state_dict).eval()
    images = torch.randn(2, 1, 14, 14)
    with torch.no_grad():
        ours = rebuilt(images).numpy()
        np.testing.assert_allclose(ours, plain(images).numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(ours, _onnxruntime(path, images), atol=1e-5, rtol=0)


def test_an_unsupported_op_is_named_with_its_node(tmp_path: Path) -> None:
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("LRN", ["images"], ["logits"], name="norm_1", size=3)],
        "g",
        [helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", 1, 4, 4])],
    )
    path = tmp_path / "lrn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(OnnxImportError, match=r"node 'norm_1' \(LRN\) has no layer"):
        import_onnx(path)


def test_a_file_that_is_not_onnx_is_a_project_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x00\x01 this is not a protobuf")
    with pytest.raises(ProjectError, match=r"broken\.onnx: not a readable ONNX model"):
        import_onnx(path)
    with pytest.raises(ProjectError, match=r"missing\.onnx: not a readable ONNX model"):
        import_onnx(tmp_path / "missing.onnx")


def test_without_the_onnx_extra_the_message_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(OnnxImportError, match=r"pip install \"cnn-explorer\[onnx\]\""):
        import_onnx(tmp_path / "any.onnx")
