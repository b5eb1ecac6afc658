"""The live run's health badges on the stack's rows: advice by path, each held with the
layer and the name its path had, so that an edit which puts another layer there (or renames
it, which renames its module) drops the badge instead of moving it onto the wrong layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from explorer.core.paths import LayerPath, item_at
from explorer.core.spec import LayerOrBlock, NetworkSpec

if TYPE_CHECKING:
    from explorer.core.health_advice import HealthAdvice


class StackHealth:
    """Which rows carry a health badge; the model asks it for a row's badge and tooltip."""

    def __init__(self) -> None:
        self._held: dict[LayerPath, tuple[LayerOrBlock, str, HealthAdvice]] = {}

    def __bool__(self) -> bool:
        return bool(self._held)

    def show(self, spec: NetworkSpec, advice: dict[LayerPath, HealthAdvice]) -> set[LayerPath]:
        """Hold `advice` for the layers of `spec` at its paths (paths `spec` lacks are left
        out); returns the paths whose badge changed."""
        names = spec.names()
        held = {
            path: (item_at(spec.layers, path), names[path], entry)
            for path, entry in advice.items()
            if path in names
        }
        changed = {
            path for path in set(self._held) | set(held) if self._held.get(path) != held.get(path)
        }
        self._held = held
        return changed

    def forget_stale(self, spec: NetworkSpec) -> set[LayerPath]:
        """Drop the badges whose path no longer holds the same layer under the same name in
        `spec`; returns their paths."""
        names = spec.names()
        stale = {
            path
            for path, (item, name, _) in self._held.items()
            if names.get(path) != name or item_at(spec.layers, path) is not item
        }
        for path in stale:
            del self._held[path]
        return stale

    def badge(self, path: LayerPath) -> str | None:
        held = self._held.get(path)
        return None if held is None else held[2].badge

    def tooltip(self, path: LayerPath, tooltip: str) -> str:
        """The row's `tooltip` with its advice's explanation and suggested change below."""
        held = self._held.get(path)
        if held is None:
            return tooltip
        advice = held[2]
        return (
            f"{tooltip}\nLayer health: {advice.badge}: {advice.explanation}.\n"
            f"Try: {advice.suggestion}."
        )
