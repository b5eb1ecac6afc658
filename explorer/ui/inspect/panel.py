"""The "look inside" panel: the input picker beside feature maps, filters, activations
and Explain (attribution).

It owns the capture controller. The main window gives it the spec (`set_spec`), the
dataset (`set_dataset`) and, while training, new weights (`refresh_from_weights`), and
calls `shutdown()` before quitting. Only the tab on screen draws the captures: the others
catch up when they are shown. Made with `capture_only_on_screen` (docked in the window,
where it is often a tab behind another), the panel asks for no capture while it is not on
screen at all: the one it needs is made when it is shown, so edits of a deep network never
wait for a model built in the background.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from explorer.core.capture_types import CaptureResult, LayerCapture
from explorer.core.data import DeviceDataset
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.ui.inspect.channel_explorer import ChannelExplorer
from explorer.ui.inspect.controller import InspectController
from explorer.ui.inspect.explain import ExplainTab
from explorer.ui.inspect.feature_maps import FeatureMapPanel
from explorer.ui.inspect.filters import ChannelDetail, FiltersView
from explorer.ui.inspect.gallery import ActivationGallery
from explorer.ui.inspect.input_picker import InputPicker

log = logging.getLogger(__name__)

# The activation gallery convolves the image on the GUI thread: a centre crop this big
# shows the same responses at a bounded cost.
GALLERY_SIZE = 256


def gallery_crop(image: torch.Tensor, size: int = GALLERY_SIZE) -> torch.Tensor:
    """The central `size`×`size` part of an image (C, H, W) (a view, no copy)."""
    _, h, w = image.shape
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[:, top : top + size, left : left + size]


def kernel_source(result: CaptureResult, index: int) -> LayerCapture | None:
    """The convolution whose kernels made layer `index`'s channels: the layer itself or
    the nearest one feeding it, across layers that keep channels (pool, BN, activation)
    and into a block from its input; none past a merge, which mixes its branches, or for
    a separable convolution, whose pointwise step mixes what its kernels made."""
    layer: LayerCapture | None = result.layers[index]
    while layer is not None and not layer.merged:
        if layer.kernel is not None:
            return layer if layer.kernel.ndim == 4 and layer.kernels == 1 else None
        if not layer.is_image:
            return None
        layer = result.input_of(layer.path)
    return None


class InspectPanel(QWidget):
    """Input picker + tabs (feature maps, filters, activation gallery) + capture thread."""

    def __init__(
        self, parent: QWidget | None = None, *, capture_only_on_screen: bool = False
    ) -> None:
        super().__init__(parent)
        self._capture_only_on_screen = capture_only_on_screen
        self._spec: NetworkSpec | None = None
        self._drawn: tuple[object, ...] = ()
        self._dataset_class_names: tuple[str, ...] = ()
        self.controller = InspectController(self)
        self.picker = InputPicker()
        self.feature_maps = FeatureMapPanel()
        self.filters = FiltersView()
        self.activations = ActivationGallery()
        self.explain = ExplainTab()
        self.detail: ChannelDetail | None = None
        self._detail_key: tuple[str, int] = ("", 0)
        self._result: CaptureResult | None = None
        self._image: torch.Tensor | None = None
        self._stale: set[QWidget] = set()  # tabs that have not drawn the latest data
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #c0392b")
        self.error_label.setWordWrap(True)
        # A long message wraps; it never widens the panel.
        self.error_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.error_label.hide()
        # An ensemble's weights: which member to look inside, or the average of them all.
        self._members: tuple[Mapping[str, torch.Tensor], ...] = ()
        self.member_picker = QComboBox()
        self.member_picker.setToolTip(
            "Which of the ensemble's networks to look inside, or their averaged probabilities"
        )
        self.member_note = QLabel()
        self.member_note.setWordWrap(True)
        self.member_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.member_row = QWidget()
        member_box = QHBoxLayout(self.member_row)
        member_box.setContentsMargins(0, 0, 0, 0)
        weights_label = QLabel("&Weights:")
        weights_label.setBuddy(self.member_picker)
        member_box.addWidget(weights_label)
        member_box.addWidget(self.member_picker)
        member_box.addWidget(self.member_note, 1)
        self.member_row.hide()

        self.tabs = QTabWidget()
        self.tabs.addTab(self.feature_maps, "Feature maps")
        self.tabs.addTab(self.filters, "Filters")
        self.tabs.addTab(self.activations, "Activation functions")
        self.tabs.addTab(self.explain, "Explain")
        self.channels = ChannelExplorer()
        self.tabs.addTab(self.channels, "Channels")
        right = QWidget()
        box = QVBoxLayout(right)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.member_row)
        box.addWidget(self.error_label)
        box.addWidget(self.tabs, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.picker)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([250, 750])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.picker.image_chosen.connect(self._on_picker_image_chosen)
        self.picker.input_refused.connect(self._on_picker_input_refused)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.controller.captured.connect(self._on_controller_captured)
        self.controller.failed.connect(self._on_controller_failed)
        self.feature_maps.channel_clicked.connect(self._on_feature_maps_channel_clicked)
        self.member_picker.currentIndexChanged.connect(self._on_member_picker_changed)

    # ---- API for the main window -------------------------------------------------------

    def set_spec(
        self, spec: NetworkSpec, weights: Mapping[str, torch.Tensor] | None = None
    ) -> None:
        """A new or edited network: redraw with `weights`, or its initial weights.

        Edits that change nothing drawn (the name, training settings other than the seed)
        are ignored, so they never flash the untrained maps over trained ones.
        """
        drawn = (spec.architecture(), spec.class_names, spec.training.seed)
        if self._spec is not None and drawn == self._drawn:
            self._spec = spec
            return
        self._spec, self._drawn = spec, drawn
        self.picker.set_input_shape(spec.input.shape)
        self.feature_maps.set_spec(spec)
        self._apply_dataset_class_names()
        self._hold_unless_on_screen()
        weights, average_of = self._picked(weights)
        self.controller.set_spec(spec, weights, average_of)
        self.explain.set_spec(spec, weights)
        self.channels.set_spec(spec, weights)
        current = self.picker.current
        if current is None or tuple(current.shape) != spec.input.shape:
            self.picker.choose_default()

    def set_dataset(self, dataset: DeviceDataset) -> None:
        """Browse a dataset's test images; the first one is chosen."""
        # The dataset's class names describe the predictions better than the template's.
        self._dataset_class_names = tuple(dataset.info.class_names)
        self._apply_dataset_class_names()
        self.explain.set_dataset(dataset.info.class_names, dataset.mean, dataset.std)
        self.picker.set_dataset(dataset)
        self.channels.set_dataset(dataset)
        self.picker.choose_default()

    @Slot(object)
    def refresh_from_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Redraw with the trainer's latest weights (a CPU copy, e.g. every ~0.5 s); with an
        ensemble's members set, with those of the member picked."""
        self._hold_unless_on_screen()
        picked, average_of = self._picked(state_dict)
        weights = state_dict if picked is None else picked
        self.controller.refresh_from_weights(weights, average_of)
        self.explain.refresh_from_weights(weights)
        self.channels.set_weights(weights)

    def set_members(self, members: Sequence[Mapping[str, torch.Tensor]]) -> None:
        """An ensemble's members' weights (two or more), or () for one network: the picker
        "Average of N / Member k" shows only for an ensemble, set to the average. Drawn at
        the next `refresh_from_weights` (or `set_spec`)."""
        members = tuple(members)
        if len(members) == len(self._members) and all(
            a is b for a, b in zip(members, self._members, strict=True)
        ):
            return
        self._members = members
        self.member_picker.blockSignals(True)
        self.member_picker.clear()
        if members:
            self.member_picker.addItem(f"Average of {len(members)}")
            self.member_picker.addItems([f"Member {k}" for k in range(1, len(members) + 1)])
        self.member_picker.blockSignals(False)
        self.member_row.setVisible(bool(members))
        self._show_member_note()

    def _picked(
        self, weights: Mapping[str, torch.Tensor] | None
    ) -> tuple[Mapping[str, torch.Tensor] | None, tuple[Mapping[str, torch.Tensor], ...]]:
        """The weights to draw and the members whose probabilities to average: `weights`
        itself for one network; the member picked, or member 1 and all for the average."""
        if not self._members:
            return weights, ()
        index = self.member_picker.currentIndex()
        if index <= 0:
            return self._members[0], self._members
        return self._members[index - 1], ()

    def _show_member_note(self) -> None:
        if self._members and self.member_picker.currentIndex() <= 0:
            self.member_note.setText(
                "the prediction is the members' averaged probabilities; the maps, filters, "
                "Explain and Channels are member 1's"
            )
        else:
            self.member_note.setText("")

    def shutdown(self) -> None:
        self.picker.shutdown()
        self.controller.shutdown()
        self.explain.shutdown()
        self.channels.shutdown()

    def _apply_dataset_class_names(self) -> None:
        names = self._dataset_class_names
        if self._spec is not None and len(names) == self._spec.num_classes:
            self.feature_maps.set_class_names(names)

    # ---- slots -------------------------------------------------------------------------

    @Slot(object, str)
    def _on_picker_image_chosen(self, image: torch.Tensor, description: str) -> None:
        self._image = image
        self._stale.add(self.activations)
        self._refresh_tabs()
        self._hold_unless_on_screen()
        self.controller.set_image(image)
        self.explain.set_image(image)

    @Slot(str)
    def _on_picker_input_refused(self, message: str) -> None:
        self._result = None
        self.feature_maps.clear()  # the maps shown are of an earlier network
        self.error_label.setText(f"Cannot show the feature maps: {message}")
        self.error_label.show()

    @Slot(object)
    def _on_controller_captured(self, result: CaptureResult) -> None:
        self.error_label.hide()
        self.feature_maps.show_capture(result)  # drawn when, and where, it is visible
        self._result = result
        self._stale.update((self.filters, self.activations))
        self._refresh_tabs()
        if self.detail is not None and self.detail.isVisible():
            self._show_detail(*self._detail_key)

    def _on_screen(self) -> bool:
        # A dock that is a tab behind another is still "visible" to Qt: ask what shows.
        return self.isVisible() and not self.tabs.visibleRegion().isEmpty()

    def _hold_unless_on_screen(self) -> None:
        if self._capture_only_on_screen:
            self.controller.hold(not self._on_screen())

    @Slot()
    def _release_if_on_screen(self) -> None:
        if self.controller.held and self._on_screen():
            self.controller.hold(False)

    def _refresh_tabs(self) -> None:
        """Bring the tab on screen up to date (the others wait until they are shown)."""
        current = self.tabs.currentWidget()
        if not self._on_screen() or current not in self._stale:
            return
        self._stale.discard(current)
        if current is self.activations:
            if self._image is not None:
                self.activations.set_image(gallery_crop(self._image))
            if self._result is not None:
                self.activations.show_capture(self._result)
        elif current is self.filters and self._result is not None:
            channels = self._spec.input.channels if self._spec is not None else 1
            self.filters.show_capture(self._result, channels)

    def paintEvent(self, event: QPaintEvent) -> None:
        # Painted means on screen (a dock tab just raised): bring the current tab up to date.
        if self.tabs.currentWidget() in self._stale:
            QTimer.singleShot(0, self._refresh_tabs)
        if self.controller.held:  # shown again: make the capture it waited for
            QTimer.singleShot(0, self._release_if_on_screen)
        super().paintEvent(event)

    @Slot(int)
    def _on_member_picker_changed(self, _: int) -> None:
        self._show_member_note()
        if self._members:
            self.refresh_from_weights(self._members[0])  # (the member picked is drawn)

    @Slot(int)
    def _on_tabs_current_changed(self, _: int) -> None:
        self._refresh_tabs()

    @Slot(str)
    def _on_controller_failed(self, message: str) -> None:
        self.error_label.setText(f"Cannot show the feature maps: {message}")
        self.error_label.show()

    @Slot(LayerPath, int)
    def _on_feature_maps_channel_clicked(self, path: LayerPath, channel: int) -> None:
        result = self.feature_maps.result
        index = result.position(path) if result is not None else None
        if result is not None and index is not None:
            # Kept by name: the detail follows its layer when later edits move it.
            self._show_detail(result.layers[index].name, channel)

    def _show_detail(self, layer_name: str, channel: int) -> None:
        result = self.feature_maps.result
        if result is None:
            return
        names = [layer.name for layer in result.layers]
        if layer_name not in names:
            return
        index = names.index(layer_name)
        if self.detail is None:
            self.detail = ChannelDetail(self)
        self._detail_key = (layer_name, channel)
        self.detail.show_channel(
            result.layers[index],
            channel,
            self.feature_maps.colormap_combo.currentText(),
            kernel_source(result, index),
        )
        self.detail.show()
