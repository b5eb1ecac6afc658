"""File ▸ Export offers what the core exports, the same formats as the command line."""

from __future__ import annotations

from explorer.commands.export import FORMATS as COMMAND_LINE_FORMATS
from explorer.core.export import EXPORT_FORMATS
from explorer.ui.export_actions import FORMATS as MENU_FORMATS


def test_command_line_and_menu_offer_exactly_the_core_export_formats() -> None:
    assert COMMAND_LINE_FORMATS == EXPORT_FORMATS
    assert tuple(f.key for f in MENU_FORMATS) == EXPORT_FORMATS
