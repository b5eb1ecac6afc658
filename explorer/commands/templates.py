"""`templates`: list the built-in template projects."""

from __future__ import annotations

import argparse

from explorer.commands.base import EXIT_OK
from explorer.core.analysis import analyze
from explorer.core.summary import format_shape
from explorer.core.templates import load_template, template_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    names = template_names()
    width = max(len(name) for name in names)
    for name in names:
        spec = load_template(name)
        shape = format_shape(spec.input.shape)
        params = analyze(spec).params
        print(
            f"{name.ljust(width)}  {spec.name}  [{shape} -> {spec.num_classes}, "
            f"{params:,} params, {spec.training.dataset}]"
        )
    return EXIT_OK
