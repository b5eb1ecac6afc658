"""The longest GUI-thread stall of each step a user takes with a deep network.

A network of N layers (Conv2D 'same' + ReLU pairs on a small input, then Flatten and
Dense) is opened in the main window with its workbench (Training, Inspect, Evaluation,
Export), and these steps are taken one after another:

    start       the window's own first turn: MainWindow constructed and shown (nothing is
                on screen before it ends: what it costs is start-up time, the same at any
                depth, as `bench/cold_start.py` and the cold-start budget measure it)
    open        every later turn until the window is idle: its first paint, the workbench
                and each panel, a deep network's analysis shown, the first layer
                selected, the first capture drawn
    edit        one property edit (the filters of a convolution in the middle)
    undo        Ctrl+Z of that edit
    insert      a Conv2D from the palette dropped in the middle (its defaults, 32 filters
                and 'valid', change the shape of every row after it)
    duplicate   Ctrl+D of a Conv2D in the middle (every row after it sees a wider field)
    remove      Delete of a Conv2D in the middle
    rename      a middle Conv2D's name typed into Properties
    move        Ctrl+Up (Move Up) of a Conv2D in the middle, past its ReLU (with --blocks:
                of the middle block, past the block before it)
    autosave    the recovery file written after that move (the autosave timer firing)
    inspect     the Inspect panel brought to the front (maps drawn for what is visible)
    pick        another image picked in the input picker's dataset grid
    scroll      the feature-map column scrolled to its end
    hide        the Inspect panel sent behind the Summary again
    quit        the window closed (every thread joined)

The layer an edit acts on is selected before the step is measured. Each of insert,
duplicate, remove and rename is undone once measured (not timed), so each is made on the
network as it was opened; the recovery timer fires only in the autosave step.

A 5 ms QTimer probes the event loop all the while: a step's stall is the largest gap
between two of its ticks (the time the window could not answer the user), measured until
the event loop has been idle for 300 ms after the step (captures arrive in the meantime,
an edit of a deep network worked out in the background is shown, and whatever the step
left for later turns of the loop). A second table gives the most
CPU time the GUI thread spent between two ticks: on a shared machine, what the window
itself did rather than how long the other processes kept it waiting.
The peer is the same steps on the 7-layer keras-mnist template, so the ratio shows what
the depth itself costs. Budget (DESIGN.md): every step ≤ 50 ms at 5,000 layers.

    python bench/gui_stall.py [--layers 500 5000] [--repeat N] [--profile STEP]

(`--profile STEP` prints a cProfile of that step's longest turn of the loop, at each
depth but the peer's; cProfile slows Python code about twofold, not Qt's own.)

(BENCH_SORT=cumulative sorts the profile by cumulative time instead of own time.)

`--repeat N` takes every configuration N times, in turn, and reports each step's median:
on a shared machine one run's worst gap is often another process's, not the window's.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

STEPS = (
    "open",
    "edit",
    "undo",
    "insert",
    "duplicate",
    "remove",
    "rename",
    "move",
    "autosave",
    "inspect",
    "pick",
    "scroll",
    "hide",
    "quit",
)
#: The table's columns: "start" and "open" are the first turn of the open step and the rest.
COLUMNS = ("start", *STEPS)
PROBE_MS = 5
IDLE_MS = 300


def deep_network(layers: int, blocks: bool = False):
    """`layers` layers: (Conv2D 'same' + ReLU) pairs on 1×8×8, then Flatten and Dense; with
    `blocks`, each pair is the body of a residual block (a third of the rows are then
    blocks and their merge rows: `layers` counts the layers and blocks of the tree)."""
    from explorer.core.spec import BlockSpec, InputSpec, LayerSpec, NetworkSpec

    if blocks:
        body = []
        while 3 * len(body) < layers - 2:
            pair = (
                LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}),
                LayerSpec.create("Activation", {"function": "relu"}),
            )
            body.append(BlockSpec.create("Residual", {}, [pair]))
        tail = (LayerSpec.new("Flatten"), LayerSpec.create("Dense", {"units": 10}))
        return NetworkSpec(
            name=f"deep-{layers}-blocks", input=InputSpec(1, 8, 8), layers=(*body, *tail)
        )

    body: list[LayerSpec] = []
    while len(body) < layers - 2:
        body.append(LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}))
        if len(body) < layers - 2:
            body.append(LayerSpec.create("Activation", {"function": "relu"}))
    body += [
        LayerSpec.new("Flatten"),
        LayerSpec.create("Dense", {"units": 10, "activation": "softmax"}),
    ]
    return NetworkSpec(name=f"deep-{layers}", input=InputSpec(1, 8, 8), layers=tuple(body))


class StallProbe:
    """A 5 ms timer; `measure(step)` runs `step` inside the event loop and returns the
    largest gap between ticks until the loop has been quiet for IDLE_MS."""

    def __init__(self, app) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.app = app
        # While `profiling`: a cProfile of each turn, the longest kept as (CPU s, profile).
        self.profiling = False
        self.longest: tuple[float, cProfile.Profile] | None = None
        self._profiler: cProfile.Profile | None = None
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst = 0.0
        self.gaps: list[tuple[float, float]] = []  # (wall, CPU) of each turn of a step
        self.last_cpu = 0.0
        self.worst_cpu = 0.0

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self._turn_ended(cpu - self.last_cpu)
        self.gaps.append((now - self.last, cpu - self.last_cpu))
        self.worst = max(self.worst, now - self.last)
        self.worst_cpu = max(self.worst_cpu, cpu - self.last_cpu)
        self.last, self.last_cpu = now, cpu

    def _turn_ended(self, cpu: float) -> None:
        if self._profiler is not None:
            self._profiler.disable()
            if self.longest is None or cpu > self.longest[0]:
                self.longest = (cpu, self._profiler)
            self._profiler = None
        if self.profiling:
            self._profiler = cProfile.Profile()
            self._profiler.enable()

    def measure(
        self, step: Callable[[], object], settle: Callable[[], bool]
    ) -> tuple[float, float]:
        """The step's stall in ms: the longest gap between ticks, and the most CPU time the
        GUI thread spent between two ticks (what the window itself did, whatever else
        runs on a shared machine)."""
        from PySide6.QtCore import QTimer

        self.timer.start()
        self.app.processEvents()
        self.last, self.last_cpu = time.perf_counter(), time.thread_time()
        self.worst = self.worst_cpu = 0.0
        self.gaps = []
        self.longest = None
        self._turn_ended(0.0)  # (the step's own turn comes before any tick)
        QTimer.singleShot(0, step)
        quiet_since = time.perf_counter()
        deadline = quiet_since + 600
        while time.perf_counter() < deadline:
            before = time.perf_counter()
            self.app.processEvents()
            time.sleep(0.001)
            # A long turn (the step itself, or work it left for later turns) is not quiet:
            # checked before the idle time, or a step over IDLE_MS would end the wait at
            # once and leave what it deferred to the next step.
            if not settle() or time.perf_counter() - before > 0.02:
                quiet_since = time.perf_counter()
            elif time.perf_counter() - quiet_since > IDLE_MS / 1000:
                break
        self.timer.stop()
        self._turn_ended(time.thread_time() - self.last_cpu)
        wall = max(self.worst, time.perf_counter() - self.last) * 1000 - PROBE_MS
        cpu = max(self.worst_cpu, time.thread_time() - self.last_cpu) * 1000
        return wall, cpu


def run_steps(spec, profile: str | None) -> dict[str, tuple[float, float]]:
    """Every step's stall in ms for one network: (wall, GUI-thread CPU), see `measure`."""
    import numpy as np
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from explorer.core.paths import LayerPath
    from explorer.ui.common import settings
    from explorer.ui.shell.main_window import MainWindow
    from explorer.ui.shell.pyqtgraph_setup import configure_pyqtgraph

    settings.use_location(tempfile.mkdtemp(prefix="cnn-explorer-bench-"))
    app = QApplication.instance() or QApplication([])
    configure_pyqtgraph()
    probe = StallProbe(app)
    state: dict = {}
    stalls: dict[str, tuple[float, float]] = {}

    def idle() -> bool:
        window, workbench = state.get("window"), state.get("workbench")
        if window is not None and getattr(window.recovery, "busy", False):
            return False  # a recovery file is being written
        if window is not None and getattr(window.document, "editing", False):
            return False  # an edit of the deep network is being worked out
        if window is not None and (workbench is None or window.document.analysing):
            return False  # the workbench or the network's analysis is still to come
        # The panel as built, not built by asking: the queue builds it in a turn of its own.
        inspect = None if workbench is None else workbench._inspect.built
        return inspect is None or not inspect.controller.busy

    def open_window() -> None:
        window = MainWindow(spec)
        window.resize(1280, 800)
        window.show()
        # The recovery file is written by the "autosave" step alone, not a moment after
        # whichever edit step happened to come 1.5 s before.
        window.recovery.timer.setInterval(10**8)
        state["window"] = window
        # As the application does: the workbench in a later turn, once the window is up
        # (a timer, as there: a zero-time single shot is a posted call, run in this turn).
        QTimer.singleShot(1, install_workbench)

    def install_workbench() -> None:
        from explorer.ui.shell.app import keep_startup_out_of_collections
        from explorer.ui.shell.workbench import Workbench

        window = state["window"]
        workbench = Workbench(window, warm_up=False)
        keep_startup_out_of_collections()  # as the application does after installing it
        window.summary_dock.raise_()  # Inspect starts behind the Summary; "inspect" shows it
        state["workbench"] = workbench
        QTimer.singleShot(1, give_samples)  # a turn of its own, as a dataset arriving is

    def give_samples() -> None:
        workbench = state["workbench"]
        c, h, w = spec.input.shape
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (200, c, h, w), dtype=np.uint8)
        labels = rng.integers(0, 10, 200)
        workbench.inspect.picker.set_samples(
            images, labels, [str(i) for i in range(10)], (0.5,) * c, (0.5,) * c
        )

    def middle_conv() -> LayerPath:
        """A Conv2D in the middle: a top-level one, or the first of a middle block's body."""
        layers = state["window"].document.spec.layers
        convs = [i for i, layer in enumerate(layers) if layer.type == "Conv2D"]
        if convs:
            return LayerPath.top(convs[len(convs) // 2])
        return LayerPath.top(len(layers) // 2).child(0, 0)

    def edit() -> None:
        window = state["window"]
        window.stack.select_paths([middle_conv()])
        window.properties.editors["filters"].box.setValue(5)

    def undo() -> None:
        state["window"].document.undo_stack.undo()

    def select_middle() -> None:
        state["window"].stack.select_paths([middle_conv()])

    def select_middle_row() -> None:  # (a block's first layer cannot move up: its block can)
        state["window"].stack.select_paths([LayerPath.top(middle_conv().top_row)])

    def insert() -> None:
        from explorer.core.spec import LayerSpec

        at = middle_conv()
        state["window"].document.insert_layers(at.sibling(at.index + 1), [LayerSpec.new("Conv2D")])

    def duplicate() -> None:
        state["window"].stack.duplicate_action.trigger()

    def remove() -> None:
        state["window"].stack.delete_action.trigger()

    def rename() -> None:
        name_edit = state["window"].properties.name_edit
        name_edit.setText("renamed_in_the_middle")
        name_edit.editingFinished.emit()  # as when the user presses Enter

    def move() -> None:
        state["window"].stack.move_up_action.trigger()

    def autosave() -> None:
        timer = state["window"].recovery.timer
        timer.setInterval(0)
        timer.start()

    def inspect() -> None:
        dock = state["workbench"].inspect_dock
        dock.show()
        dock.raise_()

    def pick() -> None:
        grid = state["workbench"].inspect.picker.grid
        grid.setCurrentRow((grid.currentRow() + 1) % grid.count())

    def scroll() -> None:
        bar = state["workbench"].inspect.feature_maps.view.verticalScrollBar()
        bar.setValue(bar.maximum())

    def hide() -> None:
        state["window"].summary_dock.raise_()

    def quit_window() -> None:
        window = state.pop("window")
        state.pop("workbench")
        window.document.undo_stack.setClean()
        window.close()
        window.deleteLater()

    steps = (open_window, edit, undo, insert, duplicate, remove, rename, move, autosave)
    steps += (inspect, pick, scroll, hide, quit_window)
    actions = dict(zip(STEPS, steps, strict=True))
    # made ready before the step is measured: the layer the step acts on is selected
    before: dict[str, Callable[[], None]] = {
        name: select_middle for name in ("insert", "duplicate", "remove", "rename")
    } | {"move": select_middle_row}
    # undone after being measured, so that each edit is made on the network as opened (the
    # last one, "move", is left for "autosave" to write)
    undone = ("insert", "duplicate", "remove", "rename")
    for name in STEPS:
        if name in before:
            before[name]()
            app.processEvents()
        if profile is not None:
            probe.profiling = name == profile
        stalls[name] = probe.measure(actions[name], idle)
        if name == "open":  # its first turn (the window made and shown), then the rest
            first, rest = probe.gaps[0], probe.gaps[1:] or [(0.0, 0.0)]
            stalls["start"] = (first[0] * 1000 - PROBE_MS, first[1] * 1000)
            stalls["open"] = (
                max(wall for wall, _ in rest) * 1000 - PROBE_MS,
                max(cpu for _, cpu in rest) * 1000,
            )
        if name == profile and probe.longest is not None:
            cpu, profiler = probe.longest
            print(f"profile of the step's longest turn ({cpu * 1000:.0f} ms of CPU, profiled):")
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "tottime")).print_stats(
                30
            )
        if name in undone:
            state["window"].document.undo_stack.undo()
            probe.measure(lambda: None, idle)  # (what the undo leaves for later turns)
    # What the window left in reference cycles (its objects unfrozen as it closed) goes
    # now, not in the next network's steps: the application's process ends with its window.
    gc.collect()
    return stalls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--profile", choices=STEPS, help="print a cProfile of this step")
    parser.add_argument("--no-peer", action="store_true", help="skip the 7-layer peer")
    parser.add_argument(
        "--blocks", action="store_true", help="the deep networks' pairs in residual blocks"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration (median)")
    args = parser.parse_args()

    import torch

    from explorer.core.templates import load_template

    torch.set_num_threads(1)
    run_steps(load_template("keras-mnist"), None)  # warm-up: imports and first-use costs
    peers = [] if args.no_peer else [("7 (keras-mnist, peer)", load_template("keras-mnist"))]
    kind = " in blocks" if args.blocks else ""
    deep = [(f"{layers:,}{kind}", deep_network(layers, args.blocks)) for layers in args.layers]
    networks = peers + deep
    runs: dict[str, list[dict[str, tuple[float, float]]]] = {label: [] for label, _ in networks}
    for _ in range(max(1, args.repeat)):  # in turn, so a busy minute spreads over all
        for label, spec in networks:
            profile = args.profile if (label, spec) in deep else None
            runs[label].append(run_steps(spec, profile))
    median = f" of {args.repeat} runs" if args.repeat > 1 else ""
    for which, title in enumerate(("stall", "CPU time between two ticks")):
        rows = [
            (label, {s: statistics.median(run[s][which] for run in runs[label]) for s in COLUMNS})
            for label, _ in networks
        ]
        print(
            f"max GUI-thread {title} per step, ms (5 ms probe; budget 50 ms at 5,000 layers"
            + (f"; median{median})" if median else ")")
        )
        print(f"{'layers':>22} " + " ".join(f"{s:>8}" for s in COLUMNS))
        for label, stalls in rows:
            print(f"{label:>22} " + " ".join(f"{stalls[s]:8.1f}" for s in COLUMNS))
        if not args.no_peer:
            peer = rows[0][1]
            for label, stalls in rows[1:]:
                ratio = " ".join(f"{stalls[s] / max(peer[s], 1.0):7.1f}×" for s in COLUMNS)
                print(f"{label + ' / peer':>22} {ratio}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
