"""The document's edits of blocks: wrapping layers in one, unwrapping it, and adding or
removing a parallel block's branches (a mixin of `ProjectDocument`, through whose
`_edit_tree` each goes as one undoable edit)."""

from __future__ import annotations

from collections.abc import Sequence

from explorer.core.app.tree_edits import (
    Edit,
    add_branch_edit,
    can_wrap,
    remove_branch_edit,
    unwrap_edit,
    unwrap_text,
    wrap_edit,
)
from explorer.core.paths import LayerPath, outermost
from explorer.core.spec import BlockSpec, NetworkSpec


class BlockEdits:
    """Block edits by path; each pushes one undo command (False: it does not apply)."""

    _spec: NetworkSpec

    def _edit_tree(
        self,
        edit: Edit,
        text: str,
        *,
        select_after: Sequence[LayerPath] = (),
        select_before: Sequence[LayerPath] = (),
    ) -> bool:
        raise NotImplementedError

    def can_wrap(self, paths: Sequence[LayerPath]) -> bool:
        """Whether the layers at `paths` can become a block: all in one stack."""
        return can_wrap(paths)

    def wrap_in_block(self, paths: Sequence[LayerPath], type_name: str) -> bool:
        """Put the layers at `paths` (of one stack) into a new block at the first's place:
        a residual block's body, or a parallel block's branch 1 (with an empty branch 2)."""
        if not can_wrap(paths):
            return False
        chosen = outermost(paths)
        return self._edit_tree(
            wrap_edit(chosen, type_name),
            f"Wrap in {type_name} block",
            select_after=[chosen[0]],
            select_before=chosen,
        )

    def unwrap_block(self, path: LayerPath) -> bool:
        """Replace the block at `path` by what its first sub-stack holds; the undo text
        says what goes with it (the shortcut, the other branches)."""
        try:
            block = self._spec.at(path)
        except LookupError:
            return False
        if not isinstance(block, BlockSpec):
            return False
        return self._edit_tree(
            unwrap_edit(path),
            unwrap_text(self._spec, path),
            select_after=[path.sibling(path.index + i) for i in range(len(block.stacks[0]))],
            select_before=[path],
        )

    def add_branch(self, path: LayerPath) -> bool:
        """An empty branch after the last of the parallel block at `path`."""
        block = self._spec.at(path)
        if not isinstance(block, BlockSpec) or len(block.stacks) >= block.entry.max_stacks:
            return False
        return self._edit_tree(
            add_branch_edit(path),
            f"Add branch to {self._spec.name_of(path)}",
            select_after=[path],
            select_before=[path],
        )

    def remove_branch(self, path: LayerPath, stack: int) -> bool:
        """Remove branch `stack` (with its layers) of the parallel block at `path`."""
        block = self._spec.at(path)
        if (
            not isinstance(block, BlockSpec)
            or len(block.stacks) <= block.entry.min_stacks
            or not 0 <= stack < len(block.stacks)
        ):
            return False
        return self._edit_tree(
            remove_branch_edit(path, stack),
            f"Remove branch {stack + 1} of {self._spec.name_of(path)}",
            select_after=[path],
            select_before=[path],
        )
