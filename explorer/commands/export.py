"""`export`: write a network as PyTorch source, its weights, TorchScript or ONNX."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from explorer.commands.base import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK
from explorer.commands.common import add_project_arguments, load_project_argument
from explorer.core.export_formats import EXPORT_FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_arguments(parser)
    parser.add_argument(
        "--format",
        required=True,
        choices=EXPORT_FORMATS,
        help="pytorch: standalone .py source; torchscript: .pt for torch.jit.load; "
        "onnx: one .onnx file with a dynamic batch; weights: the state_dict (.pt)",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="file to write (replaced if it exists; a folder, device or FIFO is refused)",
    )
    parser.add_argument(
        "--weights",
        metavar="RUN_DIR_OR_CHECKPOINT",
        help="trained weights: a run folder, a checkpoint or a state_dict .pt; an ensemble's "
        "run folder or weights export the ensemble as one model (default: the weights saved "
        "with the project, else fresh weights from the project's seed)",
    )


def run(args: argparse.Namespace) -> int:
    spec = load_project_argument(args)
    if spec is None:
        return EXIT_BAD_INPUT
    from explorer.core.builder import BuildError
    from explorer.core.export import ExportError, OnnxUnavailableError, export_network
    from explorer.core.export.ensemble_export import export_ensemble
    from explorer.core.weights import WeightsError, load_project_members, load_weights

    state = None
    members: tuple[dict[str, Any], ...] = ()  # an ensemble's, exported as one module
    origin = ""
    try:
        if args.weights:
            state, members = load_weights(args.weights, spec)
            origin = args.weights
        elif args.file:
            # A project saved with its weights exports them unless told otherwise.
            _, state, members = load_project_members(args.file)
            origin = f"the weights saved with {args.file}"
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if members:
            written = export_ensemble(spec, members, args.format, args.output)
        else:
            written = export_network(spec, state, args.format, args.output)
    except OnnxUnavailableError as error:  # the machine lacks the extra, not the network
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except (BuildError, ExportError) as error:  # the network has errors, or the format
        print(f"error: {error}", file=sys.stderr)  # cannot express it
        return EXIT_BAD_INPUT
    # OSError (full disk, read-only folder, a destination that is not a file) is reported by
    # explorer.cli for every command alike.
    if members:
        source = f"an ensemble of {len(members)} networks, trained weights from {origin}"
    elif state is not None:
        source = f"trained weights from {origin}"
    else:
        source = f"freshly initialised weights (seed {spec.training.seed}, not trained)"
    print(f"wrote {', '.join(str(p) for p in written)} ({args.format}; {source})")
    return EXIT_OK
