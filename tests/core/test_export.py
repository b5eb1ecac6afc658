"""Exported PyTorch source, TorchScript and ONNX compute what the app's network computes."""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.core.builder import Network, build_model
from explorer.core.export import (
    ONNX_INSTALL_HINT,
    OnnxUnavailableError,
    export_onnx,
    export_pytorch_source,
    export_torchscript,
    export_weights,
)
from explorer.core.spec import InputSpec, NetworkSpec
from explorer.core.templates import load_template, template_names
from tests.processes import run_python

BATCH = 3


def reduced_template(name: str) -> NetworkSpec:
    """The template, with VGG16 at 32×32 so its test stays fast (same layers and names)."""
    spec = load_template(name)
    if name == "vgg16":
        spec = dataclasses.replace(spec, input=InputSpec(3, 32, 32))
    return spec


def trained_looking(spec: NetworkSpec, seed: int = 1) -> Network:
    """A model whose every tensor, BatchNorm statistics included, is non-default."""
    model = build_model(spec, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(torch.randn(buffer.shape, generator=generator) * 0.1)
            elif name.endswith("running_var"):
                buffer.copy_(torch.rand(buffer.shape, generator=generator) + 0.5)
    return model.eval()


FRESH_INTERPRETER_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    import torch

    cases = json.loads(sys.argv[1])
    for case in cases:
        spec = importlib.util.spec_from_file_location(case["module"], case["source"])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.build_model()
        model.load_state_dict(torch.load(case["weights"], weights_only=True), strict=True)
        model.eval()
        inputs = torch.load(case["inputs"], weights_only=True)
        scripted = torch.jit.load(case["torchscript"])
        with torch.no_grad():
            torch.save(
                {"source": model(inputs), "torchscript": scripted(inputs),
                 "proba": model.predict_proba(inputs)},
                case["outputs"],
            )
    assert not any(name.split(".")[0] == "explorer" for name in sys.modules), "imported explorer"
    """
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Every template exported as source + weights + TorchScript, then run in ONE fresh
    interpreter that never sees this project (its folder is not on sys.path)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("exported")
    cases = []
    results: dict[str, dict[str, Path]] = {}
    for index, name in enumerate(template_names()):
        spec = reduced_template(name)
        model = trained_looking(spec)
        folder = root / name
        paths = {
            "module": f"exported_{index}",
            "source": folder / "model.py",
            "weights": folder / "weights.pt",
            "torchscript": folder / "model.torchscript.pt",
            "inputs": folder / "inputs.pt",
            "outputs": folder / "outputs.pt",
            "expected": folder / "expected.pt",
        }
        export_pytorch_source(spec, paths["source"], model=model)
        export_weights(model, paths["weights"])
        export_torchscript(model, paths["torchscript"])
        inputs = torch.randn(BATCH, *spec.input.shape, generator=torch.Generator().manual_seed(2))
        torch.save(inputs, paths["inputs"])
        with torch.no_grad():
            torch.save(
                {"logits": model(inputs), "proba": model.predict_proba(inputs)}, paths["expected"]
            )
        cases.append({key: str(value) for key, value in paths.items()})
        results[name] = {k: v for k, v in paths.items() if isinstance(v, Path)}
    completed = run_python(
        "-I", "-c", FRESH_INTERPRETER_SCRIPT, json.dumps(cases), cwd=root, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    return results


def _loaded(paths: dict[str, Path]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """What the fresh interpreter computed, and what the app computed, for one template."""
    return (
        torch.load(paths["outputs"], weights_only=True),
        torch.load(paths["expected"], weights_only=True),
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", template_names())
def test_exported_source_in_a_fresh_interpreter_matches_the_app(
    exported: dict[str, dict[str, Path]], name: str
) -> None:
    outputs, expected = _loaded(exported[name])
    assert outputs["source"].shape == expected["logits"].shape
    torch.testing.assert_close(outputs["source"], expected["logits"], atol=1e-6, rtol=0)
    torch.testing.assert_close(outputs["proba"], expected["proba"], atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", template_names())
def test_torchscript_in_a_fresh_interpreter_matches_the_app(
    exported: dict[str, dict[str, Path]], name: str
) -> None:
    outputs, expected = _loaded(exported[name])
    torch.testing.assert_close(outputs["torchscript"], expected["logits"], atol=1e-6, rtol=0)


def test_exported_source_imports_nothing_from_the_project(
    exported: dict[str, dict[str, Path]],
) -> None:
    for paths in exported.values():
        text = paths["source"].read_text(encoding="utf-8")
        assert "explorer" not in text.replace("CNN Explorer", "")
        compile(text, str(paths["source"]), "exec")


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_exported_torchscript_state_dict_has_the_app_keys(tmp_path: Path) -> None:
    spec = load_template("fashion-bn")
    model = trained_looking(spec)
    export_torchscript(model, tmp_path / "m.pt")
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    assert list(loaded.state_dict()) == list(model.state_dict())
    assert not loaded.training


@pytest.mark.slow
@pytest.mark.parametrize("name", template_names())
def test_onnx_export_runs_in_onnxruntime_with_any_batch_size(tmp_path: Path, name: str) -> None:
    ort = pytest.importorskip(
        "onnxruntime", reason="onnxruntime not installed: pip install 'cnn-explorer[onnx]'"
    )
    spec = reduced_template(name)
    model = trained_looking(spec)
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    # One self-contained file: no external-data sidecar beside it.
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert model.training is False
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (input_info,) = session.get_inputs()
    assert input_info.name == "images"
    for batch in (1, 5):  # the export's example batch was 2
        inputs = torch.randn(batch, *spec.input.shape, generator=torch.Generator().manual_seed(3))
        (logits,) = session.run(None, {"images": inputs.numpy()})
        with torch.no_grad():
            expected = model(inputs).numpy()
        assert logits.shape == expected.shape
        np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


def test_onnx_export_restores_training_mode(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    model = build_model(load_template("keras-mnist"), seed=0).train()
    export_onnx(model, tmp_path / "m.onnx")
    assert model.training


def test_onnx_export_without_the_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes `import onnx` raise ImportError, as when it is not installed.
    monkeypatch.setitem(sys.modules, "onnx", None)
    model = build_model(load_template("keras-mnist"), seed=0)
    with pytest.raises(OnnxUnavailableError) as raised:
        export_onnx(model, tmp_path / "m.onnx")
    assert 'pip install "cnn-explorer[onnx]"' in str(raised.value)
    assert str(raised.value) == ONNX_INSTALL_HINT
    assert not list(tmp_path.iterdir())
