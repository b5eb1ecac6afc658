"""How much memory the device training would run on has, for the summary's warning.

The CPU (and Apple MPS, which shares it) has the machine's physical RAM, read with
`os.sysconf`; CUDA has the first GPU's total memory. Torch is consulted only when it is
already imported or `probe` asks for it, so the editor never loads torch just to draw totals.
"""

from __future__ import annotations

import functools
import os
import sys


def device_memory(device: str = "auto", *, probe: bool = False) -> tuple[str, int] | None:
    """(what, total bytes) of the memory training on `device` uses ("auto", "cpu", "cuda",
    "mps"), or None when it cannot be told."""
    consult_torch = device in ("auto", "cuda") and (probe or "torch" in sys.modules)
    return _lookup(device, consult_torch)


@functools.lru_cache(maxsize=8)
def _lookup(device: str, consult_torch: bool) -> tuple[str, int] | None:
    if consult_torch:
        import torch

        if torch.cuda.is_available():
            properties = torch.cuda.get_device_properties(0)
            return f"memory of {properties.name}", int(properties.total_memory)
        if device == "cuda":
            return None  # training will refuse the device; nothing to compare with
    return _physical_ram()


def _physical_ram() -> tuple[str, int] | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None  # not a POSIX system that reports it
    if pages <= 0 or page_size <= 0:
        return None
    return "RAM of this machine", pages * page_size
