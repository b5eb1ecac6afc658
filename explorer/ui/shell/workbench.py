"""Joins the panels that need torch — training, inspect, evaluation, export — to the window.

Built just after the window first paints (torch loads then, not before), as the window's
child: it makes each feature's objects itself (the training ones through `TrainingDocks`)
and hands them what they need, so no panel knows the window. It owns the one fact the
panels share: the trained weights of the current network, which come from the latest run
(live snapshots while it trains) or from a project saved with its weights, and which are
forgotten as soon as an edit changes the network's structure.

Data flow: training controller ─weights_updated→ trained weights ─→ Inspect (live maps);
training_finished (or Training ▸ Evaluate, at any time) ─→ evaluate as a background task ─→
Evaluation panel ─image_chosen→ Inspect. Runs ▸ Resume continues a stopped run; closing the
window while a run trains asks first.

Its docks are there from the first turn, their panels are built in later ones (see
`deferred.py`): `inspect`, `evaluation` and `runs` make theirs when first asked for, and
the slots here skip a panel not made yet, whose builder starts it from the current state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

from explorer.core.app.trained_weights import (
    State,
    TrainedWeights,
    evaluate_weights,
    share_weights,
)
from explorer.core.dataset_split import Split
from explorer.core.paths import LayerPath
from explorer.core.project import ProjectError, read_project
from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskRunner
from explorer.ui.evaluation.embedding import EmbeddingView
from explorer.ui.evaluation.panel import EvaluationPanel
from explorer.ui.inspect.panel import InspectPanel
from explorer.ui.shell.deferred import BuildQueue, Deferred, DeferredDock, scrollable
from explorer.ui.shell.ensemble_results import ensemble_task
from explorer.ui.shell.export_actions import ExportActions
from explorer.ui.shell.main_window import MainWindow
from explorer.ui.shell.profile_actions import ProfileActions
from explorer.ui.shell.runs_menu import RunsMenu
from explorer.ui.shell.screen_fit import float_large
from explorer.ui.shell.training_docks import TrainingDocks
from explorer.ui.training.runs import RunsPanel

log = logging.getLogger(__name__)


class Workbench(QObject):
    def __init__(
        self,
        window: MainWindow,
        *,
        runs_root: str | Path | None = None,
        data_dir: str | Path | None = None,
        warm_up: bool = True,
    ) -> None:
        super().__init__(window)
        self.setObjectName("workbench")  # found as the window's child of that name
        self.window = window
        self.document = window.document
        self._trained = TrainedWeights()
        self._dataset: Any = None
        self._shut_down = False
        # A project's saved weights and evaluations load off the GUI thread.
        self.weights_loader = TaskRunner("project-weights", self)
        self.weights_loader.finished.connect(self._on_weights_loader_finished)
        self.weights_loader.failed.connect(self._on_weights_loader_failed)
        self.evaluator = TaskRunner("evaluation", self)
        self.evaluator.finished.connect(self._on_evaluator_finished)
        self.evaluator.failed.connect(self._on_evaluator_failed)
        #: Bring the Evaluation tab forward once the next evaluation is shown (asked for).
        self.show_next_evaluation = False
        # No panel is built while a deep network's analysis is coming (unless shown).
        self._queue = BuildQueue(self, hold=lambda: bool(self.document.analysing))
        # Each new dock lands stacked before it is tabified, which grows the window past
        # the screen; put the size back once every dock is in its place.
        size = window.size()
        window.begin_late_docks()
        try:
            self._add_docks(window, runs_root, data_dir, warm_up)
        finally:  # the saved layout is applied to whatever docks exist, even after an error
            window.resize(size)
            window.finish_late_docks()
        for dock, key in ((self.inspect_dock, "F9"), (self.evaluation_dock, "F10")):
            action = window.menus.view_menu.addAction(f"{dock.windowTitle()} in Own Window")
            action.setShortcut(QKeySequence(key))
            action.triggered.connect(lambda checked=False, d=dock: float_large(d, window))

        self.export = ExportActions(
            window,
            self.document.settled_spec,
            self.weights_for,
            self.members_for,
            analysis_of=self.document.analysis_of,
        )
        window.menus.add_file_menu(self.export.menu)
        window.files.set_weights_saver(self.save_with_weights)
        window.files.set_weights_adopter(self.set_trained)

        self.evaluate_action = self.training_docks.menu.addAction("&Evaluate Current Weights")
        self.evaluate_action.setShortcut(QKeySequence("F7"))
        self.evaluate_action.setToolTip(
            "Measure the network's current weights on the test set (also while it trains)"
        )
        self.evaluate_action.triggered.connect(self.evaluate_now)
        self.profile = ProfileActions(
            self.document,
            window.summary,
            window.summary_dock,
            window.statusBar(),
            self.training_docks.menu,
        )
        self.runs_menu = RunsMenu(self, self._trained)
        self.resume_action = self.runs_menu.resume_action
        self.ensembles = self.runs_menu.ensembles
        window.close_guards.append(self.confirm_close)

        self.document.spec_changed.connect(self._on_document_spec_changed)
        self.document.path_changed.connect(self._on_document_path_changed)
        self.training.weights_updated.connect(self._on_training_weights_updated)
        # Evaluate once the run's thread has ended: its final weights arrive after the
        # finished event, and run_ended comes after every signal the worker sent.
        self.training.run_ended.connect(self._on_training_run_ended)
        self.training.dataset_loaded.connect(self._on_training_dataset_loaded)
        # The stack's selection and the feature-map list follow each other, at any depth.
        stack_selection = window.stack.view.selectionModel()
        stack_selection.currentChanged.connect(self._on_stack_current_changed)
        stack_selection.selectionChanged.connect(self._on_stack_current_changed)
        window.closing.connect(self.shutdown)
        if self.document.path:
            self._on_document_path_changed(self.document.path)

    def _add_docks(
        self,
        window: MainWindow,
        runs_root: str | Path | None,
        data_dir: str | Path | None,
        warm_up: bool,
    ) -> None:
        self.training_docks = TrainingDocks(
            window, runs_root=runs_root, data_dir=data_dir, warm_up=warm_up, queue=self._queue
        )
        self.training = self.training_docks.controller
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.inspect_dock = window.add_dock(
            "Inspect", QWidget(), right, "inspectDock", dock_type=DeferredDock
        )
        self.evaluation_dock = window.add_dock(
            "Evaluation", QWidget(), right, "evaluationDock", dock_type=DeferredDock
        )
        # Scrollable, so these big panels never force the window past a 1280×800 screen.
        self._inspect = Deferred(
            self._queue, self._build_inspect, self.inspect_dock, content=scrollable
        )
        self._queue.add(self._inspect, first=True)  # the one most often looked at
        self._embedding = Deferred(self._queue, EmbeddingView)  # the Evaluation's, a turn ahead
        self._evaluation = Deferred(
            self._queue, self._build_evaluation, self.evaluation_dock, content=scrollable
        )
        # Beside the summary and curves: the roomiest place a 1280×800 window has.
        window.tabifyDockWidget(self.training_docks.curves_dock, self.inspect_dock)
        window.tabifyDockWidget(self.inspect_dock, self.evaluation_dock)
        # The editor's panels in front at start-up; training raises its own when it starts.
        window.properties_dock.raise_()
        window.summary_dock.raise_()

    # ---- the panels, made when first needed --------------------------------------------------

    @property
    def inspect(self) -> InspectPanel:
        return self._inspect.get()

    @property
    def evaluation(self) -> EvaluationPanel:
        return self._evaluation.get()

    @property
    def runs(self) -> RunsPanel:
        return self.training_docks.runs

    def _build_inspect(self) -> InspectPanel:
        # Behind another tab it captures nothing: the model the capture thread would build
        # for each edit of a deep network competes with the GUI thread for the interpreter.
        inspect = InspectPanel(capture_only_on_screen=True)
        inspect.picker.image_chosen.connect(self._on_picker_image_chosen)
        inspect.feature_maps.layer_selected.connect(self._on_feature_maps_layer_selected)
        inspect.set_members(self._trained.members)
        inspect.set_spec(self.document.spec, self.trained_state)
        if self._fits(self._dataset):
            inspect.set_dataset(self._dataset)
        inspect.feature_maps.select_path(self.window.stack.current_path())
        return inspect

    def _build_evaluation(self) -> EvaluationPanel:
        evaluation = EvaluationPanel(embedding=self._embedding.get())
        evaluation.image_chosen.connect(self._on_evaluation_image_chosen)
        return evaluation

    def _fits(self, dataset: Any) -> bool:
        """Whether `dataset` (None: none loaded) has the network's input shape."""
        shape = self.document.spec.input.shape
        return dataset is not None and tuple(dataset.info.input_shape) == shape

    # ---- the trained weights ----------------------------------------------------------------

    @property
    def trained_state(self) -> State | None:
        return self._trained.state

    @property
    def dataset(self) -> Any:
        """The resident dataset of the latest run (None before one has loaded)."""
        return self._dataset

    def weights_for(self, spec: NetworkSpec) -> State | None:
        """The trained weights when they belong to this network, else None."""
        return self._trained.for_network(spec)

    def members_for(self, spec: NetworkSpec) -> tuple[State, ...]:
        """An ensemble's members' weights when they belong to this network, else ()."""
        return self._trained.members if self._trained.belong_to(spec) else ()

    def set_trained(
        self, spec: NetworkSpec, state: State | None, members: Sequence[State] = ()
    ) -> None:
        """Hold `state` (with an ensemble's `members`, the one shown by default)."""
        self._trained.hold(spec, state, members)
        inspect = self._inspect.built
        if inspect is not None:
            inspect.set_members(self._trained.members)
            if state is not None:
                inspect.refresh_from_weights(state)

    def save_with_weights(self, spec: NetworkSpec, path: str) -> bool:
        """File ▸ Save's hook: write the project with its trained weights, if any."""
        state = self.weights_for(spec)
        if state is None:
            return False
        from explorer.core.weights import save_project_with_weights

        save_project_with_weights(spec, state, path, members=self.members_for(spec))
        return True

    # ---- slots ------------------------------------------------------------------------------

    @Slot()
    def _on_stack_current_changed(self) -> None:
        if (inspect := self._inspect.built) is not None:
            inspect.feature_maps.select_path(self.window.stack.current_path())

    @Slot(LayerPath)
    def _on_feature_maps_layer_selected(self, path: LayerPath) -> None:
        self.window.stack.select_paths([path])

    @Slot()
    def _on_document_spec_changed(self) -> None:
        spec = self.document.spec
        inspect, evaluation = self._inspect.built, self._evaluation.built
        if self._trained.forget_unless_for(spec):  # an edit changed the network
            if evaluation is not None:
                evaluation.mark_outdated()
            if inspect is not None:
                inspect.set_members(())
            self.window.stack.model.set_health({})  # the run's health was of the old one
        if inspect is not None:
            inspect.set_spec(spec, self.trained_state)

    @Slot(str)
    def _on_document_path_changed(self, path: str) -> None:
        if not path or not Path(path).is_file():
            return
        try:
            _, weights_name = read_project(path)
        except ProjectError:
            return  # the document already holds what it could read
        if weights_name is None or self.weights_for(self.document.spec) is not None:
            return  # no weights saved, or they are the ones we hold (a save just wrote them)
        from explorer.core.weights import load_project_members

        self.weights_loader.invalidate()  # only the latest project's weights count
        self.weights_loader.start(lambda control: load_project_members(path))

    @Slot(object)
    def _on_weights_loader_finished(
        self, result: TaskFinished[tuple[NetworkSpec, State | None, tuple[State, ...]]]
    ) -> None:
        spec, state, members = result.value
        if share_weights(spec, self.document.spec):
            self.set_trained(spec, state, members)
            what = f"ensemble of {len(members)}" if members else "trained weights"
            self.window.statusBar().showMessage(f"Loaded the project's {what}", 6000)

    @Slot(object)
    def _on_weights_loader_failed(self, failure: TaskFailed) -> None:
        QMessageBox.warning(
            self.window,
            "Trained Weights Not Loaded",
            f"The project opened without its trained weights: {failure.message}",
        )

    @Slot(object)
    def _on_training_weights_updated(self, state: object) -> None:
        # The network is locked while it trains, so the document's spec is the run's.
        assert isinstance(state, dict)
        self.set_trained(self.document.spec, state)

    @Slot(object)
    def _on_training_dataset_loaded(self, dataset: Any) -> None:
        self._dataset = dataset
        if (inspect := self._inspect.built) is not None and self._fits(dataset):
            inspect.set_dataset(dataset)

    @Slot(str)
    def _on_training_run_ended(self, run_dir: str) -> None:
        from explorer.core.training import TrainingFinished

        event = self.training.last_event
        if not isinstance(event, TrainingFinished) or self._dataset is None:
            return
        if event.evaluation is not None:
            # The trainer's own final test measure: no second pass over the test set.
            self._show_evaluation(event.evaluation, self._dataset)
            # What the run saved for looking inside: no pass over the test set again.
            self.evaluation.embedding.show_run(run_dir)
            self.inspect.channels.show_run(run_dir)
            return
        state = self._trained.state
        if state is None:
            return
        spec, dataset = self.document.spec, self._dataset
        self.evaluator.start(lambda control: evaluate_weights(spec, state, dataset))

    # ---- on-demand evaluation, resuming, closing ---------------------------------------------

    @Slot()
    def evaluate_now(self) -> bool:
        """Evaluate the weights the network has now (live during a run) on the test set;
        False when there are none to evaluate or an evaluation is under way."""
        spec = self.document.spec
        state = self.weights_for(spec)
        if state is None:
            self.window.statusBar().showMessage(
                "Nothing to evaluate yet: train the network (or open a project saved with its "
                "weights) first",
                8000,
            )
            return False
        if self.evaluator.busy:
            return False
        dataset = self._dataset
        if dataset is not None and (
            tuple(dataset.info.input_shape) != spec.input.shape
            or dataset.info.num_classes != spec.num_classes
        ):
            dataset = None  # of another network: load the right one
        self.window.statusBar().showMessage("Evaluating the current weights on the test set…")
        self.show_next_evaluation = True
        data_dir = self.training.data_dir
        members = self._trained.members
        if members:  # an ensemble's: the ensemble and each member
            self.evaluator.start(ensemble_task(spec, members, dataset, data_dir))
        else:
            self.evaluator.start(lambda control: evaluate_weights(spec, state, dataset, data_dir))
        return True

    def confirm_close(self) -> bool:
        """Closing the window while a run trains: ask before stopping it."""
        if not self.training.is_running:
            return True
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Training Is Running")
        box.setText("A network is training. Stop the run and quit?")
        box.setInformativeText(
            "The run keeps its checkpoint and curves: Runs ▸ Resume Stopped Run continues it."
        )
        stop = box.addButton("Stop and Quit", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.exec()
        return box.clickedButton() is stop

    @Slot(object)
    def _on_evaluator_finished(self, result: TaskFinished[tuple[Any, ...]]) -> None:
        if len(result.value) == 4:  # an ensemble's, with the network and members it is of
            self.ensembles.show_result(result.value)
        else:
            evaluation, dataset = result.value  # the dataset it was computed on, not a newer one
            self._show_evaluation(evaluation, dataset)

    def _show_evaluation(self, evaluation: Any, dataset: Any) -> None:
        names = dataset.info.class_names
        if len(names) != evaluation.num_classes:
            names = self.document.spec.class_names or tuple(map(str, range(evaluation.num_classes)))
        self.evaluation.set_network(self.document.spec, self.weights_for(self.document.spec))
        self.evaluation.set_evaluation(evaluation, dataset, names)
        self.window.statusBar().showMessage(
            f"Test accuracy of the current weights: {100 * evaluation.accuracy:.2f}%", 8000
        )
        self.raise_evaluation_if_asked()

    def raise_evaluation_if_asked(self) -> None:
        """Bring the Evaluation tab forward when the user asked for the evaluation shown."""
        if self.show_next_evaluation:
            self.show_next_evaluation = False
            self.evaluation_dock.show()
            self.evaluation_dock.raise_()

    @Slot(object)
    def _on_evaluator_failed(self, failure: TaskFailed) -> None:
        self.window.statusBar().showMessage(f"Evaluation failed: {failure.message}", 10000)

    @Slot(object, str)
    def _on_picker_image_chosen(self, image: Any, _description: str) -> None:
        # The next run's timeline follows the picked image; a blank one would show nothing.
        self.training.probe = image.detach().clone() if float(image.std()) > 0 else None

    @Slot(str, int)
    def _on_evaluation_image_chosen(self, split: str, index: int) -> None:
        if split == Split.TEST:
            self.inspect.picker.choose_sample(index)
            self.inspect_dock.show()
            self.inspect_dock.raise_()

    @Slot()
    def shutdown(self) -> None:
        """Stop every thread the panels own; safe to call more than once."""
        if self._shut_down:
            return
        self._shut_down = True
        self._queue.stop()
        self.training_docks.shutdown()
        if (inspect := self._inspect.built) is not None:
            inspect.shutdown()
        self.export.shutdown()
        self.profile.shutdown()
        self.weights_loader.shutdown()
        self.evaluator.shutdown()
        if (evaluation := self._evaluation.built) is not None:
            evaluation.shutdown()
        elif (embedding := self._embedding.built) is not None:
            embedding.shutdown()
