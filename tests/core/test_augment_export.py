"""The exported training script augments its training batches with the trainer's own code."""

from __future__ import annotations

import ast
import types
from dataclasses import replace

import torch

from explorer.core.export.source import pytorch_source
from explorer.core.spec import NetworkSpec
from explorer.core.templates import load_template
from explorer.core.training.augment import augment_images, build_augmentation

SETTINGS = {
    "augment_crop_padding": 3,
    "augment_flip": True,
    "augment_rotation": 12.0,
    "augment_scale": 0.15,
    "augment_erasing": 0.4,
}


def exported(spec: NetworkSpec) -> types.ModuleType:
    text = pytorch_source(spec)
    ast.parse(text)
    module = types.ModuleType("exported_network")
    exec(compile(text, "exported_network.py", "exec"), module.__dict__)
    return module


def test_without_augmentation_the_script_trains_on_plain_batches() -> None:
    module = exported(load_template("keras-mnist"))
    assert module.make_augmentation() is None


def test_the_exported_augmentation_draws_exactly_what_the_trainer_draws() -> None:
    spec = load_template("keras-mnist")
    spec = replace(spec, training=spec.training.with_values(**SETTINGS))
    pipeline = exported(spec).make_augmentation()
    assert type(pipeline).__name__ == "BatchAugment"
    assert "kornia" not in pytorch_source(spec).lower()  # torch alone runs the script

    mean, std = (0.1307,), (0.3081,)
    trainer_side = build_augmentation(spec.training, mean, std, (1, 28, 28))
    assert trainer_side is not None
    images = torch.randn(8, 1, 28, 28)
    expected = augment_images(trainer_side, images, generator_seed=11)
    black = -torch.tensor(mean).view(1, -1, 1, 1) / torch.tensor(std).view(1, -1, 1, 1)
    torch.manual_seed(11)
    # The script's own step: shift so that 0 is black, augment, shift back.
    actual = pipeline(images - black) + black
    torch.testing.assert_close(actual, expected)
