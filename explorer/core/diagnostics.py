"""Diagnostics travel as values: an error or warning on a layer, with an optional mechanical fix.

A fix says what it does by its kind: `SetParams`, `InsertLayer`, `RemoveLayer` or
`UseAutomaticName`. Shape rules make fixes without knowing where their layer sits; the
analysis places them (`at(path)`) and `explorer.core.fixes.apply_fix` applies any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TypeVar

from explorer.core.params import Value
from explorer.core.paths import LayerPath

__all__ = [
    "Diagnostic",
    "Fix",
    "InsertLayer",
    "RemoveLayer",
    "SetParams",
    "Severity",
    "ShapeError",
    "UseAutomaticName",
]


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


_F = TypeVar("_F", bound="_FixBase")


@dataclass(frozen=True)
class _FixBase:
    """What every fix has: the button's label and the layer it edits (None until placed)."""

    label: str
    path: LayerPath | None = field(default=None, kw_only=True)

    def at(self: _F, path: LayerPath) -> _F:
        """This fix, editing the layer at `path`."""
        return replace(self, path=path)


@dataclass(frozen=True)
class SetParams(_FixBase):
    """Set keys of the layer's parameters to new values."""

    changes: tuple[tuple[str, Value], ...]

    def __post_init__(self) -> None:
        if not self.changes:
            raise ValueError("SetParams needs at least one change")


@dataclass(frozen=True)
class InsertLayer(_FixBase):
    """Insert a new layer of `layer_type` (its defaults) before the layer."""

    layer_type: str


@dataclass(frozen=True)
class RemoveLayer(_FixBase):
    """Remove the layer."""


@dataclass(frozen=True)
class UseAutomaticName(_FixBase):
    """Drop the layer's own name so it takes the generated one (`conv2d_1`)."""


Fix = SetParams | InsertLayer | RemoveLayer | UseAutomaticName


@dataclass(frozen=True)
class Diagnostic:
    """An error (the network cannot run) or a warning (legal but probably a mistake).

    `path` is the layer it is about, None for the network as a whole.
    """

    severity: Severity
    message: str
    fix: Fix | None = None
    path: LayerPath | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def text(self) -> str:
        """The message with its suggested fix, as one line."""
        if self.fix is None or self.fix.label.lower() in self.message.lower():
            return self.message
        return f"{self.message}: {self.fix.label}"


class ShapeError(Exception):
    """Raised by a layer's shape rule when its input makes the layer impossible."""

    def __init__(self, message: str, fix: Fix | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
