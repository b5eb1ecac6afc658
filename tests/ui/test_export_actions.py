"""File ▸ Export: the formats on offer, ONNX without its extra, and targets in the way."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog, QMainWindow

from explorer.commands import export as export_command
from explorer.core import files
from explorer.core.builder import build_model
from explorer.core.export import EXPORT_FORMATS, ONNX_INSTALL_HINT
from explorer.core.export_formats import FORMATS
from explorer.core.templates import load_template
from explorer.ui.shell.export_actions import ExportActions, onnx_installed

SPEC = load_template("keras-mnist")


def test_command_line_and_menu_offer_exactly_the_core_export_formats(qtbot: Any) -> None:
    parser = argparse.ArgumentParser()
    export_command.add_arguments(parser)
    (choice,) = [a for a in parser._actions if a.dest == "format"]
    assert tuple(choice.choices or ()) == EXPORT_FORMATS == tuple(f.key for f in FORMATS)
    window = QMainWindow()
    qtbot.addWidget(window)
    menu = ExportActions(window, lambda: SPEC, lambda spec: None).menu
    assert [a.text() for a in menu.actions() if a.text()] == [f.title for f in FORMATS]


def _actions(qtbot: Any, weights: Any = None) -> Iterator[ExportActions]:
    window = QMainWindow()
    qtbot.addWidget(window)
    actions = ExportActions(window, lambda: SPEC, lambda spec: weights)
    yield actions
    actions.shutdown()


@pytest.fixture
def export_actions(qtbot: Any) -> Iterator[ExportActions]:
    yield from _actions(qtbot)


@pytest.fixture
def no_file_dialog(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> tuple[str, str]:
        asked.append(str(args[1:]))
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(refuse))
    return asked


def test_onnx_is_disabled_with_the_install_hint_without_the_extra(
    qtbot: Any, monkeypatch: pytest.MonkeyPatch, message_boxes: Any, no_file_dialog: list[str]
) -> None:
    # None in sys.modules makes `import onnxscript` raise ImportError, as when not installed.
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    assert not onnx_installed()
    for actions in _actions(qtbot):
        onnx = actions.actions["onnx"]
        assert not onnx.isEnabled()
        assert onnx.toolTip() == ONNX_INSTALL_HINT
        assert actions.menu.toolTipsVisible()
        assert all(actions.actions[key].isEnabled() for key in ("pytorch", "torchscript"))
        # Asked directly (a script, a shortcut), it says so before any file dialog.
        assert not actions.export("onnx")
        assert message_boxes.shown == [("information", "Export", ONNX_INSTALL_HINT)]
        assert no_file_dialog == []


def test_onnx_is_offered_when_the_extra_is_installed(export_actions: ExportActions) -> None:
    if not onnx_installed():
        pytest.skip("the onnx extra is not installed here")
    assert export_actions.actions["onnx"].isEnabled()
    assert export_actions.actions["onnx"].toolTip() != ONNX_INSTALL_HINT


def test_exporting_onto_a_folder_says_it_is_a_folder_and_what_to_do(
    tmp_path: Path, export_actions: ExportActions, message_boxes: Any
) -> None:
    folder = tmp_path / "net.py"
    folder.mkdir()
    assert not export_actions.export("pytorch", str(folder))
    [(kind, title, text)] = message_boxes.shown
    assert kind == "warning" and title == "Export"
    assert text.startswith(f"{folder} is a folder")
    assert "Choose a file name inside it" in text and ".tmp" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.py"]
    assert list(folder.iterdir()) == []


def test_a_folder_where_the_weights_go_beside_the_source_is_named(
    tmp_path: Path, qtbot: Any, message_boxes: Any
) -> None:
    (tmp_path / "net.pt").mkdir()
    state = build_model(SPEC, seed=0).state_dict()
    for actions in _actions(qtbot, state):
        assert not actions.export("pytorch", str(tmp_path / "net.py"))
    [(_, _, text)] = message_boxes.shown
    assert text.startswith(f"{tmp_path / 'net.pt'} is a folder")
    assert not (tmp_path / "net.py").exists()


def test_a_failed_write_names_the_target_not_its_temporary_file(
    tmp_path: Path,
    qtbot: Any,
    monkeypatch: pytest.MonkeyPatch,
    export_actions: ExportActions,
    message_boxes: Any,
) -> None:
    def full_disk(source: Any, destination: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(source))

    monkeypatch.setattr(files.os, "replace", full_disk)
    target = tmp_path / "net.py"
    with qtbot.waitSignal(export_actions.export_ended, timeout=30_000):
        assert export_actions.export("pytorch", str(target))
    [(kind, title, text)] = message_boxes.shown
    assert (kind, title) == ("critical", "Export failed")
    assert text == (
        f"Could not write {target}: No space left on device. Nothing was written; "
        "choose another name or folder."
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_a_network_with_blocks_exports_from_the_menu_with_its_weights(
    tmp_path: Path, qtbot: Any, message_boxes: Any
) -> None:
    import torch

    from tests.core.test_export_nested_specs import block_specs

    spec = block_specs()[1]
    model = build_model(spec, seed=4).eval()
    window = QMainWindow()
    qtbot.addWidget(window)
    actions = ExportActions(window, lambda: spec, lambda s: model.state_dict())
    target = tmp_path / "blocks.pt"
    with qtbot.waitSignal(actions.export_ended, timeout=60_000) as ended:
        assert actions.export("torchscript", str(target))
    actions.shutdown()
    assert ended.args == ["Exported blocks.pt with trained weights."]
    assert message_boxes.shown == []
    inputs = torch.randn(2, *spec.input.shape)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(target))(inputs), model(inputs))


def test_a_network_the_format_cannot_express_is_reported_in_a_dialog(
    tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch, message_boxes: Any
) -> None:
    from explorer.core import builder
    from tests.core.test_export_refusals import TakesVarargs, _network

    monkeypatch.setattr(builder, "build_model", lambda spec, seed=None: _network(TakesVarargs()))
    for actions in _actions(qtbot):
        with qtbot.waitSignal(actions.export_ended, timeout=60_000):
            assert actions.export("torchscript", str(tmp_path / "m.pt"))
    [(kind, title, text)] = message_boxes.shown
    assert (kind, title) == ("critical", "Export failed")
    assert text.startswith("cannot export as TorchScript: Compiled functions")
    assert list(tmp_path.iterdir()) == []


def test_the_window_exports_with_the_analysis_it_shows_not_a_new_one(
    tmp_path: Path, qtbot: Any, message_boxes: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explorer.ui.common import document as document_module
    from explorer.ui.shell import export_actions as export_module
    from explorer.ui.shell.main_window import MainWindow
    from explorer.ui.shell.workbench import Workbench

    window = MainWindow(SPEC)
    qtbot.addWidget(window)
    bench = Workbench(window, runs_root=tmp_path / "runs", warm_up=False)
    analysed: list[object] = []

    def counted(spec: Any, **kwargs: Any) -> Any:
        analysed.append(spec)
        raise AssertionError("analysed again on the GUI thread")

    # (a deep network's analysis takes a while: the one shown is the spec's)
    monkeypatch.setattr(export_module, "analyze", counted)
    monkeypatch.setattr(document_module, "analyze", counted)
    target = tmp_path / "net.py"
    with qtbot.waitSignal(bench.export.export_ended, timeout=60_000) as ended:
        assert bench.export.export("pytorch", str(target))
    assert analysed == [] and target.is_file()
    assert ended.args[0].startswith("Exported net.py")
    bench.export.shutdown()
    window.document.undo_stack.setClean()
