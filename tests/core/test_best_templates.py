"""The record templates `mnist-best` and `fashion-best`: ensembles whose recipe the README
states (their accuracy is measured by `bench/ensemble.py`, never in the suite)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from explorer.core.analysis import analyze
from explorer.core.builder import build_model
from explorer.core.templates import load_template, template_names

BEST = {"mnist-best": "mnist", "fashion-best": "fashion-mnist"}
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("name", BEST)
def test_a_record_template_is_an_ensemble_on_its_dataset_without_errors(name: str) -> None:
    assert name in template_names()
    spec = load_template(name)
    assert spec.training.dataset == BEST[name]
    assert spec.training.ensemble >= 2
    assert spec.training.validation_split == 0  # every training image is used
    analysis = analyze(spec)
    assert not analysis.errors
    model = build_model(spec)
    assert sum(p.numel() for p in model.parameters()) == analysis.trainable_params
    assert model(torch.zeros(2, *spec.input.shape)).shape == (2, spec.num_classes)


def test_digits_are_never_mirrored_and_fashion_is_measured_as_it_was_trained() -> None:
    digits = load_template("mnist-best").training
    assert not digits.augment_flip and not digits.tta_flip
    fashion = load_template("fashion-best").training
    assert fashion.augment_flip and fashion.tta_flip


@pytest.mark.parametrize("name", BEST)
def test_the_readme_states_the_recipes_members_epochs_and_parameters(name: str) -> None:
    spec = load_template(name)
    analysis = analyze(spec)
    rows = [line for line in README.read_text(encoding="utf-8").splitlines()]
    (row,) = [line for line in rows if line.startswith(f"| `{name}` |")]
    total = analysis.trainable_params + analysis.non_trainable_params
    assert row.endswith(f" | {total:,} |")
    training = spec.training
    assert f"**{training.ensemble} members × {training.epochs} epochs**" in row
