"""The text around the generated network class: imports, helpers and a training loop.

Kept apart from the generator so the exported file reads as one plain PyTorch program.
`string.Template` placeholders (`$name`) are filled by `explorer.core.export.source`; the
training part is `explorer.core.export.training_loop`.
"""

from __future__ import annotations

from string import Template

from explorer.core.export.training_loop import TRAINING_LOOP

_NETWORK = '''\
"""$title

Standalone PyTorch: this file imports nothing from CNN Explorer. Input images are
float32 tensors (batch, $channels_height_width), normalised per channel with the training
set's mean and standard deviation.

$final_softmax

    python $file_name                      # train it with the project's settings
    python $file_name --weights W.pt       # load trained weights and check one batch
    torchrun --nproc-per-node 4 $file_name # train in 4 processes (GPUs, or CPU cores)

Weights from CNN Explorer (`main.py export --format weights`, or the .weights.pt file beside
a project saved with its weights) load with
`model.load_state_dict(torch.load(path, weights_only=True))`.
"""

import argparse
import csv
import gzip
import math
import os
${ordered_dict}from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

INPUT_SHAPE = $input_shape  # (channels, height, width)
NUM_CLASSES = $num_classes
CLASS_NAMES = $class_names_literal


${block_classes}class $class_name(nn.Module):
    def __init__(self) -> None:
        super().__init__()
$layers
    def forward(self, x: torch.Tensor) -> torch.Tensor:
$calls        return x

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (batch, NUM_CLASSES)."""
        return torch.softmax(self.forward(x), dim=1)

    def penalty(self) -> torch.Tensor:
        """The layers' L1/L2 weight penalties, added to the loss (Keras convention)."""
$penalty


def build_model() -> $class_name:
    return $class_name()


'''

TRAINING_SCRIPT = Template(_NETWORK + TRAINING_LOOP)
