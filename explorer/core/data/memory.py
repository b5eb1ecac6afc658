"""Memory checks before a dataset's arrays are allocated.

Sizes come from what is known before any allocation (a header's dimensions, an image count
times the input shape), so a request that cannot fit is refused with its numbers instead of
failing inside numpy or torch, or driving the computer into swap.
"""

from __future__ import annotations

import os
import sys

from explorer.core.data.errors import DatasetError
from explorer.core.summary import format_bytes


def available_bytes() -> int | None:
    """Memory this process can still use, in bytes: the smaller of the memory the system
    reports available (Linux MemAvailable, else physical memory) and the address-space
    limit (`ulimit -v`). None where neither is known."""
    limits = [value for value in (_system_available(), _address_space_limit()) if value]
    return min(limits) if limits else None


def check_fits(nbytes: int, what: str, advice: str = "") -> None:
    """Raise DatasetError if `nbytes` exceed `available_bytes()`. `what` names the data
    (e.g. "the shapes set at 10000×10000"); `advice` is appended as what to do instead."""
    budget = available_bytes()
    if budget is not None and nbytes > budget:
        raise DatasetError(
            f"{what} would need {format_bytes(nbytes)} of memory ({nbytes:,} bytes), but "
            f"only {format_bytes(budget)} is available" + (f"; {advice}" if advice else "")
        )


def _system_available() -> int | None:
    return _linux_available() or _physical_bytes()


def _linux_available() -> int | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None  # the physical size is the fallback
    return None


def _physical_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None  # Windows has no sysconf


def _address_space_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    # What the interpreter, numpy and torch already map is not available to the data.
    used = _mapped_bytes()
    return max(soft - used, 0) if used is not None else soft


def _mapped_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
