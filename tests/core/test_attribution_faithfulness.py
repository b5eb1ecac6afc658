"""Faithfulness, not only that it runs: on a network trained on real MNIST, blanking the 10%
most-attributed pixels lowers the target's probability more than blanking 10% random ones,
averaged over 50 test images, for every method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional

from explorer.core.attribution import attribution_model, blank_value, explain, top_pixels
from explorer.core.attribution_methods import METHODS
from explorer.core.builder import Network, build_model
from explorer.core.data import DeviceDataset, load_dataset
from explorer.core.dataset_split import Split
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec

L = LayerSpec.create
IMAGES = 50
FRACTION = 0.1


def small_cnn() -> NetworkSpec:
    return NetworkSpec(
        input=InputSpec.create(1, 28, 28),
        num_classes=10,
        layers=(
            L("Conv2D", {"filters": 8, "kernel_size": 5, "activation": "relu"}),
            L("MaxPool2D", {"pool_size": 2}),
            L("Conv2D", {"filters": 16, "kernel_size": 5, "activation": "relu"}),
            L("MaxPool2D", {"pool_size": 2}),
            L("Flatten"),
            L("Dense", {"units": 10}),
        ),
    )


def trained(spec: NetworkSpec, dataset: DeviceDataset, images: int = 12_000) -> Network:
    """One pass of Adam over the first `images` training images (≈96% test accuracy)."""
    model = build_model(spec, seed=0)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for step, (x, y) in enumerate(
        dataset.batches(Split.TRAIN, 64, shuffle=True, generator=generator)
    ):
        if step * 64 >= images:
            break
        optimiser.zero_grad()
        functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    return model.eval()


def probability(model: Network, x: torch.Tensor, target: int) -> float:
    with torch.no_grad():
        return float(torch.softmax(model(x.unsqueeze(0)), dim=1)[0, target])


@pytest.mark.slow
def test_blanking_the_most_attributed_pixels_hurts_more_than_random_ones(
    real_datasets: Path,
) -> None:
    dataset = load_dataset("mnist", data_dir=real_datasets)
    spec = small_cnn()
    network = trained(spec, dataset)
    model = attribution_model(spec, network.state_dict())
    test_x = dataset.normalize(dataset.images(Split.TEST)[:1000])
    with torch.no_grad():
        accuracy = (model(test_x).argmax(1) == dataset.labels(Split.TEST)[:1000]).float().mean()
    assert accuracy > 0.9  # a network worth explaining
    blank = blank_value(dataset.mean, dataset.std)
    rng = np.random.default_rng(0)
    drops: dict[str, tuple[float, float]] = {}
    for method in METHODS:
        top_drop, random_drop = [], []
        for index in range(IMAGES):
            image = test_x[index]
            result = explain(model, image, method, blank=blank)
            before = probability(model, image, result.target)
            most = torch.from_numpy(top_pixels(result.heat, FRACTION))
            chance = torch.zeros(28 * 28, dtype=torch.bool)
            chance[rng.choice(28 * 28, size=int(most.sum()), replace=False)] = True
            for mask, drops_of in ((most, top_drop), (chance.view(28, 28), random_drop)):
                blanked = torch.where(mask, torch.tensor(blank[0]), image)
                drops_of.append(before - probability(model, blanked, result.target))
        drops[method] = (float(np.mean(top_drop)), float(np.mean(random_drop)))
    for method, (most_drop, random_drop) in drops.items():
        assert most_drop > random_drop, f"{method}: {drops}"
