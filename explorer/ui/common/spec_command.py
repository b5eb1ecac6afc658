"""The one undo command of the document: swap whole immutable specs (see `document.py`)."""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtGui import QUndoCommand

from explorer.core.app.tree_edits import Edit
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.ui.common.row_change import RowChange

if TYPE_CHECKING:
    from explorer.ui.common.document import ProjectDocument

_MERGE_ID = 0x5EC


class SpecEditCommand(QUndoCommand):
    """Replace the document's spec by `new` (undo puts `old` back).

    Commands with the same `merge_key` pushed one after another merge into one undo step,
    so dragging a spin box from 3 to 9 is undone at once. A deep network's edit is pushed
    with `new` (and, after other such edits, `old`) None and its `tree_edit`: it is worked
    out in the background (`deep_edits`).
    """

    def __init__(
        self,
        document: ProjectDocument,
        old: NetworkSpec | None,
        new: NetworkSpec | None,
        text: str,
        *,
        change: RowChange,
        merge_key: Hashable | None = None,
        select_after: Sequence[LayerPath] = (),
        select_before: Sequence[LayerPath] = (),
        tree_edit: Edit | None = None,
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
        self.tree_edit = tree_edit

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
        edit = self.tree_edit if self.new is None else None
        if document is not None and not document._edits.takes(self, edit):
            assert self.new is not None
            document._show(self.new, self.change, self._select_after)

    def undo(self) -> None:
        document = self._document()
        if document is not None:
            document._edits.settle()  # this command's spec and those before it are known
            assert self.old is not None
            document._show(self.old, self.change.inverse(), self._select_before)
