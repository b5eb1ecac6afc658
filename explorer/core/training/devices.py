"""Choosing the training device and describing it in words.

`auto` prefers CUDA, then Apple MPS, then the CPU. On the CPU the thread count matters a lot
on small machines (see DESIGN.md, Known traps), so it is chosen here and can be overridden.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
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
    """Threads for CPU training: every core the process may use when nothing else needs
    one, else every core but one (never fewer than one). See `thread_choice`."""
    return thread_choice(0)[0]


def thread_choice(threads: int = 0) -> tuple[int, str]:
    """The CPU thread count for the setting `threads` (0: automatic) and why, in words:
    "set", "window" (a GUI in this process: one core left free for it), "command line"
    (every core) or "command line, machine busy" (one left free for the other programs).

    torch's OpenMP threads spin at a barrier every operation, so one busy core (the GUI, the
    OS, another program) stalls them all: on a shared 2-core machine (load average about 2.4)
    the Keras MNIST net trained at 2,850 images/s on 1 thread and 330-370 on 2
    (bench/train_throughput.py --threads). On an idle machine every core pays: DESIGN.md
    measured 1.7x for 2 threads against 1, which a command-line run should not give up.
    """
    if check_threads(threads):
        return threads, "set"
    cores = _usable_cores()
    if gui_in_process():
        return max(1, cores - 1), "window"
    if cores > 1 and _other_load() > 0.5:
        return cores - 1, "command line, machine busy"
    return cores, "command line"


def gui_in_process() -> bool:
    """Whether this process shows a Qt window (a QApplication exists); read from the
    modules already loaded, never importing Qt."""
    widgets = sys.modules.get("PySide6.QtWidgets")
    application = getattr(widgets, "QApplication", None)
    return application is not None and application.instance() is not None


def _other_load() -> float:
    """The one-minute load average: the cores' worth of work other programs are doing
    before a run starts (0 where the platform does not say)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


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
    """The device in words, e.g. 'CUDA: NVIDIA H100 80GB HBM3' or 'CPU (2 threads, command
    line)' (why: as `apply_threads` last chose them on this thread)."""
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
