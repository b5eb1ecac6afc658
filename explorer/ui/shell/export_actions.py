"""File ▸ Export: PyTorch source, weights, TorchScript and ONNX of the current network.

The export runs as a background task (ONNX takes seconds) while a busy dialog shows; the
network is built from the spec and the weights of the latest trained run when they fit it,
otherwise freshly initialised with the spec's seed (and the user is told which).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QProgressDialog

from explorer.core.analysis import Analysis, analyze
from explorer.core.export_formats import FORMATS
from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskRunner

log = logging.getLogger(__name__)

# The weights the export should use: a state_dict matching the spec, or None.
WeightsProvider = Callable[[NetworkSpec], dict[str, Any] | None]
# An ensemble's members' weights when they match the spec (exported as one model), or ().
MembersProvider = Callable[[NetworkSpec], tuple[dict[str, Any], ...]]


def onnx_installed() -> bool:
    """Whether the onnx extra is installed, found without importing it (onnxscript alone
    takes seconds to import, and the menu is built on the GUI thread)."""
    for name in ("onnx", "onnxscript"):
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def target_problem(fmt: str, target: Path, with_weights: bool) -> str | None:
    """Why the export cannot be written at `target`, in the user's words, or None.

    Checked before the export starts, so a folder in the way is named as such (the write
    itself would only report the temporary file it could not rename).
    """
    paths = [target]
    if fmt == "pytorch" and with_weights:
        paths.append(target.with_suffix(".pt"))  # the weights written beside the source
    for path in paths:
        if path.is_dir():
            return (
                f"{path} is a folder, so the export cannot be written there. Choose a file "
                f"name inside it (for example {path / ('model' + path.suffix)}) or another name."
            )
        if path.exists() and not path.is_file():
            return f"{path} exists and is not a regular file. Choose another name."
    return None


def export_network(
    spec: NetworkSpec,
    state: dict[str, Any] | None,
    fmt: str,
    path: Path,
    members: tuple[dict[str, Any], ...] = (),
) -> str:
    """Write the export files (of an ensemble's `members`, one model averaging them);
    returns a sentence for the user. Runs off the GUI thread."""
    from explorer.core.export import export_network as write_export
    from explorer.core.export.ensemble_export import export_ensemble

    if members:
        written = export_ensemble(spec, members, fmt, path)
        origin = f"the trained weights of an ensemble of {len(members)}"
    else:
        written = write_export(spec, state, fmt, path)
        origin = (
            "trained weights"
            if state is not None
            else "freshly initialised weights (the network has not been trained)"
        )
    return f"Exported {' and '.join(p.name for p in written)} with {origin}."


class ExportActions(QObject):
    """Owns the Export menu of one window; `export_ended(message)` once an export has
    been written or has failed (the message is what the user was told)."""

    export_ended = Signal(str)

    def __init__(
        self,
        window: QMainWindow,
        spec_source: Callable[[], NetworkSpec],
        weights: WeightsProvider,
        members: MembersProvider | None = None,
        analysis_of: Callable[[NetworkSpec], Analysis] | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self._spec_source = spec_source
        # The document's (the spec it shows is analysed already); without one, analyze.
        self._analysis_of = analysis_of
        self._weights = weights
        self._members = members
        self._runner = TaskRunner("export", self)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._progress: QProgressDialog | None = None
        self._target: Path | None = None
        self.menu = QMenu("E&xport", window)
        self.menu.setToolTipsVisible(True)
        self.actions: dict[str, QAction] = {}
        for fmt in FORMATS:
            action = self.menu.addAction(fmt.title)
            action.triggered.connect(lambda checked=False, f=fmt: self.export(f.key))
            self.actions[fmt.key] = action
        self.onnx_hint = ""
        if not onnx_installed():
            from explorer.core.export import ONNX_INSTALL_HINT

            self.onnx_hint = ONNX_INSTALL_HINT
            onnx = self.actions["onnx"]
            onnx.setEnabled(False)
            onnx.setToolTip(ONNX_INSTALL_HINT)
            onnx.setStatusTip(ONNX_INSTALL_HINT)

    def export(self, key: str, path: str | None = None) -> bool:
        """Ask for a file (unless given) and export to it in the background."""
        fmt = next(f for f in FORMATS if f.key == key)
        if key == "onnx" and self.onnx_hint:
            QMessageBox.information(self.window, "Export", self.onnx_hint)
            return False
        spec = self._spec_source()
        analysis = analyze(spec) if self._analysis_of is None else self._analysis_of(spec)
        if analysis.errors:
            QMessageBox.warning(
                self.window,
                "Export",
                "The network has errors; fix them before exporting:\n" + analysis.errors[0].text(),
            )
            return False
        if path is None:
            stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in spec.name.lower())
            path, _ = QFileDialog.getSaveFileName(
                self.window, "Export", stem + fmt.suffix, fmt.file_filter
            )
            if not path:
                return False
        target = Path(path)
        if target.suffix == "":
            target = target.with_suffix(fmt.suffix)
        weights = self._weights(spec)
        members = self._members(spec) if self._members is not None else ()
        problem = target_problem(key, target, weights is not None or bool(members))
        if problem is not None:
            QMessageBox.warning(self.window, "Export", problem)
            return False
        self._target = target
        self._progress = QProgressDialog(f"Exporting {target.name}…", "", 0, 0, self.window)
        self._progress.setCancelButton(None)
        self._progress.setWindowModality(Qt.WindowModality.WindowModal)
        self._progress.setMinimumDuration(300)
        self._runner.start(lambda control: export_network(spec, weights, key, target, members))
        return True

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    @Slot(object)
    def _on_runner_finished(self, result: TaskFinished[str]) -> None:
        self._close_progress()
        message = result.value
        self.window.statusBar().showMessage(message, 8000)
        self.export_ended.emit(message)

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        self._close_progress()
        error, message = failure.error, failure.message
        if isinstance(error, OSError) and self._target is not None:
            # The OS error names the temporary file the write went through: name the target.
            reason = error.strerror or type(error).__name__
            message = (
                f"Could not write {self._target}: {reason}. Nothing was written; "
                "choose another name or folder."
            )
        QMessageBox.critical(self.window, "Export failed", message)
        self.export_ended.emit(message)

    def shutdown(self) -> None:
        self._runner.shutdown()
