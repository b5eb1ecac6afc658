"""Immutable network and training specs; every edit returns a new spec.

A `LayerSpec` stores only the keys the user set (validated against the registry), so a saved
file stays as short as the user wrote it; `resolved()` fills in the defaults.
"""

from __future__ import annotations

import keyword
import re
import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from explorer.core.layers import LAYER_TYPES, LayerType, layer_type
from explorer.core.params import Kind, Param, ParamError, Value, to_json
from explorer.core.paths import LayerPath, insert_at, move_to, remove_at, replace_at


class SpecError(ValueError):
    """Invalid spec content; the message names the layer, the key and the value.

    `layer_index` is the 0-based position in `layers`; messages number layers from 1
    (see `layer_label`), as the default names `conv2d_1`, `dense_1` do.
    """

    def __init__(
        self, message: str, *, layer_index: int | None = None, key: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.layer_index = layer_index
        self.key = key


def layer_label(index: int, type_name: object = None) -> str:
    """How messages name the layer at 0-based `index`: 'layer 3 (Conv2D)', numbered from 1."""
    label = LayerPath.top(index).label()
    if isinstance(type_name, str) and type_name in LAYER_TYPES:
        label += f" ({type_name})"
    return label


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = 60
_BRIEF.maxother = 60
_BRIEF.maxlong = 40
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = 6
_BRIEF.maxlevel = 3


def brief(value: object) -> str:
    """`repr(value)` short enough for a message: long strings and lists are cut in the
    middle, and a cut string says how long it was."""
    text = _BRIEF.repr(value)
    if isinstance(value, str) and len(value) > _BRIEF.maxstring:
        text += f" ({len(value):,} characters)"
    return text


def _briefly(message: str, value: object) -> str:
    """`message` (which may quote `value` in full, as ParamError does) with `value` shortened."""
    if isinstance(value, str | list | dict | tuple):
        full = repr(value)
        if len(full) > 80:
            return message.replace(full, brief(value))
    return message


_UNWRITABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # categories Cc and Cs


def control_character(text: str) -> str | None:
    """The first control character or lone surrogate in `text`, described (e.g. 'the
    control character U+0000'), or None.

    Neither belongs in a name: a NUL cannot be written into Python source (exports), other
    control characters garble a terminal, and a lone surrogate cannot be written as UTF-8.
    """
    found = _UNWRITABLE.search(text)
    if found is None:
        return None
    code = ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"the lone surrogate U+{code:04X}, which is not text"
    return f"the control character U+{code:04X}"


MAX_NAME_LENGTH = 100
_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Attribute names of torch.nn.Module: a layer module registered under one of these would
# shadow it (tests/core/test_spec.py keeps this list in step with torch).
RESERVED_NAMES = frozenset(
    {
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "smart_apply",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
        # Attributes of the built Network itself.
        "layer_names",
        "final_softmax",
        "penalties",
        "penalty",
        "predict_proba",
        "input_shape",
        "layer_modules",
    }
)


def check_layer_name(name: str) -> str | None:
    """Why `name` cannot name a layer, or None when it can."""
    if not _NAME_PATTERN.fullmatch(name):
        return "must start with a letter or _ and hold only letters, digits and _"
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    if keyword.iskeyword(name):
        return "is a Python keyword"
    if name in RESERVED_NAMES:
        return "is reserved by PyTorch modules"
    return None


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
        label = "layer" if index is None else layer_label(index, type_name)
        where = "" if index is None else f"{label}: "
        if not isinstance(type_name, str) or type_name not in LAYER_TYPES:
            expected = ", ".join(LAYER_TYPES)
            problem = (
                f"unknown layer type {brief(type_name)}"
                if isinstance(type_name, str)
                else f"'type' must be a string, got {brief(type_name)}"
            )
            raise SpecError(
                f"{label}: {problem}; expected one of {expected}", layer_index=index, key="type"
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
                    f"{where}{param.name!r}: {_briefly(str(error), raw[param.name])}",
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


@dataclass(frozen=True)
class InputSpec:
    channels: int = 1
    height: int = 28
    width: int = 28

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


# ---- training configuration ---------------------------------------------------------------

TRAINING_PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param(
            "dataset", Kind.TEXT, "mnist", "mnist, fashion-mnist, cifar10, shapes or folder:PATH."
        ),
        Param(
            "optimizer",
            Kind.CHOICE,
            "sgd",
            "Update rule.",
            choices=("sgd", "adam", "adamw", "rmsprop"),
        ),
        Param(
            "learning_rate",
            Kind.FLOAT,
            0.01,
            "Step size of each update.",
            minimum=0.0,
            exclusive_minimum=True,
            maximum=10.0,
        ),
        Param(
            "momentum",
            Kind.FLOAT,
            0.0,
            "Momentum for SGD and RMSprop.",
            minimum=0.0,
            maximum=1.0,
            exclusive_maximum=True,
        ),
        Param("nesterov", Kind.BOOL, False, "Nesterov momentum (SGD with momentum > 0)."),
        Param(
            "weight_decay",
            Kind.FLOAT,
            0.0,
            "Decoupled (AdamW) or L2 (others) weight decay.",
            minimum=0.0,
            maximum=1.0,
        ),
        Param(
            "schedule",
            Kind.CHOICE,
            "constant",
            "Learning-rate schedule.",
            choices=("constant", "step", "cosine", "onecycle"),
        ),
        Param(
            "step_size",
            Kind.INT,
            5,
            "Epochs between decays of the step schedule.",
            minimum=1,
            maximum=10000,
        ),
        Param(
            "gamma",
            Kind.FLOAT,
            0.1,
            "Decay factor of the step schedule.",
            minimum=0.0,
            exclusive_minimum=True,
            maximum=1.0,
        ),
        Param("batch_size", Kind.INT, 100, "Images per update.", minimum=1, maximum=65536),
        Param("epochs", Kind.INT, 10, "Passes over the training set.", minimum=1, maximum=10000),
        Param(
            "validation_split",
            Kind.FLOAT,
            0.1,
            "Fraction of the training set held out for validation (0: none).",
            minimum=0.0,
            maximum=0.9,
        ),
        Param(
            "early_stopping_patience",
            Kind.INT,
            0,
            "Stop after this many epochs without a better validation loss (0: never).",
            minimum=0,
            maximum=10000,
        ),
        Param(
            "seed",
            Kind.INT,
            0,
            "Seed for weights, split and batch order.",
            minimum=0,
            maximum=2**31 - 1,
        ),
        Param(
            "device",
            Kind.CHOICE,
            "auto",
            "auto picks CUDA, then Apple MPS, then the CPU.",
            choices=("auto", "cpu", "cuda", "mps"),
        ),
        Param(
            "mixed_precision",
            Kind.BOOL,
            False,
            "Fast mixed precision: bfloat16 autocast and "
            "channels_last where the hardware supports it.",
        ),
        Param(
            "threads", Kind.INT, 0, "CPU threads for torch (0: automatic).", minimum=0, maximum=1024
        ),
    )
}


def _default(key: str) -> Any:
    return field(default=TRAINING_PARAMS[key].default)


@dataclass(frozen=True)
class TrainingSpec:
    """How to train: the `training` object of a project file (defaults in TRAINING_PARAMS)."""

    dataset: str = _default("dataset")
    optimizer: str = _default("optimizer")
    learning_rate: float = _default("learning_rate")
    momentum: float = _default("momentum")
    nesterov: bool = _default("nesterov")
    weight_decay: float = _default("weight_decay")
    schedule: str = _default("schedule")
    step_size: int = _default("step_size")
    gamma: float = _default("gamma")
    batch_size: int = _default("batch_size")
    epochs: int = _default("epochs")
    validation_split: float = _default("validation_split")
    early_stopping_patience: int = _default("early_stopping_patience")
    seed: int = _default("seed")
    device: str = _default("device")
    mixed_precision: bool = _default("mixed_precision")
    threads: int = _default("threads")

    @staticmethod
    def create(values: Mapping[str, Any]) -> TrainingSpec:
        unknown = [key for key in values if key not in TRAINING_PARAMS]
        if unknown:
            raise SpecError(
                f"training: unknown key {brief(unknown[0])} "
                f"(valid keys: {', '.join(TRAINING_PARAMS)})",
                key=unknown[0],
            )
        coerced: dict[str, Any] = {}
        for key, raw in values.items():
            try:
                coerced[key] = TRAINING_PARAMS[key].coerce(raw)
            except ParamError as error:
                message = _briefly(str(error), raw)
                raise SpecError(f"training: {key!r}: {message}", key=key) from None
            if isinstance(raw, str) and (char := control_character(raw)):
                raise SpecError(f"training: {key!r}: {brief(raw)} contains {char}", key=key)
        return TrainingSpec(**coerced)

    def with_values(self, **changes: Any) -> TrainingSpec:
        return TrainingSpec.create({**self.to_json(), **changes})

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ---- the network --------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkSpec:
    """A whole project: input, layers, class count and training settings."""

    name: str = "Untitled"
    input: InputSpec = InputSpec()
    num_classes: int = 10
    layers: tuple[LayerSpec, ...] = ()
    training: TrainingSpec = TrainingSpec()
    class_names: tuple[str, ...] = ()

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
