"""Projects saved with their trained weights reopen as the same network."""

from __future__ import annotations

import errno
import hashlib
import json
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from explorer.core.builder import build_model
from explorer.core.project import (
    ProjectError,
    load_project,
    parse_project,
    read_project,
    save_project,
)
from explorer.core.spec import NetworkSpec
from explorer.core.templates import load_template
from explorer.core.weights import (
    WeightsError,
    check_weights,
    load_project_weights,
    load_state_dict,
    save_project_with_weights,
)
from tests.faults import disk_with_room


def test_saved_weights_reopen_to_identical_outputs(tmp_path: Path) -> None:
    spec = load_template("fashion-bn")
    model = build_model(spec, seed=3)
    with torch.no_grad():
        model.train()(torch.randn(16, *spec.input.shape))  # non-default BatchNorm statistics
    model.eval()
    weights_path = save_project_with_weights(spec, model.state_dict(), tmp_path / "net.json")

    data = json.loads((tmp_path / "net.json").read_text(encoding="utf-8"))
    # Named by its hash, which the project records: the pair is committed by one rename.
    assert data["weights"] == weights_path.name == f"net.weights-{data['weights_sha256'][:16]}.pt"
    assert data["weights_sha256"] == hashlib.sha256(weights_path.read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", weights_path.name]

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
    assert "net.weights-" in message
    assert "conv2d_1.conv.weight has shape (32, 1, 5, 5), the network needs (8, 1, 5, 5)" in message


def test_saving_weights_that_do_not_fit_writes_nothing(tmp_path: Path) -> None:
    wrong = build_model(load_template("lenet5"), seed=0).state_dict()
    with pytest.raises(WeightsError, match="missing"):
        save_project_with_weights(load_template("keras-mnist"), wrong, tmp_path / "net.json")
    assert not list(tmp_path.iterdir())


def test_a_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    weights = save_project_with_weights(spec, build_model(spec).state_dict(), tmp_path / "net.json")
    weights.unlink()
    with pytest.raises(WeightsError, match="no such weights file") as raised:
        load_project_weights(tmp_path / "net.json")
    assert raised.value.spec == spec  # the network is kept, only the weights are dropped


def test_weights_replaced_by_another_version_keep_the_network_and_say_so(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    weights = save_project_with_weights(
        spec, build_model(spec, seed=0).state_dict(), tmp_path / "n.json"
    )
    # Weights of the same shapes, but not the ones this project saved.
    torch.save(build_model(spec, seed=1).state_dict(), weights)
    with pytest.raises(WeightsError, match="from another version of the project") as raised:
        load_project_weights(tmp_path / "n.json")
    assert str(weights) in str(raised.value)
    assert raised.value.spec == spec


def test_a_weights_file_holding_code_is_refused(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    weights = save_project_with_weights(spec, build_model(spec).state_dict(), tmp_path / "net.json")
    # A pickled object that is not plain tensors, in a project without a recorded hash (as
    # older versions saved): weights_only loading must reject it.
    torch.save({"model": Path("x")}, weights)
    data = json.loads((tmp_path / "net.json").read_text(encoding="utf-8"))
    del data["weights_sha256"]
    (tmp_path / "net.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(WeightsError, match="safely"):
        load_project_weights(tmp_path / "net.json")


def test_the_project_module_round_trips_the_weights_name_and_rejects_paths(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    weights = save_project_with_weights(spec, build_model(spec).state_dict(), tmp_path / "a.json")
    assert read_project(tmp_path / "a.json") == (spec, weights.name)
    assert load_project(tmp_path / "a.json") == spec
    data = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    for bad in ("../elsewhere.pt", "/etc/passwd", "", 3):
        data["weights"] = bad
        (tmp_path / "b.json").write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(ProjectError, match="'weights' must be a file name"):
            load_project(tmp_path / "b.json")
    data["weights"] = "w" * 300 + ".pt"  # longer than any file system allows
    (tmp_path / "b.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProjectError, match=r"'weights': the file name 'www.*longer than 255 bytes"):
        load_project(tmp_path / "b.json")
    data["weights"], data["weights_sha256"] = "a.pt", "12ab"
    (tmp_path / "b.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProjectError, match="'weights_sha256' must be 64 hexadecimal digits"):
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


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_projects_saved_before_the_hash_still_load_and_are_upgraded_on_save(
    tmp_path: Path,
) -> None:
    spec = load_template("keras-mnist")
    state = build_model(spec, seed=2).state_dict()
    # What earlier versions wrote: net.weights.pt, named without a hash.
    save_project(spec, tmp_path / "net.json", weights="net.weights.pt")
    torch.save(state, tmp_path / "net.weights.pt")
    loaded_spec, loaded = load_project_weights(tmp_path / "net.json")
    assert loaded_spec == spec and loaded is not None
    assert all(torch.equal(loaded[key], value) for key, value in state.items())

    weights = save_project_with_weights(spec, state, tmp_path / "net.json")
    assert _names(tmp_path) == ["net.json", weights.name]  # the old file was replaced
    assert load_project_weights(tmp_path / "net.json")[1] is not None


def test_the_next_save_removes_what_killed_saves_left(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    first = save_project_with_weights(
        spec, build_model(spec, seed=0).state_dict(), tmp_path / "net.json"
    )
    leftovers = [
        ".net.0a1b2c3d.tmp.json",  # the JSON's temporary
        ".net.weights.deadbeef.tmp.pt",  # a weights temporary
        "net.weights-0123456789abcdef.pt",  # weights renamed into place, never committed
    ]
    for name in leftovers:
        (tmp_path / name).write_bytes(b"x" * 1000)
    # Files the save did not write stay, even when their names look alike.
    others = ["notes.txt", "other.weights-0123456789abcdef.pt", ".net.weights.pt.bak"]
    for name in others:
        (tmp_path / name).write_text("mine")

    second = save_project_with_weights(
        spec, build_model(spec, seed=1).state_dict(), tmp_path / "net.json"
    )
    assert second != first
    assert _names(tmp_path) == sorted(["net.json", second.name, *others])
    # A save without weights removes leftovers too, and keeps the weights that still fit.
    (tmp_path / leftovers[0]).write_text("{")
    save_project(replace(spec, name="renamed"), tmp_path / "net.json", keep_weights=True)
    assert _names(tmp_path) == sorted(["net.json", second.name, *others])
    assert load_project_weights(tmp_path / "net.json")[1] is not None


def test_saving_another_network_without_weights_drops_the_old_ones(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    save_project_with_weights(spec, build_model(spec).state_dict(), tmp_path / "net.json")
    changed = spec.replace_layer(0, spec.layers[0].with_values(filters=8))
    save_project(changed, tmp_path / "net.json", keep_weights=True)
    assert _names(tmp_path) == ["net.json"]
    assert load_project_weights(tmp_path / "net.json") == (changed, None)


@pytest.mark.parametrize("room", [0, 10_000, 50_000])
def test_a_full_disk_fails_the_save_with_oserror_and_keeps_the_old_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    from explorer.core import weights as weights_module

    spec = load_template("keras-mnist")
    old_state = build_model(spec, seed=0).state_dict()
    save_project_with_weights(spec, old_state, tmp_path / "net.json")
    before = {name: (tmp_path / name).read_bytes() for name in _names(tmp_path)}

    changed = spec.replace_layer(0, spec.layers[0].with_values(filters=8))
    with monkeypatch.context() as patch:
        disk_with_room(patch, room)
        with pytest.raises(OSError) as raised:
            save_project_with_weights(
                changed, build_model(changed).state_dict(), tmp_path / "net.json"
            )
        assert raised.value.errno == errno.ENOSPC  # the cause, not torch's RuntimeError
        disk_with_room(patch, room)
        with pytest.raises(OSError) as raised:
            weights_module.save_state_dict(old_state, tmp_path / "export.pt")
        assert raised.value.errno == errno.ENOSPC

    assert {name: (tmp_path / name).read_bytes() for name in _names(tmp_path)} == before
    loaded_spec, loaded = load_project_weights(tmp_path / "net.json")
    assert loaded_spec == spec and loaded is not None
    assert all(torch.equal(loaded[key], value) for key, value in old_state.items())


# ---- killed saves ---------------------------------------------------------------------------

KILLS = 50


def _kill_test_spec(units: int, save: int) -> NetworkSpec:
    """Two architectures (units 64 or 96) that need different weights; the name says which
    save this is, and every tensor the save writes is filled with that number."""
    return parse_project(
        {
            "format": "cnn-explorer",
            "version": 1,
            "name": f"save {save}",
            "input": {"channels": 1, "height": 28, "width": 28},
            "layers": [
                {"type": "Flatten"},
                {"type": "Dense", "units": units, "activation": "relu"},
                {"type": "Dense", "units": 10},
            ],
        }
    )


def _filled_state(spec: NetworkSpec, value: float) -> dict[str, torch.Tensor]:
    return {key: torch.full_like(t, value) for key, t in build_model(spec).state_dict().items()}


def _save_until_killed(folder: str, first: int) -> None:
    """Runs in a child process: save with weights over and over, switching architecture
    every time, until the parent kills it."""
    torch.set_num_threads(1)
    save = first
    while True:
        spec = _kill_test_spec(64 if save % 2 else 96, save)
        save_project_with_weights(spec, _filled_state(spec, float(save)), Path(folder) / "net.json")
        save += 1


@pytest.mark.slow
def test_killed_saves_leave_a_project_whose_weights_are_its_own(tmp_path: Path) -> None:
    import multiprocessing
    import random

    context = multiprocessing.get_context("forkserver")
    # The server imports torch once; each child is a fork of it, killed with SIGKILL.
    context.set_forkserver_preload(["torch", "explorer.core.weights", __name__])
    path = tmp_path / "net.json"
    spec = _kill_test_spec(96, 0)
    save_project_with_weights(spec, _filled_state(spec, 0.0), path)
    rng = random.Random(12)
    counts = {"kills": 0, "matching": 0, "another version": 0, "with leftovers": 0}
    for kill in range(KILLS):
        child = context.Process(target=_save_until_killed, args=(str(tmp_path), 1000 * kill + 1))
        child.start()
        time.sleep(rng.uniform(0.0, 0.25))
        child.kill()
        child.join()
        assert child.exitcode == -signal.SIGKILL
        counts["kills"] += 1
        try:
            loaded_spec, state = load_project_weights(path)
        except WeightsError as error:
            assert "from another version" in str(error), str(error)
            assert error.spec is not None
            counts["another version"] += 1
        else:
            assert state is not None
            check_weights(loaded_spec, state)  # fits the network it is saved with...
            save = float(loaded_spec.name.split()[1])
            assert all(torch.all(t == save) for t in state.values())  # ...and is that save's
            counts["matching"] += 1
        weights_name = read_project(path)[1]
        if set(_names(tmp_path)) != {"net.json", weights_name}:
            counts["with leftovers"] += 1
    print(f"killed saves: {counts}")
    assert counts["matching"] == KILLS
    # The next save removes every leftover of the killed ones.
    final = save_project_with_weights(spec, _filled_state(spec, 7.0), path)
    assert _names(tmp_path) == ["net.json", final.name]


def test_a_project_name_near_the_file_name_limit_still_saves_its_weights(tmp_path: Path) -> None:
    spec = load_template("keras-mnist")
    # A 230-byte stem: room for the JSON and its temporary, not for stem + ".weights-…pt".
    path = tmp_path / ("é" * 115 + ".json")
    weights = save_project_with_weights(spec, build_model(spec).state_dict(), path)
    assert len(weights.name.encode()) <= 255
    assert load_project_weights(path)[1] is not None
    again = save_project_with_weights(spec, build_model(spec, seed=1).state_dict(), path)
    assert _names(tmp_path) == sorted([path.name, again.name])


@pytest.mark.usefixtures("one_torch_thread")
def test_a_run_folders_weights_are_the_ones_the_run_kept(tmp_path: Path) -> None:
    """Loading a run's checkpoint gives its result: the moving average, or early stopping's
    best weights, never the raw last weights training would continue from."""
    from explorer.core.training import Trainer, load_checkpoint
    from tests.core.test_trainer import quadrant_dataset, tiny_spec
    from tests.core.test_trainer_fast import batch_norm_spec, overfitting_dataset

    averaged = tmp_path / "averaged"
    averaged.mkdir()
    trainer = Trainer(
        batch_norm_spec(epochs=2, ema_decay=0.9),
        quadrant_dataset(),
        checkpoint_path=averaged / "checkpoint.pt",
    )
    list(trainer.run())
    stopped = tmp_path / "stopped.pt"
    early = Trainer(
        tiny_spec(epochs=40, optimizer="adam", learning_rate=0.02, early_stopping_patience=3),
        overfitting_dataset(),
        checkpoint_path=stopped,
    )
    list(early.run())
    for path, run in ((averaged, trainer), (stopped, early)):
        loaded = load_state_dict(path)
        raw = load_checkpoint(path if path.is_file() else path / "checkpoint.pt").model_state
        assert set(loaded) == set(run.model.state_dict())
        for key, value in run.model.state_dict().items():
            assert torch.equal(loaded[key], value), key
        assert any(not torch.equal(loaded[key], value) for key, value in raw.items())
        check_weights(run.spec, loaded)
