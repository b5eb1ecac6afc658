"""Selecting an edit's or an opening's layers a turn after the rows arrive.

The views take in thousands of rows when a deep network is shown, and selecting layers needs
their new layout: doing both in one turn of the loop holds the window for both. The document
asks for the selection here instead; it is sent in a turn of its own (a `QuietTimer`), and
only if the spec it was asked for is still the one shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject, Slot

from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.ui.common.quiet_timer import QuietTimer

if TYPE_CHECKING:
    from explorer.ui.common.document import ProjectDocument


class LaterSelection(QObject):
    """The document's one pending selection (a child of it, which it reaches through its
    parent, holding no reference back): `request` replaces it, `send_now` sends it at once
    as the document's `selection_requested`, `drop` forgets it."""

    def __init__(self, document: ProjectDocument) -> None:
        super().__init__(document)
        self._pending: tuple[NetworkSpec, list[LayerPath]] | None = None
        self._timer = QuietTimer(self)
        self._timer.timeout.connect(self.send_now)

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def request(self, spec: NetworkSpec, paths: Sequence[LayerPath], ms: int = 0) -> None:
        """Select `paths` in `ms` (or later, in a turn of its own) if `spec` is still shown."""
        self._pending = (spec, list(paths))
        self._timer.start(ms)

    @Slot()
    def send_now(self) -> None:
        self._timer.stop()
        pending, self._pending = self._pending, None
        document = cast("ProjectDocument", self.parent())
        if pending is not None and pending[0] is document.spec:
            document.selection_requested.emit(pending[1])

    def drop(self) -> None:
        self._timer.stop()
        self._pending = None
