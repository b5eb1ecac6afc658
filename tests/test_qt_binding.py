"""Regression guard for the PySide6 6.12.0 trap (DESIGN.md, Known traps).

On Python 3.11, PySide6 6.12.0 drops a reference to None on every call of a void Qt method,
and the interpreter aborts after a few thousand calls. The pin keeps us off that release;
this test fails loudly if a broken binding is ever installed.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QTimer


def test_ten_thousand_void_calls_do_not_drift_none_refcount() -> None:
    obj = QObject()
    timer = QTimer()
    before = sys.getrefcount(None)
    for i in range(10_000):
        obj.setObjectName("x" if i % 2 else "y")  # void
        timer.setInterval(i % 100)  # void
    drift = sys.getrefcount(None) - before
    assert abs(drift) < 100, f"None refcount drifted by {drift} over 20,000 void calls"
