"""An ensemble saved with its project reopens as the same members, and a killed save never
leaves a project whose weights are not its own."""

from __future__ import annotations

import errno
import json
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from explorer.core.builder import build_model
from explorer.core.ensemble import Ensemble, build_ensemble, ensemble_state, member_states
from explorer.core.project import parse_project, read_project
from explorer.core.spec import NetworkSpec
from explorer.core.templates import load_template
from explorer.core.weights import (
    WeightsError,
    check_weights,
    load_project_members,
    load_project_weights,
    load_weights,
    save_project_with_weights,
)
from tests.faults import disk_with_room

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ensemble_spec(size: int = 3, name: str = "fashion-bn") -> NetworkSpec:
    spec = load_template(name)
    return replace(spec, training=spec.training.with_values(ensemble=size))


def trained_members(spec: NetworkSpec, size: int) -> list[dict[str, torch.Tensor]]:
    """Members whose every tensor, BatchNorm statistics included, differs between them."""
    members = []
    for seed in range(size):
        model = build_model(spec, seed=seed)
        with torch.no_grad():
            model.train()(torch.randn(8, *spec.input.shape) + seed)  # their own statistics
        members.append(model.eval().state_dict())
    return members


def test_a_saved_ensemble_reopens_as_the_same_members_and_the_same_output(
    tmp_path: Path,
) -> None:
    spec = ensemble_spec(3)
    members = trained_members(spec, 3)
    path = tmp_path / "net.json"
    weights = save_project_with_weights(spec, members[1], path, members=members)
    # One weights file, named by its hash, as for one network.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.json", weights.name]
    raw = torch.load(weights, weights_only=True)
    assert sorted(raw) == sorted(Ensemble([build_model(spec) for _ in range(3)]).state_dict())

    loaded_spec, state, loaded = load_project_members(path)
    assert loaded_spec == spec and len(loaded) == 3
    for original, reopened in zip(members, loaded, strict=True):
        assert reopened.keys() == original.keys()
        assert all(torch.equal(reopened[k], v) for k, v in original.items())
    assert state is loaded[0]  # the member shown by default
    inputs = torch.randn(5, *spec.input.shape, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = build_ensemble(spec, members)(inputs)
        assert torch.equal(build_ensemble(loaded_spec, loaded)(inputs), expected)
    # Callers that know one network get the first member's weights.
    assert all(torch.equal(load_project_weights(path)[1][k], v) for k, v in members[0].items())


def test_a_single_network_is_saved_as_before(tmp_path: Path) -> None:
    spec = ensemble_spec(3)  # the setting alone makes no ensemble: one network was trained
    state = build_model(spec, seed=0).state_dict()
    weights = save_project_with_weights(spec, state, tmp_path / "net.json")
    assert sorted(torch.load(weights, weights_only=True)) == sorted(state)
    assert load_project_members(tmp_path / "net.json")[2] == ()


def test_an_ensemble_of_another_size_than_the_projects_setting_is_refused(
    tmp_path: Path,
) -> None:
    spec = ensemble_spec(3)
    members = trained_members(spec, 3)
    with pytest.raises(WeightsError, match=r"ensemble of 2 networks.*setting is 3"):
        save_project_with_weights(spec, members[0], tmp_path / "net.json", members=members[:2])
    assert list(tmp_path.iterdir()) == []  # nothing written

    path = tmp_path / "net.json"
    save_project_with_weights(spec, members[0], path, members=members)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["training"]["ensemble"] = 4  # edited by hand: the weights file is unchanged
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(WeightsError, match=r"ensemble of 3 networks.*setting is 4") as caught:
        load_project_members(path)
    assert caught.value.spec is not None and caught.value.spec.training.ensemble == 4


def test_a_member_that_does_not_fit_is_named(tmp_path: Path) -> None:
    spec = ensemble_spec(2)
    other = load_template("keras-mnist")
    members = [build_model(spec).state_dict(), build_model(other).state_dict()]
    with pytest.raises(WeightsError, match="do not match"):
        save_project_with_weights(spec, members[0], tmp_path / "a.json", members=members)
    torch.save(ensemble_state(members), tmp_path / "mixed.pt")
    with pytest.raises(WeightsError, match=r"mixed\.pt: ensemble member 2: .*do not match"):
        load_weights(tmp_path / "mixed.pt", spec)


def test_member_keys_split_only_an_ensembles_state() -> None:
    spec = load_template("keras-mnist")
    members = [build_model(spec, seed=s).state_dict() for s in range(3)]
    joined = ensemble_state(members)
    split = member_states(joined)
    assert split is not None and [list(m) for m in split] == [list(m) for m in members]
    assert member_states(members[0]) is None  # a network's own keys
    assert member_states(ensemble_state(members[:1])) is None  # one member
    gap = {k: v for k, v in joined.items() if not k.startswith("members.1.")}
    assert member_states(gap) is None  # members 0 and 2 only


@pytest.mark.slow
def test_an_ensemble_run_folder_gives_every_members_weights(tmp_path: Path) -> None:
    from explorer.cli import main
    from explorer.core.project import load_project
    from explorer.core.weights import load_state_dict
    from tests.core.test_train_command import tiny_train_argv

    run, argv = tiny_train_argv(tmp_path, ["--ensemble", "2"])
    assert main(argv) == 0
    spec = load_project(run / "project.json")
    state, members = load_weights(run, spec)
    assert len(members) == 2 and state is members[0]
    for k, member in enumerate(members, start=1):
        kept = load_state_dict(run / f"member-{k}")  # what the member's run kept
        assert all(torch.equal(member[key], value) for key, value in kept.items())
    assert any(not torch.equal(members[0][key], members[1][key]) for key in members[0])
    # A member's own folder is one network.
    assert load_weights(run / "member-2", spec)[1] == ()


def test_a_full_disk_keeps_the_saved_ensemble(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = ensemble_spec(3)
    members = trained_members(spec, 3)
    path = tmp_path / "net.json"
    save_project_with_weights(spec, members[0], path, members=members)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    others = trained_members(spec, 4)[1:]
    with monkeypatch.context() as patch:
        disk_with_room(patch, 200_000)  # more than one member needs, less than three
        with pytest.raises(OSError) as raised:
            save_project_with_weights(spec, others[0], path, members=others)
        assert raised.value.errno == errno.ENOSPC
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    loaded = load_project_members(path)[2]
    assert all(torch.equal(loaded[2][k], v) for k, v in members[2].items())


# ---- killed saves ---------------------------------------------------------------------------

KILLS = 8


def _kill_test_spec(units: int, save: int) -> NetworkSpec:
    """Two architectures that need different weights, ensembles of 2 or 3; the name says
    which save this is, and every tensor of member k is filled with save + k / 10."""
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
            "training": {"ensemble": 2 if units == 64 else 3},
        }
    )


def _filled_members(spec: NetworkSpec, save: float) -> list[dict[str, torch.Tensor]]:
    shapes = build_model(spec).state_dict()
    return [
        {key: torch.full_like(t, save + k / 10) for key, t in shapes.items()}
        for k in range(spec.training.ensemble)
    ]


def _save_until_killed(folder: str, first: int, saved: Any) -> None:
    """Runs in a child process: save an ensemble over and over, switching architecture and
    size every time, until the parent kills it; `saved` is set after the first save."""
    torch.set_num_threads(1)
    save = first
    while True:
        spec = _kill_test_spec(64 if save % 2 else 96, save)
        members = _filled_members(spec, float(save))
        save_project_with_weights(spec, members[0], Path(folder) / "net.json", members=members)
        saved.set()
        save += 1


@pytest.mark.slow
def test_killed_ensemble_saves_leave_a_project_whose_members_are_its_own(tmp_path: Path) -> None:
    import multiprocessing
    import random

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "explorer.core.weights", __name__])
    path = tmp_path / "net.json"
    spec = _kill_test_spec(96, 0)
    members = _filled_members(spec, 0.0)
    save_project_with_weights(spec, members[0], path, members=members)
    rng = random.Random(18)
    saves, with_leftovers = set(), 0
    for kill in range(KILLS):
        saved = context.Event()
        child = context.Process(
            target=_save_until_killed, args=(str(tmp_path), 1000 * kill + 1, saved)
        )
        child.start()
        assert saved.wait(120)  # however busy the machine, one save is done...
        time.sleep(rng.uniform(0.0, 0.2))  # ...and the kill lands at any point of the next ones
        child.kill()
        child.join()
        assert child.exitcode == -signal.SIGKILL
        loaded_spec, _, loaded = load_project_members(path)  # never "another version"
        save = float(loaded_spec.name.split()[1])
        saves.add(save)
        assert len(loaded) == loaded_spec.training.ensemble  # 2 or 3, as that save wrote
        for k, member in enumerate(loaded):
            check_weights(loaded_spec, member)
            assert all(torch.all(t == torch.tensor(save + k / 10)) for t in member.values())
        named = read_project(path)[1]
        with_leftovers += {p.name for p in tmp_path.iterdir()} != {"net.json", named}
    print(f"{KILLS} killed ensemble saves, {with_leftovers} in the middle of one: {sorted(saves)}")
    assert 0.0 not in saves  # every kill came after a save of its own
