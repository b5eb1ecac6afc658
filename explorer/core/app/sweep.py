"""A sweep: one network trained under several settings, one run folder per trial.

`--set KEY=V1,V2,...` names a training setting (`learning_rate`, any key of TRAINING_PARAMS)
or a layer's or block's key, the layer addressed by its name (`conv2d_1.filters`) or by its
position numbered from 1 as messages number it (`2.filters`; `3.1.2.filters` is layer 3 ›
sub-stack 1 › position 2). The trials are the grid of every combination, or `random` of them
drawn with a seed. Every trial's network is built and analysed before anything trains, so a
bad key or value ends the sweep before its first batch (`BadRunInput` naming the key).
"""

from __future__ import annotations

import difflib
import itertools
import json
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from explorer.core.app.preparation import BadRunInput
from explorer.core.paths import LayerPath
from explorer.core.training_spec import TRAINING_PARAMS

if TYPE_CHECKING:
    from explorer.core.spec import NetworkSpec

#: the most trials one sweep may hold (a grid grows fast)
MAX_TRIALS = 1000
_POSITION = re.compile(r"[1-9][0-9]*(\.[1-9][0-9]*)*")


@dataclass(frozen=True)
class SweepAxis:
    """One swept key and the values it takes, in the order given."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Trial:
    """One combination of the swept values and the network it trains."""

    number: int  # from 1
    values: tuple[tuple[str, Any], ...]
    spec: NetworkSpec

    @property
    def folder_name(self) -> str:
        return f"trial-{self.number:03d}"

    def describe(self) -> str:
        """'learning_rate=0.1, batch_size=64'."""
        return ", ".join(f"{key}={format_value(value)}" for key, value in self.values)


@dataclass(frozen=True)
class SweepPlan:
    """The sweep folder, the swept axes and every trial, each already checked."""

    out: Path
    axes: tuple[SweepAxis, ...]
    trials: tuple[Trial, ...]

    def trial_folder(self, trial: Trial) -> Path:
        return self.out / trial.folder_name


def format_value(value: Any) -> str:
    """A swept value as `--set` takes it back (JSON for lists and booleans)."""
    return value if isinstance(value, str) else json.dumps(value)


def parse_value(text: str) -> Any:
    """A value typed after `=`: a JSON number, boolean or list, else the text itself."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _split_values(text: str) -> list[str]:
    """`0.1,0.01` -> ['0.1', '0.01']; commas inside brackets belong to a list ('[3,3],5')."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def parse_axis(text: str) -> SweepAxis:
    """`KEY=V1,V2,...` as one axis; `BadRunInput` for text of another form."""
    key, sign, values = text.partition("=")
    key = key.strip()
    if not sign or not key or not values.strip():
        raise BadRunInput(f"--set {text!r}: expected KEY=V1,V2,... (e.g. learning_rate=0.1,0.01)")
    parts = _split_values(values)
    if any(not part.strip() for part in parts):
        raise BadRunInput(f"--set {key}: an empty value in {values!r}")
    parsed = tuple(parse_value(part) for part in parts)
    if len(set(map(format_value, parsed))) != len(parsed):
        raise BadRunInput(f"--set {key}: a value is given twice in {values!r}")
    return SweepAxis(key, parsed)


def sweepable_keys(spec: NetworkSpec) -> list[str]:
    """Every key a sweep of `spec` can set: the training settings, then each layer's and
    block's keys by its name (`conv2d_1.filters`), in stack order."""
    keys = list(TRAINING_PARAMS)
    for path, name in spec.names().items():
        keys += [f"{name}.{param.name}" for param in spec.at(path).entry.params]
    return keys


def _layer_path(spec: NetworkSpec, target: str, key: str) -> LayerPath:
    if _POSITION.fullmatch(target):
        steps = tuple(int(step) - 1 for step in target.split("."))
        if len(steps) % 2 == 1 and steps in {path.steps for path in spec.names()}:
            return LayerPath(steps)
        raise BadRunInput(f"--set {key}: the network has no layer at position {target}")
    for path, name in spec.names().items():
        if name == target:
            return path
    names = ", ".join(spec.names().values())
    raise BadRunInput(f"--set {key}: the network has no layer {target!r} (its layers: {names})")


def _did_you_mean(spec: NetworkSpec, key: str) -> str:
    close = difflib.get_close_matches(key, sweepable_keys(spec), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def apply_value(spec: NetworkSpec, key: str, value: Any) -> NetworkSpec:
    """`spec` with `key` set to `value` (see the module docstring for the keys);
    `BadRunInput` naming the key for an unknown key or a value it cannot take."""
    from explorer.core.spec import SpecError

    if key in TRAINING_PARAMS:
        try:
            return _with_training(spec, key, value)
        except SpecError as error:
            raise BadRunInput(f"--set {key}={format_value(value)}: {error.message}") from None
    target, dot, param = key.rpartition(".")
    if not dot or not target or not param:
        raise BadRunInput(
            f"--set {key}: neither a training setting (learning_rate, batch_size, ...) nor "
            f"LAYER.KEY (e.g. conv2d_1.filters){_did_you_mean(spec, key)}"
        )
    path = _layer_path(spec, target, key)
    item = spec.at(path)
    if param not in {p.name for p in item.entry.params}:
        known = ", ".join(p.name for p in item.entry.params) or "none"
        raise BadRunInput(f"--set {key}: {item.type} has no key {param!r} (its keys: {known})")
    try:
        return spec.replace_at(path, item.with_values(**{param: value}))
    except SpecError as error:
        raise BadRunInput(f"--set {key}={format_value(value)}: {error.message}") from None


def _with_training(spec: NetworkSpec, key: str, value: Any) -> NetworkSpec:
    from dataclasses import replace

    return replace(spec, training=spec.training.with_values(**{key: value}))


def combinations(
    axes: Sequence[SweepAxis], *, sample: int | None = None, seed: int = 0
) -> list[tuple[tuple[str, Any], ...]]:
    """The grid of every combination of the axes' values (the first axis varying slowest),
    or `sample` of them drawn without replacement by a generator seeded with `seed`, kept
    in grid order."""
    keys = [axis.key for axis in axes]
    grid = [
        tuple(zip(keys, values, strict=True))
        for values in itertools.product(*(axis.values for axis in axes))
    ]
    if sample is None:
        return grid
    if not 1 <= sample <= len(grid):
        raise BadRunInput(f"--random must be 1 to {len(grid)} (the grid's size), got {sample}")
    chosen = sorted(random.Random(seed).sample(range(len(grid)), sample))
    return [grid[index] for index in chosen]


def plan_sweep(
    spec: NetworkSpec,
    sets: Iterable[str],
    out: str | os.PathLike[str],
    *,
    sample: int | None = None,
    seed: int = 0,
) -> SweepPlan:
    """Every trial of sweeping `spec` by the `--set` texts `sets` into `out`, each trial's
    network checked by the analysis; `BadRunInput` for the first problem found."""
    from explorer.core.analysis import analyze
    from explorer.core.error_list import format_errors

    axes = tuple(parse_axis(text) for text in sets)
    if not axes:
        raise BadRunInput("a sweep needs at least one --set KEY=V1,V2,...")
    keys = [axis.key for axis in axes]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise BadRunInput(f"--set {twice[0]} is given twice: list all its values in one --set")
    size = 1
    for axis in axes:
        size *= len(axis.values)
    if size > MAX_TRIALS and sample is None:
        raise BadRunInput(f"the grid has {size:,} trials, more than {MAX_TRIALS}: use --random N")
    trials = []
    for number, values in enumerate(combinations(axes, sample=sample, seed=seed), start=1):
        trial_spec = spec
        for key, value in values:
            trial_spec = apply_value(trial_spec, key, value)
        errors = analyze(trial_spec).errors
        if errors:
            described = ", ".join(f"{key}={format_value(value)}" for key, value in values)
            raise BadRunInput(f"trial {number} ({described}): {format_errors(errors)}")
        trials.append(Trial(number, values, trial_spec))
    return SweepPlan(Path(out), axes, tuple(trials))
