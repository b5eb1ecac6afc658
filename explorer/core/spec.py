"""Immutable network and layer specs; every edit returns a new spec.

A `LayerSpec` stores only the keys the user set (validated against the registry), so a saved
file stays as short as the user wrote it; `resolved()` fills in the defaults.

The parts live beside it and are re-exported here, so `explorer.core.spec` stays the one
import path for a spec: the training settings (`training_spec`), what may name a layer
(`names`) and the error with its quoting of values (`spec_errors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from explorer.core.layers import LAYER_TYPES, LayerType, layer_type
from explorer.core.names import RESERVED_NAMES, check_layer_name, control_character
from explorer.core.params import Kind, Param, ParamError, Value, to_json
from explorer.core.paths import LayerPath, insert_at, move_to, remove_at, replace_at
from explorer.core.spec_errors import SpecError, brief, briefly
from explorer.core.training_spec import TRAINING_PARAMS, TrainingSpec

# Re-exported: the spec's import path for everything a spec is made of.
__all__ = [
    "INPUT_PARAMS",
    "NUM_CLASSES",
    "RESERVED_NAMES",
    "TRAINING_PARAMS",
    "InputSpec",
    "LayerSpec",
    "NetworkSpec",
    "SpecError",
    "TrainingSpec",
    "brief",
    "check_bounded_int",
    "check_layer_name",
    "control_character",
    "layer_label",
]


def layer_label(index: int, type_name: object = None) -> str:
    """How messages name the layer at 0-based `index`: 'layer 3 (Conv2D)', numbered from 1."""
    label = LayerPath.top(index).label()
    if isinstance(type_name, str) and type_name in LAYER_TYPES:
        label += f" ({type_name})"
    return label


@dataclass(frozen=True)
class LayerSpec:
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
    ) -> LayerSpec:
        """Validate raw (JSON) values against the registry; raise SpecError naming the culprit.

        `index` is the layer's 0-based position, for messages (which number from 1).
        """
        # Without a position the message names no layer ("layer: …" read as a garbled label).
        where = "" if index is None else f"{layer_label(index, type_name)}: "
        if not isinstance(type_name, str) or type_name not in LAYER_TYPES:
            expected = ", ".join(LAYER_TYPES)
            problem = (
                f"unknown layer type {brief(type_name)}"
                if isinstance(type_name, str)
                else f"'type' must be a string, got {brief(type_name)}"
            )
            raise SpecError(
                f"{where}{problem}; expected one of {expected}", layer_index=index, key="type"
            )
        entry = layer_type(type_name)
        raw = dict(values or {})
        unknown = [key for key in raw if key not in entry.keys]
        if unknown:
            valid = ", ".join(entry.keys) or "none"
            raise SpecError(
                f"{where}unknown key {brief(unknown[0])} (valid keys: {valid})",
                layer_index=index,
                key=unknown[0],
            )
        stored: list[tuple[str, Value]] = []
        for param in entry.params:
            if param.name not in raw or raw[param.name] is None:
                if param.required:
                    raise SpecError(
                        f"{where}missing required key {param.name!r}",
                        layer_index=index,
                        key=param.name,
                    )
                continue
            try:
                stored.append((param.name, param.coerce(raw[param.name])))
            except ParamError as error:
                raise SpecError(
                    f"{where}{param.name!r}: {briefly(str(error), raw[param.name])}",
                    layer_index=index,
                    key=param.name,
                ) from None
        if name is not None:
            name_problem = check_layer_name(name) if isinstance(name, str) else "must be a string"
            if name_problem:
                raise SpecError(
                    f"{where}name {brief(name)} {name_problem}", layer_index=index, key="name"
                )
        return LayerSpec(type_name, tuple(stored), name)

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

    def get(self, key: str) -> Any:
        for stored_key, value in self.values:
            if stored_key == key:
                return value
        return self.entry.param(key).default

    def resolved(self) -> dict[str, Any]:
        """Every key of the type with its value or default."""
        return dict(self.resolved_view())

    def resolved_view(self) -> Mapping[str, Any]:
        """`resolved()` worked out once per layer (the layer never changes): not to be
        modified, for the analysis that asks for it on every edit of every layer."""
        cached: Mapping[str, Any] | None = self.__dict__.get("_resolved")
        if cached is None:
            stored = dict(self.values)
            cached = {p.name: stored.get(p.name, p.default) for p in self.entry.params}
            object.__setattr__(self, "_resolved", cached)
        return cached

    def with_values(self, **changes: Any) -> LayerSpec:
        """A copy with keys changed; a value of None returns the key to its default."""
        merged: dict[str, Any] = {key: to_json(value) for key, value in self.values}
        merged.update(changes)
        return LayerSpec.create(
            self.type, {k: v for k, v in merged.items() if v is not None}, name=self.name
        )

    def with_name(self, name: str | None) -> LayerSpec:
        return LayerSpec.create(self.type, self.json_values(), name=name)

    def json_values(self) -> dict[str, Any]:
        return {key: to_json(value) for key, value in self.values}

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


# ---- the input and the class count --------------------------------------------------------

# Declared once: the project loader checks these bounds, the Input header's spin boxes take
# their ranges and help from them, and `InputSpec.create` / `NetworkSpec.with_num_classes`
# enforce them.
INPUT_PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param(
            "channels",
            Kind.INT,
            1,
            "Input channels (1 for grey images, 3 for colour).",
            minimum=1,
            maximum=4096,
        ),
        Param("height", Kind.INT, 28, "Input image height in pixels.", minimum=1, maximum=16384),
        Param("width", Kind.INT, 28, "Input image width in pixels.", minimum=1, maximum=16384),
    )
}
NUM_CLASSES = Param(
    "num_classes",
    Kind.INT,
    10,
    "Number of classes the network must score.",
    minimum=2,
    maximum=100_000,
)


def check_bounded_int(param: Param, value: object, key: str) -> int:
    """`value` when it is an integer (not a bool, not 28.0) within `param`'s range;
    SpecError naming `key` (as a project file spells it, e.g. 'input.height') otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{key!r}: expected an integer, got {brief(value)}", key=key)
    try:
        param.coerce(value)
    except ParamError as error:
        raise SpecError(f"{key!r}: {error}", key=key) from None
    return value


def _default(param: Param) -> Any:
    return field(default=param.default)


@dataclass(frozen=True)
class InputSpec:
    """The shape of one input image, (C, H, W); defaults and bounds in INPUT_PARAMS."""

    channels: int = _default(INPUT_PARAMS["channels"])
    height: int = _default(INPUT_PARAMS["height"])
    width: int = _default(INPUT_PARAMS["width"])

    @staticmethod
    def create(channels: object, height: object, width: object) -> InputSpec:
        """An input shape from raw values; SpecError naming the key of one out of bounds."""
        raw = {"channels": channels, "height": height, "width": width}
        checked = {
            key: check_bounded_int(INPUT_PARAMS[key], value, f"input.{key}")
            for key, value in raw.items()
        }
        return InputSpec(**checked)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


# ---- the network --------------------------------------------------------------------------

_DEFAULT_TRAINING = TrainingSpec()


@dataclass(frozen=True)
class NetworkSpec:
    """A whole project: input, layers, class count and training settings."""

    name: str = "Untitled"
    input: InputSpec = InputSpec()
    num_classes: int = _default(NUM_CLASSES)
    layers: tuple[LayerSpec, ...] = ()
    training: TrainingSpec = _DEFAULT_TRAINING
    class_names: tuple[str, ...] = ()

    def with_num_classes(self, count: object) -> NetworkSpec:
        """A copy scoring `count` classes (SpecError when out of bounds); class names that
        no longer fit the count are dropped."""
        count = check_bounded_int(NUM_CLASSES, count, "num_classes")
        names = self.class_names if len(self.class_names) == count else ()
        return replace(self, num_classes=count, class_names=names)

    def architecture(self) -> NetworkSpec:
        """What trained weights depend on: input, layers and class count (not the name,
        class names or training settings). Equal architectures can share weights."""
        return NetworkSpec(input=self.input, num_classes=self.num_classes, layers=self.layers)

    def layer_names(self) -> tuple[str, ...]:
        """Each layer's name: its own, or Keras-style `<type>_<n>` avoiding taken names."""
        cached: tuple[str, ...] | None = self.__dict__.get("_names")
        if cached is None:  # worked out once per spec (it never changes)
            cached = self._layer_names()
            object.__setattr__(self, "_names", cached)
        return cached

    def _layer_names(self) -> tuple[str, ...]:
        taken = {layer.name for layer in self.layers if layer.name}
        counters: dict[str, int] = {}
        names = []
        for layer in self.layers:
            if layer.name:
                names.append(layer.name)
                continue
            base = layer.entry.base_name
            n = counters.get(base, 0)
            while True:
                n += 1
                candidate = f"{base}_{n}"
                if candidate not in taken:
                    break
            counters[base] = n
            taken.add(candidate)
            names.append(candidate)
        return tuple(names)

    def with_layers(self, layers: Iterable[LayerSpec]) -> NetworkSpec:
        return replace(self, layers=tuple(layers))

    def insert(self, index: int, *layers: LayerSpec) -> NetworkSpec:
        return self.with_layers(insert_at(self.layers, LayerPath.top(index), layers))

    def remove(self, indices: Iterable[int]) -> NetworkSpec:
        return self.with_layers(remove_at(self.layers, map(LayerPath.top, indices)))

    def replace_layer(self, index: int, layer: LayerSpec) -> NetworkSpec:
        return self.with_layers(replace_at(self.layers, LayerPath.top(index), layer))

    def move(self, indices: Iterable[int], destination: int) -> NetworkSpec:
        """Move the layers at `indices` (kept in order) to sit before row `destination`
        of the current list (len(layers) moves them to the end)."""
        paths = map(LayerPath.top, indices)
        return self.with_layers(move_to(self.layers, paths, LayerPath.top(destination)))

    def validate_names(self) -> None:
        """Raise SpecError when two layers share an explicit name."""
        seen: dict[str, int] = {}
        for index, name in enumerate(self.layer_names()):
            if name in seen:
                raise SpecError(
                    f"{layer_label(index, self.layers[index].type)}: name {name!r} is "
                    f"already used by {layer_label(seen[name])}",
                    layer_index=index,
                    key="name",
                )
            seen[name] = index
