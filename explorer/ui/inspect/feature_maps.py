"""Every layer's output for one image, in one scrolling list beside the layer names.

Each layer is one row of a `QListView`: its name, description, shape and value range,
and ONE image holding all its channels tiled (see `explorer.core.mosaic`), colour
indices already scaled, so drawing is one lookup into RGB32 pixels and one `drawImage`.
The view is virtual: Qt asks the delegate to paint only the rows on screen, and a row's
pixels are coloured the first time it is painted, so a 5,000-layer network costs what
its visible rows cost. Large layers come tiled from the capture thread (`with_mosaics`),
small ones are tiled when first painted; while the panel is hidden a new capture is only
kept, not shown. The rows themselves (model, delegate, view) are in `feature_map_rows`.
Layers inside blocks are indented under their block, whose merged output closes them
(`row_marks`); one row is selected, the stack's selection (`select_path`), and choosing a
row says which layer (`layer_selected`) so the window selects it in the stack.
Vectors are a wrapped strip (the logits labelled with the class names); the network's
output is a bar chart of class probabilities, the last row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from explorer.core.block_spec import BlockSpec, LayerOrBlock
from explorer.core.capture_types import CaptureResult, LayerCapture
from explorer.core.mosaic import (
    Mosaic,
)
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.ui.inspect.feature_map_rows import (
    MOSAIC_ASPECT,
    NAME_WIDTH,
    PAD,
    SEPARATOR_RGB,
    TOP_CLASSES,
    FeatureMapDelegate,
    FeatureMapModel,
    MapList,
)

__all__ = [
    "COLORMAPS",
    "MOSAIC_ASPECT",
    "SEPARATOR_RGB",
    "TOP_CLASSES",
    "FeatureMapPanel",
    "add_png_export_action",
    "colormap_lut",
    "indexed_lut",
    "save_png",
]

log = logging.getLogger(__name__)

COLORMAPS = ("viridis", "gray", "inferno", "magma", "plasma", "turbo")


def colormap_lut(name: str, entries: int = 256) -> np.ndarray:
    """An `entries`-long uint8 RGB lookup table for a pyqtgraph colormap ('gray' included)."""
    if name == "gray":
        ramp = np.linspace(0, 255, entries).round().astype(np.uint8)
        return np.stack([ramp, ramp, ramp], axis=1)
    table = pg.colormap.get(name).getLookupTable(0.0, 1.0, entries, alpha=False)
    return np.asarray(table, np.uint8)


def indexed_lut(name: str) -> np.ndarray:
    """256 colours for indexed mosaics as 0xffRRGGBB (QImage RGB32 pixels):
    index 0 is the separator, 1..255 the colormap."""
    rgb = np.empty((256, 3), np.uint32)
    rgb[0] = SEPARATOR_RGB
    rgb[1:] = colormap_lut(name, 255)
    return np.ascontiguousarray(0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2])


def save_png(widget: QWidget, path: str) -> bool:
    """Save what `widget` shows to a PNG file."""
    return bool(widget.grab().save(path, "PNG"))


def add_png_export_action(widget: QWidget, suggested_name: str) -> QAction:
    """Add to `widget`'s context menu an action that saves what it shows as PNG."""
    action = QAction("Save as PNG…", widget)

    def ask() -> None:
        path, _ = QFileDialog.getSaveFileName(widget, "Save as PNG", suggested_name, "PNG (*.png)")
        if path and not save_png(widget, path):
            log.warning("could not save %s", path)

    action.triggered.connect(ask)
    widget.addAction(action)
    widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
    return action


class FeatureMapPanel(QWidget):
    """All layers' feature maps for one image; feed it with `show_capture`.

    `channel_clicked(layer path, channel)` fires when a map is clicked,
    `layer_selected(layer path)` when the user chooses a layer's row (by mouse or keys;
    never for `select_path`).
    """

    channel_clicked = Signal(LayerPath, int)
    layer_selected = Signal(LayerPath)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: NetworkSpec | None = None
        self._titles: dict[str, tuple[str, str]] = {}
        self._layers_by_name: dict[str, LayerOrBlock] = {}
        self._selected: LayerPath | None = None
        self._quiet = False
        self._class_names: tuple[str, ...] = ()
        self._pending: CaptureResult | None = None
        self.colours = indexed_lut(COLORMAPS[0])
        self.last_layer_name = ""
        self.class_count = 0

        self.shared_check = QCheckBox("Shared scale")
        self.shared_check.setToolTip(
            "Off: each map is scaled to its own range (shows patterns in weak maps). "
            "On: one colour scale per layer (shows which maps respond most)."
        )
        self.colormap_combo = QComboBox()
        self.colormap_combo.addItems(COLORMAPS)
        self.save_button = QPushButton("Save PNG…")
        self.hover_label = QLabel(" ")
        self.hover_label.setMinimumWidth(1)  # long readings are cut, never widen the panel
        self.status_label = QLabel("Pick an image to see what each layer makes of it.")
        self.status_label.setWordWrap(True)

        self.colormap_combo.setToolTip("The colours of the feature maps")
        controls = QHBoxLayout()
        controls.addWidget(self.colormap_combo)
        controls.addWidget(self.shared_check)
        controls.addStretch(1)
        controls.addWidget(self.save_button)

        self.model = FeatureMapModel(self)
        self.delegate = FeatureMapDelegate(self)
        self.view = MapList(self)
        self.view.setModel(self.model)
        self.view.setItemDelegate(self.delegate)
        self.view.selectionModel().currentChanged.connect(self._on_view_current_changed)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status_label)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.hover_label)

        self.shared_check.toggled.connect(self._on_shared_check_toggled)
        self.colormap_combo.currentTextChanged.connect(self._on_colormap_combo_changed)
        self.save_button.clicked.connect(self._on_save_button_clicked)
        add_png_export_action(self.view, "feature-maps.png")

    # ---- public API ----------------------------------------------------------------------

    def set_spec(self, spec: NetworkSpec) -> None:
        """Take layer descriptions and class names from the spec (read when rows show)."""
        self._spec = spec
        self._titles = {}
        self._layers_by_name = {}
        self._class_names = tuple(spec.class_names)
        self.class_count = spec.num_classes

    def set_class_names(self, names: Sequence[str]) -> None:
        self._class_names = tuple(names)
        self.view.viewport().update()

    def show_capture(self, result: CaptureResult) -> None:
        """Draw every layer of a capture; while the panel is hidden it is only kept."""
        self._pending = result
        if self.on_screen():
            self._apply()

    def on_screen(self) -> bool:
        """Whether any of the list can be seen. A dock that is a tab behind another is
        still "visible" to Qt, so the list's visible region decides."""
        return self.isVisible() and not self.view.visibleRegion().isEmpty()

    def catch_up(self) -> None:
        """Draw the kept capture if it is not drawn yet and the list can be seen (the
        list calls this when Qt paints it, i.e. when it comes on screen)."""
        drawn = self._pending is None or self.model.result is self._pending
        if not drawn and self.on_screen():
            self._apply()

    @property
    def result(self) -> CaptureResult | None:
        return self._pending

    def clear(self) -> None:
        self._pending = None
        self.delegate.images.clear()
        self.model.beginResetModel()
        self.model.result = None
        self.model.endResetModel()

    def select_path(self, path: LayerPath | None) -> None:
        """Select and scroll to the row of the layer at `path` (a block: its merged
        output), or select none; remembered for the captures to come."""
        self._selected = path
        self._show_selection()

    @property
    def selected_path(self) -> LayerPath | None:
        return self._selected

    def _show_selection(self) -> None:
        result = self.model.result
        row = None if result is None or self._selected is None else result.position(self._selected)
        selection = self.view.selectionModel()
        current = selection.currentIndex()
        if (
            row is not None
            and current.isValid()
            and current.row() == row
            and selection.isSelected(current)
        ):
            return  # shown already: a capture of new weights keeps the scroll as it is
        self._quiet = True  # not the user's choice: no layer_selected
        try:
            if row is None:
                selection.clear()
            else:
                index = self.model.index(row)
                selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
                if not self.view.viewport().rect().contains(self.view.visualRect(index)):
                    # A row is tall: from its top, its maps show, not just its last line.
                    self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtTop)
        finally:
            self._quiet = False

    def show_hover(self, text: str) -> None:
        self.hover_label.setText(text or " ")

    # ---- what the delegate and the view read ---------------------------------------------

    def view_width(self) -> int:
        """Pixels for a row's picture: the view's width less the name column."""
        return max(60, self.view.viewport().width() - NAME_WIDTH - 2 * PAD)

    def title(self, capture: LayerCapture) -> tuple[str, str]:
        """(description, note) of a captured layer or block, from the spec; looked up
        when its row is painted, so an edit of a deep network describes no layer."""
        name = capture.name
        found = self._titles.get(name)
        if found is None:
            if not self._layers_by_name and self._spec is not None:
                spec = self._spec
                names = spec.names()  # (walked, not looked up path by path)
                self._layers_by_name = {names[path]: item for path, item in spec.walk()}
            layer = self._layers_by_name.get(name)
            if layer is None:
                return ("", "")
            note = "logits (before softmax)" if name == self.last_layer_name else ""
            found = self._titles[name] = (layer.describe(), note or self._opening(capture))
        return found

    def _opening(self, capture: LayerCapture) -> str:
        """For the first layer of a sub-stack, which ones it opens (its block's rows come
        after it): 'residual_1 › body · copy 1 of 3' (a repeated block shows its first
        copy's layers), 'parallel_1 › branch 2 · residual_2 › body'; else ''."""
        spec, path = self._spec, capture.path
        if capture.merged or spec is None:
            return ""
        opened: list[str] = []
        while path.index == 0 and path.parent is not None and path.stack is not None:
            block = spec.at(path.parent)
            if not isinstance(block, BlockSpec):
                break
            label = block.stack_label(path.stack).removesuffix(" ›")
            copies = f" · copy 1 of {block.repeat}" if block.repeat > 1 else ""
            opened.insert(0, f"{spec.name_of(path.parent)} › {label}{copies}")
            path = path.parent
        return " · ".join(opened)

    def class_name(self, index: int) -> str:
        names = self._class_names
        return names[index] if 0 <= index < len(names) else str(index)

    def bar_order(self) -> np.ndarray:
        """The classes drawn as bars: all of them, or the top TOP_CLASSES by probability."""
        result = self.model.result
        if result is None:
            return np.zeros(0, np.int64)
        probabilities = result.probabilities
        if probabilities.shape[0] > TOP_CLASSES:
            return np.argsort(probabilities)[::-1][:TOP_CLASSES]
        return np.arange(probabilities.shape[0])

    def row_mosaic(self, row: int) -> Mosaic | None:
        mosaics = self.model.mosaics(row)
        return None if mosaics is None else mosaics.get(self.shared_check.isChecked())

    def range_text(self, row: int) -> str:
        layer = self.model.layer(row)
        mosaic = self.row_mosaic(row)
        if layer is None or mosaic is None or mosaic.levels.size == 0:
            return ""
        low, high = float(mosaic.levels[:, 0].min()), float(mosaic.levels[:, 1].max())
        scale = "shared" if (mosaic.shared or not layer.is_image) else "per map"
        return f"{low:.3g} … {high:.3g} ({scale})"

    def hover_text(self, row: int, where: tuple[int, int, int] | None) -> str:
        layer = self.model.layer(row)
        if layer is None or where is None:
            return ""
        index, y, x = where
        if layer.is_image:
            value = float(layer.output[index, y, x])
            return f"{layer.label} · channel {index} at (y {y}, x {x}): {value:.4g}"
        value = float(layer.output[index])
        if layer.name == self.last_layer_name and layer.output.shape[0] == self.class_count:
            return f"{layer.name} · {self.class_name(index)} (unit {index}): {value:.4g}"
        return f"{layer.label} · unit {index}: {value:.4g}"

    # ---- drawing ---------------------------------------------------------------------------

    def _apply(self) -> None:
        result = self._pending
        if result is None:
            return
        self.last_layer_name = result.layers[-1].name if result.layers else ""
        self.delegate.images.clear()
        self.model.set_result(result)
        self._show_selection()
        capped = [layer for layer in result.layers if layer.truncated]
        status = "Hover a map to read its values; click it to enlarge."
        if capped:
            status = (
                f"Wide layers show their first {capped[0].channels_shown} maps "
                f"({len(capped)} layer{'s' if len(capped) > 1 else ''} capped). " + status
            )
        if status != self.status_label.text():
            self.status_label.setText(status)

    def _redraw(self) -> None:
        self.delegate.images.clear()
        self.view.viewport().update()

    @Slot(QModelIndex, QModelIndex)
    def _on_view_current_changed(
        self, current: QModelIndex | QPersistentModelIndex, _: QModelIndex | QPersistentModelIndex
    ) -> None:
        layer = self.model.layer(current.row()) if current.isValid() else None
        if not self._quiet and layer is not None and layer.path != self._selected:
            self._selected = layer.path
            self.layer_selected.emit(layer.path)

    @Slot(bool)
    def _on_shared_check_toggled(self, checked: bool) -> None:
        self._redraw()

    @Slot(str)
    def _on_colormap_combo_changed(self, name: str) -> None:
        self.colours = indexed_lut(name)
        self._redraw()

    @Slot()
    def _on_save_button_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save feature maps", "feature-maps.png", "PNG (*.png)"
        )
        if path and not save_png(self.view, path):
            log.warning("could not save %s", path)
