"""Time from a property edit to the layer stack and summary repainted, 50-layer network.

Budget: ≤ 30 ms per edit. Runs headless (QT_QPA_PLATFORM=offscreen unless set).
    python bench/gui_edit.py [--edits 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec


def fifty_layer_network() -> NetworkSpec:
    """VGG-like: 6 stages of (Conv-BN-ReLU ×2 + pool) and an 8-layer classifier: 50 layers."""
    layers: list[LayerSpec] = []
    for stage in range(6):
        for _ in range(2):
            layers.append(
                LayerSpec.create(
                    "Conv2D", {"filters": 16 * (stage + 1), "kernel_size": 3, "padding": "same"}
                )
            )
            layers.append(LayerSpec.new("BatchNorm"))
            layers.append(LayerSpec.create("Activation", {"function": "relu"}))
        layers.append(LayerSpec.create("MaxPool2D", {"pool_size": 2}))
    layers.append(LayerSpec.new("Flatten"))
    for units in (64, 32):
        layers.append(LayerSpec.create("Dense", {"units": units}))
        layers.append(LayerSpec.create("Activation", {"function": "relu"}))
        layers.append(LayerSpec.new("Dropout"))
    layers.append(LayerSpec.create("Dense", {"units": 10, "activation": "softmax"}))
    assert len(layers) == 50, len(layers)
    return NetworkSpec(name="fifty", input=InputSpec(3, 128, 128), layers=tuple(layers))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=60)
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from explorer.ui.common import settings
    from explorer.ui.shell.main_window import MainWindow

    settings.use_location(tempfile.mkdtemp(prefix="cnn-explorer-bench-"))
    app = QApplication.instance() or QApplication([])
    spec = fifty_layer_network()
    window = MainWindow(spec)
    window.show()
    app.processEvents()
    assert window.document.analysis.ok, window.document.analysis.errors
    window.stack.select_paths([LayerPath.top(24)])  # a Conv2D in the middle of the stack
    app.processEvents()
    box = window.properties.editors["filters"].box
    stack_view, table = window.stack.view.viewport(), window.summary.table.viewport()

    times, cpu_times = [], []
    for n in range(args.edits + 5):
        start, cpu_start = time.perf_counter(), time.process_time()
        box.setValue(64 + n % 2)  # a spin-box step: one edit through the document
        stack_view.repaint()
        table.repaint()
        app.processEvents()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        if n >= 5:  # warm-up
            times.append(elapsed * 1000)
            cpu_times.append(cpu * 1000)
    window.document.undo_stack.setClean()
    window.close()
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    print(
        f"property edit -> stack + summary repainted, 50 layers, {len(times)} edits: "
        f"median {statistics.median(times):.2f} ms, p95 {p95:.2f} ms, max {times[-1]:.2f} ms "
        f"(budget 30 ms); CPU time median {statistics.median(cpu_times):.2f} ms"
    )
    print(f"load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
