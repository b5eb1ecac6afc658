"""The Explain tab: where the network looked for the chosen image, as a heat map over it,
beside the class probabilities.

A method picker (Grad-CAM, saliency, SmoothGrad, integrated gradients, occlusion), a target
picker (the predicted class or any class), Grad-CAM's layer and the heat map's opacity.
Attributions are made on the tab's `TaskRunner`, on a CPU copy of the weights (the
snapshot while training, never the model being trained), and only while the tab is on
screen: a hidden tab only notes that its picture is stale. A new network or image starts a
new context, so a slow attribution of an older one never draws; requests that arrive while
one runs collapse into the latest. The job also colours the map, so the GUI thread only
blends the two pictures when the opacity moves.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from explorer.core.attribution_methods import METHOD_LABELS, METHODS
from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskRunner
from explorer.ui.inspect.explain_views import PictureView, ProbabilityBars, class_text

UInt8Array = npt.NDArray[np.uint8]

DEFAULT_OPACITY = 60  # percent


@dataclass(frozen=True)
class ExplainRequest:
    """What to explain. `state_dict` None: the spec's initial weights (its seed)."""

    spec: NetworkSpec
    state_dict: Mapping[str, torch.Tensor] | None
    image: torch.Tensor
    method: str
    target: int | None
    layer: str | None
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class Explained:
    """An attribution ready to draw: the input and the coloured heat (H, W, 3) uint8, the
    heat's display levels (H, W) 0..1, and the prediction."""

    method: str
    target: int
    predicted: int
    probabilities: npt.NDArray[np.float32]
    layer: str | None
    map_layers: tuple[str, ...]
    input_rgb: UInt8Array
    heat_rgb: UInt8Array
    levels: npt.NDArray[np.float32]


class Explainer:
    """Makes attributions on the tasks' thread; keeps the last model it built (one task at
    a time uses it), so changing the method or target does not copy the weights again."""

    def __init__(self) -> None:
        self._key: tuple[object, object] | None = None
        self._model: object = None

    def explain(self, request: ExplainRequest, stop: threading.Event | None = None) -> Explained:
        from explorer.core.attribution import attribution_model, blank_value, explain
        from explorer.core.attribution_overlay import colour_ramp, display_pixels, heat_levels

        # The weights are compared by identity (a new snapshot is a new dict) and held, so
        # their id cannot pass to another dict.
        key = (request.spec.architecture(), request.state_dict)
        if (
            self._key is None
            or self._key[0] != key[0]
            or self._key[1] is not key[1]
            or self._model is None
        ):
            self._model = attribution_model(request.spec, request.state_dict)
            self._key = key
        result = explain(
            self._model,  # type: ignore[arg-type]
            request.image,
            request.method,
            target=request.target,
            layer=request.layer,
            blank=blank_value(request.mean, request.std),
            stop=stop,
        )
        levels = heat_levels(result.heat)
        return Explained(
            method=result.method,
            target=result.target,
            predicted=result.predicted,
            probabilities=result.probabilities,
            layer=result.layer,
            map_layers=result.map_layers,
            input_rgb=display_pixels(request.image.numpy(), request.mean, request.std),
            heat_rgb=colour_ramp(levels),
            levels=levels,
        )


class ExplainTab(QWidget):
    """Pickers + overlay + probabilities; `explained(Explained)` when a new one is drawn."""

    explained = Signal(object)  # Explained, for the current network and image
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec: NetworkSpec | None = None
        self._weights: Mapping[str, torch.Tensor] | None = None
        self._image: torch.Tensor | None = None
        self._names: tuple[str, ...] = ()  # the dataset's
        self._target_names: tuple[str, ...] = ()  # the names the pickers show
        self._normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None
        self._result: Explained | None = None
        self._busy = self._pending = False
        self._explainer = Explainer()
        self._runner = TaskRunner("explain", self)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)

        self.method_combo = QComboBox()
        for method in METHODS:
            self.method_combo.addItem(METHOD_LABELS[method], method)
        self.target_combo = QComboBox()
        self.target_combo.addItem("Predicted class", None)
        self.layer_combo = QComboBox()
        self.layer_combo.addItem("Last convolution", None)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(DEFAULT_OPACITY)
        self.opacity_slider.setToolTip(
            "Opacity of the heat map over the image (Alt+O, then arrows)"
        )
        for combo in (self.method_combo, self.target_combo, self.layer_combo):
            combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            # Long layer names must not widen the dock: the popup shows them whole.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(12)
        self.method_combo.setToolTip(
            "Grad-CAM: a layer's maps weighted by their gradient; Saliency: |gradient| per "
            "pixel; SmoothGrad: saliency averaged over noisy copies; Integrated gradients: "
            "gradients along the way from a black image; Occlusion: the drop in score when a "
            "patch is blanked"
        )
        form = QFormLayout()
        form.addRow("&Method:", self.method_combo)
        form.addRow("&Target:", self.target_combo)
        form.addRow("&Layer:", self.layer_combo)
        form.addRow("&Opacity:", self.opacity_slider)
        self.picture = PictureView()
        self.bars = ProbabilityBars()
        self.status = QLabel("Pick an image to see where the network looks.")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy, no percentage: one attribution is one call
        self.progress.setMaximumHeight(6)
        self.progress.setTextVisible(False)
        self.progress.hide()
        side = QVBoxLayout()
        side.addLayout(form)
        side.addWidget(QLabel("Probabilities"))
        side.addWidget(self.bars)
        side.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.picture, 1)
        row.addLayout(side)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.method_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.target_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.layer_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.opacity_slider.valueChanged.connect(self._on_opacity_slider_value_changed)

    # ---- API for the panel --------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def result(self) -> Explained | None:
        return self._result

    def set_spec(
        self, spec: NetworkSpec, weights: Mapping[str, torch.Tensor] | None = None
    ) -> None:
        """A new network, with `weights` or its initial weights."""
        self._spec, self._weights = spec, weights
        if self._image is not None and tuple(self._image.shape) != spec.input.shape:
            self._image = None
        self._fill_targets()
        self._new_context()

    def set_dataset(
        self, class_names: Sequence[str], mean: Sequence[float], std: Sequence[float]
    ) -> None:
        """The dataset's class names and normalisation (what a black pixel is)."""
        self._names = tuple(class_names)
        self._normalization = (tuple(mean), tuple(std))
        self._fill_targets()

    def set_image(self, image: torch.Tensor) -> None:
        """A new normalised input (C, H, W), handed over (the caller must not change it)."""
        self._image = image.detach().cpu()
        self._new_context()

    @Slot(object)
    def refresh_from_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """New weights (a CPU copy from training the caller no longer changes)."""
        self._weights = state_dict
        self._request()

    def shutdown(self) -> None:
        self._runner.shutdown()
        self._busy = self._pending = False

    # ---- requests ----------------------------------------------------------------------

    def _new_context(self) -> None:
        self._runner.invalidate()
        self._busy = False
        self._request()

    def _request(self) -> None:
        spec, image = self._spec, self._image
        if spec is None or image is None or self._runner.is_shut_down:
            return
        if self._busy or not self.isVisible():
            self._pending = True  # a hidden tab makes it when shown
            return
        self._busy, self._pending = True, False
        channels = spec.input.channels
        mean, std = self._normalization or ((0.5,) * channels, (0.5,) * channels)
        if len(mean) != channels:
            mean, std = (0.5,) * channels, (0.5,) * channels
        request = ExplainRequest(
            spec,
            self._weights,
            image,
            str(self.method_combo.currentData()),
            self.target_combo.currentData(),
            self.layer_combo.currentData()
            if self.method_combo.currentData() == "gradcam"
            else None,
            tuple(mean),
            tuple(std),
        )
        explainer = self._explainer
        self.status.setText(f"Computing {self.method_combo.currentText()}…")
        self.progress.show()
        self._runner.start(lambda control: explainer.explain(request, control.stop_event))

    def _finished(self) -> None:
        self._busy = False
        self.progress.hide()
        if self._pending:
            self._request()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._pending and not self._busy:
            self._request()

    # ---- drawing -----------------------------------------------------------------------

    def _fill_targets(self) -> None:
        count = self._spec.num_classes if self._spec is not None else 0
        names = self._names if len(self._names) == count else ()
        if not names and self._spec is not None and len(self._spec.class_names) == count:
            names = self._spec.class_names
        self._target_names = names
        chosen = self.target_combo.currentData()
        self.target_combo.blockSignals(True)
        self.target_combo.clear()
        self.target_combo.addItem("Predicted class", None)
        for index in range(count):
            self.target_combo.addItem(class_text(index, names), index)
        if chosen is not None and chosen < count:
            self.target_combo.setCurrentIndex(chosen + 1)
        self.target_combo.blockSignals(False)

    def _fill_layers(self, layers: tuple[str, ...]) -> None:
        if (
            tuple(self.layer_combo.itemData(i) for i in range(1, self.layer_combo.count()))
            == layers
        ):
            return
        chosen = self.layer_combo.currentData()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItem("Last convolution", None)
        for name in layers:
            self.layer_combo.addItem(name, name)
        self.layer_combo.setCurrentIndex(layers.index(chosen) + 1 if chosen in layers else 0)
        self.layer_combo.blockSignals(False)

    def _draw(self) -> None:
        from explorer.core.attribution_overlay import blend

        result = self._result
        if result is None:
            self.picture.set_pixels(None)
            return
        opacity = self.opacity_slider.value() / 100
        self.picture.set_pixels(blend(result.input_rgb, result.heat_rgb, result.levels, opacity))

    # ---- slots -------------------------------------------------------------------------

    @Slot()
    def _on_choice_changed(self) -> None:
        self.layer_combo.setEnabled(self.method_combo.currentData() == "gradcam")
        self._new_context()

    @Slot(int)
    def _on_opacity_slider_value_changed(self, _: int) -> None:
        self._draw()

    @Slot(object)
    def _on_runner_finished(self, finished: TaskFinished[Explained]) -> None:
        result = finished.value
        self._result = result
        self._fill_layers(result.map_layers)
        names = self._target_names
        self.bars.show_probabilities(result.probabilities, names, result.target)
        where = f" on {result.layer}" if result.layer else ""
        p = result.probabilities
        self.status.setText(
            f"{METHOD_LABELS[result.method]}{where} for class {class_text(result.target, names)} "
            f"(p = {p[result.target]:.2f}); predicted {class_text(result.predicted, names)} "
            f"(p = {p[result.predicted]:.2f})"
        )
        self._draw()
        self.explained.emit(result)
        self._finished()

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        from explorer.core.attribution import AttributionError

        error = failure.error
        message = str(error) if isinstance(error, AttributionError) else failure.message
        self._result = None
        self._draw()
        self.status.setText(f"Cannot explain: {message}")
        self.failed.emit(message)
        self._finished()
