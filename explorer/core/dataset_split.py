"""The parts of a dataset, named once: the training set, the validation part held out of it
and the test set.

A StrEnum, so a split is also its name as files, metrics and messages spell it ('train',
'validation', 'test'). Importing this module imports no torch (the window uses it early).
"""

from __future__ import annotations

from enum import StrEnum


class Split(StrEnum):
    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"
