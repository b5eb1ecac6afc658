"""Projects saved with their trained weights reopen as the same network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from explorer.core.builder import build_model
from explorer.core.project import ProjectError, load_project, read_project
from explorer.core.templates import load_template
from explorer.core.weights import (
    WeightsError,
    load_project_weights,
    load_state_dict,
    save_project_with_weights,
)


def test_saved_weights_reopen_to_identical_outputs(tmp_path: Path) -> None:
    spec = load_template("fashion-bn")
    model = build_model(spec, seed=3)
    with torch.no_grad():
        model.train()(torch.randn(16, *spec.input.shape))  # non-default BatchNorm statistics
    model.eval()
    weights_path = save_project_with_weights(spec, model.state_dict(), tmp_path / "net.json")

    data = json.loads((tmp_path / "net.json").read_text(encoding="utf-8"))
    assert data["weights"] == "net.weights.pt" == weights_path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", "net.weights.pt"]

    loaded_spec, state = load_project_weights(tmp_path / "net.json")
    assert loaded_spec == spec
    assert state is not None
    restored = build_model(loaded_spec)
    restored.load_state_dict(state, strict=True)
    restored.eval()
    inputs = torch.randn(5, *spec.input.shape)
    with torch.no_grad():
        assert torch.equal(restored(inputs), model(inputs))


def test_a_project_without_weights_opens_with_none(tmp_path: Path) -> None:
    from explorer.core.project import save_project

    save_project(load_template("keras-mnist"), tmp_path / "plain.json")
    spec, state = load_project_weights(tmp_path / "plain.json")
    assert state is None
    assert spec == load_template("keras-mnist")


def test_weights_for_another_network_are_refused_with_the_reason(tmp_path: Path) -> None:
    save_project_with_weights(
        load_template("keras-mnist"),
        build_model(load_template("keras-mnist"), seed=0).state_dict(),
        tmp_path / "net.json",
    )
    # Point the project at a different network while keeping the old weights file.
    data = json.loads((tmp_path / "net.json").read_text(encoding="utf-8"))
    data["layers"][0]["filters"] = 8
    (tmp_path / "net.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(WeightsError) as raised:
        load_project_weights(tmp_path / "net.json")
    message = str(raised.value)
    assert "net.weights.pt" in message
    assert "conv2d_1.conv.weight has shape (32, 1, 5, 5), the network needs (8, 1, 5, 5)" in message


def test_saving_weights_that_do_not_fit_writes_nothing(tmp_path: Path) -> None:
    wrong = build_model(load_template("lenet5"), seed=0).state_dict()
    with pytest.raises(WeightsError, match="missing"):
        save_project_with_weights(load_template("keras-mnist"), wrong, tmp_path / "net.json")
    assert not list(tmp_path.iterdir())


def test_a_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    save_project_with_weights(spec, build_model(spec).state_dict(), tmp_path / "net.json")
    (tmp_path / "net.weights.pt").unlink()
    with pytest.raises(WeightsError, match="no such weights file"):
        load_project_weights(tmp_path / "net.json")


def test_a_weights_file_holding_code_is_refused(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    save_project_with_weights(spec, build_model(spec).state_dict(), tmp_path / "net.json")
    # A pickled object that is not plain tensors: weights_only loading must reject it.
    torch.save({"model": Path("x")}, tmp_path / "net.weights.pt")
    with pytest.raises(WeightsError, match="safely"):
        load_project_weights(tmp_path / "net.json")


def test_the_project_module_round_trips_the_weights_name_and_rejects_paths(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    save_project_with_weights(spec, build_model(spec).state_dict(), tmp_path / "a.json")
    assert read_project(tmp_path / "a.json") == (spec, "a.weights.pt")
    assert load_project(tmp_path / "a.json") == spec
    data = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    for bad in ("../elsewhere.pt", "/etc/passwd", "", 3):
        data["weights"] = bad
        (tmp_path / "b.json").write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(ProjectError, match="'weights' must be a file name"):
            load_project(tmp_path / "b.json")


def test_checkpoints_and_run_folders_give_their_state_dict(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    state = build_model(spec, seed=4).state_dict()
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": state, "epoch": 3, "optimizer": {}}, run / "checkpoint.pt")
    for source in (run, run / "checkpoint.pt"):
        loaded = load_state_dict(source)
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[k], state[k]) for k in state)
    with pytest.raises(WeightsError, match="no checkpoint in this folder"):
        load_state_dict(tmp_path)
