"""An ensemble as one model: its probabilities are its members' averaged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.core.builder import build_model
from explorer.core.dataset_split import Split
from explorer.core.ensemble import Ensemble
from explorer.core.evaluation import evaluate
from tests.core.test_trainer import quadrant_dataset, tiny_spec


def _members(count: int) -> list[torch.nn.Module]:
    spec = tiny_spec()
    members = []
    for seed in range(count):
        torch.manual_seed(seed)
        members.append(build_model(spec).eval())
    return members


def test_the_output_is_the_log_of_the_members_averaged_probabilities() -> None:
    members = _members(3)
    images = next(iter(quadrant_dataset().batches(Split.TEST, 5)))[0]
    with torch.no_grad():
        expected = np.mean([torch.softmax(m(images), 1).numpy() for m in members], axis=0)
        output = Ensemble(members)(images)
    np.testing.assert_allclose(torch.softmax(output, 1).numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(output.exp().numpy(), expected, rtol=1e-5, atol=1e-7)


def test_its_evaluation_is_the_averaged_members_accuracy() -> None:
    members = _members(3)
    dataset = quadrant_dataset()
    ensemble = Ensemble(members).eval()
    images, labels = zip(*dataset.batches(Split.TEST, 10_000), strict=True)
    with torch.no_grad():
        probs = np.mean([torch.softmax(m(images[0]), 1).numpy() for m in members], axis=0)
    expected = float((probs.argmax(1) == labels[0].numpy()).mean())
    assert evaluate(ensemble, dataset, Split.TEST).accuracy == pytest.approx(expected)


def test_one_member_is_not_an_ensemble() -> None:
    with pytest.raises(ValueError, match="two or more"):
        Ensemble(_members(1))
