"""An ensemble exports as one module that averages its members' probabilities: PyTorch
source, TorchScript and ONNX compute what the app's `Ensemble` computes, in a fresh
interpreter that never sees this project."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.cli import main
from explorer.core.builder import build_model
from explorer.core.ensemble import build_ensemble
from explorer.core.export.ensemble_export import export_ensemble
from explorer.core.export.layout import LINE_LENGTH
from explorer.core.spec import NetworkSpec
from explorer.core.templates import load_template
from explorer.core.weights import save_project_with_weights
from tests.core.test_export import trained_looking
from tests.processes import run_python

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 3

FRESH_INTERPRETER_SCRIPT = textwrap.dedent(
    """
    import importlib.util, sys
    import numpy as np
    import onnxruntime
    import torch

    folder = sys.argv[1]
    spec = importlib.util.spec_from_file_location("ensemble", f"{folder}/ensemble.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ensemble = module.build_ensemble()
    ensemble.load_state_dict(torch.load(f"{folder}/ensemble.pt", weights_only=True), strict=True)
    ensemble.eval()
    inputs = torch.load(f"{folder}/inputs.pt", weights_only=True)
    scripted = torch.jit.load(f"{folder}/ensemble.torchscript.pt")
    session = onnxruntime.InferenceSession(
        f"{folder}/ensemble.onnx", providers=["CPUExecutionProvider"]
    )
    (onnx,) = session.run(None, {"images": inputs.numpy()})
    with torch.no_grad():
        torch.save(
            {
                "source": ensemble(inputs),
                "proba": ensemble.predict_proba(inputs),
                "torchscript": scripted(inputs),
                "torchscript_proba": scripted.predict_proba(inputs),
                "onnx": torch.from_numpy(np.ascontiguousarray(onnx)),
                "members": len(ensemble.members),
            },
            f"{folder}/outputs.pt",
        )
    assert not any(name.split(".")[0] == "explorer" for name in sys.modules), "imported explorer"
    """
)


def small_spec() -> NetworkSpec:
    """A small network with BatchNorm and dropout: its eval mode matters."""
    return load_template("fashion-bn")


def trained_looking_members(spec: NetworkSpec) -> list[dict[str, torch.Tensor]]:
    """Members whose every tensor, BatchNorm statistics included, is non-default and their
    own."""
    return [trained_looking(spec, seed=seed).state_dict() for seed in range(1, SIZE + 1)]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_source_torchscript_and_onnx_compute_the_apps_ensemble_in_a_fresh_interpreter(
    tmp_path: Path,
) -> None:
    pytest.importorskip("onnxruntime")
    spec = small_spec()
    members = trained_looking_members(spec)
    written = export_ensemble(spec, members, "pytorch", tmp_path / "ensemble.py")
    assert written == [tmp_path / "ensemble.py", tmp_path / "ensemble.pt"]
    export_ensemble(spec, members, "torchscript", tmp_path / "ensemble.torchscript.pt")
    export_ensemble(spec, members, "onnx", tmp_path / "ensemble.onnx")
    inputs = torch.randn(4, *spec.input.shape, generator=torch.Generator().manual_seed(9))
    torch.save(inputs, tmp_path / "inputs.pt")

    completed = run_python("-I", "-c", FRESH_INTERPRETER_SCRIPT, str(tmp_path), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    outputs = torch.load(tmp_path / "outputs.pt", weights_only=True)

    app = build_ensemble(spec, members)
    with torch.no_grad():
        expected, proba = app(inputs), app.predict_proba(inputs)
    assert outputs["members"] == SIZE
    for key in ("source", "torchscript", "onnx"):
        np.testing.assert_allclose(outputs[key].numpy(), expected.numpy(), rtol=0, atol=1e-5)
    for key in ("proba", "torchscript_proba"):
        np.testing.assert_allclose(outputs[key].numpy(), proba.numpy(), rtol=0, atol=1e-5)
    # The ensemble is not any one member: averaging changed the output.
    first = build_model(spec)
    first.load_state_dict(members[0])
    with torch.no_grad():
        assert not torch.allclose(torch.softmax(first.eval()(inputs), 1), proba, atol=1e-3)


def test_the_weights_export_is_the_apps_ensemble_state_dict(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    members = trained_looking_members(spec)
    export_ensemble(spec, members, "weights", tmp_path / "w.pt")
    saved = torch.load(tmp_path / "w.pt", weights_only=True)
    expected = build_ensemble(spec, members).state_dict()
    assert list(saved) == list(expected)
    assert all(torch.equal(saved[key], value) for key, value in expected.items())
    assert all(torch.equal(saved[f"members.2.{k}"], v) for k, v in members[2].items())


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_the_exported_source_is_as_ruff_formats_and_lints_it(tmp_path: Path) -> None:
    spec = small_spec()
    export_ensemble(spec, trained_looking_members(spec), "pytorch", tmp_path / "ensemble.py")
    length = f"--line-length={LINE_LENGTH}"
    for command in (["format", "--diff"], ["check", "--select=E,F,W,I"]):
        result = subprocess.run(
            ["ruff", *command, "--isolated", length, str(tmp_path / "ensemble.py")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_exported_program_loads_the_ensembles_weights_and_runs(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    export_ensemble(spec, trained_looking_members(spec), "pytorch", tmp_path / "ens.py")
    completed = run_python("-I", "ens.py", "--weights", "ens.pt", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "output shape: (2, 10)"


def test_export_of_a_saved_ensemble_project_writes_the_ensemble(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_template("keras-mnist")
    spec = replace(spec, training=spec.training.with_values(ensemble=SIZE))
    members = trained_looking_members(spec)
    save_project_with_weights(spec, members[0], tmp_path / "net.json", members=members)
    out = tmp_path / "exported.pt"
    argv = ["export", str(tmp_path / "net.json"), "--format", "weights", "-o", str(out)]
    assert main(argv) == 0
    assert "an ensemble of 3 networks" in capsys.readouterr().out
    saved = torch.load(out, weights_only=True)
    assert all(torch.equal(saved[f"members.1.{k}"], v) for k, v in members[1].items())


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_export_of_an_ensemble_run_folder_writes_the_ensemble(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from explorer.core.project import load_project
    from explorer.core.weights import load_state_dict
    from tests.core.test_train_command import tiny_train_argv

    run, argv = tiny_train_argv(tmp_path, ["--ensemble", "2"])
    assert main(argv) == 0
    capsys.readouterr()
    out = tmp_path / "ensemble.pt"
    project = str(run / "project.json")
    export = ["export", project, "--weights", str(run), "--format", "torchscript", "-o", str(out)]
    assert main(export) == 0
    assert f"an ensemble of 2 networks, trained weights from {run}" in capsys.readouterr().out

    spec = load_project(run / "project.json")
    members = [load_state_dict(run / f"member-{k}") for k in (1, 2)]
    inputs = torch.randn(3, *spec.input.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = build_ensemble(spec, members)(inputs)
        scripted = torch.jit.load(str(out))
        np.testing.assert_allclose(scripted(inputs).numpy(), expected.numpy(), atol=1e-5, rtol=0)


def test_explain_of_a_saved_ensemble_explains_its_first_member_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from explorer.core.attribution import attribution_model, explain
    from explorer.core.data import load_dataset
    from explorer.core.dataset_split import Split

    spec = load_template("keras-mnist")
    spec = replace(spec, training=spec.training.with_values(ensemble=SIZE))
    members = [build_model(spec, seed=20 + k).state_dict() for k in range(SIZE)]
    project = tmp_path / "net.json"
    save_project_with_weights(spec, members[0], project, members=members)
    npy = tmp_path / "map.npy"
    common = ["explain", str(project), "--dataset", "shapes", "--data-dir", str(tmp_path)]
    out = ["--test-index", "1", "--method", "saliency", "-o", str(tmp_path / "o.png")]
    assert main([*common, *out, "--array", str(npy)]) == 0
    printed = capsys.readouterr().out
    assert f"member 1 of an ensemble of 3, the weights saved with {project}" in printed
    dataset = load_dataset("shapes", data_dir=tmp_path, input_size=(28, 28), grayscale=True)
    image = dataset.sample(Split.TEST, 1)[0]
    expected = explain(attribution_model(spec, members[0]), image, "saliency")
    np.testing.assert_allclose(np.load(npy), expected.heat, rtol=1e-5, atol=1e-9)
