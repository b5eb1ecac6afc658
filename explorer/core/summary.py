"""Keras-style summary table of an analysis, as text or as the JSON of DESIGN.md."""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from typing import Any

from explorer.core.analysis import BYTES_PER_ELEMENT, Analysis, LayerAnalysis, ReceptiveField
from explorer.core.device_memory import device_memory
from explorer.core.diagnostics import Diagnostic
from explorer.core.memory import TrainingMemory, finished, format_bytes
from explorer.core.spec import NetworkSpec
from explorer.core.vocabulary.geometry import size_text

__all__ = [
    "format_bytes",
    "format_count",
    "input_row",
    "layer_json",
    "layer_row",
    "layer_title",
    "summary_json",
    "summary_text",
    "table_rows",
    "training_memory_steps",
]


def format_count(count: int) -> str:
    """Large counts shortened: 460,800 -> '460.8K', 15,470,264,320 -> '15.47G'."""
    if count < 1000:
        return str(count)
    # The unit is chosen after rounding, so 999,950 reads '1.00M', not '1000.0K'.
    for limit, suffix, digits in ((1e3, "K", 1), (1e6, "M", 2), (1e9, "G", 2)):
        text = f"{count / limit:.{digits}f}"
        if float(text) < 1000 or suffix == "G":
            return text + suffix
    raise AssertionError("unreachable")


def format_shape(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def format_receptive_field(rf: ReceptiveField | None) -> str:
    """'5 /1' (size /jump) for maps; after a collapse the input it covers: '28 (all)', or
    '219 of 224' when only 219 rows and columns of a 224 input reach the output."""
    if rf is None:
        return "?"
    size = size_text(rf.size)
    if rf.jump is None:
        if rf.covered is None or rf.whole_input:
            return f"{size} (all)"
        return f"{size_text(rf.covered)} of {size}"
    return f"{size} /{size_text(rf.jump)}"


# Columns printed right-aligned: Param #, MACs, Memory.
RIGHT_ALIGNED = frozenset({2, 3, 4})
COLUMNS = ("Layer (type)", "Output Shape", "Param #", "MACs", "Memory", "RF /jump")


def table_rows(analysis: Analysis) -> list[tuple[str, ...]]:
    """One tuple of cell texts per layer and block, in COLUMNS order (input row first; a
    block's row before its layers', which are indented by depth, each branch of a block
    with several starting with its number: '[2] conv2d_5 (Conv2D)')."""
    return [input_row(analysis), *(layer_row(layer, mark) for layer, mark in _marked(analysis))]


def _marked(analysis: Analysis) -> Iterator[tuple[LayerAnalysis, str]]:
    """Every analysis in stack order with the branch mark its row starts with."""

    def walk(layer: LayerAnalysis, mark: str) -> Iterator[tuple[LayerAnalysis, str]]:
        yield layer, mark
        branches = len(layer.children) > 1
        for which, stack in enumerate(layer.children):
            for index, child in enumerate(stack):
                label = f"[{which + 1}] "
                inner = (label if index == 0 else " " * len(label)) if branches else ""
                yield from walk(child, inner)

    for layer in analysis.layers:
        yield from walk(layer, "")


def input_row(analysis: Analysis) -> tuple[str, ...]:
    """The first row of `table_rows`: the input."""
    return (
        "input",
        format_shape(analysis.input_shape),
        "0",
        "0",
        format_bytes(math.prod(analysis.input_shape) * BYTES_PER_ELEMENT),
        "1 /1",
    )


INDENT = "  "  # per level of nesting, as torchinfo shows depth


def layer_title(layer: LayerAnalysis, mark: str = "") -> str:
    """The first cell of a row: 'conv2d_1 (Conv2D)', indented inside blocks (after the
    indent, `mark`: which branch), with a block's repeat count: 'residual_1 (Residual ×3)'."""
    times = f" ×{layer.repeat}" if layer.repeat != 1 else ""
    return f"{INDENT * (layer.depth - 1)}{mark}{layer.name} ({layer.type}{times})"


def layer_row(layer: LayerAnalysis, mark: str = "") -> tuple[str, ...]:
    """A layer's or block's row of `table_rows` (a block's counts are its subtotals)."""
    if not layer.known:
        return (layer_title(layer, mark), "?", "?", "?", "?", "?")
    return (
        layer_title(layer, mark),
        format_shape(layer.output_shape),
        f"{layer.params:,}",
        format_count(layer.macs),
        format_bytes(layer.activation_bytes),
        format_receptive_field(layer.receptive_field),
    )


def summary_text(spec: NetworkSpec, analysis: Analysis) -> str:
    """The whole summary as Keras prints it, plus cost columns, totals and diagnostics."""
    rows = table_rows(analysis)
    widths = [max(len(COLUMNS[i]), *(len(row[i]) for row in rows)) for i in range(len(COLUMNS))]

    def line(cells: tuple[str, ...]) -> str:
        return " " + "  ".join(
            cell.rjust(w) if i in RIGHT_ALIGNED else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "_" * (sum(widths) + 2 * len(widths) + 1)
    out = [f'Model: "{spec.name}"', rule, line(COLUMNS), "=" * len(rule)]
    diagnostics_by_row = [(), *(layer.diagnostics for layer, _ in _marked(analysis))]
    for row, diagnostics in zip(rows, diagnostics_by_row, strict=True):
        out.append(line(row).rstrip())
        for diagnostic in diagnostics:
            marker = "ERROR" if diagnostic.is_error else "warning"
            out.append(f"   ^ {marker}: {diagnostic.text()}")
    out.append("=" * len(rule))
    out += summary_totals(spec, analysis, probe=True)
    for diagnostic in analysis.network_diagnostics:
        out.append(f"ERROR: {diagnostic.text()}")
    errors = len(analysis.errors)
    warnings = len(analysis.warnings) + (memory_warning(spec, analysis, probe=True) is not None)
    out.append(
        f"{errors} error{'s' if errors != 1 else ''}, {warnings} "
        f"warning{'s' if warnings != 1 else ''}"
    )
    out.append(rule)
    return "\n".join(out)


def training_bytes(spec: NetworkSpec, analysis: Analysis) -> int:
    """Estimated training memory with the spec's batch size and optimizer."""
    return finished(training_memory_steps(spec, analysis)).peak_bytes(spec.training.batch_size)


def training_memory_steps(
    spec: NetworkSpec, analysis: Analysis
) -> Generator[None, None, TrainingMemory]:
    """The estimate behind `training_bytes` (and the totals), a slice at a time (see
    Analysis.training_memory_steps): once it has run out, the totals cost nothing."""
    training = spec.training
    return analysis.training_memory_steps(
        training.optimizer, training.momentum, weight_decay=training.weight_decay
    )


def memory_warning(spec: NetworkSpec, analysis: Analysis, *, probe: bool = False) -> str | None:
    """A warning when the training-memory estimate exceeds the memory of the device the
    spec trains on (`probe`: may import torch to look for a GPU; see device_memory)."""
    if not analysis.ok:
        return None
    memory = device_memory(spec.training.device, probe=probe)
    needed = training_bytes(spec, analysis)
    if memory is None or needed <= memory[1]:
        return None
    what, total = memory
    return (
        f"training needs about {format_bytes(needed)} at batch size "
        f"{spec.training.batch_size}, more than the {format_bytes(total)} {what}: "
        "use a smaller batch size or a smaller network"
    )


def summary_totals(spec: NetworkSpec, analysis: Analysis, *, probe: bool = False) -> list[str]:
    """The totals under the table, one line each (the text summary and the panel), and a
    warning when training would not fit in the device's memory."""
    training = spec.training
    warning = memory_warning(spec, analysis, probe=probe)
    return [
        f"Total params: {analysis.params:,} ({format_bytes(analysis.param_bytes)})",
        f"Trainable params: {analysis.trainable_params:,} "
        f"({format_bytes(analysis.trainable_params * BYTES_PER_ELEMENT)})",
        f"Non-trainable params: {analysis.non_trainable_params:,} "
        f"({format_bytes(analysis.non_trainable_params * BYTES_PER_ELEMENT)})",
        f"Multiply-adds per image: {analysis.macs:,} ({format_count(analysis.macs)})",
        f"Forward memory per image: {format_bytes(analysis.forward_bytes)}",
        f"Training memory, est. (batch {training.batch_size}, {training.optimizer}): "
        f"{format_bytes(training_bytes(spec, analysis))}",
        *([f"warning: {warning}"] if warning else []),
    ]


def layer_json(layer: LayerAnalysis) -> dict[str, Any]:
    """One layer's (or block's, with its sub-stacks' layers) object of `summary --json`."""
    rf = layer.receptive_field
    diagnostic = layer.diagnostic
    data: dict[str, Any] = {
        "name": layer.name,
        "type": layer.type,
        "path": layer.path.to_json() if layer.path is not None else [layer.index],
        "input_shape": list(layer.input_shape) if layer.input_shape else None,
        "output_shape": list(layer.output_shape) if layer.output_shape else None,
        "params": layer.params,
        "trainable_params": layer.trainable_params,
        "non_trainable_params": layer.non_trainable_params,
        "macs": layer.macs,
        "activation_bytes": layer.activation_bytes,
        "receptive_field": None
        if rf is None
        else {"size": list(rf.size), "jump": list(rf.jump)}
        if rf.jump
        else {"size": list(rf.size), "jump": None, "covered": list(rf.covered or rf.size)},
        "diagnostic": None
        if diagnostic is None
        else {"severity": diagnostic.severity.value, "message": diagnostic.text()},
    }
    if layer.is_block:
        data["repeat"] = layer.repeat
        data["children"] = [[layer_json(child) for child in stack] for stack in layer.children]
    return data


def _diagnostic_json(diagnostic: Diagnostic) -> dict[str, Any]:
    path = diagnostic.path
    return {
        "layer": None if path is None else path.top_row,
        "path": None if path is None else path.to_json(),
        "message": diagnostic.text(),
    }


def summary_json(spec: NetworkSpec, analysis: Analysis) -> dict[str, Any]:
    """The `summary --json` object of DESIGN.md (shapes as lists in (C, H, W) order); each
    layer carries its "path", a block its sub-stacks' layers as "children" (one list per
    sub-stack)."""
    layers = [layer_json(layer) for layer in analysis.layers]
    return {
        "name": spec.name,
        "input_shape": list(analysis.input_shape),
        "layers": layers,
        "total_params": analysis.params,
        "trainable_params": analysis.trainable_params,
        "non_trainable_params": analysis.non_trainable_params,
        "macs": analysis.macs,
        "forward_bytes": analysis.forward_bytes,
        "training_bytes": training_bytes(spec, analysis),
        "errors": [_diagnostic_json(d) for d in analysis.errors],
        "warnings": [_diagnostic_json(d) for d in analysis.warnings]
        + [
            {"layer": None, "path": None, "message": warning}
            for warning in (memory_warning(spec, analysis, probe=True),)
            if warning
        ],
    }
