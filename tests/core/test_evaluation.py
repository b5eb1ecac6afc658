"""Evaluation: confusion matrix, per-class scores and the samples behind each cell."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional

from explorer.core.builder import build_model
from explorer.core.data import DatasetInfo, DeviceDataset, load_dataset
from explorer.core.evaluation import (
    evaluate,
    most_confident_mistakes,
    pair_samples,
    summarise,
)
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec


@functools.cache
def _full_dataset(folder: Path, name: str) -> DeviceDataset:
    # Cached: decoding the IDX files takes a second or two.
    return load_dataset(name, data_dir=folder, download=False)


def mnist_subset(folder: Path, train: int, test: int, name: str = "mnist") -> DeviceDataset:
    """The first `train` training and `test` test images of real MNIST (or Fashion-MNIST)."""
    full = _full_dataset(folder, name)
    return DeviceDataset(
        full.info,
        full.images("train")[:train],
        full.labels("train")[:train],
        full.images("test")[:test],
        full.labels("test")[:test],
    )


def small_net() -> NetworkSpec:
    c = LayerSpec.create
    return NetworkSpec(
        input=InputSpec(1, 28, 28),
        layers=(
            c("Conv2D", {"filters": 8, "kernel_size": 5, "stride": 2, "activation": "relu"}),
            c("BatchNorm"),
            c("Dropout", {"rate": 0.3}),
            c("Flatten"),
            c("Dense", {"units": 10, "activation": "softmax"}),
        ),
    )


def test_confusion_matrix_matches_a_direct_count_of_real_predictions(real_datasets: Path) -> None:
    torch.set_num_threads(1)
    dataset = mnist_subset(real_datasets, train=2000, test=1500)
    model = build_model(small_net(), seed=0)
    optimizer = torch.optim.Adam(model.parameters(), 3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        for images, labels in dataset.batches("train", 100, shuffle=True, generator=generator):
            loss = functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.train()

    result = evaluate(model, dataset, "test", batch_size=256)

    assert model.training, "the model's mode is restored"
    assert result.confusion.dtype == np.int64 and result.confusion.shape == (10, 10)
    assert result.confusion.sum() == dataset.size("test") == result.size
    model.eval()
    with torch.no_grad():
        images = dataset.normalize(dataset.images("test"))
        logits = model(images)
        predicted = logits.argmax(1).numpy()
        expected_loss = float(functional.cross_entropy(logits, dataset.labels("test")))
    true = dataset.labels("test").numpy()
    direct = np.bincount(true * 10 + predicted, minlength=100).reshape(10, 10)
    np.testing.assert_array_equal(result.confusion, direct)
    np.testing.assert_array_equal(result.predicted, predicted)
    np.testing.assert_array_equal(result.true_labels, true)
    assert result.accuracy == pytest.approx(float((predicted == true).mean()))
    assert result.accuracy > 0.7, "a few hundred steps on MNIST learn something"
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)
    probabilities = torch.softmax(logits, 1).max(1).values.numpy()
    np.testing.assert_allclose(result.confidences, probabilities, rtol=1e-6)


def test_per_class_scores_match_a_hand_computation() -> None:
    # Class 0: 3 samples, 2 found; class 1: 2 samples, 1 found; class 2 never occurs but is
    # predicted once. Precision 0 = 2/2, 1 = 1/2, 2 = 0/1; recall 0 = 2/3, 1 = 1/2, 2 = 0/0.
    true = np.array([0, 0, 0, 1, 1], dtype=np.int64)
    predicted = np.array([0, 1, 0, 1, 2], dtype=np.int64)
    confidences = np.array([0.9, 0.8, 0.7, 0.6, 0.5], dtype=np.float32)
    result = summarise("test", true, predicted, confidences, 3)
    np.testing.assert_array_equal(result.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 0]])
    np.testing.assert_allclose(result.precision, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(result.recall, [2 / 3, 0.5, 0.0])
    f1_0 = 2 * 1.0 * (2 / 3) / (1.0 + 2 / 3)
    np.testing.assert_allclose(result.f1, [f1_0, 0.5, 0.0])
    np.testing.assert_array_equal(result.support, [3, 2, 0])
    assert result.accuracy == pytest.approx(3 / 5)
    assert result.correct == 3


def test_pair_samples_and_mistakes_are_sorted_by_confidence() -> None:
    true = np.array([1, 1, 1, 0, 1, 2], dtype=np.int64)
    predicted = np.array([2, 2, 1, 0, 2, 0], dtype=np.int64)
    confidences = np.array([0.4, 0.9, 0.99, 0.5, 0.6, 0.7], dtype=np.float32)
    result = summarise("test", true, predicted, confidences, 3)
    np.testing.assert_array_equal(pair_samples(result, 1, 2), [1, 4, 0])
    np.testing.assert_array_equal(pair_samples(result, 1, 1), [2])
    assert pair_samples(result, 0, 2).size == 0
    np.testing.assert_array_equal(most_confident_mistakes(result, 3), [1, 5, 4])
    np.testing.assert_array_equal(most_confident_mistakes(result, 10), [1, 5, 4, 0])


def test_evaluation_runs_without_autograd_and_in_eval_mode() -> None:
    generator = torch.Generator().manual_seed(0)
    info = DatasetInfo("noise", (1, 28, 28), tuple("abcdefghij"))
    images = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (50,), generator=generator)
    dataset = DeviceDataset(info, images, labels, images[:30], labels[:30])
    model = build_model(small_net(), seed=0)
    modes = []
    model.register_forward_hook(
        lambda module, args, out: modes.append((module.training, torch.is_inference_mode_enabled()))
    )
    model.train()
    first = evaluate(model, dataset, "test", batch_size=7)
    second = evaluate(model, dataset, "test", batch_size=30)
    assert modes and all(mode == (False, True) for mode in modes)
    assert len(modes) == 5 + 1  # ceil(30 / 7) batches, then one
    assert model.training
    # Dropout is off in eval mode, so batching does not change the results.
    np.testing.assert_array_equal(first.predicted, second.predicted)
    assert first.loss == pytest.approx(second.loss, rel=1e-5)


def test_a_model_with_the_wrong_class_count_is_refused() -> None:
    generator = torch.Generator().manual_seed(0)
    info = DatasetInfo("noise", (1, 28, 28), ("a", "b", "c"))
    images = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 3, (6,), generator=generator)
    dataset = DeviceDataset(info, images, labels, images, labels)
    with pytest.raises(ValueError, match="3 classes"):
        evaluate(build_model(small_net(), seed=0), dataset)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_evaluation_on_the_gpu_matches_the_cpu() -> None:
    generator = torch.Generator().manual_seed(0)
    info = DatasetInfo("noise", (1, 28, 28), tuple("abcdefghij"))
    images = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (40,), generator=generator)
    model = build_model(small_net(), seed=0)
    on_cpu = evaluate(model, DeviceDataset(info, images, labels, images, labels))
    gpu_data = DeviceDataset(info, images, labels, images, labels, device="cuda")
    on_gpu = evaluate(model.cuda(), gpu_data, batch_size=16)
    np.testing.assert_array_equal(on_gpu.confusion, on_cpu.confusion)
    assert on_gpu.loss == pytest.approx(on_cpu.loss, rel=1e-4)
