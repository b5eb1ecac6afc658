"""Pick an image -> all feature maps drawn, for a 7-conv VGG-style net on 32×32×3.

Compares the FeatureMapPanel (capture on a snapshot, one indexed mosaic ImageItem per
layer with explicit levels) with the naive peer: one pyqtgraph ImageItem per channel
with automatic levels, in one GraphicsLayoutWidget (one ViewBox per layer). Both draw
the same captures (rows/items built once, as when a user picks image after image), in
a scroll area of the same size, and each time includes the capture and a finished paint:

- "window": the maps as the user sees them (`grab()` of the scroll area showing them in
  a 900×700 panel; the panel's buttons and labels above it are left out, as the peer
  has none);
- "column": every layer's maps rendered (`grab()` of the whole scrolled column).

The GUI-thread part (draw + paint, without the capture) is reported too: in the app the
capture runs on the capture thread, so that part is what can stall the interface.
The two are alternated in rounds so load from other processes hits both alike.
Run: python bench/feature_maps.py [--repeats N] [--threads T]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WINDOW = (900, 700)


def vgg_spec():
    from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec

    def conv(filters: int) -> LayerSpec:
        return LayerSpec.create(
            "Conv2D",
            {"filters": filters, "kernel_size": 3, "padding": "same", "activation": "relu"},
        )

    layers = [conv(32), conv(32), LayerSpec.create("MaxPool2D")]
    layers += [conv(64), conv(64), LayerSpec.create("MaxPool2D")]
    layers += [conv(128), conv(128), conv(128), LayerSpec.create("MaxPool2D")]
    layers += [
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 128, "activation": "relu"}),
        LayerSpec.create("Dense", {"units": 10, "activation": "softmax"}),
    ]
    return NetworkSpec(name="VGG-7", input=InputSpec(3, 32, 32), layers=tuple(layers))


class PerChannelPeer:
    """One ViewBox per layer holding one ImageItem per channel, auto-levelled."""

    def __init__(self, result, column_size, scroll_size) -> None:
        import pyqtgraph as pg
        from PySide6.QtWidgets import QScrollArea

        self.column = pg.GraphicsLayoutWidget()
        self.items: list[list] = []
        for row, layer in enumerate(result.layers):
            box = self.column.addViewBox(row=row, col=0, lockAspect=True, invertY=True)
            items = []
            count = layer.output.shape[0] if layer.is_image else 1
            h, w = layer.output.shape[1:] if layer.is_image else (1, layer.output.shape[0])
            cols = max(1, round((2 * count) ** 0.5))
            for i in range(count):
                item = pg.ImageItem(axisOrder="row-major")
                item.setPos((i % cols) * (w + 1), (i // cols) * (h + 1))
                box.addItem(item)
                items.append(item)
            self.items.append(items)
        self.column.setFixedSize(column_size)
        self.window = QScrollArea()
        self.window.setWidget(self.column)
        self.window.resize(scroll_size)

    def draw(self, result) -> None:
        for items, layer in zip(self.items, result.layers, strict=True):
            if layer.is_image:
                for item, channel in zip(items, layer.output, strict=True):
                    item.setImage(channel, autoLevels=True)
            else:
                items[0].setImage(layer.output.reshape(1, -1), autoLevels=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10, help="images per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for capture")
    args = parser.parse_args()

    import pyqtgraph as pg
    import torch
    from PySide6.QtWidgets import QApplication

    from explorer.core.builder import build_model
    from explorer.core.capture import capture, snapshot_model, with_mosaics
    from explorer.ui.inspect.feature_maps import FeatureMapPanel

    torch.set_num_threads(args.threads)
    app = QApplication.instance() or QApplication([])
    pg.setConfigOptions(imageAxisOrder="row-major")
    spec = vgg_spec()
    model = snapshot_model(spec, build_model(spec, seed=0).state_dict())
    images = [torch.randn(3, 32, 32) for _ in range(args.repeats + 1)]

    panel = FeatureMapPanel()
    panel.set_spec(spec)
    panel.resize(*WINDOW)
    panel.show()
    panel.show_capture(with_mosaics(capture(model, images[0])))  # lay the rows out once
    # The list is virtual (only rows on screen are painted): for "column", a second panel
    # tall enough to show every row at once.
    tall = FeatureMapPanel()
    tall.set_spec(spec)
    tall.resize(*WINDOW)
    tall.show()
    tall.show_capture(with_mosaics(capture(model, images[0])))
    for _ in range(50):
        app.processEvents()
    rows = sum(tall.view.sizeHintForRow(r) for r in range(tall.model.rowCount()))
    tall.resize(WINDOW[0], WINDOW[1] - panel.view.viewport().height() + rows + 4)
    for _ in range(50):
        app.processEvents()
    column = tall.view.viewport()
    peer = PerChannelPeer(capture(model, images[0]), column.size(), panel.view.size())
    peer.window.show()
    app.processEvents()

    def timed(
        draw: Callable, paint: Callable, tiled: bool
    ) -> tuple[list[float], list[float], list[float]]:
        gc.collect()
        captures, totals, draws = [], [], []
        for image in images[1:]:
            app.processEvents()
            start = time.perf_counter()
            result = capture(model, image)
            if tiled:  # the app tiles the mosaics on the capture thread, with the capture
                result = with_mosaics(result)
            captured = time.perf_counter()
            draw(result)
            paint()
            done = time.perf_counter()
            captures.append((captured - start) * 1e3)
            totals.append((done - start) * 1e3)
            draws.append((done - captured) * 1e3)
        return captures, totals, draws

    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, draw, paint in (
            ("ours window", panel.show_capture, panel.view.grab),
            ("peer window", peer.draw, peer.window.grab),
            ("ours column", tall.show_capture, column.grab),
            ("peer column", peer.draw, peer.column.grab),
        ):
            captures, totals, draws = timed(draw, paint, name.startswith("ours"))
            times.setdefault(name, []).extend(totals)
            times.setdefault(name + " draw", []).extend(draws)
            times.setdefault("capture", []).extend(captures)

    median = {name: statistics.median(values) for name, values in times.items()}
    result = capture(model, images[0])
    maps = sum(layer.output.shape[0] for layer in result.layers if layer.is_image)
    print(
        f"{spec.name}: {len(result.layers)} layers, {maps} maps, 32×32×3 input; "
        f"column {column.width()}×{column.height()} px, window {WINDOW[0]}×{WINDOW[1]}"
    )
    print(f"capture alone (torch {args.threads} thread): {median['capture']:6.1f} ms (median)")
    print("pick → maps drawn, median ms   mosaic/layer  item/channel  speed-up")
    for what in ("window", "column"):
        ours, peer_ms = median[f"ours {what}"], median[f"peer {what}"]
        print(f"  {what:<28}{ours:10.1f}{peer_ms:14.1f}{peer_ms / ours:9.1f}×")
    print("GUI-thread part (draw + paint; the app captures on its own thread)")
    for what in ("window", "column"):
        ours, peer_ms = median[f"ours {what} draw"], median[f"peer {what} draw"]
        print(f"  {what:<28}{ours:10.1f}{peer_ms:14.1f}{peer_ms / ours:9.1f}×")
    print("budget: ≤ 50 ms and ≥ 5× the item-per-channel peer")
    panel.close()
    tall.close()
    peer.window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
