"""Helpers shared by the sub-commands: choosing a project from FILE or --template, and help
texts that more than one command shows."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from explorer.commands.base import EXIT_BAD_INPUT, EXIT_FAILURE
from explorer.core.project import ProjectError, load_project
from explorer.core.spec import NetworkSpec
from explorer.core.templates import load_template
from explorer.core.training_spec import DEVICE_CHOICES, DEVICE_HELP

DATA_DIR_HELP = (
    "folder to look for datasets in and download them to "
    "(default: $CNN_EXPLORER_DATA, else the platform's cache folder)"
)


def dataset_names(*, downloadable: bool = False) -> str:
    """The catalogue's dataset names, for help texts ("mnist, fashion-mnist, …").

    Imports the data layer (and torch with it): call it from `late_help`, not at start-up.
    """
    from explorer.core.data import list_datasets

    return ", ".join(
        entry.name for entry in list_datasets() if entry.downloadable or not downloadable
    )


def add_project_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", nargs="?", metavar="FILE", help="project file (.json), or an ONNX model (.onnx)"
    )
    parser.add_argument(
        "--template", metavar="NAME", help="a built-in template instead of a file (see `templates`)"
    )


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """`--device DEV`, overriding the project's device (one help text for every command)."""
    parser.add_argument(
        "--device",
        metavar="DEV",
        help=f"{', '.join(DEVICE_CHOICES)}; {DEVICE_HELP} (default: the project's)",
    )


def load_project_argument(args: argparse.Namespace) -> NetworkSpec | None:
    """The spec named by FILE or --template; prints the problem and returns None on failure."""
    if (args.file is None) == (args.template is None):
        print("error: give either a project FILE or --template NAME", file=sys.stderr)
        return None
    try:
        if args.template:
            return load_template(args.template)
        if str(args.file).lower().endswith(".onnx"):
            from explorer.core.onnx_import import import_onnx

            return import_onnx(args.file).spec
        return load_project(args.file)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def run_reporting_errors(
    body: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    *bad_input: type[Exception],
) -> int:
    """`body(args)`'s exit code, with a run's expected errors as one line on stderr: bad
    input (`BadRunInput` and the command's own `bad_input` kinds) exits 2, a failed run
    (`RunFailed`) 1."""
    from explorer.core.app.preparation import BadRunInput, RunFailed

    bad: tuple[type[Exception], ...] = (BadRunInput, *bad_input)
    try:
        return body(args)
    except bad as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RunFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE
