"""Training: the Trainer generator, its events, devices, optimizers and checkpoints."""

from explorer.core.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from explorer.core.training.devices import (
    DeviceChoice,
    DeviceError,
    describe_device,
    preload,
    resolve_device,
)
from explorer.core.training.events import (
    EpochEnded,
    Progress,
    TrainingEvent,
    TrainingFailed,
    TrainingFinished,
    TrainingStarted,
    TrainingStopped,
    event_to_json,
)
from explorer.core.training.trainer import Trainer

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "DeviceChoice",
    "DeviceError",
    "EpochEnded",
    "Progress",
    "Trainer",
    "TrainingEvent",
    "TrainingFailed",
    "TrainingFinished",
    "TrainingStarted",
    "TrainingStopped",
    "describe_device",
    "event_to_json",
    "load_checkpoint",
    "preload",
    "resolve_device",
    "save_checkpoint",
]
