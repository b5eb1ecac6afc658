"""`import`: open an ONNX model as a project, its weights saved beside it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer.commands.base import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="ONNX file (.onnx) of a CNN")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PROJECT",
        help="project file to write (.json); the weights go beside it",
    )


def run(args: argparse.Namespace) -> int:
    from explorer.core.analysis import analyze
    from explorer.core.onnx_import import import_onnx
    from explorer.core.project_format import ProjectError
    from explorer.core.summary import summary_text
    from explorer.core.weights import save_project_with_weights

    output = Path(args.output)
    if output.is_dir():
        print(f"error: {output} is a folder; give a project file name", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        imported = import_onnx(args.model)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        weights = save_project_with_weights(imported.spec, imported.state_dict, output)
    except OSError as error:
        print(f"error: cannot write {output}: {error.strerror or error}", file=sys.stderr)
        return EXIT_FAILURE
    print(summary_text(imported.spec, analyze(imported.spec)))
    print(f"wrote {output} (weights: {weights.name})")
    return EXIT_OK
