"""`python main.py import MODEL.onnx -o PROJECT.json`, and .onnx files read as FILE."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from explorer.cli import main
from explorer.commands.base import EXIT_BAD_INPUT, EXIT_OK
from explorer.core.builder import build_model, build_with_weights
from explorer.core.export import export_onnx
from explorer.core.templates import load_template
from explorer.core.weights import load_project_weights

pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def lenet_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    model = build_model(load_template("lenet5"), seed=3).eval()
    path = tmp_path_factory.mktemp("onnx") / "lenet.onnx"
    export_onnx(model, path)
    return path, model


def test_import_writes_a_project_whose_weights_give_the_models_outputs(
    lenet_onnx: tuple[Path, torch.nn.Module], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, model = lenet_onnx
    project = tmp_path / "lenet.json"
    assert main(["import", str(path), "-o", str(project)]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"wrote {project}" in out and "61,706" in out  # LeNet-5's weights, as analysed
    spec, state = load_project_weights(project)
    assert state is not None
    rebuilt = build_with_weights(spec, state)
    images = torch.randn(2, *spec.input.shape)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(images), model(images), atol=1e-5, rtol=0)
    assert spec.input == load_template("lenet5").input


def test_an_onnx_file_is_read_wherever_a_project_file_is(
    lenet_onnx: tuple[Path, torch.nn.Module], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summary", str(lenet_onnx[0])]) == EXIT_OK
    assert "61,706" in capsys.readouterr().out


def test_an_unsupported_or_broken_file_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_text("not onnx")
    assert main(["import", str(broken), "-o", str(tmp_path / "p.json")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "not a readable ONNX model" in err and "Traceback" not in err
    assert not (tmp_path / "p.json").exists()
    assert main(["summary", str(broken)]) == EXIT_BAD_INPUT
    assert "not a readable ONNX model" in capsys.readouterr().err
