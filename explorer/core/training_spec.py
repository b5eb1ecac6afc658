"""How to train: the `training` object of a project file, each key declared once in
TRAINING_PARAMS (type, default, range, help), which the settings form and the validator read.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from explorer.core.names import control_character
from explorer.core.optimizers import DEFAULT_OPTIMIZER, OPTIMIZERS
from explorer.core.params import Kind, Param, ParamError
from explorer.core.schedules import SCHEDULES
from explorer.core.spec_errors import SpecError, brief, briefly

# The devices a run may ask for (explorer.core.training.devices resolves them).
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DEVICE_HELP = "auto picks CUDA, then Apple MPS, then the CPU"

#: the most members an ensemble may have (the `ensemble` setting, train --ensemble)
MAX_ENSEMBLE = 1000

TRAINING_PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param(
            "dataset", Kind.TEXT, "mnist", "mnist, fashion-mnist, cifar10, shapes or folder:PATH."
        ),
        Param(
            "optimizer",
            Kind.CHOICE,
            DEFAULT_OPTIMIZER,
            "Update rule.",
            choices=tuple(OPTIMIZERS),
        ),
        Param(
            "learning_rate",
            Kind.FLOAT,
            0.01,
            "Step size of each update.",
            minimum=0.0,
            exclusive_minimum=True,
            maximum=10.0,
        ),
        Param(
            "momentum",
            Kind.FLOAT,
            0.0,
            "Momentum for SGD and RMSprop.",
            minimum=0.0,
            maximum=1.0,
            exclusive_maximum=True,
        ),
        Param("nesterov", Kind.BOOL, False, "Nesterov momentum (SGD with momentum > 0)."),
        Param(
            "weight_decay",
            Kind.FLOAT,
            0.0,
            "Decoupled (AdamW) or L2 (others) weight decay.",
            minimum=0.0,
            maximum=1.0,
        ),
        Param(
            "schedule",
            Kind.CHOICE,
            "constant",
            "Learning-rate schedule.",
            choices=tuple(SCHEDULES),
        ),
        Param(
            "step_size",
            Kind.INT,
            5,
            "Epochs between decays of the step schedule.",
            minimum=1,
            maximum=10000,
        ),
        Param(
            "gamma",
            Kind.FLOAT,
            0.1,
            "Decay factor of the step schedule.",
            minimum=0.0,
            exclusive_minimum=True,
            maximum=1.0,
        ),
        Param("batch_size", Kind.INT, 100, "Images per update.", minimum=1, maximum=65536),
        Param("epochs", Kind.INT, 10, "Passes over the training set.", minimum=1, maximum=10000),
        Param(
            "validation_split",
            Kind.FLOAT,
            0.1,
            "Fraction of the training set held out for validation (0: none).",
            minimum=0.0,
            maximum=0.9,
        ),
        Param(
            "early_stopping_patience",
            Kind.INT,
            0,
            "Stop after this many epochs without a better validation loss (0: never).",
            minimum=0,
            maximum=10000,
        ),
        Param(
            "seed",
            Kind.INT,
            0,
            "Seed for weights, split and batch order.",
            minimum=0,
            maximum=2**31 - 1,
        ),
        # ---- Augmentation (of training batches only, on the device; all off by default) ----
        Param(
            "augment_crop_padding",
            Kind.INT,
            0,
            "Random crop after padding each side with this many black pixels (0: off).",
            minimum=0,
            maximum=64,
        ),
        Param("augment_flip", Kind.BOOL, False, "Random horizontal flip (not for digits or text)."),
        Param(
            "augment_rotation",
            Kind.FLOAT,
            0.0,
            "Random rotation by up to ± this many degrees (0: off).",
            minimum=0.0,
            maximum=180.0,
        ),
        Param(
            "augment_scale",
            Kind.FLOAT,
            0.0,
            "Random zoom by a factor in 1 ± this (0: off).",
            minimum=0.0,
            maximum=0.5,
        ),
        Param(
            "augment_erasing",
            Kind.FLOAT,
            0.0,
            "Probability of erasing a random box of each image (0: off).",
            minimum=0.0,
            maximum=1.0,
        ),
        # ---- end of Augmentation ----
        Param(
            "device",
            Kind.CHOICE,
            "auto",
            f"{DEVICE_HELP}.",
            choices=DEVICE_CHOICES,
        ),
        Param(
            "mixed_precision",
            Kind.BOOL,
            False,
            "Fast mixed precision: bfloat16 autocast and "
            "channels_last where the hardware supports it.",
        ),
        Param(
            "threads", Kind.INT, 0, "CPU threads for torch (0: automatic).", minimum=0, maximum=1024
        ),
        Param(
            "compile",
            Kind.BOOL,
            False,
            "Compile the training step's forward pass with torch.compile: the first steps "
            "wait for the compiler (a minute or more on a small CPU), which only long runs "
            "of large networks win back.",
        ),
        # Fast training
        Param(
            "label_smoothing",
            Kind.FLOAT,
            0.0,
            "Share of each label spread over all classes in the training loss (0: none).",
            minimum=0.0,
            maximum=0.5,
        ),
        Param(
            "ema_decay",
            Kind.FLOAT,
            0.0,
            "Evaluate and keep an exponential moving average of the weights with this "
            "decay per update, e.g. 0.99 (0: off).",
            minimum=0.0,
            maximum=1.0,
            exclusive_maximum=True,
        ),
        Param(
            "tta_flip",
            Kind.BOOL,
            False,
            "Evaluate each image and its mirror image, averaging the two predictions: only "
            "where a mirrored image is the same class (never digits or text), and only for "
            "a network trained on mirrored images too (random flips).",
        ),
        # ---- Layer health (recorded, never changes the training) ----
        Param(
            "health_interval",
            Kind.INT,
            50,
            "Record each layer's gradients, updates and activations every this many "
            "steps, for the Layer Health view (0: off).",
            minimum=0,
            maximum=1_000_000,
        ),
        # ---- end of Layer health ----
        Param(
            "ensemble",
            Kind.INT,
            1,
            "Train this many copies of the network with seeds seed, seed+1, … and average "
            "their predicted probabilities (1: one network).",
            minimum=1,
            maximum=MAX_ENSEMBLE,
        ),
    )
}


def _valid_keys(unknown: str, limit: int = 280) -> str:
    """The valid keys for a message about `unknown`: the list (shortened past `limit`
    characters, so one message stays short) and the closest key, if one is close."""
    listed = ", ".join(TRAINING_PARAMS)
    if len(listed) > limit:
        listed = listed[: listed.rfind(", ", 0, limit)] + ", ..."
    close = difflib.get_close_matches(unknown[:100], TRAINING_PARAMS, n=1)
    return f"(valid keys: {listed})" + (f"; did you mean {close[0]!r}?" if close else "")


def _default(key: str) -> Any:
    return field(default=TRAINING_PARAMS[key].default)


@dataclass(frozen=True)
class TrainingSpec:
    """How to train: the `training` object of a project file (defaults in TRAINING_PARAMS)."""

    dataset: str = _default("dataset")
    optimizer: str = _default("optimizer")
    learning_rate: float = _default("learning_rate")
    momentum: float = _default("momentum")
    nesterov: bool = _default("nesterov")
    weight_decay: float = _default("weight_decay")
    schedule: str = _default("schedule")
    step_size: int = _default("step_size")
    gamma: float = _default("gamma")
    batch_size: int = _default("batch_size")
    epochs: int = _default("epochs")
    validation_split: float = _default("validation_split")
    early_stopping_patience: int = _default("early_stopping_patience")
    seed: int = _default("seed")
    # Augmentation
    augment_crop_padding: int = _default("augment_crop_padding")
    augment_flip: bool = _default("augment_flip")
    augment_rotation: float = _default("augment_rotation")
    augment_scale: float = _default("augment_scale")
    augment_erasing: float = _default("augment_erasing")
    device: str = _default("device")
    mixed_precision: bool = _default("mixed_precision")
    threads: int = _default("threads")
    compile: bool = _default("compile")
    label_smoothing: float = _default("label_smoothing")
    ema_decay: float = _default("ema_decay")
    tta_flip: bool = _default("tta_flip")
    # Layer health
    health_interval: int = _default("health_interval")
    # Ensembles
    ensemble: int = _default("ensemble")

    @staticmethod
    def create(values: Mapping[str, Any]) -> TrainingSpec:
        unknown = [key for key in values if key not in TRAINING_PARAMS]
        if unknown:
            raise SpecError(
                f"training: unknown key {brief(unknown[0])} {_valid_keys(unknown[0])}",
                key=unknown[0],
            )
        coerced: dict[str, Any] = {}
        for key, raw in values.items():
            try:
                coerced[key] = TRAINING_PARAMS[key].coerce(raw)
            except ParamError as error:
                message = briefly(str(error), raw)
                raise SpecError(f"training: {key!r}: {message}", key=key) from None
            if isinstance(raw, str) and (char := control_character(raw)):
                raise SpecError(f"training: {key!r}: {brief(raw)} contains {char}", key=key)
        return TrainingSpec(**coerced)

    def with_values(self, **changes: Any) -> TrainingSpec:
        return TrainingSpec.create({**self.to_json(), **changes})

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
