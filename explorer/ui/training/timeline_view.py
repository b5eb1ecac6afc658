"""The Map Timeline view: one layer's feature maps for the probe image, frame by frame from
initialisation to the end of a run; scrub the slider or press Play (Space), export the
layer's frames as an animated GIF or as numbered PNG frames for a video encoder.

Frames arrive live (`add_frames`, kept within the same memory cap as the recorder's) or from
a finished run's timeline.npz (`load_run`). Each frame is a uint8 mosaic of colour indices,
drawn with one lookup table (index 0, the gaps, white), so a frame costs one setImage.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from explorer.core.training.timeline import (
    MapTimeline,
    TimelineError,
    export_frames,
    export_gif,
)
from explorer.ui.common.buttons import text_button

if TYPE_CHECKING:
    from explorer.core.training.timeline import TimelineFrame

log = logging.getLogger(__name__)

#: Milliseconds per frame when playing (and in an exported GIF).
FRAME_MS = 120


def colour_table(name: str = "viridis") -> np.ndarray:
    """(256, 3) uint8: index 0 white (the gaps between maps), 1..255 the colour map."""
    table = pg.colormap.get(name).getLookupTable(0.0, 1.0, 255, alpha=False)
    return np.vstack([np.full((1, 3), 255, np.uint8), np.asarray(table, np.uint8)])


class TimelineView(QWidget):
    """The frames of the live run or of a finished one, one layer at a time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.timeline = MapTimeline()
        self._table = colour_table()
        self.layer_box = QComboBox()
        self.layer_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.layer_box.setMinimumContentsLength(6)
        layer_label = QLabel("&Layer:")
        layer_label.setBuddy(self.layer_box)
        self.play_button = text_button("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play the frames from the start (Space)")
        # Short labels (the tool tips say more): the dock shares a narrow column with others.
        self.export_button = text_button("GIF…", "Export the layer's frames as an animated GIF")
        self.frames_button = text_button("Frames…")
        self.frames_button.setToolTip(
            "Write the layer's frames as numbered PNGs into a folder, for an MP4: "
            "ffmpeg -framerate 8 -i <layer>_%04d.png -pix_fmt yuv420p maps.mp4"
        )
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.step_label = QLabel("no frames yet: they are recorded while a network trains")
        self.step_label.setWordWrap(True)  # a long status (an ffmpeg line) never widens the dock
        controls = QHBoxLayout()
        buttons = (self.play_button, self.export_button, self.frames_button)
        for widget in (layer_label, self.layer_box, *buttons):
            controls.addWidget(widget)
        controls.addStretch(1)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.plot = self.graphics.addPlot()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(self._table)
        self.plot.addItem(self.image)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.slider)
        layout.addWidget(self.step_label)

        self._player = QTimer(self)
        self._player.setInterval(FRAME_MS)
        self._player.timeout.connect(self._on_player_timeout)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        self.layer_box.currentIndexChanged.connect(self._on_layer_box_current_index_changed)
        self.play_button.toggled.connect(self._on_play_button_toggled)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.frames_button.clicked.connect(self._on_frames_button_clicked)
        shortcut = QShortcut(QKeySequence(Qt.Key.Key_Space), self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.play_button.toggle)
        self._update_controls()

    # ---- data ------------------------------------------------------------------------------

    @Slot()
    def clear(self) -> None:
        self.show_timeline(MapTimeline(self.timeline.cap_bytes))

    @Slot(object)
    def add_frames(self, frames: Iterable[TimelineFrame]) -> None:
        """Append live frames; the slider follows the newest one unless moved back."""
        at_end = self.slider.value() == self.slider.maximum()
        for frame in frames:
            self.timeline.add(frame)
        self._update_controls()
        if at_end:
            self.slider.setValue(self.slider.maximum())

    def show_timeline(self, timeline: MapTimeline) -> None:
        self.play_button.setChecked(False)
        self.timeline = timeline
        self._update_controls()
        self.slider.setValue(self.slider.maximum())
        self._show_frame()

    def load_run(self, run_dir: str | Path) -> None:
        """Show a finished run's timeline.npz (nothing when it has none or it is damaged)."""
        try:
            self.show_timeline(MapTimeline.load(run_dir))
        except TimelineError as error:
            log.warning("%s", error)
            self.clear()
            self.step_label.setText(str(error))

    def _update_controls(self) -> None:
        layers = self.timeline.layers
        current = [self.layer_box.itemText(i) for i in range(self.layer_box.count())]
        if current != layers:
            chosen = self.layer_box.currentText()
            self.layer_box.blockSignals(True)
            self.layer_box.clear()
            self.layer_box.addItems(layers)
            if chosen in layers:
                self.layer_box.setCurrentText(chosen)
            self.layer_box.blockSignals(False)
        count = len(self.timeline)
        self.slider.setRange(0, max(count - 1, 0))
        controls = (self.slider, self.play_button, self.export_button, self.frames_button)
        for widget in (*controls, self.layer_box):
            widget.setEnabled(count > 0)

    # ---- drawing and playing ------------------------------------------------------------

    @property
    def frame_index(self) -> int:
        return self.slider.value()

    def _show_frame(self) -> None:
        frames, layer = self.timeline.frames, self.layer_box.currentText()
        if not frames or not layer:
            self.image.clear()
            if not frames:
                self.step_label.setText("no frames yet: they are recorded while a network trains")
            return
        index = min(self.frame_index, len(frames) - 1)
        frame = frames[index]
        mosaic = frame.mosaics.get(layer)
        if mosaic is None:
            self.image.clear()
            return
        self.image.setImage(mosaic, levels=(0, 255), autoLevels=False)
        self.step_label.setText(f"frame {index + 1} of {len(frames)} · step {frame.step}")

    @Slot(int)
    def _on_slider_value_changed(self, _value: int) -> None:
        self._show_frame()

    @Slot(int)
    def _on_layer_box_current_index_changed(self, _index: int) -> None:
        self._show_frame()
        self.plot.autoRange(padding=0.02)

    @Slot(bool)
    def _on_play_button_toggled(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            if self.slider.value() == self.slider.maximum():
                self.slider.setValue(0)
            self._player.start()
        else:
            self._player.stop()

    @Slot()
    def _on_player_timeout(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self.play_button.setChecked(False)
            return
        self.slider.setValue(self.slider.value() + 1)

    # ---- export --------------------------------------------------------------------------

    def export(self, path: str | Path) -> Path:
        """Write the current layer's frames as an animated GIF (raises OSError)."""
        images = self.timeline.images(self.layer_box.currentText())
        palette = [int(v) for v in self._table.reshape(-1)]
        return export_gif(images, path, palette=palette, frame_ms=FRAME_MS)

    def export_frames(self, folder: str | Path) -> list[Path]:
        """Write the current layer's frames as numbered PNGs into `folder` (raises OSError,
        ValueError when there are none)."""
        layer = self.layer_box.currentText()
        palette = [int(v) for v in self._table.reshape(-1)]
        return export_frames(self.timeline.images(layer), folder, layer, palette=palette)

    @Slot()
    def _on_frames_button_clicked(self) -> None:
        self.ask_export_frames()

    @Slot()
    def ask_export_frames(self) -> list[Path]:
        """Ask for a folder and write the current layer's frames there (what was written)."""
        folder = QFileDialog.getExistingDirectory(self, "Export Timeline Frames into Folder")
        if not folder:
            return []
        try:
            written = self.export_frames(folder)
        except (OSError, ValueError) as error:
            self.step_label.setText(f"cannot write the frames into {folder}: {error}")
            return []
        layer = self.layer_box.currentText()
        self.step_label.setText(
            f"wrote {len(written)} frames into {folder}; for an MP4: ffmpeg -framerate 8 "
            f"-i {layer}_%04d.png -pix_fmt yuv420p maps.mp4"
        )
        return written

    @Slot()
    def _on_export_button_clicked(self) -> None:
        self.ask_export_gif()

    @Slot()
    def ask_export_gif(self) -> None:
        """Ask for a file and write the current layer's frames there as an animated GIF."""
        layer = self.layer_box.currentText()
        path, _ = QFileDialog.getSaveFileName(
            self, "Export Timeline as GIF", f"{layer}-timeline.gif", "Animated GIF (*.gif)"
        )
        if not path:
            return
        try:
            self.export(path)
        except (OSError, ValueError) as error:
            self.step_label.setText(f"cannot write {path}: {error}")
            return
        self.step_label.setText(f"wrote {path}")
