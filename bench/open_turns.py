"""The GUI thread's turns of the event loop while a network is opened, each named.

`gui_stall.py`'s "open" step gives only the longest turn; this runs the same step (the
window, then the workbench, then each panel in a turn of its own, a deep network's
analysis swapped in) with the same 5 ms probe and lists every turn whose GUI-thread CPU
time exceeds a threshold, with what ran in it: the window, the workbench, a panel's
builder, the swap of the analysis, a selection sent a turn later (anything else in a turn,
painting and laying out mostly, is the rest). `--profile` prints a cProfile of the
longest turn.

    python bench/open_turns.py [--layers 7 5000] [--repeat N] [--over 15] [--profile]

7 layers is the keras-mnist template (the peer); any other number a deep network as in
`gui_stall.py`. With `--repeat N` every turn's median over N openings is given.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gui_stall  # the bench beside this one

#: (name, thread CPU at start, at end) of each named piece of work, in order.
PIECES: list[tuple[str, float, float]] = []


def named(name: Callable[..., str]) -> Callable[[Callable[..., object]], Callable[..., object]]:
    """Wrap a method so that each call is recorded in PIECES under `name(self)`."""

    def wrap(method: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(method)
        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                PIECES.append((name(*args), start, time.thread_time()))

        return wrapper

    return wrap


def instrument() -> None:
    """Name the window's opening work (the classes are patched for this process only)."""
    from explorer.ui.common.later_selection import LaterSelection
    from explorer.ui.common.opening import BackgroundOpening
    from explorer.ui.shell.deferred import Deferred
    from explorer.ui.shell.main_window import MainWindow
    from explorer.ui.shell.workbench import Workbench

    def panel_name(deferred: object) -> str:
        build = getattr(deferred, "_build", None)
        return "panel " + getattr(build, "__qualname__", repr(build)).split(".")[-1]

    def built_already(method: Callable[..., object]) -> Callable[..., object]:
        wrapped = named(panel_name)(method)

        def get(self: Deferred) -> object:  # type: ignore[type-arg]
            return method(self) if self.built is not None else wrapped(self)

        return get

    MainWindow.__init__ = named(lambda *_: "window")(MainWindow.__init__)  # type: ignore[method-assign]
    Workbench.__init__ = named(lambda *_: "workbench")(Workbench.__init__)  # type: ignore[method-assign]
    Deferred.get = built_already(Deferred.get)  # type: ignore[method-assign]
    BackgroundOpening._on_opening_analysed = named(lambda *_: "swap")(  # type: ignore[method-assign]
        BackgroundOpening._on_opening_analysed
    )
    LaterSelection.send_now = named(lambda *_: "selection")(  # type: ignore[method-assign]
        LaterSelection.send_now
    )


class TurnProbe(gui_stall.StallProbe):
    """The stall probe, keeping every turn: (CPU at its start, at its end)."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.turns: list[tuple[float, float]] = []

    def _tick(self) -> None:
        before = self.last_cpu
        super()._tick()
        self.turns.append((before, self.last_cpu))


def open_once(spec, over_ms: float, profile: bool) -> tuple[list[tuple[str, float]], str]:
    """Each turn over `over_ms` of one opening: (what ran in it, its CPU ms), in order."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    probe = TurnProbe(app)
    probe.profiling = profile
    original = gui_stall.StallProbe
    gui_stall.StallProbe = lambda app: probe  # type: ignore[assignment,misc]
    first: list[list[tuple[float, float]]] = []
    longest: list[tuple[float, cProfile.Profile] | None] = []
    measure = probe.measure

    def measure_first(step, settle):
        result = measure(step, settle)
        if not first:  # the opening: its turns and its longest turn's profile
            first.append(list(probe.turns))
            longest.append(probe.longest)
            probe.profiling = False
        return result

    probe.measure = measure_first  # type: ignore[method-assign]
    PIECES.clear()
    try:
        gui_stall.run_steps(spec, None)
    finally:
        gui_stall.StallProbe = original  # type: ignore[misc]
    rows: list[tuple[str, float]] = []
    for start, end in first[0]:
        ms = (end - start) * 1000
        if ms < over_ms:
            continue
        inside = [
            f"{name} {(b - a) * 1000:.0f}" for name, a, b in PIECES if a >= start and b <= end
        ]
        rows.append((", ".join(inside) or "(paint, layout, other)", ms))
    text = ""
    if longest and longest[0] is not None:
        cpu, profiler = longest[0]
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(
            os.environ.get("BENCH_SORT", "cumulative")
        ).print_stats(40)
        text = f"profile of the longest turn ({cpu * 1000:.0f} ms):\n" + out.getvalue()
    return rows, text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", type=int, nargs="+", default=[7, 5000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--over", type=float, default=15.0, help="list turns over this, ms")
    parser.add_argument("--profile", action="store_true", help="profile the longest turn")
    args = parser.parse_args()

    import torch

    from explorer.core.templates import load_template

    torch.set_num_threads(1)
    instrument()
    open_once(load_template("keras-mnist"), args.over, False)  # warm-up: first-use costs
    for layers in args.layers:
        spec = load_template("keras-mnist") if layers == 7 else gui_stall.deep_network(layers)
        runs = [open_once(spec, args.over, args.profile) for _ in range(max(1, args.repeat))]
        print(f"\n{layers:,} layers: turns over {args.over:g} ms of GUI-thread CPU")
        for which, (label, _) in enumerate(runs[0][0]):
            same = [run[which][1] for run, _ in runs if len(run) > which]
            print(f"  {statistics.median(same):6.1f} ms  {label}")
        if args.profile:
            print(runs[-1][1])
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
