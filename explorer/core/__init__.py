"""Qt-free core: specs, layer registry, analysis, builder, data, trainer, capture, project I/O.

Nothing under this package may import PySide6 or pyqtgraph (tests/core/test_no_qt.py checks).
"""
