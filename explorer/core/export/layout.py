"""Laying out generated constructor calls the way a formatter (ruff, black) would.

An expression is a tree: a `Call` (any bracketed list: `nn.Conv2d(...)`, `[...]`) of
arguments, each an optional prefix (`padding=`) and either text or another `Call`. It is
written on one line when that fits; otherwise its arguments go on one indented line; otherwise
one argument per line with a trailing comma, each laid out the same way (a comprehension puts
its element and its `for` clause on lines of their own). The exported file
then reads as a person would format it, and `ruff format` leaves it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LINE_LENGTH = 100  # the project's line length, which the exported file shares
INDENT = "    "


@dataclass(frozen=True)
class Call:
    """`opening` arguments `closing`: e.g. `nn.Sequential(` ... `)` or `[` ... `]`."""

    opening: str
    arguments: tuple[tuple[str, Expression], ...]
    closing: str = ")"
    # A comprehension's `for` clause after its one argument: `[block() for _ in range(3)]`.
    clause: str = ""

    @staticmethod
    def of(opening: str, arguments: Sequence[Expression | tuple[str, Expression]]) -> Call:
        """A call whose arguments are expressions or (prefix, expression) pairs."""
        pairs = tuple(a if isinstance(a, tuple) else ("", a) for a in arguments)
        closing = "]" if opening.endswith("[") else ")"
        return Call(opening, pairs, closing)

    @staticmethod
    def repeated(element: Expression, times: int) -> Call:
        """`[element for _ in range(times)]`: `times` separate objects made alike."""
        return Call("[", (("", element),), "]", f"for _ in range({times})")


Expression = str | Call


def flat(expression: Expression) -> str:
    """The expression on one line."""
    if isinstance(expression, str):
        return expression
    inner = ", ".join(prefix + flat(argument) for prefix, argument in expression.arguments)
    if expression.clause:
        inner += f" {expression.clause}"
    return f"{expression.opening}{inner}{expression.closing}"


def layout(expression: Expression, indent: str, before: int = 0, after: int = 0) -> str:
    """The expression's text for a line that starts with `indent`; `before` characters
    precede it on its first line (after the indent) and `after` follow it on its last."""
    one_line = flat(expression)
    if isinstance(expression, str) or (len(indent) + before + len(one_line) + after <= LINE_LENGTH):
        return one_line
    inner = indent + INDENT
    arguments = expression.arguments
    if not arguments:
        return one_line
    together = flat(expression)[len(expression.opening) : -len(expression.closing)]
    if len(inner) + len(together) <= LINE_LENGTH:
        return f"{expression.opening}\n{inner}{together}\n{indent}{expression.closing}"
    if expression.clause:  # the element, then its clause on a line of its own
        (prefix, element), clause = arguments[0], expression.clause
        text = layout(element, inner, len(prefix))
        lines = (expression.opening, f"{inner}{prefix}{text}", f"{inner}{clause}")
        return "\n".join(lines) + f"\n{indent}{expression.closing}"
    if len(arguments) == 1 and isinstance(arguments[0][1], Call):
        # One bracketed argument is split in turn, with no comma after it.
        prefix, argument = arguments[0]
        text = layout(argument, inner, len(prefix))
        return f"{expression.opening}\n{inner}{prefix}{text}\n{indent}{expression.closing}"
    rows = "".join(
        f"{inner}{prefix}{layout(argument, inner, len(prefix), 1)},\n"
        for prefix, argument in arguments
    )
    return f"{expression.opening}\n{rows}{indent}{expression.closing}"
