"""A list of diagnostics as people read it, written once for the builder, the command line
and the window: 'the network has 2 errors:' and each error naming its layer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from explorer.core.diagnostics import Diagnostic
from explorer.core.paths import LayerPath


def format_errors(
    errors: Sequence[Diagnostic],
    *,
    inline: bool = False,
    limit: int | None = None,
    label: Callable[[LayerPath], str] = LayerPath.label,
) -> str:
    """'the network has N errors:' followed by each error with its layer and suggested fix
    ('layer 3: kernel 5 > input 3: use padding ...'): one per indented line, or with
    `inline` on the same line separated by '; '. With `limit`, the errors past it are
    counted ('(and 2 more)') instead of listed. `label` names a position (give
    `block_spec.label_of` with the layers to name the sub-stacks: 'layer 3 › body 2')."""
    count = "1 error" if len(errors) == 1 else f"{len(errors)} errors"
    shown = errors if limit is None else errors[:limit]
    lines = [
        f"{label(error.path)}: {error.text()}" if error.path is not None else error.text()
        for error in shown
    ]
    more = f" (and {len(errors) - len(shown)} more)" if len(shown) < len(errors) else ""
    listed = " " + "; ".join(lines) if inline else "".join(f"\n  {line}" for line in lines)
    return f"the network has {count}:{listed}{more}"
