"""The accuracy `train --ensemble` prints is numpy's accuracy of its members' averaged
probabilities, computed here from the members' saved weights."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.cli import main
from explorer.core.app.preparation import load_network_dataset
from explorer.core.app.run_plan import finished_model, plan_resume
from explorer.core.dataset_split import Split
from tests.core.test_train_command import tiny_train_argv

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    return shifted / shifted.sum(1, keepdims=True)


def numpy_ensemble_accuracy(run: Path, flip: bool) -> float:
    """The run's members rebuilt from their checkpoints; the share of test images where the
    argmax of their averaged softmax (over each image and, with `flip`, its mirror) is right."""
    plan = plan_resume(run, {})
    cpu = torch.device("cpu")
    models = [finished_model(m, cpu).eval() for m in plan.members]
    dataset = load_network_dataset(plan.spec, None, cpu)
    images = torch.cat([x for x, _ in dataset.batches(Split.TEST, 1000)])
    labels = dataset.labels(Split.TEST).numpy()
    views = [images, images.flip(-1)] if flip else [images]
    with torch.no_grad():
        probs = [softmax(m(v).double().numpy()) for m in models for v in views]
    return float((np.mean(probs, axis=0).argmax(1) == labels).mean())


@pytest.mark.parametrize("flip", [pytest.param(False, marks=pytest.mark.slow), True])
def test_the_printed_ensemble_accuracy_is_numpys_of_the_averaged_probabilities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flip: bool
) -> None:
    run, argv = tiny_train_argv(
        tmp_path, ["--ensemble", "2"], tta_flip=flip, augment_flip=flip, learning_rate=0.003
    )
    assert main(argv) == 0
    found = re.search(r"ensemble of 2: test accuracy ([0-9.]+)%", capsys.readouterr().out)
    assert found is not None
    expected = numpy_ensemble_accuracy(run, flip)
    assert found.group(1) == f"{100 * expected:.2f}"
    # The check can tell: with and without the mirror images the ensemble scores otherwise.
    assert expected != pytest.approx(numpy_ensemble_accuracy(run, not flip))
