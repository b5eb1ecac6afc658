"""Reading the entries of a checkpoint's payload, which may be damaged or hostile.

Each reader checks one entry's type and range and raises `Damaged` naming the key, so the
checkpoint can say exactly which entry is wrong (checkpoint.py, position.py).
"""

from __future__ import annotations

from typing import Any, TypeGuard

# Far above any real run, low enough that a hostile file cannot make the loader spend
# minutes or gigabytes on it.
MAX_TEXT = 64 << 20  # characters of the spec or the history
MAX_COUNT = 2**53


class Damaged(Exception):
    """Which entry of the payload is wrong, and how."""


def entry(payload: dict[str, Any], key: str, kind: type) -> Any:
    """payload[key], which must be a `kind` (a bool is never an int here)."""
    if key not in payload:
        raise Damaged(f"no {key!r}")
    value = payload[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise Damaged(f"{key!r} is {short(value)}, not {kind.__name__}")
    return value


def count(payload: dict[str, Any], key: str) -> int:
    """payload[key] as a count: a whole number from 0 to MAX_COUNT."""
    value = entry(payload, key, int)
    if value < 0:
        raise Damaged(f"{key!r} is negative ({value})")
    if value > MAX_COUNT:
        raise Damaged(f"{key!r} is too large ({value})")
    return int(value)


def number(payload: dict[str, Any], key: str) -> float:
    """payload[key] as a float (a whole number is accepted; it may be infinite or NaN)."""
    if key not in payload:
        raise Damaged(f"no {key!r}")
    value = payload[key]
    if not is_number(value):
        raise Damaged(f"{key!r} is {short(value)}, not a number")
    return float(value)


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or a float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def short(value: object) -> str:
    """repr(value), cut to 60 characters for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def first_line(error: BaseException) -> str:
    """The error's first line (its type when it has no text), cut to 200 characters."""
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= 200 else line[:197] + "..."
