"""Diagnostics travel as values: an error or warning on a layer, with an optional mechanical fix."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from explorer.core.params import Value


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Fix:
    """A one-click repair: set keys on the layer, insert a layer before it, or remove it.

    `layer_index` is filled in by the analysis; shape rules create fixes without it.
    """

    label: str
    changes: tuple[tuple[str, Value], ...] = ()
    insert_type: str | None = None
    remove: bool = False
    layer_index: int = -1

    def at(self, index: int) -> Fix:
        return replace(self, layer_index=index)


@dataclass(frozen=True)
class Diagnostic:
    """An error (the network cannot run) or a warning (legal but probably a mistake)."""

    severity: Severity
    message: str
    fix: Fix | None = None
    layer_index: int | None = None

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
