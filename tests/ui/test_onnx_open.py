"""File ▸ Open of an .onnx model: it opens unsaved, with its weights held as trained."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from explorer.core.builder import build_model, build_with_weights
from explorer.core.export import export_onnx
from explorer.core.templates import load_template
from explorer.ui.shell.workbench import Workbench
from tests.ui.conftest import workbench_in_window
from tests.ui.test_training import TIMEOUT_MS, tiny_spec

pytest.importorskip("onnx")


@pytest.fixture
def bench(qtbot: Any, tmp_path: Path, message_boxes: Any) -> Iterator[Workbench]:
    yield from workbench_in_window(qtbot, tiny_spec(), tmp_path / "runs")


def test_opening_an_onnx_model_shows_its_network_with_its_weights(
    qtbot: Any, bench: Workbench, tmp_path: Path
) -> None:
    spec = load_template("lenet5")
    model = build_model(spec, seed=5).eval()
    path = tmp_path / "lenet.onnx"
    export_onnx(model, path)

    files = bench.window.files
    assert files.open_path(str(path), prompt=False)
    qtbot.waitUntil(lambda: bench.document.spec.name == "lenet", timeout=TIMEOUT_MS)
    assert bench.document.path is None  # unsaved: Save asks where
    assert bench.document.spec.input == spec.input
    state = bench.trained_state
    assert state is not None
    rebuilt = build_with_weights(bench.document.spec, state).eval()
    images = torch.randn(2, *spec.input.shape)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(images), model(images), atol=1e-5, rtol=0)


def test_a_broken_onnx_file_shows_a_message_and_keeps_the_project(
    qtbot: Any, bench: Workbench, tmp_path: Path, message_boxes: Any
) -> None:
    before = bench.document.spec
    path = tmp_path / "broken.onnx"
    path.write_text("not a model")
    assert bench.window.files.open_path(str(path), prompt=False)
    qtbot.waitUntil(lambda: bool(message_boxes.shown), timeout=TIMEOUT_MS)
    kind, title, text = message_boxes.shown[-1]
    assert (kind, title) == ("critical", "Cannot Import Model")
    assert "not a readable ONNX model" in text
    assert bench.document.spec == before
