"""`python main.py export`: formats, trained weights, exit codes and messages."""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

import pytest
import torch

from explorer.cli import main
from explorer.commands.base import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK
from explorer.core.block_spec import BlockSpec
from explorer.core.builder import build_model
from explorer.core.export import export_pytorch_source
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, TrainingSpec
from explorer.core.templates import load_template
from explorer.core.weights import save_project_with_weights
from tests.processes import run_python


def test_weights_export_without_training_uses_the_project_seed_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "w.pt"
    assert main(["export", "--template", "keras-mnist", "--format", "weights", "-o", str(out)]) == 0
    assert "freshly initialised" in capsys.readouterr().out
    spec = load_template("keras-mnist")
    expected = build_model(spec, seed=spec.training.seed).state_dict()
    saved = torch.load(out, weights_only=True)
    assert saved.keys() == expected.keys()
    assert all(torch.equal(saved[key], expected[key]) for key in expected)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_trained_weights_from_a_run_folder_are_exported(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    trained = build_model(spec, seed=123).state_dict()
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": trained, "epoch": 2}, run / "checkpoint.pt")
    out = tmp_path / "model.pt"
    code = main(
        [
            "export",
            "--template",
            "keras-mnist",
            "--format",
            "torchscript",
            "-o",
            str(out),
            "--weights",
            str(run),
        ]
    )
    assert code == EXIT_OK
    scripted = torch.jit.load(str(out))
    inputs = torch.randn(2, 1, 28, 28)
    reference = build_model(spec)
    reference.load_state_dict(trained)
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(scripted(inputs), reference(inputs), atol=1e-6, rtol=0)


def test_pytorch_source_export_writes_a_python_file(tmp_path: Path) -> None:
    out = tmp_path / "lenet.py"
    assert main(["export", "--template", "lenet5", "--format", "pytorch", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    compile(text, str(out), "exec")
    assert "class LeNet5(nn.Module):" in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--template", "nope"], "unknown template 'nope'"),
        (["--template", "keras-mnist", "--weights", "/nonexistent/run"], "no such weights file"),
        (["--template", "lenet5", "--weights", "KERAS"], "do not match the network"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    if "KERAS" in arguments:
        torch.save(build_model(load_template("keras-mnist")).state_dict(), tmp_path / "k.pt")
        arguments = [str(tmp_path / "k.pt") if a == "KERAS" else a for a in arguments]
    out = tmp_path / "out.pt"
    code = main(["export", *arguments, "--format", "weights", "-o", str(out)])
    assert code == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_onnx_without_the_extra_exits_1_saying_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    code = main(
        ["export", "--template", "keras-mnist", "--format", "onnx", "-o", str(tmp_path / "m.onnx")]
    )
    assert code == EXIT_FAILURE
    assert 'pip install "cnn-explorer[onnx]"' in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_the_exported_training_script_trains_and_saves_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # "shapes" has no torchvision loader, so the script trains on stand-in random images
    # whether or not torchvision is installed, and needs no network access.
    spec = NetworkSpec(
        name="tiny",
        input=InputSpec(1, 8, 8),
        layers=(
            LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
            # A block with a penalised layer: the script trains what it holds too.
            BlockSpec.create(
                "Residual",
                {"repeat": 2},
                [
                    [
                        LayerSpec.create(
                            "Conv2D", {"filters": 4, "kernel_size": 3, "padding": 1, "l1": 0.001}
                        )
                    ]
                ],
            ),
            LayerSpec.create("Flatten"),
            LayerSpec.create("Dense", {"units": 10, "activation": "softmax", "l2": 0.001}),
        ),
        training=TrainingSpec.create({"dataset": "shapes", "optimizer": "adam", "batch_size": 50}),
    )
    export_pytorch_source(spec, tmp_path / "model.py")
    single_thread = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = run_python("-I", "model.py", "--epochs", "1", cwd=tmp_path, env=single_thread)
    assert completed.returncode == 0, completed.stderr
    assert "using random images" in completed.stdout
    assert "epoch 1/1" in completed.stdout
    trained = torch.load(tmp_path / "weights.pt", weights_only=True)
    build_model(spec).load_state_dict(trained, strict=True)
    # The script's --weights mode, run in this interpreter to spare a second torch start-up.
    monkeypatch.setattr(sys, "argv", ["model.py", "--weights", str(tmp_path / "weights.pt")])
    runpy.run_path(str(tmp_path / "model.py"), run_name="__main__")
    assert "output shape: (2, 10)" in capsys.readouterr().out


def test_a_project_saved_with_weights_exports_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_template("keras-mnist")
    trained = build_model(spec, seed=77).state_dict()
    save_project_with_weights(spec, trained, tmp_path / "net.json")
    out = tmp_path / "w.pt"
    code = main(["export", str(tmp_path / "net.json"), "--format", "weights", "-o", str(out)])
    assert code == EXIT_OK
    assert "net.json" in capsys.readouterr().out
    saved = torch.load(out, weights_only=True)
    assert all(torch.equal(saved[key], trained[key]) for key in trained)


def test_pytorch_source_with_trained_weights_writes_them_beside_it(tmp_path: Path) -> None:
    spec = load_template("lenet5")
    trained = build_model(spec, seed=123).state_dict()
    project = tmp_path / "net.json"
    save_project_with_weights(spec, trained, project)
    out = tmp_path / "lenet.py"
    assert main(["export", str(project), "--format", "pytorch", "-o", str(out)]) == 0
    beside = torch.load(tmp_path / "lenet.pt", weights_only=True)
    for key, value in trained.items():
        assert torch.equal(beside[key], value)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_a_project_with_blocks_exports_its_trained_weights_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.core.test_export_nested_specs import block_specs

    spec = block_specs()[0]
    trained = build_model(spec, seed=9).state_dict()
    project = tmp_path / "net.json"
    save_project_with_weights(spec, trained, project)
    assert json.loads(project.read_text(encoding="utf-8"))["version"] == 2
    reference = build_model(spec)
    reference.load_state_dict(trained)
    reference.eval()
    inputs = torch.randn(2, *spec.input.shape)
    with torch.no_grad():
        expected = reference(inputs)
    for fmt, name in (("torchscript", "scripted.pt"), ("pytorch", "model.py")):
        assert main(["export", str(project), "--format", fmt, "-o", str(tmp_path / name)]) == 0
        assert "trained weights from the weights saved with" in capsys.readouterr().out
    with torch.no_grad():
        scripted = torch.jit.load(str(tmp_path / "scripted.pt"))
        torch.testing.assert_close(scripted(inputs), expected, atol=1e-6, rtol=0)
    # The source with the weights written beside it (model.py + model.pt).
    exported = runpy.run_path(str(tmp_path / "model.py"))["build_model"]()  # not __main__
    exported.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True), strict=True)
    exported.eval()
    with torch.no_grad():
        assert torch.equal(exported(inputs), expected)
