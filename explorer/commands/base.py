"""What the dispatcher (`explorer.cli`) and every command module share: the exit codes and
help text made only when it is shown.

It sits below both, so a command never imports `explorer.cli` and the CLI imports a command
module only to run it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from weakref import WeakKeyDictionary

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

# Help texts that need a heavy import (the dataset catalogue imports torch), by option.
_LATE_HELP: WeakKeyDictionary[argparse.Action, Callable[[], str]] = WeakKeyDictionary()


def late_help(action: argparse.Action, make_help: Callable[[], str]) -> None:
    """Let `make_help()` give `action`'s help text when help is shown (see CommandParser)."""
    _LATE_HELP[action] = make_help


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose options may take their help from `late_help`, made only when
    the help is printed. Sub-command parsers are of the same class (argparse's default)."""

    def format_help(self) -> str:
        for action in self._actions:
            make_help = _LATE_HELP.pop(action, None)
            if make_help is not None:
                action.help = make_help()
        return super().format_help()
