"""Helpers shared by the sub-commands: choosing a project from FILE or --template."""

from __future__ import annotations

import argparse
import sys

from explorer.core.project import ProjectError, load_project
from explorer.core.spec import NetworkSpec
from explorer.core.templates import load_template


def add_project_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", metavar="FILE", help="project file (.json)")
    parser.add_argument(
        "--template", metavar="NAME", help="a built-in template instead of a file (see `templates`)"
    )


def load_project_argument(args: argparse.Namespace) -> NetworkSpec | None:
    """The spec named by FILE or --template; prints the problem and returns None on failure."""
    if (args.file is None) == (args.template is None):
        print("error: give either a project FILE or --template NAME", file=sys.stderr)
        return None
    try:
        return load_template(args.template) if args.template else load_project(args.file)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
