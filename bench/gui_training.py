"""Training driven by the GUI vs the same trainer headless, and the GUI's responsiveness.

    python bench/gui_training.py [--template keras-mnist] [--dataset shapes] [--steps 150]
        [--threads 1 2] [--rounds 2] [--data-dir DIR]

For each thread count, alternates a headless run (the core Trainer's generator on a plain
thread) and a GUI run (main window shown, curves live, the Train button pressed) on the same
resident dataset, each stopped after `--steps` steps. Throughput is measured the same way
for both, from the trainer's own Progress events after a warm-up of 20 steps. During GUI runs
then two more GUI runs with a 5 ms precise QTimer record how late it fires (the event-loop
stall). Finally it times
"press Train → first loss point drawn" with everything warm.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WARM_STEPS = 20


def throughput(events: list) -> float:
    """Images per second of training time between the first Progress after WARM_STEPS
    and the last one."""
    progress = [e for e in events if type(e).__name__ == "Progress"]
    start = next(e for e in progress if e.step >= WARM_STEPS)
    end = progress[-1]
    return (end.samples_seen - start.samples_seen) / (end.elapsed - start.elapsed)


def headless(spec, dataset, steps: int) -> float:
    """The trainer alone, on a fresh thread like the GUI's worker: torch's thread count and
    OpenMP team belong to the calling thread, so both sides must train on a new thread."""
    from explorer.core.training import Trainer
    from explorer.core.training.devices import apply_threads, resolve_device
    from explorer.core.training.runs import RunFolder

    events: list = []

    def train() -> None:
        apply_threads(resolve_device("cpu"), spec.training.threads)
        # As the `train` command does (and the GUI's worker): events go to metrics.jsonl.
        folder = RunFolder(tempfile.mkdtemp(prefix="headless-run-"))
        trainer = Trainer(spec, dataset, checkpoint_path=folder.checkpoint_path)
        with folder:
            for event in trainer.run():
                folder.append(event)
                events.append(event)
                if getattr(event, "step", 0) >= steps:
                    trainer.stop()

    thread = threading.Thread(target=train, name="headless")
    thread.start()
    thread.join()
    return throughput(events)


class GuiRun:
    def __init__(self, app, window, controller, curves) -> None:
        self.app, self.window, self.controller, self.curves = app, window, controller, curves

    def run(self, spec, steps: int, *, probe: bool = False) -> tuple[float, list[float]]:
        """One GUI run; with `probe`, a 5 ms timer measures the event loop's lateness (its
        own 200 wake-ups a second are not part of the app, so throughput runs go without)."""
        from PySide6.QtCore import QTimer

        self.window.document.reset(spec)
        events: list = []
        ticks: list[float] = []
        timer = QTimer()
        timer.setTimerType(timer.timerType().PreciseTimer)
        timer.setInterval(5)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        measuring_from = [0.0]

        def on_progress(event) -> None:
            events.append(event)
            if event.step >= WARM_STEPS and not measuring_from[0]:
                measuring_from[0] = time.perf_counter()
            if event.step >= steps:
                self.controller.stop()

        self.controller.progress_reported.connect(on_progress)
        if probe:
            timer.start()
        self.controller.start()
        self.wait_idle()
        timer.stop()
        self.controller.progress_reported.disconnect(on_progress)
        late = [
            (b - a) * 1000 - 5 for a, b in itertools.pairwise(ticks) if a >= measuring_from[0] > 0
        ]
        return throughput(events), late

    def first_point(self, spec) -> float:
        self.window.document.reset(spec)
        self.curves.clear()
        pressed = time.perf_counter()
        self.controller.start()
        drawn = None
        while drawn is None:
            self.app.processEvents()
            data = self.curves.raw_loss_item.getData()[0]
            if data is not None and len(data):
                drawn = time.perf_counter() - pressed
        self.controller.stop()
        self.wait_idle()
        return drawn

    def wait_idle(self) -> None:
        """Run the event loop as the application does (blocked in exec, not polling)."""
        from PySide6.QtCore import QEventLoop

        if self.controller.state == "idle":
            return
        loop = QEventLoop()

        def on_state(state: str) -> None:
            if state == "idle":
                loop.quit()

        self.controller.state_changed.connect(on_state)
        loop.exec()
        self.controller.state_changed.disconnect(on_state)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--template", default="keras-mnist")
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--data-dir")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from explorer.core.data import load_dataset
    from explorer.core.templates import load_template
    from explorer.ui.common.settings import use_location
    from explorer.ui.shell.app import make_application
    from explorer.ui.shell.main_window import MainWindow
    from explorer.ui.shell.training_docks import TrainingDocks
    from explorer.ui.training.worker import dataset_key

    scratch = Path(tempfile.mkdtemp(prefix="gui-training-bench-"))
    use_location(scratch)
    app = make_application()
    base = load_template(args.template)
    training = base.training.with_values(
        dataset=args.dataset, batch_size=args.batch_size, epochs=100, device="cpu"
    )
    base = replace(base, training=training)
    dataset = load_dataset(
        args.dataset,
        data_dir=args.data_dir,
        device="cpu",
        validation_fraction=training.validation_split,
        seed=training.seed,
        input_size=(base.input.height, base.input.width),
        grayscale=base.input.channels == 1,
    )
    window = MainWindow(base)
    docks = TrainingDocks(window, runs_root=scratch / "runs", warm_up=False)
    controller, curves = docks.controller, docks.curves
    window.show()
    controller.remember_dataset(dataset_key(base, None, "cpu"), dataset)
    gui = GuiRun(app, window, controller, curves)
    print(f"{args.template} on {args.dataset}, batch {args.batch_size}, {args.steps} steps/run")
    for threads in args.threads:
        spec = replace(base, training=training.with_values(threads=threads))
        controller.remember_dataset(dataset_key(spec, None, "cpu"), dataset)
        headless(spec, dataset, 30)  # warm-up
        ratios, lates = [], []
        for _ in range(args.rounds):
            alone = headless(spec, dataset, args.steps)
            live, _ = gui.run(spec, args.steps)
            ratios.append(live / alone)
            print(f"  threads={threads}: headless {alone:8.0f} img/s   GUI {live:8.0f} img/s")
        for _ in range(2):
            lates.extend(gui.run(spec, args.steps, probe=True)[1])
        lates.sort()
        p99 = lates[int(0.99 * (len(lates) - 1))] if lates else float("nan")
        worst = lates[-1] if lates else float("nan")
        print(
            f"threads={threads}: GUI/headless {statistics.median(ratios):.3f}x (median of "
            f"{len(ratios)}); 5 ms timer lateness p99 {p99:.1f} ms, max {worst:.1f} ms "
            f"({len(lates)} ticks)"
        )
    spec = replace(base, training=training.with_values(threads=args.threads[0]))
    firsts = [gui.first_point(spec) for _ in range(3)]
    print(f"press Train -> first loss point drawn (warm): median {statistics.median(firsts):.3f} s")
    controller.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
