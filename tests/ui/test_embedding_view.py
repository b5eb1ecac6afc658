"""The Embedding tab on real MNIST: layouts arrive from the task runner, a click on a dot
names its image and lists the neighbours that brute force finds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from explorer.core.builder import build_model
from explorer.core.embedding import pca_embedding, penultimate_features
from explorer.core.evaluation import evaluate
from explorer.ui.evaluation.embedding import EmbeddingView
from explorer.ui.evaluation.panel import EvaluationPanel
from tests.core.test_evaluation import mnist_subset, small_net


@pytest.fixture
def network(real_datasets: Path) -> Any:
    torch.set_num_threads(1)
    dataset = mnist_subset(real_datasets, train=200, test=400)
    spec = small_net()
    model = build_model(spec, seed=0).eval()
    return spec, model, dataset, evaluate(model, dataset, "test")


def _view(qtbot: Any, network: Any) -> EmbeddingView:
    spec, model, dataset, evaluation = network
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.resize(900, 560)
    view.show()
    qtbot.waitExposed(view)
    view.set_network(spec, model.state_dict())
    view.set_evaluation(evaluation, dataset, dataset.info.class_names)
    return view


def _click_point(qtbot: Any, view: EmbeddingView, xy: np.ndarray) -> None:
    box = view.plot.getPlotItem().getViewBox()
    scene = box.mapViewToScene(QPointF(float(xy[0]), float(xy[1])))
    where = view.plot.mapFromScene(scene)
    qtbot.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, pos=where)


def test_pca_layout_is_scikit_learns_and_a_click_names_the_image(qtbot, network) -> None:
    _spec, model, dataset, evaluation = network
    view = _view(qtbot, network)
    with qtbot.waitSignal(view.layout_shown, timeout=30000):
        assert view.compute()
    shown = view.shown
    assert shown is not None and shown.method == "PCA"
    features = penultimate_features(model, dataset)
    assert features is not None
    np.testing.assert_allclose(shown.features.features, features.features, rtol=1e-5)
    np.testing.assert_allclose(shown.layout, pca_embedding(features.features), atol=1e-4)
    drawn = sum(len(item.data) for item in view.point_items())
    assert drawn == dataset.size("test")
    assert len(view.point_items()[-1].data) == int(
        (evaluation.predicted != evaluation.true_labels).sum()
    )

    # The most isolated point, so the click can only hit it.
    layout = shown.layout
    spread = np.ptp(layout, axis=0)
    scaled = layout / spread
    gaps = np.linalg.norm(scaled[:, None] - scaled[None], axis=2)
    np.fill_diagonal(gaps, np.inf)
    row = int(gaps.min(axis=1).argmax())
    with qtbot.waitSignal(view.image_chosen, timeout=5000) as chosen:
        _click_point(qtbot, view, layout[row])
    assert chosen.args == ["test", int(shown.features.indices[row])]

    brute = np.linalg.norm(features.features - features.features[row], axis=1)
    brute[row] = np.inf
    assert view.neighbour_indices() == np.argsort(brute, kind="stable")[:8].tolist()


def test_the_panel_relays_the_embeddings_image_choice(qtbot, network) -> None:
    spec, model, dataset, evaluation = network
    panel = EvaluationPanel()
    qtbot.addWidget(panel)
    panel.set_network(spec, model.state_dict())
    panel.set_evaluation(evaluation, dataset, dataset.info.class_names)
    with qtbot.waitSignal(panel.embedding.layout_shown, timeout=30000):
        panel.embedding.compute()
    with qtbot.waitSignal(panel.image_chosen, timeout=5000) as chosen:
        panel.embedding.choose_row(5)
    assert chosen.args == ["test", 5]
    panel.shutdown()


@pytest.mark.slow
def test_tsne_runs_in_the_background_with_progress_and_can_be_stopped(qtbot, network) -> None:
    view = _view(qtbot, network)
    view.method.setCurrentText("t-SNE")
    ticks: list[int] = []
    view.runner.progressed.connect(lambda progress: ticks.append(view.progress.value()))
    with qtbot.waitSignal(view.layout_shown, timeout=120000) as shown:
        qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
        assert view.stop_button.isEnabled() and view.progress.isVisible()
    assert shown.args == ["t-SNE"]
    assert ticks and ticks[-1] == 100 and ticks == sorted(ticks)
    assert view.shown is not None and view.shown.layout.shape == (400, 2)
    assert not view.progress.isVisible()

    with qtbot.waitSignal(view.runner.progressed, timeout=60000):
        view.compute()
    qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
    assert view.runner.join(60)
    assert view.status.text() == "Stopped."
    assert view.shown.method == "t-SNE"
    view.shutdown()


def test_a_finished_runs_saved_layout_is_shown_without_working_it_out(
    qtbot, network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.core.app.run_views import write_run_views
    from explorer.ui.evaluation import embedding

    spec, model, dataset, _evaluation = network
    view = _view(qtbot, network)
    assert not view.show_run(tmp_path)  # no embedding.npz: nothing to show
    write_run_views(tmp_path, spec, model, dataset)

    def no_layout(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the saved layout was worked out again")

    monkeypatch.setattr(embedding, "embedding_job", no_layout)
    monkeypatch.setattr("explorer.core.embedding.pca_embedding", no_layout)
    with qtbot.waitSignal(view.layout_shown, timeout=30000):
        assert view.show_run(tmp_path)
    shown = view.shown
    assert shown is not None and shown.method == "PCA"
    features = penultimate_features(model, dataset)
    assert features is not None
    np.testing.assert_allclose(shown.features.features, features.features, rtol=1e-5)
    monkeypatch.undo()
    np.testing.assert_allclose(shown.layout, pca_embedding(features.features), atol=1e-4)
    assert sum(len(item.data) for item in view.point_items()) == dataset.size("test")
