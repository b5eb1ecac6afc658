"""Training ▸ Profile Training Step: `python main.py profile` in the window.

The profile (a warm-up and a measured training step under `torch.profiler`, then the search
for the largest batch that fits) runs as a background task with the project's batch size
and device; its measured columns appear in the Summary table beside the estimates, with the
step's peak memory and the largest batch below, until the next edit. An edit while it runs
drops its result (it measured another network).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMenu, QStatusBar

from explorer.core.profile_report import LargestBatch, StepProfile
from explorer.core.spec import NetworkSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.common.tasks import TaskControl, TaskFailed, TaskFinished, TaskProgress, TaskRunner
from explorer.ui.editor.summary import SummaryPanel


@dataclass(frozen=True)
class ProfileResult:
    step: StepProfile
    largest: LargestBatch | None


def profile_job(
    spec: NetworkSpec, *, search: bool = True, budget_bytes: int | None = None, cap: int = 0
) -> Callable[[TaskControl], ProfileResult]:
    """The task: profile `spec` with its own batch size and device (off the GUI thread)."""

    def job(control: TaskControl) -> ProfileResult:
        from explorer.core.profiling import profile_network
        from explorer.core.profiling_batch import DEFAULT_CAP, largest_batch

        training = spec.training
        cancel = control.stop_event
        step = profile_network(spec, training.batch_size, training.device, cancel=cancel)
        largest = None
        if search:
            control.report("searching for the largest batch that fits…")
            largest = largest_batch(
                spec,
                training.device,
                budget_bytes=budget_bytes,
                cap=cap or DEFAULT_CAP,
                cancel=cancel,
            )
        return ProfileResult(step, largest)

    return job


class ProfileActions(QObject):
    """The Profile action, its task runner and where the result goes."""

    def __init__(
        self,
        document: ProjectDocument,
        summary: SummaryPanel,
        summary_dock: QDockWidget,
        status: QStatusBar,
        menu: QMenu,
    ) -> None:
        super().__init__(menu)
        self.document = document
        self.summary = summary
        self._dock = summary_dock
        self._status = status
        #: settings of the largest-batch search (tests make it small and fast)
        self.search = True
        self.budget_bytes: int | None = None
        self.cap = 0
        self.runner = TaskRunner("profile", self)
        self.runner.finished.connect(self._on_runner_finished)
        self.runner.failed.connect(self._on_runner_failed)
        self.runner.progressed.connect(self._on_runner_progressed)
        self.action = QAction("&Profile Training Step", self)
        self.action.setObjectName("profileAction")
        self.action.setToolTip(
            "Measure one training step per layer (forward and backward time, memory) and "
            "the largest batch that fits, as `python main.py profile` does"
        )
        self.action.triggered.connect(self.start)
        menu.addAction(self.action)
        document.spec_changed.connect(self._on_document_spec_changed)

    @Slot()
    def start(self) -> None:
        analysis = self.document.analysis
        if analysis.errors:
            self._status.showMessage("Profile: fix the network's errors first", 10000)
            return
        self.runner.invalidate()  # a profile already running measures the same spec
        self.runner.start(
            profile_job(
                self.document.spec, search=self.search, budget_bytes=self.budget_bytes, cap=self.cap
            )
        )
        self.action.setEnabled(False)
        self._status.showMessage("Profiling a training step…")

    def shutdown(self) -> None:
        self.runner.shutdown()

    @Slot()
    def _on_document_spec_changed(self) -> None:
        if self.runner.busy:
            self.runner.invalidate()
            self.action.setEnabled(True)
            self._status.showMessage("Profile dropped: the network changed", 5000)

    @Slot(object)
    def _on_runner_progressed(self, progress: TaskProgress[str]) -> None:
        self._status.showMessage(f"Profiling: {progress.value}")

    @Slot(object)
    def _on_runner_finished(self, result: TaskFinished[ProfileResult]) -> None:
        self.action.setEnabled(True)
        self.summary.show_profile(result.value.step, result.value.largest)
        self._dock.show()
        self._dock.raise_()
        self._status.showMessage("Profile shown in the Summary", 5000)

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        self.action.setEnabled(True)
        self._status.showMessage(f"Profile failed: {failure.message}", 10000)
