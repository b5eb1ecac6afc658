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

from explorer import __version__
from explorer.commands.base import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, CommandParser

# command name -> (module under explorer.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "open": ("gui", "open the GUI with a project file"),
    "summary": ("summary", "print the layer table, parameter counts and diagnostics"),
    "train": ("train", "train a network headless and write a run folder"),
    "sweep": ("sweep", "train a network under a grid or random sample of settings"),
    "diff": ("diff", "show what changed between two networks (files, run folders, templates)"),
    "profile": ("profile", "measure a training step per layer and the largest batch that fits"),
    "export": ("export", "export a network as PyTorch source, weights, TorchScript or ONNX"),
    "import": ("import_model", "open an ONNX model as a project with its weights"),
    "explain": ("explain", "show where the network looked for one image (Grad-CAM and others)"),
    "datasets": ("datasets", "list datasets or download one"),
    "templates": ("templates", "list the built-in template projects"),
}


def build_parser() -> argparse.ArgumentParser:
    # argparse exits with 2 on bad usage, which is already our bad-input code.
    parser = CommandParser(
        prog="cnn-explorer",
        description="Build, train and look inside convolutional neural networks. "
        "With no command, opens the GUI.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
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
    return _run_command(_command_module(COMMANDS[args.command][0]), args)


def _run_command(module: ModuleType, args: argparse.Namespace) -> int:
    """Run a command; the file system's failures end it here, the same way for every command:
    one line on stderr and exit 1 (2 for a destination that is not a file)."""
    from explorer.core.files import NotAFileTargetError, os_error_message

    try:
        code = int(module.run(args))
        sys.stdout.flush()  # inside the try: a closed pipe or a full disk surfaces here
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as command-line tools do.
        _discard_stdout()
        return EXIT_OK
    except NotAFileTargetError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        # Full disk, read-only folder, no permission; also stdout itself (`> /dev/full`).
        if error.filename is None:  # not a file's failure (those name the file): the output's
            _discard_stdout()
        print(f"error: {os_error_message(error)}", file=sys.stderr)
        return EXIT_FAILURE


def _discard_stdout() -> None:
    """Point stdout at the null device, so what is still buffered cannot fail again when
    Python flushes it at exit (which would print "Exception ignored" and exit 120)."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real descriptor (output captured in-process): nothing is flushed at exit
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, descriptor)
    finally:
        os.close(null)
