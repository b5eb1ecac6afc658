"""The task runner: real QThreads, stale results dropped, stop honoured, joined on the way out."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QThread

from explorer.ui.common.tasks import (
    TaskControl,
    TaskFailed,
    TaskFinished,
    TaskProgress,
    TaskRunner,
)
from tests.processes import offscreen_env, run_python

WAIT_MS = 10_000


@pytest.fixture
def runner(qtbot: Any) -> Any:
    made = TaskRunner("test-task")
    yield made
    made.shutdown()
    assert made.running_thread is None


def _on_gui_thread() -> bool:
    app = QCoreApplication.instance()
    return app is not None and QThread.currentThread() is app.thread()


def test_a_job_runs_off_the_gui_thread_and_its_value_arrives_on_it(qtbot: Any, runner: Any) -> None:
    ran_on: list[bool] = []
    arrived_on: list[bool] = []

    def job(control: TaskControl) -> int:
        ran_on.append(_on_gui_thread())
        return 6 * 7

    runner.finished.connect(lambda result: arrived_on.append(_on_gui_thread()))
    with qtbot.waitSignal(runner.finished, timeout=WAIT_MS) as blocker:
        context = runner.start(job)
    result = blocker.args[0]
    assert isinstance(result, TaskFinished)
    assert result.value == 42 and result.context == context
    assert ran_on == [False] and arrived_on == [True]
    qtbot.waitUntil(lambda: not runner.busy, timeout=WAIT_MS)


def test_progress_arrives_in_order_before_the_result(qtbot: Any, runner: Any) -> None:
    seen: list[object] = []
    runner.progressed.connect(lambda p: seen.append(p))
    runner.finished.connect(lambda r: seen.append(r))

    def job(control: TaskControl) -> str:
        for step in range(3):
            control.report(step)
        return "done"

    with qtbot.waitSignal(runner.finished, timeout=WAIT_MS):
        runner.start(job)
    assert all(isinstance(p, TaskProgress) for p in seen[:3])
    assert [p.value for p in seen[:3]] == [0, 1, 2]  # type: ignore[attr-defined]
    assert isinstance(seen[3], TaskFinished) and seen[3].value == "done"


def test_results_of_an_invalidated_context_are_dropped(qtbot: Any, runner: Any) -> None:
    gate = threading.Event()
    old_token_stopped: list[bool] = []
    results: list[object] = []
    progress: list[object] = []
    runner.finished.connect(lambda r: results.append(r.value))
    runner.progressed.connect(lambda p: progress.append(p.value))

    def old(control: TaskControl) -> str:
        gate.wait(WAIT_MS / 1000)
        old_token_stopped.append(control.stopped)
        control.report("old progress")
        return "old"

    def new(control: TaskControl) -> str:
        return "new"

    runner.start(old)
    runner.start(old)  # waits behind the first: never starts once invalidated
    context = runner.invalidate()
    runner.start(new)
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=WAIT_MS)
    qtbot.wait(20)  # anything still queued to the GUI thread arrives now
    assert results == ["new"]
    assert progress == []
    assert old_token_stopped == [True]  # asked to stop, and ran only once
    assert runner.context == context


def test_a_stop_request_reaches_the_running_job(qtbot: Any, runner: Any) -> None:
    started = threading.Event()
    callbacks: list[str] = []

    def job(control: TaskControl) -> str:
        control.token.when_stopped(lambda: callbacks.append("passed on"))
        started.set()
        control.stop_event.wait(WAIT_MS / 1000)
        return "stopped" if control.stopped else "timed out"

    with qtbot.waitSignal(runner.finished, timeout=WAIT_MS) as blocker:
        runner.start(job)
        assert started.wait(WAIT_MS / 1000)
        runner.request_stop()
    assert blocker.args[0].value == "stopped"
    assert callbacks == ["passed on"]


def test_a_failed_job_reports_its_error_and_the_next_job_still_runs(
    qtbot: Any, runner: Any
) -> None:
    def broken(control: TaskControl) -> None:
        raise ValueError("the input was bad")

    with qtbot.waitSignal(runner.failed, timeout=WAIT_MS) as blocker:
        runner.start(broken)
    failure = blocker.args[0]
    assert isinstance(failure, TaskFailed)
    assert isinstance(failure.error, ValueError)
    assert failure.message == "the input was bad"
    with qtbot.waitSignal(runner.finished, timeout=WAIT_MS) as blocker:
        runner.start(lambda control: "fine")
    assert blocker.args[0].value == "fine"


def test_jobs_run_one_at_a_time_in_the_order_started(qtbot: Any, runner: Any) -> None:
    order: list[int] = []
    active = threading.Semaphore(1)
    overlapped: list[bool] = []

    def job(number: int) -> Any:
        def run(control: TaskControl) -> int:
            overlapped.append(not active.acquire(blocking=False))
            order.append(number)
            active.release()
            return number

        return run

    values: list[int] = []
    runner.finished.connect(lambda r: values.append(r.value))
    for number in range(4):
        runner.start(job(number))
    qtbot.waitUntil(lambda: len(values) == 4, timeout=WAIT_MS)
    assert order == values == [0, 1, 2, 3]
    assert not any(overlapped)


def test_shutdown_stops_and_joins_the_thread_and_nothing_arrives_afterwards(
    qtbot: Any, runner: Any
) -> None:
    started = threading.Event()
    arrived: list[object] = []
    runner.finished.connect(arrived.append)

    def job(control: TaskControl) -> str:
        started.set()
        control.stop_event.wait(WAIT_MS / 1000)
        return "stopped"

    runner.start(job)
    assert started.wait(WAIT_MS / 1000)
    thread = runner.running_thread
    assert thread is not None and thread.isRunning()
    runner.shutdown()
    assert not thread.isRunning()
    assert runner.running_thread is None and not runner.busy
    qtbot.wait(20)
    assert arrived == []
    with pytest.raises(RuntimeError, match="shut down"):
        runner.start(job)


def test_cancel_joins_at_once_and_the_next_job_is_not_mistaken_for_the_old(
    qtbot: Any, runner: Any
) -> None:
    started = threading.Event()
    gate = threading.Event()
    values: list[str] = []
    runner.finished.connect(lambda r: values.append(r.value))

    def old(control: TaskControl) -> str:
        started.set()
        control.stop_event.wait(WAIT_MS / 1000)
        return "old"

    def new(control: TaskControl) -> str:
        gate.wait(WAIT_MS / 1000)
        return "new"

    runner.start(old)
    assert started.wait(WAIT_MS / 1000)
    thread = runner.running_thread
    runner.cancel()
    assert thread is not None and not thread.isRunning()
    runner.start(new)
    qtbot.wait(20)  # the old job's outcome, already queued, arrives (and is dropped) now
    assert values == [] and runner.busy  # the new job still runs
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=WAIT_MS)
    assert values == ["new"]


def test_join_gives_up_after_its_bound_while_a_job_ignores_the_stop(
    qtbot: Any, runner: Any
) -> None:
    gate = threading.Event()
    started = threading.Event()

    def stubborn(control: TaskControl) -> str:
        started.set()
        gate.wait(WAIT_MS / 1000)  # does not look at its token
        return "late"

    runner.start(stubborn)
    assert started.wait(WAIT_MS / 1000)
    runner.request_stop()
    assert not runner.join(0.05)
    gate.set()
    assert runner.join(WAIT_MS / 1000)


_APP_TEARDOWN = r"""
import gc, sys, threading
from PySide6.QtCore import QThread, QTimer
from PySide6.QtWidgets import QApplication
from explorer.ui.common.tasks import TaskRunner

app = QApplication([])
runner = TaskRunner("teardown")
app.aboutToQuit.connect(runner.shutdown)
started = threading.Event()

def job(control):
    started.set()
    control.stop_event.wait(30)
    return "stopped"

def quit_once_running():
    if started.is_set():
        app.quit()
    else:
        QTimer.singleShot(10, quit_once_running)

runner.start(job)
QTimer.singleShot(0, quit_once_running)
app.exec()
gc.collect()
running = [t for t in gc.get_objects() if isinstance(t, QThread) and t.isRunning()]
print("running", len(running), "python", len(threading.enumerate()))
del runner, app
gc.collect()
"""


def test_no_thread_is_left_after_the_application_quits(tmp_path: Path) -> None:
    result = run_python("-c", _APP_TEARDOWN, env=offscreen_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "running 0 python 1" in result.stdout
    assert "QThread: Destroyed" not in result.stderr
