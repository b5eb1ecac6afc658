"""`diff A B`: what changed in the network from A to B (layers added, removed or changed with
their keys, the input, the class count and the training settings). A and B are each a
project file, a run folder (its project.json) or a built-in template's name."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from explorer.commands.base import EXIT_BAD_INPUT, EXIT_OK
from explorer.core.app.architecture_diff import ArchitectureDiff, ValueChange, diff_specs
from explorer.core.project import ProjectError, load_project
from explorer.core.spec import NetworkSpec
from explorer.core.templates import load_template, template_names
from explorer.core.training.runs import PROJECT_FILE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for name, role in (("old", "the network before"), ("new", "the network after")):
        parser.add_argument(
            name, metavar=name.upper(), help=f"{role}: a project file, run folder or template"
        )
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")


def load_network(text: str) -> NetworkSpec:
    """The network named by `text`; ProjectError saying what `text` could not be."""
    path = Path(text)
    if path.is_dir():
        project = path / PROJECT_FILE
        if not project.is_file():
            raise ProjectError(f"{path} is a folder without a {PROJECT_FILE} (not a run folder)")
        return load_project(project)
    if path.exists() or path.suffix:
        return load_project(path)
    if text in template_names():
        return load_template(text)
    raise ProjectError(
        f"{text!r} is neither a file, a run folder nor a template "
        f"(templates: {', '.join(template_names())})"
    )


def run(args: argparse.Namespace) -> int:
    try:
        old, new = load_network(args.old), load_network(args.new)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    diff = diff_specs(old, new)
    if args.json:
        json.dump(diff_json(diff), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{old.name} → {new.name}: {diff.summary()}")
        print("\n".join(diff.lines()))
    return EXIT_OK


def diff_json(diff: ArchitectureDiff) -> dict[str, Any]:
    """The diff as JSON: paths as lists of 0-based steps (see LayerPath)."""
    return {
        "input": _change(diff.input),
        "num_classes": _change(diff.num_classes),
        "layers": [
            {
                "kind": change.kind,
                "old_path": None if change.old_path is None else list(change.old_path.steps),
                "new_path": None if change.new_path is None else list(change.new_path.steps),
                "type": change.type,
                "name": change.name,
                "changes": [_change(value) for value in change.changes],
            }
            for change in diff.layers
        ],
        "training": [_change(value) for value in diff.training],
    }


def _change(change: ValueChange | None) -> dict[str, Any] | None:
    return None if change is None else {"key": change.key, "old": change.old, "new": change.new}
