"""Where a trained network fails: accuracy, loss, confusion matrix and per-class scores.

Conventions: the confusion matrix is (K, K) int64 with rows = true class and columns =
predicted class; per-sample arrays are indexed like the split's images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional

from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A network's results on one split.

    `loss` is the mean cross-entropy of the logits; `confidences` the largest softmax
    probability per sample. Precision/recall/F1 of a class with no predictions or no
    samples are 0 (the usual zero-division convention).
    """

    split: Split
    accuracy: float
    loss: float
    confusion: IntArray
    precision: FloatArray
    recall: FloatArray
    f1: FloatArray
    support: IntArray
    true_labels: IntArray
    predicted: IntArray
    confidences: npt.NDArray[np.float32]

    @property
    def num_classes(self) -> int:
        return int(self.confusion.shape[0])

    @property
    def size(self) -> int:
        return int(self.true_labels.shape[0])

    @property
    def correct(self) -> int:
        return int(np.trace(self.confusion))


def evaluate(
    model: nn.Module, dataset: DeviceDataset, split: Split = Split.TEST, *, batch_size: int = 1000
) -> Evaluation:
    """Run `model` (returning logits) over a split in eval mode, without autograd.

    Batches are normalised on the dataset's device and moved to the model's device when
    that differs; the model's train/eval mode is restored afterwards.
    """
    if dataset.size(split) == 0:
        raise ValueError(f"the {split} split is empty")
    num_classes = dataset.info.num_classes
    device = next((p.device for p in model.parameters()), dataset.device)
    was_training = model.training
    model.eval()
    predicted, confidences, losses = [], [], []
    try:
        with torch.inference_mode():
            for images, labels in dataset.batches(split, batch_size):
                logits = model(images.to(device)).float()
                if logits.dim() != 2 or logits.shape[1] != num_classes:
                    raise ValueError(
                        f"the model gives outputs of shape {tuple(logits.shape[1:])}, "
                        f"the dataset has {num_classes} classes"
                    )
                probabilities = torch.softmax(logits, dim=1)
                confidence, prediction = probabilities.max(dim=1)
                predicted.append(prediction)
                confidences.append(confidence)
                losses.append(functional.cross_entropy(logits, labels.to(device), reduction="sum"))
            # One transfer at the end instead of a device sync per batch.
            predicted_np = torch.cat(predicted).cpu().numpy().astype(np.int64)
            confidence_np = torch.cat(confidences).cpu().numpy().astype(np.float32)
            total_loss = float(torch.stack(losses).sum())
    finally:
        model.train(was_training)
    true_np = dataset.labels(split).cpu().numpy().astype(np.int64)
    return summarise(split, true_np, predicted_np, confidence_np, num_classes, total_loss)


def summarise(
    split: Split,
    true_labels: IntArray,
    predicted: IntArray,
    confidences: npt.NDArray[np.float32],
    num_classes: int,
    total_loss: float = float("nan"),
) -> Evaluation:
    """The Evaluation of given predictions: confusion matrix and per-class scores."""
    size = int(true_labels.shape[0])
    confusion = confusion_matrix(true_labels, predicted, num_classes)
    hits = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted_counts = confusion.sum(axis=0)
    precision = _ratio(hits, predicted_counts)
    recall = _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return Evaluation(
        split=split,
        accuracy=float(hits.sum() / size) if size else float("nan"),
        loss=total_loss / size if size else float("nan"),
        confusion=confusion,
        precision=precision,
        recall=recall,
        f1=f1,
        support=support.astype(np.int64),
        true_labels=true_labels,
        predicted=predicted,
        confidences=confidences,
    )


def confusion_matrix(true_labels: IntArray, predicted: IntArray, num_classes: int) -> IntArray:
    """(K, K) int64 counts, rows = true class, columns = predicted class."""
    flat = true_labels.astype(np.int64) * num_classes + predicted.astype(np.int64)
    counts = np.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _ratio(numerator: FloatArray, denominator: npt.NDArray[np.number]) -> FloatArray:
    below = denominator.astype(np.float64)
    out = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, below, out=out, where=below > 0)
    return out


def pair_samples(evaluation: Evaluation, true: int, predicted: int) -> IntArray:
    """Indices of the samples of class `true` predicted as `predicted`, most confident first."""
    chosen = np.flatnonzero((evaluation.true_labels == true) & (evaluation.predicted == predicted))
    return _by_confidence(evaluation, chosen)


def most_confident_mistakes(evaluation: Evaluation, n: int) -> IntArray:
    """Indices of up to `n` wrongly classified samples, most confident first."""
    wrong = np.flatnonzero(evaluation.true_labels != evaluation.predicted)
    return _by_confidence(evaluation, wrong)[:n]


def _by_confidence(evaluation: Evaluation, indices: npt.NDArray[np.intp]) -> IntArray:
    # Stable sort: equally confident samples keep their dataset order.
    order = np.argsort(-evaluation.confidences[indices], kind="stable")
    return indices[order].astype(np.int64)
