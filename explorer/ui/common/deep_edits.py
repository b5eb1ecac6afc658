"""Edits of a deep network, worked out off the GUI thread.

An edit of a network of thousands of layers costs the GUI turn that makes it ~100 ms:
`apply_edit` (10–30 ms at 5,000 layers) and the analysis of every row whose shape it changed
(20–60 ms). Both are Qt-free functions of immutable specs, so for a deep network the document
pushes the edit's undo command at once, without its new spec (a *pending* command), and
`DeepEdits` works the spec and its analysis out on a task thread; back on the GUI thread the
command takes its spec and the document shows spec and analysis together, as usual. Until
then the document shows the spec before the edit: views never see a spec without its own
analysis.

Pending commands are the top of the undo stack, in the order they were pushed; their jobs
run one at a time, each on the spec the one before ends with (edits that come meanwhile are
queued, each applied to the latest pending spec). Whatever needs the latest spec now (an
undo, an edit made from the spec shown, a save, the recovery file) calls `settle()`, which
works out the rest on the GUI thread, in order. An edit that turns out not to fit the tree is
logged as before and its command dropped (made obsolete: Qt removes it).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, QTimer, Slot

from explorer.core.analysis import Analysis, analyze
from explorer.core.app.tree_edits import Edit, EditResult, apply_edit
from explorer.core.paths import LayerPath, PathError
from explorer.core.spec import LayerOrBlock, NetworkSpec, SpecError
from explorer.ui.common.row_change import RowChange
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskRunner

if TYPE_CHECKING:
    from explorer.ui.common.document import ProjectDocument
    from explorer.ui.common.spec_command import SpecEditCommand

log = logging.getLogger(__name__)

#: Tree edits (insert, remove, move, ...) of networks with more layers than this (nested ones
#: counted) are worked out in the background. An insert's `apply_edit` and analysis take
#: ~13 ms at 1,000 layers, which the turn can afford besides the views' own work (2,000:
#: ~24 ms, and a Delete's whole turn ~52 ms; 5,000: ~75 ms).
DEEP_EDIT_LAYERS = 1_000
#: An edit whose spec is given (a property, a name: `edit()`) has only its analysis worked out
#: in the background, past this many layers: a rename's turn takes ~26 ms at 2,000 layers
#: (5,000: ~57 ms).
DEEP_ANALYSIS_LAYERS = 2_000


#: A row inside a block counts this many times: editing and analysing it costs more (a
#: Delete in a network of 500 rows in residual blocks: 19 ms of `apply_edit` and analysis,
#: as much as 1,200 plain layers).
BLOCK_WEIGHT = 3


def is_deep(spec: NetworkSpec, layers: int | None = None) -> bool:
    """Whether `spec` has more than `layers` (default `DEEP_EDIT_LAYERS`) layers, nested
    ones counted (`BLOCK_WEIGHT` times each): then its edits are worked out off the GUI
    thread."""
    most = DEEP_EDIT_LAYERS if layers is None else layers
    top = len(spec.layers)
    return top + BLOCK_WEIGHT * (spec.size - top) > most


def tree_change(old: Sequence[LayerOrBlock], result: EditResult) -> RowChange:
    """What a tree edit did to the top-level rows: moved, removed and inserted ones, and a
    row whose block changed inside counted as replaced."""
    replaced = [
        row
        for row, was in enumerate(result.top_origin)
        if was is not None and result.layers[row] is not old[was]
    ]
    return RowChange(result.top_origin, len(old), tuple(replaced))


@dataclass(frozen=True)
class Outcome:
    """A pending edit worked out: its spec, what it did to the rows (None: the command's
    own) and the analysis; `spec` None when the edit does not fit or changes nothing."""

    spec: NetworkSpec | None
    change: RowChange | None
    analysis: Analysis | None
    why: str = ""


def work_out(
    old: NetworkSpec, previous: Analysis, edit: Edit | None, new: NetworkSpec | None
) -> Outcome:
    """`edit` applied to `old` (or the spec `new` given) and analysed, keeping the results
    of `previous` for unchanged layers. Pure: runs on any thread."""
    change = None
    if edit is not None:
        try:
            result = apply_edit(old, edit)
        except (PathError, SpecError) as error:
            return Outcome(None, None, None, str(error))
        new, change = result.spec, tree_change(old.layers, result)
    if new is None or new == old:
        return Outcome(None, None, None, "it changes nothing")
    analysis = analyze(new, previous=previous)
    worked_out_for_views(new, analysis)
    return Outcome(new, change, analysis)


def worked_out_for_views(spec: NetworkSpec, analysis: Analysis) -> None:
    """Work out (and keep: each is worked out once) what the views read of a deep network
    as it is shown: on the thread that analysed it, not in the turn that shows it (~20 ms
    at 5,000 layers in blocks)."""
    _ = spec.size, spec.layer_names(), analysis.diagnostics, analysis.every_layer


@dataclass
class _Job:
    command: SpecEditCommand  # (may be merged into the one below it: its C++ side gone)
    edit: Edit | None  # None: the command's spec is known, only its analysis is not
    text: str


class DeepEdits(QObject):
    """The document's pending commands and the thread that works them out (see the module
    docstring); a child of the document, which it calls back."""

    def __init__(self, document: ProjectDocument) -> None:
        super().__init__(document)
        self._runner = TaskRunner("deep-edits", self)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)
        self._jobs: deque[_Job] = deque()
        # The first job starts once the turn that pushed it is over: a thread running
        # Python beside it would hold the interpreter half the time, and the rest of that
        # turn (the views painting the edit, Properties) would take twice as long.
        self._start_timer = QTimer(self)
        self._start_timer.setSingleShot(True)
        self._start_timer.setInterval(0)
        self._start_timer.timeout.connect(self._on_start_timer_timeout)
        document.replaced.connect(self.drop)  # (its undo stack cleared: the commands gone)

    @property
    def pending(self) -> bool:
        """Whether an edit pushed is still being worked out."""
        return bool(self._jobs)

    @property
    def busy(self) -> bool:
        """Whether an edit is pending, its layers still to be selected, or the thread (also
        of a job whose result is dropped) still running."""
        runner = self._runner
        return (
            self.pending
            or runner.busy
            or runner.running_thread is not None
            or self._document().later_selection.pending
        )

    def _document(self) -> ProjectDocument:
        return cast("ProjectDocument", self.parent())

    def latest(self) -> NetworkSpec | None:
        """The spec the pending commands end with (None: not worked out yet)."""
        return self._jobs[-1].command.new if self._jobs else self._document()._spec

    def push(
        self,
        edit: Edit,
        text: str,
        select_after: Sequence[LayerPath],
        select_before: Sequence[LayerPath],
    ) -> bool:
        """Push a pending command for the tree edit `edit` when the network is deep or
        edits are pending (False: the document makes the edit itself)."""
        document = self._document()
        if not self._jobs and not is_deep(document._spec):
            return False
        from explorer.ui.common.spec_command import SpecEditCommand

        old = self.latest()
        command = SpecEditCommand(
            document,
            old,
            None,
            text,
            change=RowChange.unchanged(len(old.layers) if old is not None else 0),
            select_after=select_after,
            select_before=select_before,
            tree_edit=edit,
        )
        document.undo_stack.push(command)
        return True

    def takes(self, command: SpecEditCommand, edit: Edit | None) -> bool:
        """Queue `command` (just pushed, or redone) when its spec is still to be worked out
        (`edit`), when a command before it is, or when its spec is deep and not analysed;
        False: the document shows it at once."""
        document = self._document()
        if edit is None and not self._jobs:
            spec = command.new
            assert spec is not None
            known = document._known_analysis(spec) is not None
            if known or not is_deep(spec, DEEP_ANALYSIS_LAYERS):
                return False
        self._jobs.append(_Job(command, edit, command.text()))
        if len(self._jobs) == 1:
            self._start_timer.start()
        return True

    def settle(self) -> None:
        """Work out every pending command now, on this thread, in order (and show each)."""
        if not self._jobs:
            return
        self._start_timer.stop()
        self._runner.invalidate()  # the job on the thread: its result is dropped
        while self._jobs:
            self._finish(self._jobs[0], self._work_out(self._jobs[0]), now=True)
        self._document().later_selection.send_now()

    @Slot()
    def drop(self) -> None:
        """Forget the pending commands (another project is open): their results never come."""
        self._jobs.clear()
        self._start_timer.stop()
        self._runner.invalidate()
        self._document().later_selection.drop()

    def stop(self) -> None:
        """Drop the pending commands' work and join the thread (the way out)."""
        self.drop()
        self._runner.shutdown()

    def _arguments(
        self, job: _Job
    ) -> tuple[NetworkSpec, Analysis, Edit | None, NetworkSpec | None]:
        old = job.command.old
        assert old is not None  # the command before it (if any) is worked out
        previous = self._document()._known_analysis(old) or self._document().analysis
        return old, previous, job.edit, None if job.edit else job.command.new

    def _work_out(self, job: _Job) -> Outcome:
        return work_out(*self._arguments(job))

    @Slot()
    def _on_start_timer_timeout(self) -> None:
        if self._jobs and not self._runner.is_shut_down:
            self._start()

    def _start(self) -> None:
        arguments = self._arguments(self._jobs[0])
        self._runner.start(lambda control: work_out(*arguments))

    def _finish(self, job: _Job, outcome: Outcome, *, now: bool = False) -> None:
        """`job`'s command takes its outcome and is shown (its layers selected a turn
        later); the next job starts from it. A dropped command is undone at once when it is
        the last, except `now` (from `settle()`, which may run inside an undo)."""
        self._jobs.popleft()
        command, document = job.command, self._document()
        if outcome.spec is None:  # (only a tree edit: a spec given is never the old one)
            log.info("edit %r does not fit the stack: %s", job.text, outcome.why)
            assert command.old is not None
            command.new, command.change = command.old, RowChange.unchanged(len(command.old.layers))
            if self._jobs:
                self._jobs[0].command.old = command.old
            command.setObsolete(True)  # removed by Qt when undone: now, when it is the last
            stack = document.undo_stack
            if (
                not now
                and not self._jobs
                and stack.index() == stack.count()
                and stack.command(stack.index() - 1) is command
            ):
                stack.undo()
            return
        command.new = outcome.spec
        if outcome.change is not None:
            command.change = outcome.change
        assert outcome.analysis is not None
        document._remember(outcome.spec, outcome.analysis)
        if self._jobs:
            self._jobs[0].command.old = outcome.spec
        document._show(command.new, command.change, None)
        # selected a turn later, once the views have taken in the rows
        document.later_selection.request(command.new, command._select_after)

    @Slot(object)
    def _on_runner_finished(self, result: TaskFinished[Outcome]) -> None:
        if self._jobs:
            self._finish(self._jobs[0], result.value)
            if self._jobs:
                self._start_timer.start()

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        # A bug: worked out again here, where the error reaches the user as any other does.
        log.error("working out an edit in the background failed: %s", failure.message)
        self.settle()
