"""Hyperparameter declarations: type, default, range and help for every layer key.

A `Param` both documents a key (for the palette tooltip and the properties form) and
validates a raw JSON value into the canonical immutable form the spec stores. Pairs such as
`kernel_size` may be written as an int or `[h, w]`; they are stored as given (int or tuple)
and expanded with `as_pair` when shapes are computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

Value = int | float | str | bool | tuple[int, int]


class Kind(Enum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    CHOICE = "choice"
    PAIR = "int or [h, w]"
    PADDING = "'valid', 'same', int or [h, w]"
    POOL_PADDING = "'valid' or int"
    TEXT = "text"


class ParamError(ValueError):
    """A value that does not fit its declaration; the message quotes the value received."""


@dataclass(frozen=True)
class Param:
    """One hyperparameter of a layer type.

    `default` is used when the key is omitted; `None` with `required=True` means the key
    must be given (`initial` is then the value a freshly dropped layer gets). `minimum` and
    `maximum` are inclusive unless `exclusive_minimum` is set.
    """

    name: str
    kind: Kind
    default: Value | None
    help: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[str, ...] = ()
    required: bool = False
    initial: Value | None = None

    def coerce(self, raw: Any) -> Value:
        """Validate a JSON value; return the canonical stored form or raise ParamError."""
        if self.kind is Kind.BOOL:
            if not isinstance(raw, bool):
                raise ParamError(f"expected true or false, got {raw!r}")
            return raw
        if self.kind is Kind.INT:
            return self._check_range(_as_int(raw))
        if self.kind is Kind.FLOAT:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ParamError(f"expected a number, got {raw!r}")
            if not math.isfinite(raw):
                raise ParamError(f"expected a finite number, got {raw!r}")
            return self._check_range(float(raw))
        if self.kind is Kind.CHOICE:
            if raw not in self.choices:
                raise ParamError(f"expected one of {', '.join(self.choices)}; got {raw!r}")
            return str(raw)
        if self.kind is Kind.TEXT:
            if not isinstance(raw, str) or not raw.strip():
                raise ParamError(f"expected a non-empty string, got {raw!r}")
            return raw
        if self.kind is Kind.PAIR:
            return self._coerce_pair(raw)
        if self.kind is Kind.PADDING:
            if raw in ("valid", "same"):
                return str(raw)
            if isinstance(raw, str):
                raise ParamError(f"expected 'valid', 'same', an int or [h, w]; got {raw!r}")
            return self._coerce_pair(raw)
        # Kind.POOL_PADDING
        if raw == "valid":
            return "valid"
        if isinstance(raw, str):
            raise ParamError(f"expected 'valid' or an int; got {raw!r}")
        return self._check_range(_as_int(raw))

    def _coerce_pair(self, raw: Any) -> int | tuple[int, int]:
        if isinstance(raw, list | tuple):
            if len(raw) != 2:
                raise ParamError(f"expected an int or [h, w]; got {list(raw)!r}")
            h, w = (self._check_range(_as_int(v)) for v in raw)
            return (int(h), int(w))
        return int(self._check_range(_as_int(raw)))

    def _check_range(self, value: int | float) -> int | float:
        low, high = self.minimum, self.maximum
        if low is not None and (value < low or (self.exclusive_minimum and value == low)):
            raise ParamError(f"{value!r} is out of range: must be {self.range_text()}")
        if high is not None and (value > high or (self.exclusive_maximum and value == high)):
            raise ParamError(f"{value!r} is out of range: must be {self.range_text()}")
        return value

    def range_text(self) -> str:
        """The allowed range in words, e.g. '>= 1' or 'in [0, 1)'."""
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            left = "(" if self.exclusive_minimum else "["
            right = ")" if self.exclusive_maximum else "]"
            return f"in {left}{_fmt(low)}, {_fmt(high)}{right}"
        if low is not None:
            return f"{'>' if self.exclusive_minimum else '>='} {_fmt(low)}"
        if high is not None:
            return f"{'<' if self.exclusive_maximum else '<='} {_fmt(high)}"
        return "any value"


def _as_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ParamError(f"expected an integer, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    raise ParamError(f"expected an integer, got {raw!r}")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def as_pair(value: Value | None) -> tuple[int, int]:
    """Expand an int-or-pair value to (h, w)."""
    if isinstance(value, tuple):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"not an int or pair: {value!r}")
    return (value, value)


def to_json(value: Value) -> Any:
    """The JSON form of a stored value (pairs become lists)."""
    return list(value) if isinstance(value, tuple) else value
