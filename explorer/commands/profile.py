"""`profile`: one training step measured per layer, beside the analysis' estimates, and the
largest batch that fits on the device."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from explorer.commands.base import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK
from explorer.commands.common import (
    add_device_argument,
    add_project_arguments,
    load_project_argument,
)

if TYPE_CHECKING:
    from explorer.core.profile_report import LargestBatch, StepProfile

_COLUMNS = (
    "Layer (type)",
    "Fwd ms",
    "Bwd ms",
    "Fwd kept",
    "Peak",
    "Param #",
    "MACs",
    "Est. act.",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_arguments(parser)
    parser.add_argument(
        "--batch-size", type=int, metavar="B", help="images per step (default: the project's)"
    )
    add_device_argument(parser)
    parser.add_argument(
        "--steps",
        type=int,
        default=1,
        metavar="N",
        help="steps measured after one warm-up step, 1 to 10 (default 1)",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=None,
        metavar="N",
        help="largest batch the search tries (default 8192)",
    )
    parser.add_argument(
        "--no-search", action="store_true", help="skip the search for the largest batch"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from explorer.core.analysis import analyze
    from explorer.core.profiling import MAX_STEPS, TooLargeForMemory, profile_network
    from explorer.core.profiling_batch import DEFAULT_CAP, largest_batch
    from explorer.core.training.devices import DeviceError

    spec = load_project_argument(args)
    if spec is None:
        return EXIT_BAD_INPUT
    errors = analyze(spec).errors
    if errors:
        print(f"error: the network has {len(errors)} error(s): {errors[0].text()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    batch = spec.training.batch_size if args.batch_size is None else args.batch_size
    cap = DEFAULT_CAP if args.max_batch is None else args.max_batch
    device = spec.training.device if args.device is None else args.device
    for value, what in ((batch, "--batch-size"), (cap, "--max-batch")):
        if value < 1:
            print(f"error: {what} must be at least 1, not {value}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if not 1 <= args.steps <= MAX_STEPS:
        print(f"error: --steps must be 1 to {MAX_STEPS}, not {args.steps}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        step = profile_network(spec, batch, device, steps=args.steps)
        largest = None if args.no_search else largest_batch(spec, device, cap=cap)
    except (DeviceError, TooLargeForMemory) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (RuntimeError, MemoryError) as error:  # torch could not run the step
        print(f"error: the training step failed: {error}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        json.dump(profile_json(spec.name, step, largest), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(profile_text(spec.name, step, largest))
    return EXIT_OK


def profile_json(name: str, step: StepProfile, largest: LargestBatch | None) -> dict[str, Any]:
    out: dict[str, Any] = {"model": name, **asdict(step)}
    out["largest_batch"] = None if largest is None else asdict(largest)
    return out


def profile_text(name: str, step: StepProfile, largest: LargestBatch | None) -> str:
    from explorer.core.memory import format_bytes
    from explorer.core.profile_report import largest_text, peak_text
    from explorer.core.summary import format_count

    rows = [
        (
            f"{layer.name} ({layer.type})",
            f"{layer.forward_ms:.3f}",
            f"{layer.backward_ms:.3f}",
            format_bytes(layer.forward_bytes),
            format_bytes(layer.peak_bytes),
            f"{layer.params:,}",
            format_count(layer.macs),
            format_bytes(layer.estimated_activation_bytes),
        )
        for layer in step.layers
    ]
    widths = [max(len(_COLUMNS[i]), *(len(r[i]) for r in rows)) for i in range(len(_COLUMNS))]

    def line(cells: tuple[str, ...]) -> str:
        return " " + "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "_" * (sum(widths) + 2 * len(widths) + 1)
    out = [
        f'Profile: "{name}" on {step.device}, batch {step.batch_size}, '
        f"{step.steps} step{'s' if step.steps != 1 else ''} after a warm-up",
        rule,
        line(_COLUMNS),
        "=" * len(rule),
        *(line(r) for r in rows),
        "=" * len(rule),
        f"Step time: {step.step_ms:.2f} ms",
        peak_text(step),
        f"Weights and buffers: {format_bytes(step.weight_bytes)} "
        f"({step.params:,} params, {format_count(step.macs)} MACs per image)",
    ]
    if largest is not None:
        out.append(largest_text(largest))
    return "\n".join(out)
