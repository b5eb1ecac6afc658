"""`open FILE` (and no arguments): the desktop application."""

from __future__ import annotations

import argparse
import sys

from explorer.cli import EXIT_BAD_INPUT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="project file (.json) to open")


def run(args: argparse.Namespace) -> int:
    # Checked before the window opens, like every other command's FILE: a typo in the
    # name is said on the terminal rather than by opening the default project.
    from explorer.core.project import ProjectError, load_project

    try:
        load_project(args.file)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return launch(args.file)


def launch(path: str | None) -> int:
    """Open the main window (with the project at `path`, or the default template)."""
    from explorer.ui.shell.app import run_app

    return run_app(path)
