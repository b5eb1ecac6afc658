"""Autosave to a recovery file while there are unsaved changes, and offer it back after a
session that did not close cleanly (a clean close deletes the file)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Slot

from explorer.core.files import write_text_atomic
from explorer.core.project import ProjectError, parse_recovery, recovery_text
from explorer.core.spec import NetworkSpec
from explorer.ui.document import ProjectDocument

log = logging.getLogger(__name__)

AUTOSAVE_INTERVAL_MS = 60_000


class RecoveryStore(QObject):
    def __init__(
        self, document: ProjectDocument, folder: Path, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.path = folder / "recovery.json"
        self.timer = QTimer(self)
        self.timer.setInterval(AUTOSAVE_INTERVAL_MS)
        self.timer.timeout.connect(self._on_timer_timeout)
        # A file left by an earlier session belongs to that session until the user has been
        # offered it: never delete it before then.
        self._owned = not self.path.exists()

    def start(self) -> None:
        self.timer.start()

    @Slot()
    def _on_timer_timeout(self) -> None:
        self.save_now()

    def save_now(self) -> None:
        """Write the current spec (and its file path) if it has unsaved changes."""
        if self.document.is_clean:
            self.discard()
            return
        if not self._owned:
            return  # the earlier session's work has not been offered yet
        try:
            write_text_atomic(self.path, recovery_text(self.document.spec, self.document.path))
            self._owned = True
        except OSError:
            log.exception("cannot write the recovery file %s", self.path)

    def pending(self) -> tuple[NetworkSpec, str | None] | None:
        """The spec left by a session that did not close cleanly, with its original path."""
        if not self.path.is_file():
            return None
        try:
            return parse_recovery(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ProjectError) as error:
            log.warning("ignoring an unreadable recovery file %s: %s", self.path, error)
            return None

    def claim(self) -> None:
        """The user has been offered the earlier session's file: from now on it is ours."""
        self._owned = True

    def discard(self) -> None:
        """Delete the recovery file, unless it is an earlier session's not yet offered."""
        if self._owned:
            self.path.unlink(missing_ok=True)
