"""What the application builds at start-up is kept out of the cyclic collector's walks:
a full collection over it would hold the interpreter, and the window, for ~0.1 s."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from explorer.core.templates import load_template
from explorer.ui.shell import app as app_module
from explorer.ui.shell import heap
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


class _Cycle:
    """A reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _deep_window(qtbot: Any, layers: int) -> MainWindow:
    from explorer.core.spec import LayerSpec, NetworkSpec

    conv = LayerSpec.create("Conv2D", {"filters": 2, "kernel_size": 1})
    window = MainWindow(NetworkSpec(layers=(conv,) * layers))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: not window.document.analysing)  # (shown once analysed)
    assert window.document.spec.size == layers
    return window


def test_a_deep_network_has_what_lives_frozen_and_its_window_unfreezes_it(qtbot: Any) -> None:
    window = _deep_window(qtbot, heap.FREEZE_LAYERS + 1)
    keeper = window.heap
    gc.unfreeze()
    try:
        assert keeper._timer.isActive() and keeper._timer.interval() == heap.FREEZE_EVERY_MS
        survivors = [_Cycle() for _ in range(2_000)]
        gc.collect(1)  # they live through a collection of the middle generation
        young_garbage = _Cycle()
        gone = weakref.ref(young_garbage)
        del young_garbage
        assert keeper.freeze_survivors() and keeper.froze
        assert gone() is None  # collected before the freeze, not frozen with the rest
        frozen = gc.get_freeze_count()
        assert frozen >= len(survivors)
        assert not keeper.freeze_survivors()  # nothing has lived through one since
        assert gc.get_freeze_count() == frozen
        window.document.undo_stack.setClean()
        window.close()
        assert window.is_shut_down and not keeper.froze and gc.get_freeze_count() == 0
        assert not keeper._timer.isActive()
    finally:
        gc.unfreeze()


def test_a_shallow_network_freezes_nothing(qtbot: Any) -> None:
    window = _deep_window(qtbot, heap.FREEZE_LAYERS)
    assert not window.heap._timer.isActive()
    deep = window.document.spec.with_layers(window.document.spec.layers * 2)
    window.document.reset(deep)
    qtbot.waitUntil(lambda: window.document.spec is deep and not window.document.analysing)
    assert window.heap._timer.isActive()  # the document now shows a deep network
    window.document.reset(load_template("keras-mnist"))
    qtbot.waitUntil(lambda: not window.document.analysing)
    assert not window.heap._timer.isActive()
    window.document.undo_stack.setClean()
    window.close()


def test_the_rows_of_a_network_replaced_leave_no_cycles_behind_the_freeze(qtbot: Any) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from gui_stall import deep_network

    window = MainWindow(deep_network(1_200, blocks=True))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: not window.document.analysing, timeout=20_000)
    gc.unfreeze()
    gc.collect()
    try:
        window.heap._seen = -1  # as if collections had kept objects since the last freeze
        assert window.heap.freeze_survivors()
        # Another network replaces this one's 1,200 rows of blocks; frozen, only what
        # reference counting frees goes: rows that made cycles would stay until unfrozen.
        window.document.reset(deep_network(1_200, blocks=True))
        qtbot.waitUntil(lambda: not window.document.analysing, timeout=20_000)
        gc.unfreeze()
        assert gc.collect() < 100
    finally:
        gc.unfreeze()
        window.document.undo_stack.setClean()
        window.close()
