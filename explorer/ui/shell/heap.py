"""Keeping the cyclic garbage collector off a deep network's objects.

A full collection walks every object the collector tracks, with the interpreter held,
whichever thread sets it off: while it runs, the window cannot answer. A network of 5,000
layers in residual blocks keeps some 400,000 such objects alive (its spec, its analyses,
the stack's rows, the model Inspect captures with), and the full collections over them
took 45-180 ms each during ordinary edits (`bench/gui_stall.py --blocks`), set off as often
by the analysis or capture thread as by the window's. They found 0 to 7 objects of garbage
each: what is made is freed by its reference count, not by the collector.

So while a deep network is shown, the objects that have lived through a collection of the
middle generation are frozen (`gc.freeze`: kept out of every later collection), at most
once a second; a full collection then walks only what was made since. Frozen objects are
still freed when their last reference goes. Only a reference cycle that is frozen alive
and dropped later waits, until the window closes and everything is unfrozen again: the
stack's rows make none (a row holds its parent weakly), and the edits measured leave 6
such objects each; replacing a network of 1,200 rows in blocks leaves none
(tests/ui/test_collections.py).

The freeze is the interpreter's, not the window's: unfreezing as the window goes also
gives back what start-up froze (`app.keep_startup_out_of_collections`), which is what a
window leaving cycles behind needs; the program ends with its window.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer, Slot

from explorer.ui.common.document import ProjectDocument

#: Networks of more layers and blocks than this have their objects frozen.
FREEZE_LAYERS = 1_000
#: How often what survived collections since the last time is frozen.
FREEZE_EVERY_MS = 1_000


def promotions() -> int:
    """Collections that can have moved objects into the oldest generation so far."""
    stats = gc.get_stats()
    return int(stats[1]["collections"]) + int(stats[2]["collections"])


class HeapKeeper(QObject):
    """Freezes what lives while the document's network is deep (see the module docstring);
    `stop()` unfreezes it all when the window goes."""

    def __init__(self, document: ProjectDocument, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._document = document
        self._timer = QTimer(self)
        self._timer.setInterval(FREEZE_EVERY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._seen = promotions()
        self._froze = False
        self._stopped = False
        document.spec_changed.connect(self._on_document_spec_changed)
        self._on_document_spec_changed()

    @property
    def froze(self) -> bool:
        """Whether this keeper has frozen objects that are still frozen."""
        return self._froze

    @Slot()
    def _on_document_spec_changed(self) -> None:
        if self._stopped:
            return
        if self._document.spec.size > FREEZE_LAYERS:
            if not self._timer.isActive():
                self._timer.start()
        else:  # (what was frozen stays so: unfreezing costs the full collection it saved)
            self._timer.stop()

    @Slot()
    def _on_timer_timeout(self) -> None:
        self.freeze_survivors()

    def freeze_survivors(self) -> bool:
        """Freeze what lives, when collections since the last time kept anything: the
        young generations are collected first (a few thousand objects at most), so their
        garbage is not frozen with them. True when it froze."""
        if promotions() == self._seen:
            return False
        gc.collect(1)
        gc.freeze()
        self._seen = promotions()
        self._froze = True
        return True

    def stop(self) -> None:
        """No more freezing; everything frozen goes back to the collector, so that what the
        window leaves behind in cycles is collected."""
        self._stopped = True
        self._timer.stop()
        if self._froze:
            gc.unfreeze()
            self._froze = False
