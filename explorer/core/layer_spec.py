"""One layer of a stack: its type, the keys the user set and an optional name.

A `LayerSpec` stores only the keys the user set (validated against the registry), so a saved
file stays as short as the user wrote it; `resolved()` fills in the defaults. The checks of
raw values are shared with blocks (`checked_values`), which edit their keys the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from explorer.core.layers import LAYER_TYPES, LayerType, layer_type
from explorer.core.names import check_layer_name
from explorer.core.params import Param, ParamError, Value, to_json
from explorer.core.paths import LayerPath
from explorer.core.spec_errors import SpecError, brief, briefly
from explorer.core.vocabulary.blocks import BLOCK_TYPES

__all__ = ["LayerSpec", "checked_name", "checked_values", "layer_label", "where_text"]


def layer_label(index: int, type_name: object = None) -> str:
    """How messages name the layer at 0-based `index`: 'layer 3 (Conv2D)', numbered from 1."""
    return where_text(LayerPath.top(index).label(), type_name)


def where_text(label: str, type_name: object = None) -> str:
    """A position's label with its type when the type is known: 'layer 3 › body 2 (Conv2D)'."""
    if isinstance(type_name, str) and (type_name in LAYER_TYPES or type_name in BLOCK_TYPES):
        return f"{label} ({type_name})"
    return label


def checked_values(
    params: tuple[Param, ...],
    raw: Mapping[str, Any],
    *,
    where: str,
    path: LayerPath | None,
) -> tuple[tuple[str, Value], ...]:
    """Raw (JSON) values of a layer's or a block's keys, validated in declaration order.

    `where` starts each message ('layer 3 › body 2 (Conv2D): '); SpecError names the key.
    """
    keys = tuple(param.name for param in params)
    unknown = [key for key in raw if key not in keys]
    if unknown:
        valid = ", ".join(keys) or "none"
        raise SpecError(
            f"{where}unknown key {brief(unknown[0])} (valid keys: {valid})",
            path=path,
            key=unknown[0],
        )
    stored: list[tuple[str, Value]] = []
    for param in params:
        if param.name not in raw or raw[param.name] is None:
            if param.required:
                raise SpecError(
                    f"{where}missing required key {param.name!r}", path=path, key=param.name
                )
            continue
        try:
            stored.append((param.name, param.coerce(raw[param.name])))
        except ParamError as error:
            raise SpecError(
                f"{where}{param.name!r}: {briefly(str(error), raw[param.name])}",
                path=path,
                key=param.name,
            ) from None
    return tuple(stored)


def checked_name(name: object, *, where: str, path: LayerPath | None) -> str | None:
    """A layer's or block's explicit name, or SpecError saying why it cannot be one."""
    if name is None:
        return None
    problem = check_layer_name(name) if isinstance(name, str) else "must be a string"
    if problem:
        raise SpecError(f"{where}name {brief(name)} {problem}", path=path, key="name")
    assert isinstance(name, str)
    return name


def _position(index: int | None, path: LayerPath | None) -> LayerPath | None:
    return path if path is not None else (LayerPath.top(index) if index is not None else None)


class _Keyed:
    """What a layer and a block share: their keys as the user set them (`values`, in
    declaration order) read against their type's declarations."""

    values: tuple[tuple[str, Value], ...]

    @property
    def declarations(self) -> tuple[Param, ...]:
        raise NotImplementedError

    def get(self, key: str) -> Any:
        for stored_key, value in self.values:
            if stored_key == key:
                return value
        for param in self.declarations:
            if param.name == key:
                return param.default
        raise KeyError(key)

    def resolved(self) -> dict[str, Any]:
        """Every key of the type with its value or default."""
        return dict(self.resolved_view())

    def resolved_view(self) -> Mapping[str, Any]:
        """`resolved()` worked out once (a spec never changes): not to be modified, for the
        analysis that asks for it on every edit of every layer."""
        cached: Mapping[str, Any] | None = self.__dict__.get("_resolved")
        if cached is None:
            stored = dict(self.values)
            cached = {p.name: stored.get(p.name, p.default) for p in self.declarations}
            object.__setattr__(self, "_resolved", cached)
        return cached

    def json_values(self) -> dict[str, Any]:
        return {key: to_json(value) for key, value in self.values}


@dataclass(frozen=True)
class LayerSpec(_Keyed):
    """One layer: its type, the keys the user set (in registry order) and an optional name."""

    type: str
    values: tuple[tuple[str, Value], ...] = ()
    name: str | None = None

    @staticmethod
    def create(
        type_name: str,
        values: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        index: int | None = None,
        path: LayerPath | None = None,
        label: str | None = None,
    ) -> LayerSpec:
        """Validate raw (JSON) values against the registry; raise SpecError naming the culprit.

        `index` (top level) or `path` is the layer's 0-based position, and `label` how
        messages name it ('layer 3 › body 2'; by default numbered from the path).
        """
        at = _position(index, path)
        if label is None and at is not None:
            label = at.label()
        # Without a position the message names no layer ("layer: …" read as a garbled label).
        where = "" if label is None else f"{where_text(label, type_name)}: "
        if not isinstance(type_name, str) or type_name not in LAYER_TYPES:
            expected = ", ".join(LAYER_TYPES)
            problem = (
                f"unknown layer type {brief(type_name)}"
                if isinstance(type_name, str)
                else f"'type' must be a string, got {brief(type_name)}"
            )
            raise SpecError(f"{where}{problem}; expected one of {expected}", path=at, key="type")
        entry = layer_type(type_name)
        stored = checked_values(entry.params, dict(values or {}), where=where, path=at)
        return LayerSpec(type_name, stored, checked_name(name, where=where, path=at))

    @staticmethod
    def new(type_name: str) -> LayerSpec:
        """A layer as the palette drops it: keys with a starting value set to it."""
        entry = layer_type(type_name)
        return LayerSpec.create(
            type_name, {p.name: p.initial for p in entry.params if p.initial is not None}
        )

    @property
    def entry(self) -> LayerType:
        return LAYER_TYPES[self.type]

    @property
    def is_block(self) -> bool:
        return False

    @property
    def declarations(self) -> tuple[Param, ...]:
        return self.entry.params

    def with_values(self, **changes: Any) -> LayerSpec:
        """A copy with keys changed; a value of None returns the key to its default."""
        merged: dict[str, Any] = {key: to_json(value) for key, value in self.values}
        merged.update(changes)
        return LayerSpec.create(
            self.type, {k: v for k, v in merged.items() if v is not None}, name=self.name
        )

    def with_name(self, name: str | None) -> LayerSpec:
        return LayerSpec.create(self.type, self.json_values(), name=name)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            data["name"] = self.name
        data.update(self.json_values())
        return data

    def describe(self) -> str:
        """One line for the layer stack, e.g. 'Conv2D 32 · 5×5 · relu'."""
        cached: str | None = self.__dict__.get("_described")
        if cached is None:
            cached = self.entry.describe(self.resolved_view())
            object.__setattr__(self, "_described", cached)
        return cached
