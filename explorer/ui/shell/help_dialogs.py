"""Help ▸ About and Help ▸ Layer reference (generated from the registry)."""

from __future__ import annotations

import html
import json

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from explorer import __version__
from explorer.core.params import to_json
from explorer.ui.common.family_style import families, family_colour


def layer_reference_html() -> str:
    parts = ["<h2>Layer reference</h2>"]
    for family, types in families():
        colour = family_colour(family).name()
        parts.append(f"<h3 style='color:{colour}'>{html.escape(family)}</h3>")
        for entry in types:
            parts.append(f"<p><b>{entry.name}</b> — {html.escape(entry.summary)}</p>")
            if entry.params:
                parts.append("<ul>")
                for p in entry.params:
                    if p.required:
                        default = "required"
                    elif p.default is None:
                        default = "automatic by default"
                    else:
                        default = f"default {json.dumps(to_json(p.default))}"
                    parts.append(
                        f"<li><code>{p.name}</code> ({html.escape(p.kind.value)}, {default}): "
                        f"{html.escape(p.help)}</li>"
                    )
                parts.append("</ul>")
    return "\n".join(parts)


def show_layer_reference(parent: QWidget) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle("Layer Reference")
    dialog.resize(640, 600)
    browser = QTextBrowser(dialog)
    browser.setHtml(layer_reference_html())
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(browser)
    layout.addWidget(buttons)
    dialog.show()
    return dialog


def show_about(parent: QWidget) -> None:
    QMessageBox.about(
        parent,
        "About CNN Explorer",
        f"<h3>CNN Explorer {__version__}</h3>"
        "<p>Build convolutional networks by drag and drop, train them live, and look inside "
        "them.</p><p>PySide6 · pyqtgraph · PyTorch</p>",
    )
