"""Choosing the training device and describing it in words.

`auto` prefers CUDA, then Apple MPS, then the CPU. On the CPU the thread count matters a lot
on small machines (see DESIGN.md, Known traps), so it is chosen here and can be overridden.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from explorer.core.training_spec import DEVICE_CHOICES

log = logging.getLogger(__name__)

# Why the calling thread has the CPU thread count it has, as the device line says it.
_reason = threading.local()


class DeviceError(ValueError):
    """The requested device is not available on this machine."""


@dataclass(frozen=True)
class DeviceChoice:
    """The device training runs on and what it can do."""

    device: torch.device
    description: str
    #: Whether the hardware has native bfloat16 matrix support, which fast mixed precision needs
    #: to pay off (CUDA compute capability ≥ 8.0, CPU with AMX or AVX-512 BF16).
    bf16_supported: bool
    bf16_detail: str

    @property
    def type(self) -> str:
        return self.device.type


def resolve_device(name: str = "auto", *, threads: int = 0) -> DeviceChoice:
    """The device named by `name` (one of DEVICE_CHOICES); raise DeviceError when missing.

    `threads` only matters for the CPU (0: automatic, see `automatic_threads`).
    """
    if name not in DEVICE_CHOICES:
        raise DeviceError(f"unknown device {name!r} (choose from {', '.join(DEVICE_CHOICES)})")
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif _mps_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but no CUDA device is available")
        major, minor = torch.cuda.get_device_capability()
        bf16 = torch.cuda.is_bf16_supported()
        return DeviceChoice(
            torch.device("cuda"),
            f"CUDA: {torch.cuda.get_device_name()}",
            bf16,
            f"compute capability {major}.{minor}" + ("" if bf16 else " (no bfloat16)"),
        )
    if name == "mps":
        if not _mps_available():
            raise DeviceError("Apple MPS was requested but is not available")
        return DeviceChoice(torch.device("mps"), "Apple MPS", False, "MPS autocast is float16")
    count, reason = thread_choice(threads)
    flags = cpu_flags()
    if "amx_bf16" in flags:
        bf16, detail = True, "AMX bfloat16 tiles"
    elif "avx512_bf16" in flags:
        bf16, detail = True, "AVX-512 BF16 (no AMX)"
    else:
        bf16, detail = False, "no bfloat16 matrix instructions"
    plural = "thread" if count == 1 else "threads"
    return DeviceChoice(torch.device("cpu"), f"CPU ({count} {plural}, {reason})", bf16, detail)


def check_threads(threads: int) -> int:
    """`threads` when this process can run that many CPU threads (0: automatic); raise
    DeviceError otherwise. More threads than cores only make OpenMP's threads wait for one
    another, and hundreds of them make oneDNN fail to create its kernels."""
    cores = _usable_cores()
    if threads < 0 or threads > cores:
        raise DeviceError(
            f"threads {threads} is more than the {cores} CPU core{'s' if cores != 1 else ''} "
            f"this process may use: use 1 to {cores}, or 0 for automatic"
        )
    return threads


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def automatic_threads() -> int:
    """Threads for CPU training before a measurement: every core the process may use, or
    every core but one under a window (never fewer than one). See `thread_choice`."""
    return thread_choice(0)[0]


def thread_choice(threads: int = 0) -> tuple[int, str]:
    """The CPU thread count for the setting `threads` (0: automatic) before a run measures
    anything, and why, in words: "set", "window" (a GUI in this process: one core left free
    for it, which stays the choice) or "command line" (every core, until the trainer times
    each count on the real batch: see `measure_threads`).

    torch's OpenMP threads spin at a barrier every operation, so one busy core (the GUI, the
    OS, another program) stalls them all: on a shared 2-core machine (load average about 2.4)
    the Keras MNIST net trained at 2,850 images/s on 1 thread and 330-370 on 2
    (bench/train_throughput.py --threads), while on an idle one 2 threads were 1.7x faster.
    Which is right depends on the moment, so a command-line run measures it.
    """
    if check_threads(threads):
        return threads, "set"
    cores = _usable_cores()
    if gui_in_process():
        return max(1, cores - 1), "window"
    return cores, "command line"


def gui_in_process() -> bool:
    """Whether this process shows a Qt window (a QApplication exists); read from the
    modules already loaded, never importing Qt."""
    widgets = sys.modules.get("PySide6.QtWidgets")
    application = getattr(widgets, "QApplication", None)
    return application is not None and application.instance() is not None


def should_measure_threads(device: torch.device, threads: int) -> bool:
    """Whether a run on `device` with the setting `threads` times the thread counts at its
    start: automatic CPU runs outside a window on a machine with more than one core."""
    return device.type == "cpu" and threads == 0 and not gui_in_process() and _usable_cores() > 1


def candidate_threads(cores: int) -> list[int]:
    """The counts a measurement tries: every one up to 4, then powers of two and `cores`,
    so a 64-core machine times 8 counts, not 64."""
    counts = {count for count in range(1, min(cores, 4) + 1)}
    power = 8
    while power < cores:
        counts.add(power)
        power *= 2
    counts.add(cores)
    return sorted(counts)


@dataclass(frozen=True)
class ThreadTiming:
    """Seconds per step at each thread count tried, and the fastest count."""

    per_step: dict[int, float]

    @property
    def fastest(self) -> int:
        # Ties go to fewer threads: they leave cores to everything else.
        return min(self.per_step, key=lambda count: (self.per_step[count], count))

    def describe(self) -> str:
        """E.g. "measured 1: 41 ms, 2: 24 ms per step"."""
        times = ", ".join(f"{n}: {1000 * t:.0f} ms" for n, t in sorted(self.per_step.items()))
        return f"measured {times} per step"


def measure_threads(
    step: Callable[[], object],
    candidates: Sequence[int],
    *,
    rounds: int = 3,
    timer: Callable[[], float] = time.perf_counter,
) -> ThreadTiming:
    """Time `step` (one training step on a real batch, which finishes its work before it
    returns) at each thread count in `candidates` and leave torch's count at the fastest.

    One untimed step first (kernels, caches), then up to `rounds` rounds of one timed step
    per count, the counts interleaved so a change in the machine's load falls on all of
    them; a count over 1.5x the best after a round is not timed again (on a busy machine
    two threads can take ten times as long as one, and measuring it longer only costs).
    Each count's time is the median of its steps."""
    torch.set_num_threads(candidates[0])
    step()
    times: dict[int, list[float]] = {count: [] for count in candidates}
    timed = list(candidates)
    for _ in range(rounds):
        for count in timed:
            torch.set_num_threads(count)
            started = timer()
            step()
            times[count].append(timer() - started)
        best = min(statistics.median(times[count]) for count in timed)
        timed = [count for count in timed if statistics.median(times[count]) <= 1.5 * best]
    timing = ThreadTiming({count: statistics.median(t) for count, t in times.items()})
    torch.set_num_threads(timing.fastest)
    _reason.text = timing.describe()
    log.info("torch threads: %d (%s)", timing.fastest, timing.describe())
    return timing


def apply_threads(device: DeviceChoice | torch.device, threads: int = 0) -> int:
    """Set torch's intra-op thread count for CPU training (0: automatic); return it.
    Raises DeviceError for more threads than usable cores (see check_threads).

    Call it on the thread that trains (the Trainer does): OpenMP keeps the count per thread.
    """
    kind = device.type
    if kind != "cpu":
        return torch.get_num_threads()
    count, _reason.text = thread_choice(threads)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
        log.debug("torch threads set to %d", count)
    return count


def describe_device(device: torch.device) -> str:
    """The device in words, e.g. 'CUDA: NVIDIA H100 80GB HBM3' or 'CPU (2 threads, measured
    1: 41 ms, 2: 24 ms per step)' (why: as `apply_threads` or `measure_threads` last chose
    them on this thread)."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        reason = getattr(_reason, "text", "")
        return f"CPU ({threads} thread{'s' if threads != 1 else ''}{reason and ', '}{reason})"
    if device.type == "mps":
        return "Apple MPS"
    return device.type.upper()


def preload() -> None:
    """Pay torch's one-time start-up costs now: the first optimizer a process builds imports
    torch._dynamo (2-6 s on a small machine), and the first backward pass starts autograd.
    The GUI calls this on a background thread after its window appears, so pressing Train
    does not wait for it."""
    weight = torch.zeros(1, 1, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=0.0)
    torch.autograd.backward((weight * 2.0).sum())
    optimizer.step()


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
