"""What one training step really costs, per layer, measured with `torch.profiler`.

`profile_network` builds a fresh model for the spec, runs a warm-up training step and then
the measured ones (the trainer's own `update`: forward, loss, zero_grad, backward, optimizer
step) under `torch.profiler.profile(profile_memory=True)`, and reads per layer:

- forward time: the layer's module call, marked with a `record_function` range;
- backward time: the autograd nodes its forward made, found by their sequence numbers (each
  backward node carries the number of the forward op that made it); a weight's gradient
  accumulation goes to the layer whose backward ran just before it;
- memory: what its forward pass allocated and kept (the tensors saved for backward and its
  output), and the peak of everything allocated while it ran (forward or backward).

On CUDA the times are of the kernels each range launched (the host only queues them).
Everything, weights and optimizer state included, is allocated inside the profiler, so the
step's peak is absolute and compares with the analysis' training-memory estimate.
The largest batch that fits is in `explorer.core.profiling_batch`.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch._C._autograd import DeviceType
from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile

from explorer.core.analysis import Analysis, analyze
from explorer.core.builder import Network, build_model
from explorer.core.data.memory import available_bytes
from explorer.core.memory import format_bytes
from explorer.core.profile_report import LayerProfile, StepProfile
from explorer.core.spec import NetworkSpec
from explorer.core.training.devices import apply_threads, resolve_device
from explorer.core.training.optim import make_optimizer
from explorer.core.training.step import update

DEFAULT_BATCH = 32
MAX_STEPS = 10
_AVAILABLE_SHARE = 0.8  # of the memory available, what one profiled step may need
_LAYER = "layer:"
_STEP = "profiled step "
_BACKWARD = "autograd::engine::evaluate_function: "
_MEMORY = "[memory]"


class TooLargeForMemory(ValueError):
    """The step's estimated memory is more than this machine has available."""


class ProfileCancelled(Exception):
    """The cancel event was set before the profile was complete."""


def check_batch_size(batch_size: int) -> int:
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size} must be at least 1")
    return batch_size


def estimated_peak(spec: NetworkSpec, analysis: Analysis, batch_size: int) -> int:
    """The analysis' training-memory estimate for `batch_size` and the spec's optimizer."""
    training = spec.training
    return analysis.training_memory_bytes(
        batch_size, training.optimizer, training.momentum, weight_decay=training.weight_decay
    )


def profile_network(
    spec: NetworkSpec,
    batch_size: int = DEFAULT_BATCH,
    device: str = "auto",
    *,
    steps: int = 1,
    cancel: threading.Event | None = None,
) -> StepProfile:
    """Profile `steps` training steps after one warm-up step. Raises DeviceError for a
    missing device, BuildError for a spec with errors, ValueError for a bad batch size or
    step count, TooLargeForMemory for a CPU step estimated to need more than 80% of the
    memory available, and ProfileCancelled when `cancel` is set in between."""
    check_batch_size(batch_size)
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps {steps} must be between 1 and {MAX_STEPS}")
    analysis = analyze(spec)
    choice = resolve_device(device)
    apply_threads(choice)
    if choice.device.type != "cuda":  # never let a step drive the machine into swap
        need, available = estimated_peak(spec, analysis, batch_size), available_bytes()
        if available is not None and need > available * _AVAILABLE_SHARE:
            raise TooLargeForMemory(
                f"a training step at batch {batch_size} needs about {format_bytes(need)}, "
                f"but only {format_bytes(available)} of memory is available: use a smaller "
                "batch size"
            )
    events, model = run_steps(spec, batch_size, choice.device, 1 + steps, cancel=cancel)
    timeline = _Timeline(events, choice.device.type == "cuda")
    measured = [r for r in timeline.annotations(_STEP)][1:]  # the warm-up step is left out
    layers = _layer_profiles(timeline, measured, model, analysis, batch_size, steps)
    weights = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    return StepProfile(
        device=choice.description,
        batch_size=batch_size,
        steps=steps,
        layers=layers,
        step_ms=sum(timeline.busy_ns(r) for r in measured) / steps / 1e6,
        peak_bytes=timeline.peak,
        weight_bytes=weights,
        estimated_peak_bytes=estimated_peak(spec, analysis, batch_size),
        params=analysis.trainable_params + analysis.non_trainable_params,
        macs=analysis.macs,
    )


def run_steps(
    spec: NetworkSpec,
    batch_size: int,
    device: torch.device,
    steps: int,
    *,
    cancel: threading.Event | None = None,
) -> tuple[list[Any], Network]:
    """Build a model and its optimizer and run `steps` training steps on random data, all
    inside the profiler; return the profiler's raw events and the model."""
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities, profile_memory=True) as prof:
        model = build_model(spec, seed=0).to(device).train()
        for name, module in model.layer_modules():
            _mark_forward(name, module)
        optimizer = make_optimizer(model.parameters(), spec.training)
        images = torch.randn(batch_size, *spec.input.shape, device=device)
        labels = torch.randint(0, spec.num_classes, (batch_size,), device=device)
        for step in range(steps):
            if cancel is not None and cancel.is_set():
                raise ProfileCancelled("the profile was cancelled")
            with record_function(f"{_STEP}{step}"):
                update(model, optimizer, images, labels)
        del images, labels, optimizer
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    results = prof.profiler.kineto_results
    return list(results.events()), model


def allocation_peak(events: Iterable[Any], *, cuda: bool = False) -> int:
    """The peak of the running sum of the profiler's allocation events on the device."""
    return _Timeline(events, cuda).peak


def _mark_forward(name: str, module: torch.nn.Module) -> None:
    """Wrap the module's forward in a profiler range named after the layer (the model is
    the profile's own copy, so nobody else sees the wrapper)."""
    forward = module.forward

    def marked(*args: Any, **kwargs: Any) -> Any:
        with record_function(f"{_LAYER}{name}"):
            return forward(*args, **kwargs)

    module.forward = marked


@dataclass(frozen=True)
class _Range:
    name: str
    start: int
    end: int
    sequence: int
    thread: int


class _Timeline:
    """The profiler's events: ranges in time order, the running sum of allocations, and
    (on CUDA) the kernels by the time the host launched them."""

    def __init__(self, events: Iterable[Any], cuda: bool) -> None:
        memory: list[tuple[int, int]] = []
        ranges: list[_Range] = []
        launches: dict[int, int] = {}  # correlation id -> launch time
        kernels: list[tuple[int, int]] = []  # (correlation id, duration)
        memory_device = DeviceType.CUDA if cuda else DeviceType.CPU
        for event in events:
            name = event.name()
            if name == _MEMORY:
                if event.device_type() == memory_device:
                    memory.append((event.start_ns(), event.nbytes()))
            elif event.device_type() == DeviceType.CPU:
                ranges.append(
                    _Range(
                        name,
                        event.start_ns(),
                        event.end_ns(),
                        event.sequence_nr(),
                        event.start_thread_id(),
                    )
                )
                if cuda and event.correlation_id():
                    launches[event.correlation_id()] = event.start_ns()
            elif cuda:
                kernels.append((event.linked_correlation_id(), event.duration_ns()))
        memory.sort()
        self.ranges = sorted(ranges, key=lambda r: r.start)
        self._times = [t for t, _ in memory]
        self._levels: list[int] = []
        level = 0
        for _, nbytes in memory:
            level += nbytes
            self._levels.append(level)
        self._deltas = [n for _, n in memory]
        self.peak = max(self._levels, default=0)
        self._cuda = cuda
        launched = sorted((launches[c], d) for c, d in kernels if c in launches)
        self._launch_times = [t for t, _ in launched]
        self._launch_durations = [d for _, d in launched]

    def annotations(self, prefix: str) -> list[_Range]:
        return [r for r in self.ranges if r.name.startswith(prefix)]

    def busy_ns(self, span: _Range) -> int:
        """The range's time: its own on the CPU, its kernels' on CUDA."""
        if not self._cuda:
            return span.end - span.start
        low = bisect.bisect_left(self._launch_times, span.start)
        high = bisect.bisect_right(self._launch_times, span.end)
        return sum(self._launch_durations[low:high])

    def allocated(self, span: _Range) -> int:
        """Bytes allocated minus bytes freed inside the range."""
        low = bisect.bisect_left(self._times, span.start)
        high = bisect.bisect_right(self._times, span.end)
        return sum(self._deltas[low:high])

    def peak_in(self, span: _Range) -> int:
        low = bisect.bisect_left(self._times, span.start)
        high = bisect.bisect_right(self._times, span.end)
        entry = self._levels[low - 1] if low > 0 else 0
        return max(entry, *self._levels[low:high]) if high > low else entry


def _layer_profiles(
    timeline: _Timeline,
    measured: list[_Range],
    model: Network,
    analysis: Analysis,
    batch_size: int,
    steps: int,
) -> tuple[LayerProfile, ...]:
    names = model.layer_names
    index = {name: i for i, name in enumerate(names)}
    forward_ns = [0] * len(names)
    backward_ns = [0] * len(names)
    kept = [0] * len(names)
    peaks = [0] * len(names)
    for step in measured:
        inside = [r for r in timeline.ranges if step.start <= r.start and r.end <= step.end]
        owner: dict[int, int] = {}  # forward op sequence number -> layer
        current: int | None = None  # the layer whose forward range is open
        current_end = -1
        last_backward: int | None = None
        for span in inside:
            if span.name.startswith(_LAYER):
                current, current_end = index[span.name[len(_LAYER) :]], span.end
                forward_ns[current] += timeline.busy_ns(span)
                kept[current] += timeline.allocated(span)
                peaks[current] = max(peaks[current], timeline.peak_in(span))
            elif span.name.startswith(_BACKWARD):
                layer = owner.get(span.sequence, last_backward if span.sequence < 0 else None)
                if layer is None:
                    continue  # the loss and the penalty terms
                last_backward = layer
                backward_ns[layer] += timeline.busy_ns(span)
                peaks[layer] = max(peaks[layer], timeline.peak_in(span))
            elif current is not None and span.start <= current_end and span.sequence >= 0:
                owner.setdefault(span.sequence, current)
    rows = []
    for i, result in enumerate(analysis.layers):
        rows.append(
            LayerProfile(
                name=result.name,
                type=result.type,
                forward_ms=forward_ns[i] / steps / 1e6,
                backward_ms=backward_ns[i] / steps / 1e6,
                forward_bytes=kept[i] // steps,
                peak_bytes=peaks[i],
                params=result.params,
                macs=result.macs,
                estimated_activation_bytes=result.activation_bytes * batch_size,
            )
        )
    return tuple(rows)
