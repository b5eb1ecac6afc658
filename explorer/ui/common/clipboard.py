"""Leaving the clipboard safe when the application goes.

A QMimeData made in Python and handed to the clipboard (`setMimeData`, as Copy does with the
layers' own format) is destroyed twice when the application ends under PySide6 6.11, and the
process crashes on its way out. Before the end, `release_clipboard` puts a copy of the text
that Qt itself owns in its place: what was copied stays on the clipboard as text.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtGui import QGuiApplication


def release_clipboard(own_formats: Iterable[str]) -> None:
    """Replace data this application put on the clipboard (it owns the clipboard, or the
    data carries one of `own_formats`: some platforms never say who owns it) by a Qt-owned
    copy of its text, or nothing when it has none. Another application's data is left
    alone."""
    clipboard = QGuiApplication.clipboard()
    data = clipboard.mimeData()
    ours = data is not None and any(data.hasFormat(f) for f in own_formats)
    if not (clipboard.ownsClipboard() or ours):
        return
    text = clipboard.text()
    if text:
        clipboard.setText(text)
    else:
        clipboard.clear()
