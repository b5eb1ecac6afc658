"""An ensemble's results in the window: its members' weights held, and its evaluation shown.

A window run of an ensemble ends with `EnsembleTrained` (weights and evaluation measured
on the training thread); Runs ▸ Load Ensemble Run reads a finished ensemble run's members
and evaluates them on the workbench's evaluation runner; Evaluate (F7) with an ensemble held
measures it again there. Every evaluation runs off the GUI thread (core/app/ensemble_run.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QMenu

from explorer.core.app.trained_weights import State, TrainedWeights
from explorer.core.spec import NetworkSpec

if TYPE_CHECKING:
    from explorer.ui.shell.workbench import Workbench

#: What an ensemble's evaluation task returns: (EnsembleEvaluation, the dataset it indexes,
#: the network, its members' weights).
EnsembleResult = tuple[Any, Any, NetworkSpec, tuple[State, ...]]


def ensemble_task(
    spec: NetworkSpec, members: tuple[State, ...], dataset: Any, data_dir: Any
) -> Any:
    """The evaluation runner's task for the ensemble of these members (an EnsembleResult)."""

    def evaluate(control: object) -> EnsembleResult:
        from explorer.core.app.ensemble_run import evaluate_ensemble_weights

        result, used = evaluate_ensemble_weights(spec, members, dataset, data_dir)
        return result, used, spec, members

    return evaluate


class EnsembleResults(QObject):
    """Holds an ensemble's members in `trained` and shows its evaluation in the bench's
    Evaluation panel; adds Load Ensemble Run to the Runs menu."""

    def __init__(self, bench: Workbench, trained: TrainedWeights, runs_menu: QMenu) -> None:
        super().__init__(bench)
        self.bench = bench
        self.trained = trained
        self.load_action = runs_menu.addAction("&Load Ensemble Run")
        self.load_action.setToolTip(
            "Hold the selected finished ensemble run's members and evaluate them"
        )
        self.load_action.triggered.connect(self._on_load_action_triggered)
        runs_menu.aboutToShow.connect(self._on_runs_menu_about_to_show)
        bench.training.ensemble_trained.connect(self._on_training_ensemble_trained)

    def hold(self, spec: NetworkSpec, states: tuple[State, ...]) -> None:
        """Hold an ensemble's members' weights (Inspect shows the first member's, with its
        picker for the others and their average)."""
        self.bench.set_trained(spec, states[0], states)

    def load_run(self, run_dir: str | Path) -> bool:
        """Hold a finished ensemble run's members and evaluate them in the background (its
        network goes into the editor first, as an undoable edit); False when busy."""
        from explorer.core.app.ensemble_run import evaluate_ensemble_run

        bench = self.bench
        if bench.evaluator.busy or bench.training.is_running:
            return False
        dataset, data_dir = bench.dataset, bench.training.data_dir
        bench.window.statusBar().showMessage(f"Loading the ensemble run {Path(run_dir).name}…")
        bench.show_next_evaluation = True
        bench.evaluator.start(lambda control: evaluate_ensemble_run(run_dir, dataset, data_dir))
        return True

    def show_result(self, value: EnsembleResult) -> None:
        """An ensemble's evaluation task has finished: hold its members and show it."""
        result, dataset, spec, members = value
        document = self.bench.document
        if spec != document.spec and not document.edit(spec, "Load ensemble run"):
            return
        self.hold(document.spec, members)
        self._show(result, dataset)

    def _show(self, result: Any, dataset: Any) -> None:
        bench = self.bench
        spec = bench.document.spec
        names = dataset.info.class_names
        if len(names) != result.ensemble.num_classes:
            names = spec.class_names or tuple(map(str, range(result.ensemble.num_classes)))
        bench.evaluation.set_network(spec, self.trained.for_network(spec), self.trained.members)
        bench.evaluation.set_ensemble(result, dataset, names)
        bench.window.statusBar().showMessage(
            f"Test accuracy of the ensemble of {len(result.members)}: "
            f"{100 * result.ensemble.accuracy:.2f}%",
            8000,
        )
        bench.raise_evaluation_if_asked()

    @Slot(object)
    def _on_training_ensemble_trained(self, trained: Any) -> None:
        self.hold(self.bench.document.spec, trained.states)
        if trained.evaluation is not None and self.bench.dataset is not None:
            self._show(trained.evaluation, self.bench.dataset)

    @Slot()
    def _on_runs_menu_about_to_show(self) -> None:
        record = self.bench.runs.selected_run()
        finished = record is not None and record.members > 1 and record.status == "finished"
        self.load_action.setEnabled(finished and not self.bench.training.is_running)

    @Slot()
    def _on_load_action_triggered(self) -> None:
        record = self.bench.runs.selected_run()
        if record is not None and record.members > 1:
            self.load_run(record.path)
