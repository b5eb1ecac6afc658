"""Buttons as wide as their text, for rows in docks that share a narrow column.

A QPushButton is at least 80 px wide in the styles Qt ships, so a row of five of them sets a
dock's minimum width past what the window's right-hand column has on a small screen (and
Qt then draws docks over each other). A text-only tool button is sized by its text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton


def text_button(text: str, tool_tip: str = "") -> QToolButton:
    """A push-button-looking button sized by its `text` (with an & mnemonic if given)."""
    button = QToolButton()
    button.setText(text)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    button.setAutoRaise(False)
    if tool_tip:
        button.setToolTip(tool_tip)
    return button
