"""Time from a property edit to the layer stack and summary repainted.

Networks: a 50-layer VGG-like stack; ResNet-56 for CIFAR (27 basic blocks, every block
expanded, the edit inside a block of the middle stage) and the same layers as one flat
stack, timed side by side (their ratio is what to compare across machines).
Budget: ≤ 30 ms per edit. Runs headless (QT_QPA_PLATFORM=offscreen unless set).
    python bench/gui_edit.py [--edits 60] [--network fifty|resnet56|both]
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
from explorer.core.spec import BlockSpec, InputSpec, LayerOrBlock, LayerSpec, NetworkSpec


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


def _basic_body(filters: int, stride: int) -> list[LayerSpec]:
    conv = {"kernel_size": 3, "padding": "same", "use_bias": False}
    return [
        LayerSpec.create("Conv2D", {"filters": filters, "stride": stride, **conv}),
        LayerSpec.new("BatchNorm"),
        LayerSpec.create("Activation", {"function": "relu"}),
        LayerSpec.create("Conv2D", {"filters": filters, **conv}),
        LayerSpec.new("BatchNorm"),
    ]


def resnet56(flat: bool = False) -> tuple[NetworkSpec, LayerPath]:
    """He et al. 2016's ResNet-56 for CIFAR: a 3×3/16 stem, three stages of nine basic
    blocks (16, 32, 64 filters), global average pool, Dense 10; `flat`: the same layers
    without the blocks. With the path of a Conv2D in the middle stage."""
    layers: list[LayerOrBlock] = [
        LayerSpec.create("Conv2D", {"filters": 16, "kernel_size": 3, "padding": "same"}),
        LayerSpec.new("BatchNorm"),
        LayerSpec.create("Activation", {"function": "relu"}),
    ]
    edited = LayerPath.top(0)
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(9):
            body = _basic_body(filters, 2 if stage and not block else 1)
            if stage == 1 and block == 4:
                edited = LayerPath.top(len(layers) + 3) if flat else LayerPath((len(layers), 0, 3))
            if flat:
                layers += body
            else:
                layers.append(BlockSpec.create("Residual", {"shortcut": "pad"}, [body]))
    layers += [LayerSpec.new("GlobalAvgPool2D"), LayerSpec.create("Dense", {"units": 10})]
    name = "resnet56-flat" if flat else "resnet56"
    return NetworkSpec(name=name, input=InputSpec(3, 32, 32), layers=tuple(layers)), edited


def _time_edits(spec: NetworkSpec, path: LayerPath, edits: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per edit of `filters` of the Conv2D at `path`, each through
    the Properties spin box, with the stack (every block expanded) and summary repainted."""
    from PySide6.QtWidgets import QApplication

    from explorer.ui.shell.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(spec)
    window.resize(1400, 1000)
    window.show()
    app.processEvents()
    assert window.document.analysis.ok, window.document.analysis.errors
    window.stack.view.expandAll()
    window.stack.select_paths([path])
    app.processEvents()
    box = window.properties.editors["filters"].box
    first = int(box.value())
    stack_view, table = window.stack.view.viewport(), window.summary.table.viewport()

    times, cpu_times = [], []
    for n in range(edits + 5):
        start, cpu_start = time.perf_counter(), time.process_time()
        box.setValue(first + 1 - n % 2)  # a spin-box step: one edit through the document
        stack_view.repaint()
        table.repaint()
        app.processEvents()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        if n >= 5:  # warm-up
            times.append(elapsed * 1000)
            cpu_times.append(cpu * 1000)
    window.document.undo_stack.setClean()
    window.close()
    window.deleteLater()
    app.processEvents()
    return sorted(times), cpu_times


def _report(label: str, times: list[float], cpu_times: list[float]) -> float:
    p95 = times[int(0.95 * (len(times) - 1))]
    median = statistics.median(times)
    print(
        f"property edit -> stack + summary repainted, {label}, {len(times)} edits: "
        f"median {median:.2f} ms, p95 {p95:.2f} ms, max {times[-1]:.2f} ms "
        f"(budget 30 ms); CPU time median {statistics.median(cpu_times):.2f} ms"
    )
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=60)
    parser.add_argument("--network", choices=("fifty", "resnet56", "both"), default="both")
    args = parser.parse_args()

    from explorer.ui.common import settings

    settings.use_location(tempfile.mkdtemp(prefix="cnn-explorer-bench-"))
    if args.network in ("fifty", "both"):
        _report("50 layers", *_time_edits(fifty_layer_network(), LayerPath.top(24), args.edits))
    if args.network in ("resnet56", "both"):
        blocks = _report("ResNet-56, 27 blocks expanded", *_time_edits(*resnet56(), args.edits))
        flat = _report("ResNet-56's layers flat", *_time_edits(*resnet56(flat=True), args.edits))
        print(f"blocks / flat: {blocks / flat:.2f}× (medians, run side by side)")
    print(f"load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
