"""Copying layers and quitting: the process ends cleanly and the copied text stays."""

from __future__ import annotations

import pytest

from tests.processes import offscreen_env, run_python

# Copy a block as the stack's Copy does (our own format and the JSON text), then quit the
# way the window does: through the application's event loop and its aboutToQuit.
SCRIPT = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from explorer.core.templates import load_template
from explorer.ui.editor.mime import layers_mime_data
from explorer.ui.shell.app import make_application

app = make_application()
if sys.argv[1] == "without":
    app.aboutToQuit.disconnect()
spec = load_template("resnet-mnist")
QGuiApplication.clipboard().setMimeData(layers_mime_data([spec.layers[4]]))
QTimer.singleShot(0, app.quit)
app.exec()
print(QGuiApplication.clipboard().text().split())
"""


@pytest.mark.slow
def test_quitting_with_copied_layers_on_the_clipboard_ends_cleanly() -> None:
    done = run_python("-c", SCRIPT, "with", env=offscreen_env())
    assert done.returncode == 0, done.stderr
    assert '"Residual",' in done.stdout  # the copied block's JSON, as text
    # Without the release at quit the same process crashes on its way out (PySide6 6.11).
    crashed = run_python("-c", SCRIPT, "without", env=offscreen_env())
    assert crashed.returncode != 0
