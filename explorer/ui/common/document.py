"""The open project: its immutable spec, analysis, undo stack, file path and clean state.

Every edit becomes a `SpecEditCommand` that swaps whole immutable specs, so undo and redo
restore exactly the spec they replaced. Views listen to one signal, `spec_changed`, which says
what the edit did to the rows of the stack (a `RowChange`): list views move, insert and remove
those rows and keep their selection.

Made with `analyse_in_background` (the window's document), a deep network being opened is
analysed on a task thread (`opening.py`): meanwhile the document shows the network without
its layers, refuses edits (`edit_refused`, with `analysing` set) and then swaps the whole
spec and its analysis in, as a reset would.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Hashable, Sequence
from dataclasses import replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from explorer.core.analysis import Analysis, analyze
from explorer.core.app.tree_edits import (
    Edit,
    apply_edit,
    without_taken_tree_names,
)
from explorer.core.diagnostics import Fix
from explorer.core.fixes import apply_fix, selection_after
from explorer.core.paths import (
    LayerPath,
    PathError,
    insert_at,
    move_to,
    moved_paths,
    outermost,
    remove_at,
    replace_at,
)
from explorer.core.spec import BlockSpec, InputSpec, LayerOrBlock, NetworkSpec, SpecError
from explorer.ui.common.block_edits import BlockEdits
from explorer.ui.common.deep_edits import DeepEdits, tree_change
from explorer.ui.common.later_selection import LaterSelection
from explorer.ui.common.opening import (
    RECENT_ANALYSES,
    BackgroundOpening,
    OpeningAnalysis,
    needs_background,
)
from explorer.ui.common.row_change import RowChange
from explorer.ui.common.spec_command import SpecEditCommand

log = logging.getLogger(__name__)


class ProjectDocument(BlockEdits, BackgroundOpening, QObject):
    """Owns the current `NetworkSpec` and everything derived from it."""

    # The spec (and its analysis) changed; the argument says what happened to the rows.
    spec_changed = Signal(RowChange)
    path_changed = Signal(str)
    clean_changed = Signal(bool)
    lock_changed = Signal(bool)
    edit_refused = Signal()
    replaced = Signal()  # reset(): New, Open, a template — another project, not an edit
    # The layers (a list of LayerPath) the views should select after an edit, undo or
    # redo: new layers, moved layers.
    selection_requested = Signal(list)
    # True: a network being opened is analysed in the background (edits are refused);
    # False: it is shown, or the opening was given up for another project.
    analysing_changed = Signal(bool)

    def __init__(
        self,
        spec: NetworkSpec | None = None,
        parent: QObject | None = None,
        *,
        analyse_in_background: bool = False,
    ) -> None:
        super().__init__(parent)
        opened = spec if spec is not None else NetworkSpec()
        self._opening: OpeningAnalysis | None = None
        self._prepared: tuple[NetworkSpec, object] | None = None
        if analyse_in_background:
            self._opening = OpeningAnalysis(self)
            self._opening.analysed.connect(self._on_opening_analysed)
            self._opening.failed.connect(self._on_opening_failed)
        later = self._opening is not None and needs_background(opened)
        self._spec = opened.with_layers(()) if later else opened
        self._analysis = analyze(self._spec)
        self._recent: list[tuple[NetworkSpec, Analysis]] = [(self._spec, self._analysis)]
        self._path: str | None = None
        self._locked = False
        self._merge_epoch = itertools.count()
        self._epoch = next(self._merge_epoch)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self.clean_changed)
        # Layers to select a turn after a deep network's rows arrive (opening, deep edits).
        self.later_selection = LaterSelection(self)
        if later and self._opening is not None:
            self._opening.start(opened, None)
        self._edits = DeepEdits(self)

    # ---- state --------------------------------------------------------------------------

    @property
    def spec(self) -> NetworkSpec:
        return self._spec

    @property
    def analysis(self) -> Analysis:
        return self._analysis

    @property
    def editing(self) -> bool:
        """Whether an edit of a deep network is being worked out (`spec` is from before it)."""
        return self._edits.busy

    def settle(self) -> None:
        """Finish the edits being worked out now (before saving what `spec` is)."""
        self._edits.settle()

    def settled_spec(self) -> NetworkSpec:
        """The spec with every edit made so far (`spec` is the one shown until then)."""
        self._edits.settle()
        return self._spec

    def stop_editing(self) -> None:
        """Drop the edits being worked out and join their thread (the way out)."""
        self._edits.stop()

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def is_clean(self) -> bool:
        return self.undo_stack.isClean()

    @property
    def locked(self) -> bool:
        return self._locked

    def set_locked(self, locked: bool) -> None:
        """While locked (training), edits are refused and `edit_refused` is emitted."""
        if locked:
            self._edits.settle()  # what trains is the network with every edit made so far
        if locked != self._locked:
            self._locked = locked
            self.lock_changed.emit(locked)

    def reset(self, spec: NetworkSpec, path: str | None = None) -> None:
        """Start over with `spec` (New, Open, a template): empty history, clean. A deep
        network is shown once analysed in the background (see the module docstring)."""
        if self._opening is not None:
            given_up = self._opening.cancel()
            if needs_background(spec) and not any(spec is known for known, _ in self._recent):
                # Meanwhile without its layers, and of no file: Save cannot overwrite one.
                self._reset_now(spec.with_layers(()), None)
                self._opening.start(spec, path)
                self.analysing_changed.emit(True)
                return
            if given_up:
                self.analysing_changed.emit(False)
        self._reset_now(spec, path)

    def _reset_now(self, spec: NetworkSpec, path: str | None, *, select: bool = True) -> None:
        self.undo_stack.clear()
        change = RowChange.replacing(len(self._spec.layers), len(spec.layers))
        self._show(spec, change, [LayerPath.top(0)] if spec.layers and select else [])
        self.undo_stack.setClean()
        self.set_path(path)
        self.replaced.emit()

    def set_path(self, path: str | None) -> None:
        self._path = path
        self.path_changed.emit(path or "")

    def mark_saved(self, path: str) -> None:
        self.undo_stack.setClean()
        self.set_path(path)

    def end_merge(self) -> None:
        """The next edit starts a new undo step even if it touches the same key."""
        self._epoch = next(self._merge_epoch)

    def _show(
        self, spec: NetworkSpec, change: RowChange, selection: Sequence[LayerPath] | None
    ) -> None:
        """Show `spec` with its analysis and select `selection` (None: the caller will)."""
        self._spec = spec
        self._analysis = self._analysis_of(spec)
        self.spec_changed.emit(change)
        if selection is not None:
            self.selection_requested.emit(list(selection))

    def analysis_of(self, spec: NetworkSpec) -> Analysis:
        """`spec`'s analysis: the one shown when `spec` is (export asks it of the settled
        spec, which thousands of layers would take a while to analyse again)."""
        return self._analysis if spec is self._spec else self._analysis_of(spec)

    def _analysis_of(self, spec: NetworkSpec) -> Analysis:
        """`analyze(spec)` (made from the analysis shown, whose unchanged layers it keeps),
        reused for the specs shown last: undo and redo go back to a
        spec analysed before, and analysing thousands of layers again takes a while."""
        known = self._known_analysis(spec)
        if known is None:
            known = self._remember(spec, analyze(spec, previous=self._analysis))
        return known

    def _known_analysis(self, spec: NetworkSpec) -> Analysis | None:
        for index, (known, analysis) in enumerate(self._recent):
            if known is spec:
                self._recent.insert(0, self._recent.pop(index))
                return analysis
        return None

    def _remember(self, spec: NetworkSpec, analysis: Analysis) -> Analysis:
        self._recent = [(spec, analysis), *self._recent[: RECENT_ANALYSES - 1]]
        return analysis

    # ---- edits --------------------------------------------------------------------------

    def edit(
        self,
        new: NetworkSpec,
        text: str,
        *,
        change: RowChange | None = None,
        merge_key: Hashable | None = None,
        select_after: Sequence[LayerPath] = (),
        select_before: Sequence[LayerPath] = (),
    ) -> bool:
        """Push an undoable change to `new`; False when refused (locked) or a no-op.

        `change` says what the edit does to the rows; without it, the rows that differ
        between the start and the end the two specs share are taken as replaced."""
        if self._locked or self.analysing:
            log.info("edit refused while locked or analysing: %s", text)
            self.edit_refused.emit()
            return False
        self._edits.settle()  # (`new` is made from the spec shown: callers settle first)
        if new == self._spec:
            return False
        key = None if merge_key is None else (self._epoch, merge_key)
        command = SpecEditCommand(
            self,
            self._spec,
            new,
            text,
            change=change or RowChange.between(self._spec.layers, new.layers),
            merge_key=key,
            select_after=select_after,
            select_before=select_before,
        )
        self.undo_stack.push(command)
        return True

    def _edit_tree(
        self,
        edit: Edit,
        text: str,
        *,
        select_after: Sequence[LayerPath] = (),
        select_before: Sequence[LayerPath] = (),
    ) -> bool:
        """Push `edit` (see `tree_edits`): names kept, the top-level rows it moved, removed
        and inserted passed on; a row whose block changed inside counts as replaced.
        False when the edit does not fit the tree (PathError: no such position, or a block
        moved into itself)."""
        if self._locked or self.analysing:
            return self.edit(self._spec, text)  # refused, and says so
        if self._edits.push(edit, text, select_after, select_before):  # a deep network's
            return True
        try:
            result = apply_edit(self._spec, edit)
        except (PathError, SpecError) as error:
            log.info("edit %r does not fit the stack: %s", text, error)
            return False
        return self.edit(
            result.spec,  # its names worked out already
            text,
            change=tree_change(self._spec.layers, result),
            select_after=select_after,
            select_before=select_before,
        )

    def insert_layers(self, at: LayerPath, layers: Sequence[LayerOrBlock], text: str = "") -> bool:
        """Insert `layers` (and blocks) before the position `at` anywhere in the tree (past
        the end of its stack: append them)."""
        if not layers:
            return False
        if at.depth == 1:
            at = LayerPath.top(max(0, min(at.row, len(self._spec.layers))))
        label = text or (
            f"Add {layers[0].type}" if len(layers) == 1 else f"Add {len(layers)} layers"
        )
        fresh = without_taken_tree_names(self._spec, layers)
        return self._edit_tree(
            lambda items, maker: insert_at(items, at, [maker.new(x) for x in fresh]),
            label,
            select_after=[at.sibling(at.index + i) for i in range(len(fresh))],
        )

    def remove_layers(self, paths: Sequence[LayerPath]) -> bool:
        """Remove the layers and blocks at `paths` (a block with all it holds)."""
        chosen = outermost(paths)
        if not chosen:
            return False
        try:
            first = chosen[0]
            text = f"Delete {self._spec.at(first).type}" if len(chosen) == 1 else "Delete layers"
            left = len(self._stack_of(first)) - sum(
                1 for path in chosen if path.steps[:-1] == first.steps[:-1]
            )
        except LookupError:
            return False
        after = (
            [first.sibling(min(first.index, left - 1))]
            if left > 0
            else ([first.parent] if first.parent is not None else [])
        )
        return self._edit_tree(
            lambda items, maker: remove_at(items, chosen),
            text,
            select_after=after,
            select_before=chosen,
        )

    def move_layers(self, paths: Sequence[LayerPath], destination: LayerPath) -> bool:
        """Move the layers at `paths` (kept in order) before the position `destination`
        of the tree as it is now: within a stack, into, out of or between sub-stacks."""
        chosen = outermost(paths)
        if not chosen:
            return False
        try:
            single = self._spec.at(chosen[0]).type
        except LookupError:
            return False
        return self._edit_tree(
            lambda items, maker: move_to(items, chosen, destination),
            "Move layers" if len(chosen) > 1 else f"Move {single}",
            select_after=moved_paths(chosen, destination),
            select_before=chosen,
        )

    def move_by(self, paths: Sequence[LayerPath], step: int) -> bool:
        """Move the selected layers of one sub-stack one place up (-1) or down (+1) in it."""
        chosen = outermost(paths)
        if not chosen or any(p.steps[:-1] != chosen[0].steps[:-1] for p in chosen):
            return False
        count = len(self._stack_of(chosen[0]))
        if step < 0 and chosen[0].index > 0:
            return self.move_layers(chosen, chosen[0].sibling(chosen[0].index - 1))
        if step > 0 and chosen[-1].index < count - 1:
            return self.move_layers(chosen, chosen[-1].sibling(chosen[-1].index + 2))
        return False

    def duplicate_layers(self, paths: Sequence[LayerPath]) -> bool:
        """Copies of the layers and blocks at `paths` (with all they hold), after the last."""
        chosen = outermost(paths)
        if not chosen:
            return False
        copies = [self._spec.at(path) for path in chosen]
        return self.insert_layers(chosen[-1].following(), copies, "Duplicate layers")

    def replace_layer(self, path: LayerPath, layer: LayerOrBlock, key: str | None = None) -> bool:
        """Change one layer or block; edits of the same key of the same one merge into one
        step."""
        self.settle()
        return self.edit(
            self._spec.with_layers(replace_at(self._spec.layers, path, layer)),
            f"Change {key or 'layer'} of {self._spec.name_of(path)}",
            change=RowChange.unchanged(len(self._spec.layers), [path.top_row]),
            merge_key=("layer", path, key),
            select_after=[path],
            select_before=[path],
        )

    def _stack_of(self, path: LayerPath) -> Sequence[LayerOrBlock]:
        """The stack holding the position `path`."""
        parent = path.parent
        if parent is None:
            return self._spec.layers
        block = self._spec.at(parent)
        assert isinstance(block, BlockSpec)
        return block.stacks[path.steps[-2]]

    def set_input(self, input_spec: InputSpec) -> bool:
        self.settle()
        return self.edit(
            replace(self._spec, input=input_spec), "Change input shape", merge_key=("input",)
        )

    def set_num_classes(self, count: int) -> bool:
        self.settle()
        spec = self._spec.with_num_classes(count)
        return self.edit(spec, "Change number of classes", merge_key=("num_classes",))

    def apply_fix(self, fix: Fix) -> bool:
        self.settle()
        after = selection_after(self._spec, fix)
        return self.edit(
            apply_fix(self._spec, fix),
            f"Fix: {fix.label}",
            select_after=[after] if after is not None else [],
        )
