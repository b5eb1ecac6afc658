"""File ▸ Save and Open in the window: failures give a message, the files on disk stay a
consistent pair, and bad-JSON messages keep their line and column."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from PySide6.QtGui import QGuiApplication

from explorer.core.builder import build_model
from explorer.core.project import read_project
from explorer.core.templates import load_template
from explorer.core.weights import load_project_weights, save_project_with_weights
from explorer.ui.editor.stack import LayerStackPanel
from explorer.ui.shell.main_window import MainWindow
from explorer.ui.shell.workbench import Workbench
from tests.faults import disk_with_room
from tests.ui.conftest import workbench_in_window


@pytest.fixture
def bench(qtbot: Any, tmp_path: Path, message_boxes: Any) -> Iterator[Workbench]:
    yield from workbench_in_window(qtbot, load_template("keras-mnist"), tmp_path / "runs")


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_save_with_weights_on_a_full_disk_says_so_and_keeps_the_saved_pair(
    bench: Workbench, tmp_path: Path, message_boxes: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    files, document = bench.window.files, bench.document
    project = tmp_path / "saved" / "net.json"
    trained = build_model(document.spec, seed=0).state_dict()
    bench.set_trained(document.spec, trained)
    assert files.save_to(str(project))
    before = {name: (project.parent / name).read_bytes() for name in _names(project.parent)}

    # A change of architecture, trained again, then File ▸ Save on a full disk.
    changed = document.spec.replace_layer(0, document.spec.layers[0].with_values(filters=8))
    document.edit(changed, "Fewer filters")
    bench.set_trained(changed, build_model(changed, seed=1).state_dict())
    with monkeypatch.context() as patch:
        disk_with_room(patch, 20_000)
        files.save_action.trigger()

    kind, title, text = message_boxes.shown[-1]
    assert (kind, title) == ("critical", "Cannot Save Project")
    assert "No space left on device" in text and str(project) in text
    assert "not saved" in text
    assert not document.is_clean  # the edit is still unsaved
    assert {n: (project.parent / n).read_bytes() for n in _names(project.parent)} == before
    spec, state = load_project_weights(project)  # the old pair, still matching
    assert state is not None and spec.architecture() == load_template("keras-mnist").architecture()
    assert all(torch.equal(state[key], value) for key, value in trained.items())


def test_any_failure_while_saving_is_a_message_not_an_unexpected_error(
    qtbot: Any, window: MainWindow, tmp_path: Path, message_boxes: Any
) -> None:
    def failing_saver(spec: Any, path: str) -> bool:
        raise RuntimeError("PytorchStreamWriter failed writing file data/0")

    window.files.set_weights_saver(failing_saver)
    window.document.edit(replace(window.document.spec, name="changed"), "Rename")
    assert not window.files.save_to(str(tmp_path / "net.json"))
    kind, title, text = message_boxes.shown[-1]
    assert (kind, title) == ("critical", "Cannot Save Project")
    assert "PytorchStreamWriter failed writing file data/0" in text
    assert not window.document.is_clean
    assert _names(tmp_path) == ["config"]  # nothing written (config: the test's settings)


def test_saving_the_open_file_keeps_its_weights_while_they_are_not_loaded(
    qtbot: Any, window: MainWindow, tmp_path: Path
) -> None:
    # The window has not loaded the weights (no workbench yet, or still loading): saving
    # the same network again must not drop the weights the file names.
    spec = load_template("keras-mnist")
    path = tmp_path / "net.json"
    weights = save_project_with_weights(spec, build_model(spec).state_dict(), path)
    assert window.files.open_path(str(path), prompt=False)
    window.document.edit(replace(window.document.spec, name="renamed"), "Rename")
    window.files.save_action.trigger()
    assert window.document.is_clean
    assert read_project(path) == (replace(spec, name="renamed"), weights.name)
    assert load_project_weights(path)[1] is not None


def test_the_bad_json_message_keeps_its_line_and_column(
    qtbot: Any, window: MainWindow, tmp_path: Path, message_boxes: Any
) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": "cnn-explorer",\n "version": 1,\n "layers": [}\n')
    assert not window.files.open_path(str(path), prompt=False)
    assert message_boxes.shown[-1][1] == "Cannot Open Project"
    assert "invalid JSON at line 3, column 13" in message_boxes.shown[-1][2]

    panel = LayerStackPanel(window.document)
    qtbot.addWidget(panel)
    QGuiApplication.clipboard().setText('[{"type": "Dense",\n  "units": }]')
    panel.paste_action.trigger()
    assert message_boxes.shown[-1][1] == "Paste Layers"
    assert "invalid JSON at line 2, column 12" in message_boxes.shown[-1][2]


def test_opening_weights_from_another_version_keeps_the_network_and_says_so(
    qtbot: Any, bench: Workbench, tmp_path: Path, message_boxes: Any
) -> None:
    spec = replace(load_template("keras-mnist"), name="tampered")
    path = tmp_path / "net.json"
    weights = save_project_with_weights(spec, build_model(spec, seed=0).state_dict(), path)
    torch.save(build_model(spec, seed=5).state_dict(), weights)  # same shapes, other weights
    assert bench.window.files.open_path(str(path), prompt=False)
    qtbot.waitUntil(lambda: "Trained Weights Not Loaded" in message_boxes.titles(), timeout=20_000)
    text = message_boxes.shown[-1][2]
    assert "from another version of the project" in text and weights.name in text
    assert bench.document.spec == spec  # the network is kept
    assert bench.trained_state is None  # the weights are not
