"""The open project: its immutable spec, analysis, undo stack, file path and clean state.

Every edit becomes a `SpecEditCommand` that swaps whole immutable specs, so undo and redo
restore exactly the spec they replaced. Views listen to one signal, `spec_changed`, which says
what the edit did to the rows of the stack (a `RowChange`): list views move, insert and remove
those rows and keep their selection.
"""

from __future__ import annotations

import itertools
import logging
import weakref
from collections.abc import Hashable, Sequence
from dataclasses import replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from explorer.core.analysis import Analysis, analyze
from explorer.core.app.layer_names import keep_names, without_taken_names
from explorer.core.diagnostics import Fix
from explorer.core.fixes import apply_fix, selection_after
from explorer.core.paths import LayerPath, move_to, moved_paths, replace_at
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec
from explorer.ui.common.row_change import RowChange

log = logging.getLogger(__name__)

_MERGE_ID = 0x5EC
_RECENT_ANALYSES = 8  # analyses kept for undo and redo (by spec identity)


class SpecEditCommand(QUndoCommand):
    """Replace the document's spec by `new` (undo puts `old` back).

    Commands with the same `merge_key` pushed one after another merge into one undo step,
    so dragging a spin box from 3 to 9 is undone at once.
    """

    def __init__(
        self,
        document: ProjectDocument,
        old: NetworkSpec,
        new: NetworkSpec,
        text: str,
        *,
        change: RowChange,
        merge_key: Hashable | None = None,
        select_after: Sequence[LayerPath] = (),
        select_before: Sequence[LayerPath] = (),
    ) -> None:
        super().__init__(text)
        # Held weakly: the document's undo stack owns this command, and a strong reference
        # back would make a cycle through C++ that only the garbage collector breaks, which
        # then deletes the stack (and this command) while it clears them.
        self._document = weakref.ref(document)
        self.old = old
        self.new = new
        self.change = change
        self.merge_key = merge_key
        self._select_after = tuple(select_after)
        self._select_before = tuple(select_before)

    def id(self) -> int:
        return _MERGE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SpecEditCommand) or other.merge_key != self.merge_key:
            return False
        self.new = other.new
        self.change = self.change.then(other.change)
        self._select_after = other._select_after
        self.setObsolete(self.new == self.old)
        return True

    def redo(self) -> None:
        document = self._document()
        if document is not None:
            document._show(self.new, self.change, self._select_after)

    def undo(self) -> None:
        document = self._document()
        if document is not None:
            document._show(self.old, self.change.inverse(), self._select_before)


class ProjectDocument(QObject):
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

    def __init__(self, spec: NetworkSpec | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._spec = spec if spec is not None else NetworkSpec()
        self._analysis = analyze(self._spec)
        self._recent: list[tuple[NetworkSpec, Analysis]] = [(self._spec, self._analysis)]
        self._path: str | None = None
        self._locked = False
        self._merge_epoch = itertools.count()
        self._epoch = next(self._merge_epoch)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self.clean_changed)

    # ---- state --------------------------------------------------------------------------

    @property
    def spec(self) -> NetworkSpec:
        return self._spec

    @property
    def analysis(self) -> Analysis:
        return self._analysis

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
        if locked != self._locked:
            self._locked = locked
            self.lock_changed.emit(locked)

    def reset(self, spec: NetworkSpec, path: str | None = None) -> None:
        """Start over with `spec` (New, Open, a template): empty history, clean."""
        self.undo_stack.clear()
        change = RowChange.replacing(len(self._spec.layers), len(spec.layers))
        self._show(spec, change, [LayerPath.top(0)] if spec.layers else [])
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

    def _show(self, spec: NetworkSpec, change: RowChange, selection: Sequence[LayerPath]) -> None:
        self._spec = spec
        self._analysis = self._analysis_of(spec)
        self.spec_changed.emit(change)
        self.selection_requested.emit(list(selection))

    def _analysis_of(self, spec: NetworkSpec) -> Analysis:
        """`analyze(spec)` (made from the analysis shown, whose unchanged layers it keeps),
        reused for the specs shown last: undo and redo go back to a
        spec analysed before, and analysing thousands of layers again takes a while."""
        for index, (known, analysis) in enumerate(self._recent):
            if known is spec:
                self._recent.insert(0, self._recent.pop(index))
                return analysis
        analysis = analyze(spec, previous=self._analysis)
        self._recent = [(spec, analysis), *self._recent[: _RECENT_ANALYSES - 1]]
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
        if self._locked:
            log.info("edit refused while locked: %s", text)
            self.edit_refused.emit()
            return False
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

    def insert_layers(self, at: LayerPath, layers: Sequence[LayerSpec], text: str = "") -> bool:
        """Insert `layers` before the position `at` (past the end: append them)."""
        row = max(0, min(at.row, len(self._spec.layers)))
        if not layers:
            return False
        label = text or (
            f"Add {layers[0].type}" if len(layers) == 1 else f"Add {len(layers)} layers"
        )
        fresh = without_taken_names(self._spec, layers)
        items = list(self._spec.layers)
        items[row:row] = fresh
        origin: list[int | None] = list(range(len(self._spec.layers)))
        origin[row:row] = [None] * len(fresh)
        return self.edit(
            self._spec.with_layers(keep_names(self._spec, items, origin)),
            label,
            change=RowChange(tuple(origin), len(self._spec.layers)),
            select_after=[at.sibling(i) for i in range(row, row + len(layers))],
        )

    def remove_layers(self, paths: Sequence[LayerPath]) -> bool:
        rows = sorted({path.row for path in paths})
        if not rows:
            return False
        text = f"Delete {self._spec.layers[rows[0]].type}" if len(rows) == 1 else "Delete layers"
        after = min(rows[0], len(self._spec.layers) - len(rows) - 1)
        drop = set(rows)
        origin = [i for i in range(len(self._spec.layers)) if i not in drop]
        items = [self._spec.layers[i] for i in origin]
        return self.edit(
            self._spec.with_layers(keep_names(self._spec, items, origin)),
            text,
            change=RowChange(tuple(origin), len(self._spec.layers)),
            select_after=[LayerPath.top(after)] if after >= 0 else [],
            select_before=sorted(set(paths)),
        )

    def move_layers(self, paths: Sequence[LayerPath], destination: LayerPath) -> bool:
        """Move the layers at `paths` (kept in order) before the position `destination`
        of the stack as it is now."""
        paths = sorted(set(paths))
        if not paths:
            return False
        origin = move_to(range(len(self._spec.layers)), paths, destination)
        items = [self._spec.layers[i] for i in origin]
        new = self._spec.with_layers(keep_names(self._spec, items, origin))
        return self.edit(
            new,
            "Move layers" if len(paths) > 1 else f"Move {self._spec.layers[paths[0].row].type}",
            change=RowChange(tuple(origin), len(origin)),
            select_after=moved_paths(paths, destination),
            select_before=paths,
        )

    def duplicate_layers(self, paths: Sequence[LayerPath]) -> bool:
        paths = sorted(set(paths))
        if not paths:
            return False
        copies = [self._spec.layers[path.row] for path in paths]
        return self.insert_layers(paths[-1].following(), copies, "Duplicate layers")

    def replace_layer(self, path: LayerPath, layer: LayerSpec, key: str | None = None) -> bool:
        """Change one layer; edits of the same key of the same layer merge into one step."""
        return self.edit(
            self._spec.with_layers(replace_at(self._spec.layers, path, layer)),
            f"Change {key or 'layer'} of {self._spec.layer_names()[path.row]}",
            change=RowChange.unchanged(len(self._spec.layers), [path.row]),
            merge_key=("layer", path, key),
            select_after=[path],
            select_before=[path],
        )

    def set_input(self, input_spec: InputSpec) -> bool:
        return self.edit(
            replace(self._spec, input=input_spec), "Change input shape", merge_key=("input",)
        )

    def set_num_classes(self, count: int) -> bool:
        spec = self._spec.with_num_classes(count)
        return self.edit(spec, "Change number of classes", merge_key=("num_classes",))

    def apply_fix(self, fix: Fix) -> bool:
        after = selection_after(self._spec, fix)
        return self.edit(
            apply_fix(self._spec, fix),
            f"Fix: {fix.label}",
            select_after=[after] if after is not None else [],
        )
