"""Loss and accuracy of a model, or of an ensemble's averaged probabilities, on a split.

These are the trainer's validation and test measurements (metrics_window.py sums its
training steps): sums stay on the device, nothing per sample is kept. For a confusion
matrix, per-sample predictions and precision/recall/F1 — what the Evaluation panel shows —
see explorer.core.evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from explorer.core.builder import Network
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split

if TYPE_CHECKING:
    from explorer.core.evaluation import Evaluation


@dataclass(frozen=True)
class SplitMetrics:
    """Mean cross-entropy, accuracy (0..1) and per-class accuracy (NaN for an absent class)."""

    loss: float
    accuracy: float
    per_class_accuracy: tuple[float, ...]
    size: int
    #: with `predictions`: each sample's predicted class and its probability (CPU tensors)
    predicted: torch.Tensor | None = field(default=None, compare=False, repr=False)
    confidences: torch.Tensor | None = field(default=None, compare=False, repr=False)


def sum_dtype(device: torch.device) -> torch.dtype:
    """The dtype that sums of losses and counts are kept in on `device`: float64, except
    on MPS, which has none."""
    return torch.float32 if device.type == "mps" else torch.float64


def measure_ensemble(
    models: Sequence[Network],
    dataset: DeviceDataset,
    split: Split,
    batch_size: int,
    *,
    autocast: AbstractContextManager[object] | None = None,
    channels_last: bool = False,
    flip: bool = False,
    predictions: bool = False,
) -> SplitMetrics:
    """Evaluate the average of the models' class probabilities (a single model: its own)
    in eval mode on `split`; each model's train/eval mode is restored after. With `flip`,
    each image's mirror image (left to right) joins the average. With `predictions`, the
    result keeps each sample's prediction and confidence (for a full Evaluation).

    Sums stay on the device; the only host reads are at the end.
    """
    num_classes = dataset.info.num_classes
    device = dataset.device
    loss_sum = torch.zeros((), dtype=sum_dtype(device), device=device)
    correct = torch.zeros(num_classes, dtype=torch.int64, device=device)
    counts = torch.zeros(num_classes, dtype=torch.int64, device=device)
    kept: list[tuple[torch.Tensor, torch.Tensor]] = []
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        with torch.no_grad(), autocast or nullcontext():
            for images, labels in dataset.batches(split, batch_size):
                if channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                if len(models) == 1 and not flip:
                    logits = models[0](images).float()
                    loss = F.cross_entropy(logits, labels, reduction="sum")
                    predicted = logits.argmax(1)
                    if predictions:
                        kept.append(torch.softmax(logits, 1).max(1))
                else:
                    views = [images, images.flip(-1)] if flip else [images]
                    probs = torch.stack(
                        [m.predict_proba(view).float() for m in models for view in views]
                    ).mean(0)
                    loss = F.nll_loss(probs.clamp_min(1e-12).log(), labels, reduction="sum")
                    predicted = probs.argmax(1)
                    if predictions:
                        kept.append(probs.max(1))
                loss_sum += loss
                # scatter_add_ rather than bincount or a boolean mask: neither syncs the host.
                counts.scatter_add_(0, labels, torch.ones_like(labels))
                correct.scatter_add_(0, labels, (predicted == labels).long())
    finally:
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)
    total = int(counts.sum())
    if total == 0:
        return SplitMetrics(float("nan"), float("nan"), (float("nan"),) * num_classes, 0)
    per_class = tuple(
        c / n if n else float("nan") for c, n in zip(correct.tolist(), counts.tolist(), strict=True)
    )
    result = SplitMetrics(float(loss_sum) / total, int(correct.sum()) / total, per_class, total)
    if not predictions:
        return result
    confidences, predicted = (torch.cat(parts).cpu() for parts in zip(*kept, strict=True))
    return replace(result, predicted=predicted, confidences=confidences)


def test_evaluation(result: SplitMetrics, dataset: DeviceDataset) -> Evaluation | None:
    """The full test Evaluation (confusion matrix, per-sample predictions) of a measure
    taken with `predictions`; None for an empty split."""
    from explorer.core.evaluation import summarise

    if not result.size or result.predicted is None or result.confidences is None:
        return None
    true = dataset.labels(Split.TEST).cpu().numpy().astype(np.int64)
    return summarise(
        Split.TEST,
        true,
        result.predicted.numpy().astype(np.int64),
        result.confidences.float().numpy(),
        dataset.info.num_classes,
        result.loss * result.size,
    )
