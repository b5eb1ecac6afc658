"""The largest batch that fits: found by real training steps on fresh copies of the model.

Each try builds the model and its optimizer, runs two training steps (the second holds the
first's optimizer state and gradients, as training does) and measures their peak memory:
on CUDA with `torch.cuda.max_memory_allocated`, elsewhere with the profiler's allocation
events (see `explorer.core.profiling.run_steps`). A batch fits when its steps run and their
peak is within the memory budget. The search doubles the batch until one does not fit or the
cap is reached, then bisects between the last that fitted and the first that did not, to
within 1/16 of the batch (exact below 16).

The budget on CUDA is 90% of the device's free memory; on the CPU half the memory the
system reports available (Linux MemAvailable), so a try never drives the machine into swap.
On the CPU a try whose estimate (the analysis' training-memory estimate, within ±20% of the
profiler's peak, bench/memory_estimate.py) is over 1.25 times the budget is not run at all.
"""

from __future__ import annotations

import gc
import threading

import torch

from explorer.core.analysis import analyze
from explorer.core.data.memory import available_bytes
from explorer.core.profile_report import BatchTry, LargestBatch
from explorer.core.profiling import (
    ProfileCancelled,
    allocation_peak,
    check_batch_size,
    estimated_peak,
    run_steps,
)
from explorer.core.spec import NetworkSpec
from explorer.core.training.devices import apply_threads, resolve_device

DEFAULT_CAP = 8192
_CPU_SHARE = 0.5
_CUDA_SHARE = 0.9
_ESTIMATE_MARGIN = 1.25
_FALLBACK_BUDGET = 2 * 2**30


def memory_budget(device: torch.device) -> int:
    """Bytes a try may use on `device` (see the module docstring)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * _CUDA_SHARE)
    available = available_bytes()
    return int(available * _CPU_SHARE) if available else _FALLBACK_BUDGET


def try_batch(
    spec: NetworkSpec, batch_size: int, device: torch.device, budget_bytes: int
) -> BatchTry:
    """Run two training steps at `batch_size` and say whether they fit in the budget."""
    if device.type != "cuda":
        estimate = estimated_peak(spec, analyze(spec), batch_size)
        if estimate > budget_bytes * _ESTIMATE_MARGIN:
            return BatchTry(batch_size, False, None, "estimate over budget")
    try:
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            run_steps(spec, batch_size, device, 2)
            peak = torch.cuda.max_memory_allocated(device) - before
        else:
            events, _ = run_steps(spec, batch_size, device, 2)
            peak = allocation_peak(events)
    except (torch.OutOfMemoryError, MemoryError):
        return BatchTry(batch_size, False, None, "out of memory")
    except RuntimeError as error:  # the CPU allocator's "can't allocate memory"
        if "alloc" not in str(error).lower() and "memory" not in str(error).lower():
            raise
        return BatchTry(batch_size, False, None, "out of memory")
    finally:
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    fits = peak <= budget_bytes
    return BatchTry(batch_size, fits, peak, "ran" if fits else "over budget")


def largest_batch(
    spec: NetworkSpec,
    device: str = "auto",
    *,
    budget_bytes: int | None = None,
    cap: int = DEFAULT_CAP,
    cancel: threading.Event | None = None,
) -> LargestBatch:
    """The largest batch size (up to `cap`) whose training steps fit in `budget_bytes`
    (default: `memory_budget`). Raises DeviceError, BuildError, ValueError for a cap below 1,
    ProfileCancelled when `cancel` is set between tries."""
    check_batch_size(cap)
    choice = resolve_device(device)
    apply_threads(choice)
    budget = memory_budget(choice.device) if budget_bytes is None else budget_bytes
    tries: list[BatchTry] = []

    def attempt(batch: int) -> BatchTry:
        if cancel is not None and cancel.is_set():
            raise ProfileCancelled("the batch search was cancelled")
        result = try_batch(spec, batch, choice.device, budget)
        tries.append(result)
        return result

    best: BatchTry | None = None
    batch = 1
    failed_at: int | None = None
    while True:
        result = attempt(batch)
        if not result.fits:
            failed_at = batch
            break
        best = result
        if batch == cap:
            break
        batch = min(batch * 2, cap)
    if best is None:
        return LargestBatch(0, 0, budget, cap, "memory", tuple(tries))
    if failed_at is not None:
        low, high = best.batch_size, failed_at  # fits, does not
        while high - low > max(1, low // 16):
            middle = (low + high) // 2
            result = attempt(middle)
            if result.fits:
                low, best = middle, result
            else:
                high = middle
    assert best.peak_bytes is not None
    limited_by = "memory" if failed_at is not None else "cap"
    return LargestBatch(best.batch_size, best.peak_bytes, budget, cap, limited_by, tuple(tries))
