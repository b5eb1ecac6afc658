"""Cold start to window shown: `python main.py`'s path vs a bare PySide6 QMainWindow.

Each run is a fresh interpreter; the parent notes the time before starting it and the child
prints the wall-clock time of its window's first paint. Runs alternate app/bare so both see
the same machine load; medians are reported. Budget: ≤ 1.0 s for the app, with torch not
yet imported when the window appears.
    python bench/cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Quits at the first paint of the window and reports when that was.
_FIRST_PAINT = """
import json, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and not getattr(self, "done", False):
            self.done = True
            print(json.dumps({"t": time.time(), "torch": "torch" in sys.modules}), flush=True)
            QTimer.singleShot(0, QApplication.instance().quit)
        return False
"""

APP = (
    _FIRST_PAINT
    + """
from PySide6.QtWidgets import QApplication
from explorer.ui.shell import app; from explorer.ui.common import settings
settings.use_location(sys.argv[1])
application = app.make_application()
window = app.open_main_window(None)
probe = FirstPaint()
window.installEventFilter(probe)
application.exec()
window.document.undo_stack.setClean()
"""
)

BARE = (
    _FIRST_PAINT
    + """
from PySide6.QtWidgets import QApplication, QMainWindow
application = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1280, 800)
window.show()
probe = FirstPaint()
window.installEventFilter(probe)
application.exec()
"""
)


def _run(code: str, config: str) -> tuple[float, bool]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    start = time.time()
    result = subprocess.run(
        [sys.executable, "-c", code, config],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
        cwd=REPO,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("{"))
    report = json.loads(line)
    return report["t"] - start, report["torch"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    config = tempfile.mkdtemp(prefix="cnn-explorer-bench-")
    app_times, bare_times = [], []
    torch_seen = False
    _run(APP, config)  # warm the file cache once, as a second launch of the day would be
    for _ in range(args.runs):
        seconds, torch_loaded = _run(APP, config)
        app_times.append(seconds)
        torch_seen |= torch_loaded
        bare_times.append(_run(BARE, config)[0])
    app_median, bare_median = statistics.median(app_times), statistics.median(bare_times)
    print(
        f"cold start to first paint ({os.environ.get('QT_QPA_PLATFORM', 'offscreen')}, "
        f"{args.runs} alternated runs): app median {app_median:.3f} s "
        f"(min {min(app_times):.3f}), bare QMainWindow median {bare_median:.3f} s "
        f"(min {min(bare_times):.3f}); app - bare {app_median - bare_median:+.3f} s; "
        f"budget 1.0 s; torch imported before the window: {torch_seen}"
    )
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
