"""Which networks a run trains into which folders: one or an ensemble, new or continued."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from explorer.core.app.preparation import BadRunInput
from explorer.core.app.run_plan import (
    finished_model,
    plan_resume,
    plan_run,
    with_settings,
)
from explorer.core.app.training_run import start_run
from explorer.core.training.runs import RunSettings
from explorer.core.training_spec import MAX_ENSEMBLE
from tests.core.test_trainer import quadrant_dataset, tiny_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_one_network_trains_into_the_folder_itself(tmp_path: Path) -> None:
    plan = plan_run(tiny_spec(), tmp_path / "run", data_dir=tmp_path / "data")
    assert not plan.is_ensemble and not plan.resumed
    assert plan.members[0].folder.path == tmp_path / "run"
    assert plan.settings == RunSettings(data_dir=str((tmp_path / "data").resolve()), ensemble=1)


def test_an_ensemble_trains_members_with_seeds_counted_on(tmp_path: Path) -> None:
    spec = with_settings(tiny_spec(), {"seed": 5})
    plan = plan_run(spec, tmp_path / "run", ensemble=3)
    assert plan.is_ensemble and plan.settings.ensemble == 3
    assert [m.spec.training.seed for m in plan.members] == [5, 6, 7]
    assert [m.folder.path.name for m in plan.members] == ["member-1", "member-2", "member-3"]


def test_the_projects_ensemble_setting_sizes_the_run_and_members_train_alone(
    tmp_path: Path,
) -> None:
    spec = with_settings(tiny_spec(), {"ensemble": 4, "seed": 2})
    plan = plan_run(spec, tmp_path / "run")
    assert plan.settings.ensemble == 4 and len(plan.members) == 4
    assert [m.spec.training.ensemble for m in plan.members] == [1, 1, 1, 1]
    assert [m.spec.training.seed for m in plan.members] == [2, 3, 4, 5]
    assert len(plan_run(spec, tmp_path / "other", ensemble=1).members) == 1


@pytest.mark.parametrize("size", [0, MAX_ENSEMBLE + 1])
def test_an_ensemble_size_out_of_range_is_bad_input(tmp_path: Path, size: int) -> None:
    with pytest.raises(BadRunInput, match=f"got {size}"):
        plan_run(tiny_spec(), tmp_path, ensemble=size)


def test_a_setting_out_of_range_is_bad_input() -> None:
    with pytest.raises(BadRunInput, match="learning_rate"):
        with_settings(tiny_spec(), {"learning_rate": -1.0})


def test_a_continued_run_may_change_only_its_length_device_and_threads(tmp_path: Path) -> None:
    with pytest.raises(BadRunInput, match="not learning_rate"):
        plan_resume(tmp_path, {"epochs": 3, "learning_rate": 0.1})


def test_a_folder_without_a_checkpoint_cannot_continue(tmp_path: Path) -> None:
    with pytest.raises(BadRunInput, match="no checkpoint"):
        plan_resume(tmp_path / "nothing here", {})


def test_a_continued_ensemble_rebuilds_its_finished_member_and_trains_the_rest(
    tmp_path: Path,
) -> None:
    dataset = quadrant_dataset()
    plan = plan_run(tiny_spec(epochs=1), tmp_path / "run", ensemble=2)
    plan.root.create(plan.spec, plan.settings)
    first = plan.members[0]
    trained = start_run(first.spec, dataset, first.folder)
    list(trained.events())

    resumed = plan_resume(tmp_path / "run", {"threads": 1})
    assert resumed.resumed and len(resumed.members) == 2
    done, waiting = resumed.members
    assert done.finished and done.checkpoint is not None
    assert not waiting.finished and waiting.checkpoint is None
    assert waiting.spec.training.seed == 1 and waiting.spec.training.threads == 1
    model = finished_model(done, torch.device("cpu"))
    for name, tensor in trained.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor)
