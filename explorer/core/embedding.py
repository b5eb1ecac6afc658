"""How the classes separate: a network's penultimate features of test images, laid out in
2-D by PCA or t-SNE, and the nearest neighbours of one image in that feature space.

The features are the input of the last layer with weights (the classifier), flattened, so
they are what the network decides from. PCA is torch's; scikit-learn (neighbours) and
openTSNE are imported inside the functions that use them: they stay off the window's cold
start and off a finished run's PCA.

Arrays: features (N, D) float32, coordinates (N, 2) float32, per-sample arrays indexed like
`Features.indices` (the split's sample indices, in split order).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from explorer.core.builder import Network
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split

__all__ = [
    "MAX_POINTS",
    "Features",
    "NeighbourIndex",
    "load_embedding",
    "pca_embedding",
    "penultimate_features",
    "save_embedding",
    "tsne_embedding",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]

#: At most this many test images: t-SNE of 5,000 points takes tens of seconds on 2 cores,
#: and more points only crowd the plot.
MAX_POINTS = 5000

# openTSNE's two phases: early exaggeration, then the main optimisation.
_EARLY_ITERATIONS = 250
_MAIN_ITERATIONS = 500


@dataclass(frozen=True, eq=False)
class Features:
    """Penultimate features of the first `len(indices)` images of a split, with the labels
    and the network's predictions."""

    split: Split
    indices: IntArray
    features: FloatArray
    labels: IntArray
    predicted: IntArray

    @property
    def size(self) -> int:
        return int(self.indices.shape[0])

    @property
    def mistakes(self) -> npt.NDArray[np.bool_]:
        wrong: npt.NDArray[np.bool_] = self.labels != self.predicted
        return wrong


def _classifier(model: Network) -> nn.Module:
    """The last top-level layer that has weights: its input is the penultimate feature."""
    for _, module in reversed(model.layer_modules()):
        if any(True for _ in module.parameters()):
            return module
    raise ValueError("the network has no layer with weights to take features before")


def penultimate_features(
    model: Network,
    dataset: DeviceDataset,
    split: Split = Split.TEST,
    *,
    limit: int = MAX_POINTS,
    batch_size: int = 500,
    cancel: threading.Event | None = None,
) -> Features | None:
    """The features of the first `limit` images of `split`, in eval mode (restored
    afterwards) without autograd, on the model's device; None when `cancel` was set."""
    count = min(limit, dataset.size(split))
    if count <= 0:
        raise ValueError(f"the {split} split is empty")
    device = next((p.device for p in model.parameters()), dataset.device)
    kept: list[torch.Tensor] = []

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        kept.append(inputs[0].flatten(1).float())

    handle = _classifier(model).register_forward_pre_hook(hook)
    was_training = model.training
    model.eval()
    predicted: list[torch.Tensor] = []
    try:
        with torch.inference_mode():
            for images, _ in dataset.batches(split, batch_size):
                if cancel is not None and cancel.is_set():
                    return None
                predicted.append(model(images.to(device)).argmax(dim=1))
                if sum(len(p) for p in predicted) >= count:
                    break
    finally:
        handle.remove()
        model.train(was_training)
    features = torch.cat(kept)[:count].cpu().numpy().astype(np.float32)
    labels = dataset.labels(split)[:count].cpu().numpy().astype(np.int64)
    return Features(
        split,
        np.arange(count, dtype=np.int64),
        features,
        labels,
        torch.cat(predicted)[:count].cpu().numpy().astype(np.int64),
    )


def pca_embedding(features: FloatArray) -> FloatArray:
    """The first two principal components of the features (N, D) -> (N, 2), by torch's
    randomised PCA (`torch.pca_lowrank`, seeded, leaving the global generator as it was;
    scikit-learn's import alone costs more than the layout), with scikit-learn's signs (each
    axis's largest loading positive); with one feature the second coordinate is 0."""
    n, d = features.shape
    components = min(2, n, d)
    out = np.zeros((n, 2), np.float32)
    if components == 0:
        return out
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _, _, loadings = torch.pca_lowrank(x, q=min(components + 20, n, d), center=True, niter=10)
    axes = loadings[:, :components]
    signs = torch.sign(axes.gather(0, axes.abs().argmax(dim=0, keepdim=True)))
    out[:, :components] = ((x - x.mean(dim=0)) @ (axes * signs)).numpy()
    return out


def tsne_embedding(
    features: FloatArray,
    *,
    seed: int = 0,
    cancel: threading.Event | None = None,
    progress: Callable[[float], None] | None = None,
    n_jobs: int = 1,
) -> FloatArray | None:
    """A 2-D t-SNE of the features (openTSNE, FFT-accelerated, PCA start, perplexity 30 or
    less for few points). `progress(fraction)` is called every 25 iterations; None when
    `cancel` was set (it is checked at the same times)."""
    from openTSNE import TSNE
    from openTSNE.callbacks import Callback

    n = features.shape[0]
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    total = _EARLY_ITERATIONS + _MAIN_ITERATIONS

    class Report(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.done = 0

        def __call__(self, iteration: int, error: float, embedding: Any) -> bool:
            self.done += 25
            if progress is not None:
                progress(min(1.0, self.done / total))
            return cancel is not None and cancel.is_set()

    from openTSNE.tsne import OptimizationInterrupt

    tsne = TSNE(
        perplexity=min(30.0, (n - 1) / 3),
        early_exaggeration_iter=_EARLY_ITERATIONS,
        n_iter=_MAIN_ITERATIONS,
        callbacks=Report(),
        callbacks_every_iters=25,
        random_state=seed,
        n_jobs=n_jobs,
    )
    if cancel is not None and cancel.is_set():
        return None
    try:
        embedding = tsne.fit(features.astype(np.float64))
    except OptimizationInterrupt:
        return None
    if cancel is not None and cancel.is_set():
        return None  # openTSNE ends a phase early when a callback says stop, then goes on
    return np.asarray(embedding, dtype=np.float32)


class NeighbourIndex:
    """Nearest neighbours in feature space (scikit-learn, Euclidean). Build it where the
    features were made (it scales with them); a query costs O(N·D)."""

    def __init__(self, features: FloatArray) -> None:
        from sklearn.neighbors import NearestNeighbors

        self._features = features
        self._index = NearestNeighbors().fit(features)

    def neighbours(self, row: int, k: int = 8) -> tuple[IntArray, FloatArray]:
        """The `k` rows nearest to row `row` (itself left out), nearest first, and their
        distances."""
        count = min(k + 1, self._features.shape[0])
        distances, rows = self._index.kneighbors(self._features[row : row + 1], count)
        keep = rows[0] != row
        found = rows[0][keep][:k].astype(np.int64)
        return found, distances[0][keep][:k].astype(np.float32)


def save_embedding(
    path: str | os.PathLike[str],
    features: Features,
    coordinates: dict[str, FloatArray],
    *,
    with_features: bool = True,
) -> None:
    """Write the features (unless `with_features` is False: they are N × D floats, often
    megabytes), labels, predictions and each layout (`coordinates` by method name, e.g.
    {"pca": ..., "tsne": ...}) to an .npz file, for a run folder or a notebook."""
    kept = features.features if with_features else features.features[:, :0]
    arrays: dict[str, npt.NDArray[Any]] = {
        "indices": features.indices,
        "features": kept,
        "labels": features.labels,
        "predicted": features.predicted,
        "split": np.array(str(features.split)),
    }
    for method, layout in coordinates.items():
        if layout.shape != (features.size, 2):
            raise ValueError(f"{method}: {layout.shape} coordinates for {features.size} points")
        arrays[f"coordinates_{method}"] = layout
    with open(path, "wb") as file:
        np.savez_compressed(file, allow_pickle=False, **arrays)


def load_embedding(path: str | os.PathLike[str]) -> tuple[Features, dict[str, FloatArray]]:
    """What `save_embedding` wrote (features (N, 0) when they were left out)."""
    with np.load(path, allow_pickle=False) as data:
        features = Features(
            Split(str(data["split"])),
            data["indices"],
            data["features"],
            data["labels"],
            data["predicted"],
        )
        prefix = "coordinates_"
        layouts = {k[len(prefix) :]: data[k] for k in data.files if k.startswith(prefix)}
    return features, layouts
