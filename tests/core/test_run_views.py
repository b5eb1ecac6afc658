"""A finished run's embedding.npz and channels.npz against a direct computation on the
run's own model: the same PCA layout, labels and predictions (not the features: megabytes),
and each convolution channel's top images as the one-layer pass ranks them, nested
convolutions included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.core.app.run_views import CHANNELS_FILE, EMBEDDING_FILE, write_run_views
from explorer.core.app.training_run import start_run
from explorer.core.builder import build_model
from explorer.core.channel_explorer import channel_maxima
from explorer.core.channel_tops import channel_tops, conv_paths, load_channel_tops
from explorer.core.dataset_split import Split
from explorer.core.embedding import load_embedding, pca_embedding, penultimate_features
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, LayerSpec, NetworkSpec
from explorer.core.training import TrainingFinished
from explorer.core.training.runs import RunFolder
from tests.core.test_trainer import quadrant_dataset, tiny_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _nested_spec() -> NetworkSpec:
    """tiny_spec with a residual block of two convolutions after its first."""

    def conv(activation: str) -> LayerSpec:
        values = {"filters": 4, "kernel_size": 3, "padding": "same", "activation": activation}
        return LayerSpec.create("Conv2D", values)

    spec = tiny_spec(epochs=1)
    block = BlockSpec.create("Residual", {}, [(conv("relu"), conv("linear"))])
    first = spec.layers[0]
    assert isinstance(first, LayerSpec)
    return spec.with_layers((conv("relu"), block, *spec.layers[1:]))


def _assert_tops_match_the_one_layer_pass(model: torch.nn.Module, path: LayerPath, tops) -> None:
    dataset = quadrant_dataset()
    direct = channel_maxima(model, dataset, path)
    assert direct is not None
    assert tops.map_size == direct.map_size
    for channel in range(direct.channels):
        expected = direct.top(channel)
        assert tops.indices[channel].tolist() == expected.tolist()
        np.testing.assert_allclose(tops.peaks[channel], direct.maxima[expected, channel], rtol=1e-6)
        assert tops.positions[channel].tolist() == direct.positions[expected, channel].tolist()


@pytest.mark.slow  # scikit-learn's first import, for the PCA, takes seconds
def test_a_finished_run_writes_its_embedding_and_channel_tops(tmp_path: Path) -> None:
    dataset = quadrant_dataset()
    folder = RunFolder(tmp_path / "run")
    run = start_run(_nested_spec(), dataset, folder)
    events = list(run.events())
    assert isinstance(events[-1], TrainingFinished)
    model = run.trainer.model

    features, layouts = load_embedding(folder.path / EMBEDDING_FILE)
    direct = penultimate_features(model, dataset)
    assert direct is not None and features.size == dataset.size(Split.TEST) == 160
    assert features.features.shape == (160, 0)
    assert features.labels.tolist() == direct.labels.tolist()
    assert features.predicted.tolist() == direct.predicted.tolist()
    np.testing.assert_allclose(layouts["pca"], pca_embedding(direct.features), rtol=1e-5, atol=1e-5)

    saved = load_channel_tops(folder.path / CHANNELS_FILE)
    names = run.trainer.spec.names()
    assert [top.path for top in saved] == [
        LayerPath.top(0),
        LayerPath((1, 0, 0)),
        LayerPath((1, 0, 1)),
    ]
    assert [top.name for top in saved] == [names[top.path] for top in saved]
    for top in saved:
        assert top.indices.shape == (4, 9)
        _assert_tops_match_the_one_layer_pass(model, top.path, top)


def test_the_running_top_across_small_batches_equals_the_whole_split_ranking() -> None:
    spec = _nested_spec()
    model = build_model(spec, seed=3)
    tops = channel_tops(model, conv_paths(spec), quadrant_dataset(), batch_size=7)
    assert tops is not None and len(tops) == 3
    for top in tops:
        _assert_tops_match_the_one_layer_pass(model, top.path, top)


def test_a_dataset_without_a_test_split_gets_no_files(tmp_path: Path) -> None:
    spec = tiny_spec()
    model = build_model(spec, seed=0)
    empty = quadrant_dataset(n_test=0)
    assert write_run_views(tmp_path, spec, model, empty) == []
    assert not list(tmp_path.iterdir())
