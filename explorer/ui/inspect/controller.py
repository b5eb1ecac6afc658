"""Runs captures off the GUI thread and hands the results back to it.

The controller runs each capture as a task on its `TaskRunner`. A change of spec or image
starts a new context there, so the result of a capture of an older one is dropped: a slow
capture never draws maps of a network or image the user has moved away from. While a
capture runs, newer requests collapse into one: only the latest weights are captured next.
The `Capturer` keeps the models it built between requests (only ever used by one task at a
time), so going back to a network reuses its initial weights.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal, Slot

from explorer.core.analysis import analyze
from explorer.core.builder import Network, build_model
from explorer.core.capture import (
    DEFAULT_MAX_CHANNELS,
    CaptureResult,
    capture,
    snapshot_model,
    with_mosaics,
)
from explorer.core.ensemble import Ensemble, build_ensemble
from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskFailed, TaskFinished, TaskRunner

log = logging.getLogger(__name__)

# One image's forward pass may hold this much (every layer's output, as the analysis
# counts it); a larger network is refused before anything is allocated.
MAX_CAPTURE_BYTES = 1 << 30


def capture_refusal(spec: NetworkSpec) -> str | None:
    """Why `spec` is too large to capture, or None."""
    from explorer.core.summary import format_bytes

    needed = analyze(spec).forward_bytes
    if needed <= MAX_CAPTURE_BYTES:
        return None
    return (
        f"one image's feature maps need {format_bytes(needed)}, more than the "
        f"{format_bytes(MAX_CAPTURE_BYTES)} Inspect allows"
    )


class CaptureRefused(Exception):
    """The network is too large to capture (the message says how large)."""


@dataclass(frozen=True)
class CaptureRequest:
    """What to capture. `state_dict` None means the spec's initial weights (its seed).
    With an ensemble's `average_of` (its members' weights), the probabilities are the
    members' average; the layers stay those of `state_dict`."""

    spec: NetworkSpec
    state_dict: Mapping[str, torch.Tensor] | None
    image: torch.Tensor
    max_channels: int
    average_of: tuple[Mapping[str, torch.Tensor], ...] = ()


class Capturer:
    """Captures requests, one at a time, on the tasks' threads; touches no widget."""

    def __init__(self) -> None:
        self._model: Network | None = None
        # The last few networks with their initial weights and size check: undo and redo
        # return to them, and building thousands of layers again takes a second.
        self._initial: list[tuple[NetworkSpec, Network]] = []
        self._checked: list[tuple[NetworkSpec, str | None]] = []
        self._ensemble: tuple[tuple[Mapping[str, torch.Tensor], ...], Ensemble] | None = None

    def capture(self, request: CaptureRequest) -> CaptureResult:
        """Every layer's output for the request's image, tiled; raises CaptureRefused for a
        network too large to capture."""
        refusal = _recall(self._checked, request.spec, lambda: capture_refusal(request.spec))
        if refusal is not None:
            raise CaptureRefused(refusal)
        if request.state_dict is None:
            # Initial weights: built once per network, not on every image picked.
            self._model = _recall(self._initial, request.spec, lambda: _initial(request.spec))
            # Only small networks stay cached beside the current one (memory).
            self._initial[1:] = [
                (spec, model) for spec, model in self._initial[1:] if _small(model)
            ]
        else:
            self._model = snapshot_model(request.spec, request.state_dict)
        result = capture(self._model, request.image, max_channels=request.max_channels)
        if request.average_of:
            result = self._averaged(result, request)
        # Tiling every layer here keeps the GUI thread's share to colouring the rows on
        # screen, however deep the network.
        return with_mosaics(result)

    def _averaged(self, result: CaptureResult, request: CaptureRequest) -> CaptureResult:
        """`result` with the ensemble's averaged probabilities (and their log as logits)."""
        members = request.average_of
        known = self._ensemble
        # The same states (never changed in place: each is a copy) make the same ensemble.
        if (
            known is None
            or len(known[0]) != len(members)
            or any(a is not b for a, b in zip(known[0], members, strict=False))
        ):
            self._ensemble = known = (members, build_ensemble(request.spec, members))
        with torch.no_grad():
            probabilities = known[1].predict_proba(request.image[None])[0]
        average = probabilities.numpy().copy()
        return replace(result, probabilities=average, logits=np.log(np.maximum(average, 1e-12)))


_RECALLED = 4
_SMALL_MODEL_PARAMS = 5_000_000

T = TypeVar("T")


def _recall(memory: list[tuple[NetworkSpec, T]], spec: NetworkSpec, make: Callable[[], T]) -> T:
    """What `make()` gave for `spec` when it is among the last few, else make it now."""
    for index, (known, value) in enumerate(memory):
        if known is spec or known == spec:
            memory.insert(0, memory.pop(index))
            return value
    value = make()
    memory[:] = [(spec, value), *memory[: _RECALLED - 1]]
    return value


def _initial(spec: NetworkSpec) -> Network:
    model = build_model(spec, seed=spec.training.seed)
    model.eval()
    return model


def _small(model: Network) -> bool:
    return sum(p.numel() for p in model.parameters()) <= _SMALL_MODEL_PARAMS


class InspectController(QObject):
    """Capture on a background thread; `captured(result)` arrives on the GUI thread."""

    captured = Signal(object)  # CaptureResult for the current spec and image
    failed = Signal(str)

    def __init__(
        self, parent: QObject | None = None, *, max_channels: int = DEFAULT_MAX_CHANNELS
    ) -> None:
        super().__init__(parent)
        self.max_channels = max_channels
        self._spec: NetworkSpec | None = None
        self._image: torch.Tensor | None = None
        self._weights: Mapping[str, torch.Tensor] | None = None
        self._average_of: tuple[Mapping[str, torch.Tensor], ...] = ()
        self._busy = False  # a capture of the current context is under way
        self._pending = False
        self._held = False
        self._capturer = Capturer()
        self._runner = TaskRunner("capture", self)
        self._runner.finished.connect(self._on_runner_finished)
        self._runner.failed.connect(self._on_runner_failed)

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def held(self) -> bool:
        return self._held

    def hold(self, held: bool) -> None:
        """While held (nothing shows the maps) requests wait, and the capture thread
        builds no model beside the GUI thread; on release the latest one is made."""
        self._held = held
        if not held and self._pending and not self._busy:
            self._request()

    def set_spec(
        self,
        spec: NetworkSpec,
        weights: Mapping[str, torch.Tensor] | None = None,
        average_of: Sequence[Mapping[str, torch.Tensor]] = (),
    ) -> None:
        """A new network: draw it with `weights`, or its initial weights
        (`build_model(spec, seed)`); with an ensemble's members, their averaged probabilities."""
        self._spec = spec
        self._weights = weights
        self._average_of = tuple(average_of)
        if self._image is not None and tuple(self._image.shape) != spec.input.shape:
            self._image = None  # wait for an image that fits the new input
        self._new_context()

    def set_image(self, image: torch.Tensor) -> None:
        """A new normalised input (C, H, W), handed over: the caller must not change it
        (no copy is made here, on the GUI thread)."""
        self._image = image.detach().cpu()
        self._new_context()

    @Slot(object)
    def refresh_from_weights(
        self,
        state_dict: Mapping[str, torch.Tensor],
        average_of: Sequence[Mapping[str, torch.Tensor]] = (),
    ) -> None:
        """New weights from training (a CPU copy the caller no longer changes); with an
        ensemble's members, the probabilities drawn are their average."""
        self._weights = state_dict
        self._average_of = tuple(average_of)
        self._request()

    def shutdown(self) -> None:
        """Join the capture in progress; nothing is captured afterwards. Call before the
        app quits."""
        self._runner.shutdown()
        self._busy = self._pending = False

    def _new_context(self) -> None:
        # The capture under way (if any) is of the old spec or image: its result is dropped,
        # and the new request queues behind it at once.
        self._runner.invalidate()
        self._busy = False
        self._request()

    def _request(self) -> None:
        if self._spec is None or self._image is None:
            return
        if self._busy or self._held:
            self._pending = True
            return
        if self._runner.is_shut_down:
            return
        self._busy = True
        self._pending = False
        request = CaptureRequest(
            self._spec, self._weights, self._image, self.max_channels, self._average_of
        )
        capturer = self._capturer
        self._runner.start(lambda control: capturer.capture(request))

    def _finished(self) -> None:
        self._busy = False
        if self._pending:
            self._request()

    @Slot(object)
    def _on_runner_finished(self, result: TaskFinished[CaptureResult]) -> None:
        self.captured.emit(result.value)
        self._finished()

    @Slot(object)
    def _on_runner_failed(self, failure: TaskFailed) -> None:
        error = failure.error
        if isinstance(error, CaptureRefused):
            self.failed.emit(str(error))
        else:
            log.error("capture failed: %s", failure.message)
            self.failed.emit(f"{type(error).__name__}: {error}")
        self._finished()
