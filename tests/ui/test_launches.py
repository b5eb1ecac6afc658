"""Real launches of the application in subprocesses: panels across a quit and a relaunch,
Reset Layout on small screens, every way out joins the threads, the `open` command's
messages, and recovery after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs the application as `python main.py` does; once the workbench (every panel) is in,
# runs the scenario named by argv[1] and prints one JSON line for the test to read.
PROBE = r"""
import json, os, sys
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from explorer.ui.shell import app
from explorer.core.paths import LayerPath
scenario = sys.argv[1]
application = app.make_application()
window = app.open_main_window(None)
app.install_excepthook(window)

def report(**extra):
    shown = {
        name: list(dock.geometry().getRect())
        for name, dock in window.docks.items()
        if not dock.isHidden() and not dock.visibleRegion().isEmpty()
    }
    ticked = {name: dock.toggleViewAction().isChecked() for name, dock in window.docks.items()}
    available = window.screen().availableGeometry()
    print(json.dumps({
        "shown": shown, "ticked": ticked,
        "frame": list(window.frameGeometry().getRect()),
        "available": list(available.getRect()),
        "menus": [a.text() for a in window.menuBar().actions()],
        **extra,
    }), flush=True)

def quit_from_menu():
    next(a for a in window.menus.file_menu.actions() if a.text() == "&Quit").trigger()

def click_later(text):
    def click():
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QMessageBox) and widget.isVisible():
                next(b for b in widget.buttons() if b.text() == text).click()
                return
        QTimer.singleShot(20, click)
    QTimer.singleShot(20, click)

def ready():
    if scenario == "arrange":  # the user's own layout, then File > Quit
        window.docks["runsDock"].hide()
        window.docks["trainingCurvesDock"].raise_()
        QTimer.singleShot(200, quit_from_menu)
    elif scenario == "report":
        QTimer.singleShot(200, lambda: (report(), quit_from_menu()))
    elif scenario == "reset":
        width, height = (int(v) for v in sys.argv[2:4])
        window.resize(width + 300, height + 200)  # bigger than the screen
        window.show_history()
        window.docks["inspectDock"].setFloating(True)
        window.docks["summaryDock"].hide()
        def reset():
            view = window.menus.view_menu
            next(a for a in view.actions() if a.text() == "&Reset Layout").trigger()
            QTimer.singleShot(300, lambda: (report(), quit_from_menu()))
        QTimer.singleShot(200, reset)
    elif scenario == "quit":
        application.quit()
    elif scenario == "quit-while-warming":  # the warm-up thread is loading MNIST
        training = window.findChild(QObject, "workbench").training
        def on_loading(text):
            print(json.dumps({"loading": text}), flush=True)
            application.quit()
        training.loading_reported.connect(on_loading)
    elif scenario == "crash":  # an unexpected error in a slot, then Quit in its dialog
        window.document.remove_layers([LayerPath.top(0)])
        click_later("Quit")
        QTimer.singleShot(0, lambda: 1 / 0)
    elif scenario == "edit-and-wait":
        window.document.remove_layers([LayerPath.top(0)])
        window.recovery.save_now()
        print(json.dumps({"recovery": str(window.recovery.path)}), flush=True)
    elif scenario == "recover":
        print(json.dumps({"offered": offered, "layers": len(window.document.spec.layers)}),
              flush=True)
        window.document.undo_stack.setClean()
        quit_from_menu()

offered = []
if scenario == "recover":
    QMessageBox.question = staticmethod(
        lambda *a, **k: offered.append(a[1]) or QMessageBox.StandardButton.Yes
    )
if scenario == "close-at-once":
    QTimer.singleShot(0, window.close)
elif scenario == "quit-at-first-paint":
    # What bench/cold_start.py does: quit as soon as the window has painted.
    app._AfterFirstPaint(window, [application.quit])
else:
    def wait_for_panels():
        if window.findChild(QObject, "workbench") is None:
            QTimer.singleShot(50, wait_for_panels)
        else:
            ready()
    QTimer.singleShot(0, wait_for_panels)
sys.exit(application.exec())
"""


def _env(config: Path, screen: tuple[int, int] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CNN_EXPLORER_CONFIG_DIR": str(config),
        "QT_QPA_PLATFORM": "offscreen",
    }
    if screen is not None:
        width, height = screen
        layout = {"name": "test", "x": 0, "y": 0, "width": width, "height": height}
        path = config.parent / f"screen-{width}x{height}.json"
        path.write_text(json.dumps({"screens": [{**layout, "logicalDpi": 96, "dpr": 1}]}))
        env["QT_QPA_PLATFORM"] = f"offscreen:configfile={path}"
    return env


def _launch(
    scenario: str, config: Path, *args: str, screen: tuple[int, int] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, scenario, *args],
        capture_output=True,
        text=True,
        env=_env(config, screen),
        timeout=180,
        cwd=REPO,
    )


def _report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stderr[-2000:]
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def _overlapping(shown: dict[str, list[int]]) -> list[tuple[str, str]]:
    from PySide6.QtCore import QRect

    rects = {name: QRect(*rect) for name, rect in shown.items()}
    names = sorted(rects)
    return [
        (a, b) for i, a in enumerate(names) for b in names[i + 1 :] if rects[a].intersects(rects[b])
    ]


@pytest.mark.slow
def test_every_panel_comes_back_as_it_was_left_after_quit_and_relaunch(tmp_path: Path) -> None:
    config = tmp_path / "config"
    first = _launch("arrange", config)
    assert first.returncode == 0, first.stderr[-2000:]
    report = _report(_launch("report", config))
    ticked = report["ticked"]
    assert ticked.pop("runsDock") is False  # hidden by the user, so hidden again
    assert set(ticked) >= {
        "trainingDock",
        "trainingCurvesDock",
        "inspectDock",
        "evaluationDock",
        "propertiesDock",
    }
    assert all(ticked.values()), ticked
    assert "trainingCurvesDock" in report["shown"]  # the tab the user left in front
    assert "summaryDock" not in report["shown"]
    assert not _overlapping(report["shown"])


@pytest.mark.slow
@pytest.mark.parametrize("screen", [(1280, 800), (1000, 650)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_reset_layout_restores_the_first_run_layout_inside_the_screen(
    tmp_path: Path, screen: tuple[int, int]
) -> None:
    config = tmp_path / "config"
    report = _report(_launch("reset", config, *map(str, screen), screen=screen))
    x, y, width, height = report["frame"]
    ax, ay, available_width, available_height = report["available"]
    assert (ax, ay, available_width, available_height) == (0, 0, *screen)
    assert x >= 0 and y >= 0 and x + width <= screen[0] and y + height <= screen[1]
    shown = report["shown"]
    # The first-run layout: the editor's four panels in front, nothing floating over them.
    assert set(shown) == {"paletteDock", "stackDock", "propertiesDock", "summaryDock"}
    assert not _overlapping(shown)
    for rect in shown.values():
        assert rect[0] >= 0 and rect[1] >= 0
        assert rect[0] + rect[2] <= width and rect[1] + rect[3] <= height
    ticked = report["ticked"]
    assert ticked.pop("historyDock") is False  # opened later: not part of the first run
    assert all(ticked.values()), ticked


@pytest.mark.parametrize(
    "scenario", ["close-at-once", "quit-at-first-paint", "quit"], ids=lambda s: s
)
def test_every_way_out_stops_and_joins_the_background_threads(
    tmp_path: Path, scenario: str
) -> None:
    result = _launch(scenario, tmp_path / "config")
    assert "QThread: Destroyed" not in result.stderr
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_quitting_during_the_warm_up_joins_its_thread(
    tmp_path: Path, real_datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNN_EXPLORER_DATA", str(real_datasets))
    result = _launch("quit-while-warming", tmp_path / "config")
    assert "QThread: Destroyed" not in result.stderr
    assert _report(result)["loading"] == "loading mnist…"  # the warm-up was under way


@pytest.mark.slow
def test_quit_in_the_crash_dialog_joins_the_threads_and_keeps_the_unsaved_work(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    result = _launch("crash", config)
    assert "QThread: Destroyed" not in result.stderr
    assert "ZeroDivisionError" in result.stderr  # logged, with its traceback
    assert result.returncode == 1
    kept = list((config / "data" / "recovery").glob("*.json"))
    assert len(kept) == 1
    layers = json.loads(kept[0].read_text())["project"]["layers"]
    report = _report(_launch("recover", config))
    assert report["offered"] == ["Recover Unsaved Work"]
    assert report["layers"] == len(layers)


@pytest.mark.slow
def test_work_of_a_killed_process_is_offered_at_the_next_start(tmp_path: Path) -> None:
    config = tmp_path / "config"
    process = subprocess.Popen(
        [sys.executable, "-c", PROBE, "edit-and-wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(config),
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = next(line for line in process.stdout if line.startswith("{"))
        recovery = Path(json.loads(line)["recovery"])
        assert recovery.is_file()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
    saved = json.loads(recovery.read_text())["project"]["layers"]
    report = _report(_launch("recover", config))
    assert report["offered"] == ["Recover Unsaved Work"]
    assert report["layers"] == len(saved)
    assert not recovery.exists()  # restored: the new window keeps it in its own file


@pytest.mark.slow
def test_the_training_menu_comes_before_help(tmp_path: Path) -> None:
    menus = _report(_launch("report", tmp_path / "config"))["menus"]
    assert menus[-1] == "&Help"
    assert menus.index("&Training") < menus.index("&Help")
    assert menus.index("&Runs") < menus.index("&Help")


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "nosuch.json: no such file"), ("{not json", "invalid JSON at line 1, column 2")],
    ids=["missing", "bad-json"],
)
def test_open_with_a_bad_file_says_why_on_stderr_and_exits_2(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "nosuch.json"
    if content is not None:
        path.write_text(content)
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "open", str(path)],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "config"),
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_the_first_window_fits_a_small_screen(tmp_path: Path) -> None:
    report = _report(_launch("report", tmp_path / "config", screen=(1000, 650)))
    x, y, width, height = report["frame"]
    assert x >= 0 and y >= 0 and x + width <= 1000 and y + height <= 650
    assert width >= 760 and height >= 500  # and no smaller than the panels need
    assert set(report["shown"]) == {"paletteDock", "stackDock", "propertiesDock", "summaryDock"}
    assert not _overlapping(report["shown"])
