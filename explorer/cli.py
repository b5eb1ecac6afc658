"""Command line: the headless entry point for every feature (see DESIGN.md, Command line).

Each sub-command lives in its own module under `explorer.commands` and provides
`add_arguments(parser)` and `run(args) -> int`. Modules are imported only when their
command runs, so `python main.py` reaches the window without importing torch first.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

# command name -> (module under explorer.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "open": ("gui", "open the GUI with a project file"),
    "summary": ("summary", "print the layer table, parameter counts and diagnostics"),
    "train": ("train", "train a network headless and write a run folder"),
    "export": ("export", "export a network as PyTorch source, TorchScript or ONNX"),
    "datasets": ("datasets", "list datasets or download one"),
    "templates": ("templates", "list the built-in template projects"),
}

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    # argparse exits with 2 on bad usage, which is already our bad-input code.
    parser = argparse.ArgumentParser(
        prog="cnn-explorer",
        description="Build, train and look inside convolutional neural networks. "
        "With no command, opens the GUI.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        _command_module(module_name).add_arguments(command_parser)
    return parser


def _command_module(module_name: str) -> ModuleType:
    """The command's module. Command modules import torch and other heavy packages inside
    `run`, so building the parser stays fast."""
    return importlib.import_module(f"explorer.commands.{module_name}")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list:
        from explorer.commands import gui

        return gui.launch(None)
    parser = build_parser()
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    module = _command_module(COMMANDS[args.command][0])
    try:
        code = int(module.run(args))
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at exit
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
