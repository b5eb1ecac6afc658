"""A group of sweep trials (sweep_stack.py) trained together, for the CLI and the window.

Every trial is its own run (`start_trial`: its folder, trainer, checkpoint, metrics), so
each folder is what the trial alone would write. With more than one trial, the trainers run
in lockstep: each is advanced to its next update (`BatchReady`), then one stacked pass
(training/stacked.py) gives them all their gradients, and each makes its own optimizer step.
A trial whose run ends (finished, early stopping, failed, stopped) leaves the group and the
others are stacked again without it. Where the stacked pass cannot run (tried on copies
first), the trials train one after another instead. `stop()` stops every trial at its next
batch, each writing its checkpoint, from which a rerun of the sweep continues them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from explorer.core.app.sweep import SweepPlan, Trial

if TYPE_CHECKING:
    from explorer.core.app.sweep_run import TrialData
    from explorer.core.app.training_run import TrainingRun
    from explorer.core.training import TrainingEvent
    from explorer.core.training.stacked import BatchReady, StackedStep

log = logging.getLogger(__name__)


class TrialGroup:
    """The group's runs, started (folders written) and ready to iterate with `events()`."""

    def __init__(
        self,
        plan: SweepPlan,
        trials: Sequence[Trial],
        data: TrialData,
    ) -> None:
        from explorer.core.app.preparation import choose_device
        from explorer.core.app.sweep_run import start_trial

        self.trials = tuple(trials)
        device = choose_device(self.trials[0].spec).device
        dataset = data.dataset(self.trials[0].spec, device)
        data_dir: str | os.PathLike[str] | None = data.data_dir
        self.runs: list[TrainingRun] = [
            start_trial(plan, trial, dataset, data_dir) for trial in self.trials
        ]
        self._stopped = threading.Event()
        #: why the trials train one after another although grouped (None: stacked)
        self.unstacked: str | None = self._stacking_problem() if len(self.runs) > 1 else None

    @property
    def stacked(self) -> bool:
        return len(self.runs) > 1 and self.unstacked is None

    def _stacking_problem(self) -> str | None:
        from explorer.core.dataset_split import Split
        from explorer.core.training.stacked import stacking_problem

        trainer = self.runs[0].trainer
        batch = trainer.training.batch_size
        images, labels = next(trainer.dataset.batches(Split.TRAIN, batch), (None, None))
        if images is None or labels is None:
            return "the training split is empty"
        return stacking_problem([run.trainer.model for run in self.runs], images, labels)

    def stop(self) -> None:
        """Stop every trial at its next batch (callable from any thread)."""
        self._stopped.set()
        for run in self.runs:
            run.stop()

    def events(self) -> Iterator[tuple[int, TrainingEvent]]:
        """Each trial's events with its index in the group, as its folder records them."""
        if self.stacked:
            yield from self._lockstep()
            return
        for index, run in enumerate(self.runs):
            if self._stopped.is_set():
                return
            for event in run.events():
                yield index, event

    def _lockstep(self) -> Iterator[tuple[int, TrainingEvent]]:
        from explorer.core.training.stacked import BatchReady

        streams = [run.lockstep_events() for run in self.runs]
        active = list(range(len(streams)))
        step: StackedStep | None = None
        stacked_now: list[int] = []
        try:
            while active:
                ready: list[tuple[int, BatchReady]] = []
                for index in active:
                    for event in streams[index]:
                        if isinstance(event, BatchReady):
                            ready.append((index, event))
                            break
                        yield index, event
                active = [index for index, _ in ready]
                members = [(index, event) for index, event in ready if event.stacked]
                if not members:
                    continue
                indices = [index for index, _ in members]
                if step is None or indices != stacked_now:
                    step = self._stack(step, indices)
                    stacked_now = indices
                self._supply(step, indices, members[0][1])
        finally:
            for stream in streams:
                stream.close()

    def _stack(self, step: StackedStep | None, indices: list[int]) -> StackedStep:
        """The stacked pass over these members (restacked when the members changed)."""
        from explorer.core.training.stacked import StackedStep

        models = [self.runs[index].trainer.model for index in indices]
        if step is None:
            smoothing = self.runs[indices[0]].trainer.training.label_smoothing
            return StackedStep(models, smoothing)
        step.restack(models)
        return step

    def _supply(self, step: StackedStep, indices: list[int], batch: BatchReady) -> None:
        """One stacked pass on the shared batch, each member's share handed to its trainer
        (an error in the pass becomes each member's failure, as in its own update)."""
        from explorer.core.training.stacked import SuppliedStep

        try:
            shares = step.compute(batch.images, batch.labels)
        except Exception as error:
            log.debug("the stacked pass failed: %s", error)
            shares = [SuppliedStep(error=error) for _ in indices]
        for index, share in zip(indices, shares, strict=True):
            self.runs[index].trainer.supply(share)
