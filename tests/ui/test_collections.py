"""What the application builds at start-up is kept out of the cyclic collector's walks:
a full collection over it would hold the interpreter, and the window, for ~0.1 s."""

from __future__ import annotations

import gc
from typing import Any

from explorer.core.templates import load_template
from explorer.ui.shell import app as app_module
from explorer.ui.shell.main_window import MainWindow
from explorer.ui.shell.workbench import Workbench


def test_installing_the_workbench_at_start_up_keeps_all_made_so_far_out_of_collections(
    qtbot: Any,
) -> None:
    window = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(window)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        workbench = app_module.start_workbench(window)
        assert workbench is not None and window.findChild(Workbench) is workbench
        # torch's, Qt's and numpy's modules and the window: far more than the window alone
        assert gc.get_freeze_count() > 100_000
    finally:
        gc.unfreeze()
        for made in window.findChildren(Workbench):
            made.shutdown()
        window.recovery.timer.stop()
        window.document.undo_stack.setClean()
    assert gc.get_freeze_count() == 0
