"""The exported block classes against explorer.core.block_modules, on networks assembled by
hand from the registry's own layer modules and the app's block modules."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from explorer.core.block_modules import PadShortcut, ParallelBlock, ResidualBlock
from explorer.core.builder import Network
from explorer.core.export import (
    export_onnx,
    export_pytorch_source,
    export_torchscript,
    pytorch_source,
)
from explorer.core.export.layout import LINE_LENGTH
from explorer.core.export.source import attribute_path, module_expression
from explorer.core.layer_spec import LayerSpec
from explorer.core.spec import InputSpec, NetworkSpec
from explorer.core.templates import load_template, template_names
from tests.core.test_export_source import load_source

Shape = tuple[int, ...]


def layer(type_name: str, shape: Shape, **values: Any) -> nn.Module:
    """The module the registry builds for one layer with `values` on input `shape`."""
    spec = LayerSpec.create(type_name, values)
    return spec.entry.build(shape, spec.entry.module_values(spec.resolved(), False))


def conv(shape: Shape, filters: int, stride: int = 1, **values: Any) -> nn.Module:
    return layer(
        "Conv2D",
        shape,
        filters=filters,
        kernel_size=3,
        padding="same" if stride == 1 else 1,
        stride=stride,
        **values,
    )


def basic_block(channels: int, size: int, filters: int, stride: int, n: int, **kw: Any) -> Any:
    """He et al.'s basic block (conv-BN-ReLU-conv-BN), numbered from `n`."""
    out = (filters, size // stride, size // stride)
    body = [
        (f"conv2d_{n}", conv((channels, size, size), filters, stride, use_bias=False)),
        (f"batch_norm_{n}", layer("BatchNorm", out)),
        (f"activation_{n}", layer("Activation", out, function="relu")),
        (f"conv2d_{n + 1}", conv(out, filters, use_bias=False)),
        (f"batch_norm_{n + 1}", layer("BatchNorm", out)),
    ]
    return ResidualBlock(body, activation=nn.ReLU(), **kw)


def nested_network(*, penalties: bool = False) -> tuple[NetworkSpec, Network]:
    """Input 3×8×8 through: conv; a residual ×2 (identity); a strided residual with a pad
    shortcut; one with a projection; an inception-like concat holding an empty branch and a
    residual; a squeeze-and-excite multiply; an add with an activation; pooling, dense."""
    projection = nn.Sequential(
        layer("Conv2D", (8, 4, 4), filters=16, kernel_size=1, stride=2, use_bias=False),
        layer("BatchNorm", (16, 2, 2)),
    )
    inner = ResidualBlock([("conv2d_9", conv((16, 2, 2), 16, l1=0.01 if penalties else 0))])
    inception = ParallelBlock(
        [
            [("conv2d_8", layer("Conv2D", (16, 2, 2), filters=4, kernel_size=1))],
            [],
            [("residual_5", inner)],
        ],
        "concat",
    )
    excite = ParallelBlock(
        [
            [],
            [
                ("global_avg_pool2d_1", layer("GlobalAvgPool2D", (36, 2, 2))),
                ("dense_1", layer("Dense", (36,), units=4, activation="relu")),
                ("dense_2", layer("Dense", (4,), units=36, activation="sigmoid")),
            ],
        ],
        "multiply",
    )
    added = ParallelBlock(
        [[("conv2d_10", conv((36, 2, 2), 36))], [("max_pool2d_1", nn.MaxPool2d(1))]],
        "add",
        activation=nn.LeakyReLU(0.1),
    )
    named = [
        ("conv2d_1", conv((3, 8, 8), 8, activation="relu")),
        ("residual_1", nn.Sequential(basic_block(8, 8, 8, 1, 2), basic_block(8, 8, 8, 1, 2))),
        ("residual_2", basic_block(8, 8, 8, 2, 4, shortcut=PadShortcut((2, 2), 0))),
        ("residual_3", basic_block(8, 4, 16, 2, 6, shortcut=projection)),
        ("parallel_1", inception),
        ("parallel_2", excite),
        ("parallel_3", added),
        ("global_max_pool2d_1", layer("GlobalMaxPool2D", (36, 2, 2))),
        ("dense_3", layer("Dense", (36,), units=5, l2=0.001 if penalties else 0)),
    ]
    spec = NetworkSpec(name="Nested net", input=InputSpec(3, 8, 8), num_classes=5)
    weights = {"parallel_1.branches.2.residual_5.body.conv2d_9": (0.01, 0.0), "dense_3": (0, 1e-3)}
    network = Network(
        named, input_shape=(3, 8, 8), final_softmax=False, penalties=weights if penalties else {}
    )
    return spec, _trained_looking(network)


def _trained_looking(network: Network) -> Network:
    """Every tensor non-default, BatchNorm statistics included."""
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for tensor in [*network.parameters(), *network.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.25)
    return network.eval()


def test_the_exported_nested_network_loads_the_app_weights_and_matches_bit_for_bit() -> None:
    spec, model = nested_network()
    exported = load_source(pytorch_source(spec, model=model)).build_model()
    assert list(exported.state_dict()) == list(model.state_dict())
    exported.load_state_dict(model.state_dict(), strict=True)
    exported.eval()
    inputs = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(exported(inputs), model(inputs))
    # The same classes at the same places (the exported ones by their names).
    assert [(n, type(m).__name__) for n, m in exported.named_modules()][1:] == [
        (n, type(m).__name__) for n, m in model.named_modules()
    ][1:]


def test_every_exported_block_computes_what_the_app_block_computes() -> None:
    _, model = nested_network()
    namespace = load_source(pytorch_source(NetworkSpec(name="x"), model=model)).__dict__
    inputs = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    x = inputs
    with torch.no_grad():
        for name, module in model.layer_modules():
            rebuilt = eval(module_expression(module), namespace)
            rebuilt.load_state_dict(module.state_dict(), strict=True)
            rebuilt.eval()
            assert torch.equal(rebuilt(x), module(x)), name
            x = module(x)


def test_only_the_block_classes_a_network_uses_are_written() -> None:
    spec, model = nested_network()
    text = pytorch_source(spec, model=model)
    for name in ("class PadShortcut(", "class ResidualBlock(", "class ParallelBlock("):
        assert text.count(name) == 1
    residual_only = Network(
        [
            ("residual_1", ResidualBlock([("conv2d_1", conv((3, 8, 8), 3))])),
            ("flatten_1", nn.Flatten()),
        ],
        input_shape=(3, 8, 8),
        final_softmax=False,
        penalties={},
    )
    text = pytorch_source(spec, model=residual_only)
    assert "class ResidualBlock(" in text
    assert "PadShortcut" not in text and "ParallelBlock" not in text and "def merge" not in text
    plain = Network(
        [("flatten_1", nn.Flatten())], input_shape=(3, 8, 8), final_softmax=False, penalties={}
    )
    assert "Block" not in pytorch_source(spec, model=plain)


def test_a_block_repeated_is_a_sequential_of_its_copies_each_with_its_weights() -> None:
    spec, model = nested_network()
    text = pytorch_source(spec, model=model)
    start = text.index("self.residual_1 = nn.Sequential(\n")
    written = text[start : text.index("self.residual_2 =")]
    # Copies made alike are written once (a person's `[block for _ in range(n)]`) ...
    assert written.count("ResidualBlock(") == 1 and "for _ in range(2)" in written
    exported = load_source(text).build_model()
    first, second = exported.residual_1
    assert first is not second
    assert first.body.conv2d_2.conv.weight is not second.body.conv2d_2.conv.weight
    # ... and copies that differ (the first one's input) one by one.
    pad = PadShortcut((2, 2), 8)
    stage = nn.Sequential(basic_block(8, 8, 16, 2, 2, shortcut=pad), basic_block(16, 4, 16, 1, 2))
    differing = Network(
        [("residual_1", stage)], input_shape=(8, 8, 8), final_softmax=False, penalties={}
    )
    text = pytorch_source(spec, model=differing)
    assert text.count("ResidualBlock(\n") == 2 and "for _ in range" not in text
    exported = load_source(text).build_model()
    assert list(exported.state_dict()) == list(differing.state_dict())


def test_nested_penalties_reach_the_layers_inside_blocks() -> None:
    spec, model = nested_network(penalties=True)
    exported = load_source(pytorch_source(spec, model=model)).build_model()
    exported.load_state_dict(model.state_dict())
    kernel = model.parallel_1.branches[2].residual_5.body.conv2d_9.conv.weight
    dense = model.dense_3.linear.weight
    with torch.no_grad():
        expected = 0.01 * kernel.abs().sum() + 0.001 * dense.square().sum()
        torch.testing.assert_close(exported.penalty(), expected)


def test_attribute_paths_index_copies_and_branches() -> None:
    assert attribute_path("residual_2.1.body.conv2d_4") == ".residual_2[1].body.conv2d_4"
    assert attribute_path("parallel_1.branches.1.conv2d_5.conv.weight") == (
        ".parallel_1.branches[1].conv2d_5.conv.weight"
    )


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_the_exported_nested_network_can_be_scripted(tmp_path: Path) -> None:
    spec, model = nested_network()
    path = tmp_path / "nested_model.py"  # TorchScript reads the source from a file
    path.write_text(pytorch_source(spec, model=model), encoding="utf-8")
    loader = importlib.util.spec_from_file_location("nested_model", path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    exported = module.build_model()
    exported.load_state_dict(model.state_dict())
    scripted = torch.jit.script(exported.eval())
    inputs = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(scripted(inputs), model(inputs), atol=1e-6, rtol=0)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_every_exported_file_is_as_ruff_formats_and_lints_it(tmp_path: Path) -> None:
    from tests.core.test_export_nested_specs import block_specs
    from tests.core.test_export_source import coverage_specs

    spec, model = nested_network(penalties=True)
    (tmp_path / "hand_made.py").write_text(pytorch_source(spec, model=model), encoding="utf-8")
    specs = [*coverage_specs(), *block_specs(), *(load_template(n) for n in template_names())]
    for index, spec in enumerate(specs):
        export_pytorch_source(spec, tmp_path / f"model_{index}.py")
    length = f"--line-length={LINE_LENGTH}"
    for command in (["format", "--diff"], ["check", "--select=E,F,W,I"]):
        result = subprocess.run(
            ["ruff", *command, "--isolated", length, str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_torchscript_and_onnx_of_a_nested_network_match_torch(tmp_path: Path) -> None:
    _, model = nested_network()
    inputs = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = model(inputs)
    export_torchscript(model, tmp_path / "model.pt")
    loaded = torch.jit.load(str(tmp_path / "model.pt"))
    assert list(loaded.state_dict()) == list(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(loaded(inputs), expected, atol=1e-6, rtol=0)
    ort = pytest.importorskip("onnxruntime")
    export_onnx(model, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"images": inputs.numpy()})
    np.testing.assert_allclose(logits, expected.numpy(), rtol=1e-4, atol=1e-5)
