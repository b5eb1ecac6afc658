"""`summary`: the Keras-style layer table with shapes, parameters, cost and diagnostics."""

from __future__ import annotations

import argparse
import json
import sys

from explorer.commands.base import EXIT_BAD_INPUT, EXIT_OK
from explorer.commands.common import add_project_arguments, load_project_argument
from explorer.core.analysis import analyze
from explorer.core.summary import summary_json, summary_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_project_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    spec = load_project_argument(args)
    if spec is None:
        return EXIT_BAD_INPUT
    analysis = analyze(spec)
    if args.json:
        json.dump(summary_json(spec, analysis), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(summary_text(spec, analysis))
    # A network with errors is bad input for every later step, so say so in the exit code.
    return EXIT_BAD_INPUT if analysis.errors else EXIT_OK
