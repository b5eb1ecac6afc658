"""pyqtgraph's global options, set once before any plot or image is made.

Importing pyqtgraph costs about a third of a second, so the application does it just after
its window first paints; a panel that builds plots earlier calls `configure_pyqtgraph()`
itself (it is idempotent) and uses the module it returns.
"""

from __future__ import annotations

from types import ModuleType

_configured = False


def configure_pyqtgraph() -> ModuleType:
    global _configured
    import pyqtgraph

    if not _configured:
        # Arrays are (rows, columns) like numpy and torch; see STYLE.md's pyqtgraph rules.
        pyqtgraph.setConfigOptions(imageAxisOrder="row-major")
        _configured = True
    module: ModuleType = pyqtgraph
    return module
