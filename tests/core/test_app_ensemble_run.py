"""An ensemble's evaluation: the ensemble's and each member's, and where they disagree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.cli import main
from explorer.core.app.ensemble_run import (
    EnsembleEvaluation,
    evaluate_ensemble,
    finished_member_states,
)
from explorer.core.app.preparation import BadRunInput
from explorer.core.builder import build_model
from explorer.core.dataset_split import Split
from explorer.core.evaluation import summarise
from explorer.core.training import load_checkpoint
from tests.core.test_train_command import tiny_train_argv
from tests.core.test_trainer import quadrant_dataset, tiny_spec


def _evaluation(predicted: list[int], confidences: list[float], labels: list[int]) -> object:
    return summarise(
        Split.TEST,
        np.array(labels, dtype=np.int64),
        np.array(predicted, dtype=np.int64),
        np.array(confidences, dtype=np.float32),
        3,
    )


def test_the_galleries_list_where_the_ensemble_and_its_members_disagree() -> None:
    labels = [0, 1, 2, 0, 1, 2]
    ensemble = _evaluation([1, 1, 0, 2, 1, 2], [0.5, 0.9, 0.8, 0.4, 0.6, 0.7], labels)
    members = (
        _evaluation([0, 1, 2, 2, 0, 2], [0.9] * 6, labels),
        _evaluation([1, 0, 1, 2, 1, 2], [0.9] * 6, labels),
    )
    result = EnsembleEvaluation(ensemble, members)  # type: ignore[arg-type]
    # Wrong: images 0, 2 and 3; member 1 gets 0 and 2 right, nobody image 3. Surest first.
    assert result.wrong_but_some_member_right().tolist() == [2, 0]
    # Right: 1, 4 and 5; member 2 misses 1, member 1 misses 4, both get 5.
    assert result.right_but_some_member_wrong().tolist() == [1, 4]


def test_the_ensembles_evaluation_is_of_its_averaged_probabilities() -> None:
    torch.set_num_threads(1)
    spec = tiny_spec()
    dataset = quadrant_dataset()
    states = [build_model(spec, seed=seed).state_dict() for seed in (0, 1, 2)]
    result = evaluate_ensemble(spec, states, dataset)

    images = torch.cat([x for x, _ in dataset.batches(Split.TEST, 50)])
    labels = dataset.labels(Split.TEST).numpy()
    probabilities = []
    for state in states:
        model = build_model(spec)
        model.load_state_dict(state)
        model.eval()
        with torch.no_grad():
            probabilities.append(torch.softmax(model(images), 1).numpy())
    averaged = np.mean(probabilities, axis=0)
    assert result.ensemble.accuracy == pytest.approx((averaged.argmax(1) == labels).mean())
    expected_loss = -np.log(averaged[np.arange(len(labels)), labels]).mean()
    assert result.ensemble.loss == pytest.approx(expected_loss, rel=1e-5)
    assert np.allclose(result.ensemble.confidences, averaged.max(1), atol=1e-6)
    for member, probs in zip(result.members, probabilities, strict=True):
        assert np.array_equal(member.predicted, probs.argmax(1))


def test_a_finished_ensemble_run_gives_its_members_weights(tmp_path: Path) -> None:
    run, argv = tiny_train_argv(tmp_path, ["--ensemble", "2"])
    assert main(argv) == 0
    spec, states = finished_member_states(run)
    assert spec.training.ensemble == 2 and spec.training.seed == 0
    for k, state in enumerate(states, start=1):
        saved = load_checkpoint(run / f"member-{k}" / "checkpoint.pt").result_state()
        assert all(torch.equal(state[key], saved[key]) for key in saved)
    (run / "member-2" / "checkpoint.pt").unlink()
    with pytest.raises(BadRunInput, match="member 2 has not finished"):
        finished_member_states(run)
    (tmp_path / "one").mkdir()
    single, argv = tiny_train_argv(tmp_path / "one", [])
    assert main(argv) == 0
    with pytest.raises(BadRunInput, match="not an ensemble"):
        finished_member_states(single)


def test_with_tta_flip_the_members_and_the_ensemble_are_measured_with_mirror_images() -> None:
    spec = tiny_spec(tta_flip=True)
    dataset = quadrant_dataset()
    states = []
    for seed in (3, 4):
        torch.manual_seed(seed)
        states.append({k: v.clone() for k, v in build_model(spec).state_dict().items()})
    result = evaluate_ensemble(spec, states, dataset)

    images = torch.cat([batch for batch, _ in dataset.batches(Split.TEST, 512)])
    labels = dataset.labels(Split.TEST).numpy()
    per_member = []
    with torch.no_grad():
        for state in states:
            model = build_model(spec).eval()
            model.load_state_dict(state)
            views = [torch.softmax(model(view), 1).numpy() for view in (images, images.flip(-1))]
            per_member.append(np.mean(views, axis=0))
    for member, probs in zip(result.members, per_member, strict=True):
        assert member.accuracy == pytest.approx(float((probs.argmax(1) == labels).mean()))
    averaged = np.mean(per_member, axis=0)
    assert result.ensemble.accuracy == pytest.approx(float((averaged.argmax(1) == labels).mean()))
    np.testing.assert_allclose(result.ensemble.confidences, averaged.max(1), rtol=1e-5)
