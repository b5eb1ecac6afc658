"""SpecError, raised for invalid spec content, and how its messages quote the values
received (shortened, so a pasted megabyte never fills a message)."""

from __future__ import annotations

import reprlib

from explorer.core.paths import LayerPath


class SpecError(ValueError):
    """Invalid spec content; the message names the layer, the key and the value.

    `path` is where the layer is (0-based); messages number positions from 1 (see
    `LayerPath.label`), as the default names `conv2d_1`, `dense_1` do.
    """

    def __init__(
        self,
        message: str,
        *,
        path: LayerPath | None = None,
        layer_index: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path if path is not None or layer_index is None else LayerPath.top(layer_index)
        self.key = key

    @property
    def layer_index(self) -> int | None:
        """The top-level row the layer is in (the `"layer"` of `--json`), or None."""
        return self.path.top_row if self.path is not None else None


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = 60
_BRIEF.maxother = 60
_BRIEF.maxlong = 40
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = 6
_BRIEF.maxlevel = 3


def brief(value: object) -> str:
    """`repr(value)` short enough for a message: long strings and lists are cut in the
    middle, and a cut string says how long it was."""
    text = _BRIEF.repr(value)
    if isinstance(value, str) and len(value) > _BRIEF.maxstring:
        text += f" ({len(value):,} characters)"
    return text


def briefly(message: str, value: object) -> str:
    """`message` (which may quote `value` in full, as ParamError does) with `value` shortened."""
    if isinstance(value, str | list | dict | tuple):
        full = repr(value)
        if len(full) > 80:
            return message.replace(full, brief(value))
    return message
