"""`open FILE` (and no arguments): the desktop application."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="project file (.json) to open")


def run(args: argparse.Namespace) -> int:
    return launch(args.file)


def launch(path: str | None) -> int:
    """Open the main window (with the project at `path`, or the default template)."""
    from explorer.ui.app import run_app

    return run_app(path)
