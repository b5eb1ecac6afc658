"""Training: the Trainer generator, its events, devices, optimizers, checkpoints, run folders.

The names below are imported from their modules when first asked for (PEP 562), so that
importing a light module of the package does not import torch: `runs` lists and reads run
folders, `events` and `position` describe a run, all without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.core.training.checkpoint import Checkpoint as Checkpoint
    from explorer.core.training.checkpoint import CheckpointError as CheckpointError
    from explorer.core.training.checkpoint import load_checkpoint as load_checkpoint
    from explorer.core.training.checkpoint import save_checkpoint as save_checkpoint
    from explorer.core.training.devices import DeviceChoice as DeviceChoice
    from explorer.core.training.devices import DeviceError as DeviceError
    from explorer.core.training.devices import describe_device as describe_device
    from explorer.core.training.devices import preload as preload
    from explorer.core.training.devices import resolve_device as resolve_device
    from explorer.core.training.events import EpochEnded as EpochEnded
    from explorer.core.training.events import Progress as Progress
    from explorer.core.training.events import TrainingEvent as TrainingEvent
    from explorer.core.training.events import TrainingFailed as TrainingFailed
    from explorer.core.training.events import TrainingFinished as TrainingFinished
    from explorer.core.training.events import TrainingStarted as TrainingStarted
    from explorer.core.training.events import TrainingStopped as TrainingStopped
    from explorer.core.training.events import event_to_json as event_to_json
    from explorer.core.training.trainer import Trainer as Trainer

# The module of the package that each name comes from (the imports above, for type checkers).
_HOMES = {
    "Checkpoint": "checkpoint",
    "CheckpointError": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_checkpoint": "checkpoint",
    "DeviceChoice": "devices",
    "DeviceError": "devices",
    "describe_device": "devices",
    "preload": "devices",
    "resolve_device": "devices",
    "EpochEnded": "events",
    "Progress": "events",
    "TrainingEvent": "events",
    "TrainingFailed": "events",
    "TrainingFinished": "events",
    "TrainingStarted": "events",
    "TrainingStopped": "events",
    "event_to_json": "events",
    "Trainer": "trainer",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
