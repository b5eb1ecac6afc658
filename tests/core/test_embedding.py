"""Embeddings against independent computations: the classifier's input by hand, scikit-learn's
PCA, brute-force distances, and t-SNE keeping the classes of separable data apart."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.core.builder import build_model
from explorer.core.data.resident import DatasetInfo, DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.embedding import (
    NeighbourIndex,
    load_embedding,
    pca_embedding,
    penultimate_features,
    save_embedding,
    tsne_embedding,
)
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec


def _spec() -> NetworkSpec:
    layers = (
        LayerSpec.create("Conv2D", {"filters": 3, "kernel_size": 3, "activation": "relu"}),
        LayerSpec.create("MaxPool2D", {"pool_size": 2}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 12, "activation": "relu"}),
        LayerSpec.create("Dropout", {"rate": 0.5}),
        LayerSpec.create("Dense", {"units": 4}),
        LayerSpec.create("Activation", {"function": "softmax"}),
    )
    return NetworkSpec(input=InputSpec(1, 10, 10), num_classes=4, layers=layers)


def _dataset(n: int = 130) -> DeviceDataset:
    generator = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (n, 1, 10, 10), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 4, (n,), generator=generator)
    info = DatasetInfo("noise", (1, 10, 10), ("a", "b", "c", "d"))
    return DeviceDataset(info, images[:30], labels[:30], images, labels)


def test_features_are_the_classifiers_input_of_the_first_images() -> None:
    model = build_model(_spec(), seed=1)
    model.train()
    dataset = _dataset()

    found = penultimate_features(model, dataset, limit=70, batch_size=32)

    assert found is not None and model.training
    with torch.no_grad():
        model.eval()
        images = dataset.normalize(dataset.images(Split.TEST)[:70])
        hidden = model.dropout_1(
            model.dense_1(model.flatten_1(model.max_pool2d_1(model.conv2d_1(images))))
        )
        logits = model(images)
    np.testing.assert_allclose(found.features, hidden.numpy(), rtol=1e-5, atol=1e-6)
    assert found.indices.tolist() == list(range(70))
    assert found.labels.tolist() == dataset.labels(Split.TEST)[:70].tolist()
    assert found.predicted.tolist() == logits.argmax(dim=1).tolist()
    assert found.mistakes.tolist() == (found.labels != found.predicted).tolist()


def test_cancelled_features_are_none() -> None:
    cancel = threading.Event()
    cancel.set()
    model = build_model(_spec(), seed=1)
    assert penultimate_features(model, _dataset(), cancel=cancel) is None


def test_pca_equals_scikit_learns_up_to_the_sign_of_each_axis() -> None:
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    features = (rng.normal(size=(300, 6)) * [5, 3, 1, 0.5, 0.2, 0.1]).astype(np.float32)

    layout = pca_embedding(features)

    reference = PCA(n_components=2, svd_solver="full").fit_transform(features.astype(np.float64))
    for axis in range(2):
        sign = np.sign(np.dot(layout[:, axis], reference[:, axis]))
        np.testing.assert_allclose(layout[:, axis] * sign, reference[:, axis], atol=1e-3)
    assert layout[:, 0].var() > layout[:, 1].var()


def test_pca_of_wide_relu_features_is_within_two_percent_of_scikit_learns() -> None:
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(2000, 40)) * np.linspace(3, 0.2, 40)
    features = np.maximum(hidden @ rng.normal(size=(40, 800)), 0).astype(np.float32)

    layout = pca_embedding(features)

    reference = PCA(n_components=2, svd_solver="full").fit_transform(features.astype(np.float64))
    for axis in range(2):
        assert np.dot(layout[:, axis], reference[:, axis]) > 0  # scikit-learn's signs
        error = np.abs(layout[:, axis] - reference[:, axis]).max()
        assert error <= 0.02 * np.abs(reference[:, axis]).max()


def test_neighbours_equal_brute_force_distances() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 5)).astype(np.float32)
    index = NeighbourIndex(features)

    for row in (0, 57, 199):
        found, distances = index.neighbours(row, k=6)
        brute = np.linalg.norm(features - features[row], axis=1)
        brute[row] = np.inf
        expected = np.argsort(brute, kind="stable")[:6]
        assert found.tolist() == expected.tolist()
        np.testing.assert_allclose(distances, brute[expected], rtol=1e-5)


@pytest.mark.slow
def test_tsne_keeps_separable_classes_apart_and_reports_progress() -> None:
    rng = np.random.default_rng(2)
    centres = rng.normal(scale=20, size=(3, 10))
    labels = np.repeat(np.arange(3), 60)
    features = (centres[labels] + rng.normal(size=(180, 10))).astype(np.float32)
    fractions: list[float] = []

    layout = tsne_embedding(features, progress=fractions.append)

    assert layout is not None and layout.shape == (180, 2)
    assert fractions[-1] == pytest.approx(1.0)
    assert fractions == sorted(fractions)
    # Every point's nearest neighbour in the layout is of its own class.
    distances = np.linalg.norm(layout[:, None] - layout[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    assert (labels[distances.argmin(axis=1)] == labels).all()


def test_tsne_stops_when_cancelled_before_or_while_it_runs() -> None:
    features = np.random.default_rng(3).normal(size=(60, 4)).astype(np.float32)
    cancel = threading.Event()
    cancel.set()
    assert tsne_embedding(features, cancel=cancel) is None
    cancel.clear()
    reports: list[float] = []

    def stop_after_first(fraction: float) -> None:
        reports.append(fraction)
        cancel.set()

    assert tsne_embedding(features, cancel=cancel, progress=stop_after_first) is None
    assert reports[0] < 0.5


def test_an_embedding_file_reads_back_as_written(tmp_path: Path) -> None:
    model = build_model(_spec(), seed=1)
    found = penultimate_features(model, _dataset(), limit=40)
    assert found is not None
    layouts = {"pca": pca_embedding(found.features)}
    path = tmp_path / "embedding.npz"

    save_embedding(path, found, layouts)
    again, read_layouts = load_embedding(path)

    assert again.split == Split.TEST
    for name in ("indices", "features", "labels", "predicted"):
        np.testing.assert_array_equal(getattr(again, name), getattr(found, name))
    np.testing.assert_array_equal(read_layouts["pca"], layouts["pca"])
    with pytest.raises(ValueError, match="coordinates"):
        save_embedding(path, found, {"tsne": np.zeros((3, 2), np.float32)})
