"""The recovery autosave writes on a thread of its own: never two writes at once, the last
edit's state on disk at the end of a burst, and saving now, closing and quitting wait for
a write that is running."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from explorer.core.files import write_text_atomic
from explorer.core.paths import LayerPath
from explorer.core.project import parse_project
from explorer.core.spec import LayerSpec
from explorer.ui.common.document import ProjectDocument
from explorer.ui.shell import recovery as recovery_module
from explorer.ui.shell.recovery import RecoveryStore


class Writes:
    """The real `write_text_atomic`, slowed down so that writes overlap edits, recording
    the thread of each write and how many ran at once."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.threads: list[int] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, path: Path, text: str) -> None:
        with self._lock:
            self.threads.append(threading.get_ident())
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay_s)
            write_text_atomic(path, text)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Writes:
    recorded = Writes(0.05)
    monkeypatch.setattr(recovery_module, "write_text_atomic", recorded)
    return recorded


@pytest.fixture
def store(document: ProjectDocument, tmp_path: Path) -> Iterator[RecoveryStore]:
    recovery = RecoveryStore(document, tmp_path)
    recovery.timer.setInterval(0)  # written at the next turn of the event loop
    recovery.start()
    yield recovery
    recovery.close()


def _on_disk(store: RecoveryStore) -> Any:
    return parse_project(json.loads(store.path.read_text())["project"])


def _add_dropout(document: ProjectDocument) -> None:
    document.insert_layers(LayerPath.top(1), [LayerSpec.new("Dropout")])


def test_the_autosave_writes_on_a_thread_of_its_own(
    store: RecoveryStore, document: ProjectDocument, writes: Writes, qtbot: Any
) -> None:
    _add_dropout(document)
    qtbot.waitUntil(lambda: store.path.is_file() and not store.busy)
    assert _on_disk(store) == document.spec
    assert writes.threads and threading.get_ident() not in writes.threads


def test_a_burst_of_edits_ends_with_the_last_state_on_disk_one_write_at_a_time(
    store: RecoveryStore, document: ProjectDocument, writes: Writes, qtbot: Any
) -> None:
    for _ in range(12):  # edits while the writes before them are still running
        _add_dropout(document)
        qtbot.wait(15)
    last = document.spec
    qtbot.waitUntil(lambda: not store.busy, timeout=5000)
    assert _on_disk(store) == last
    assert writes.most_at_once == 1
    assert len(writes.threads) < 12  # the states in between were not all written


def test_undoing_back_to_the_saved_state_while_a_write_runs_leaves_no_file(
    store: RecoveryStore, document: ProjectDocument, writes: Writes, qtbot: Any
) -> None:
    _add_dropout(document)
    qtbot.waitUntil(lambda: store.writer.busy)  # the write has started
    document.undo_stack.undo()  # clean again: nothing to recover
    qtbot.waitUntil(lambda: not store.busy, timeout=5000)
    assert not store.path.exists()


def test_saving_now_waits_for_the_running_write_and_writes_the_latest_state(
    store: RecoveryStore, document: ProjectDocument, writes: Writes, qtbot: Any
) -> None:
    _add_dropout(document)
    qtbot.waitUntil(lambda: store.writer.busy)
    store.timer.stop()
    _add_dropout(document)
    store.timer.stop()  # (the edit would start it again)
    store.save_now()
    assert not store.busy and writes.running == 0
    assert _on_disk(store) == document.spec
    assert writes.threads[-1] == threading.get_ident()  # written before save_now returned


def test_closing_while_a_write_runs_leaves_no_file_behind(
    document: ProjectDocument, tmp_path: Path, writes: Writes, qtbot: Any
) -> None:
    store = RecoveryStore(document, tmp_path)
    store.timer.setInterval(0)
    store.start()
    _add_dropout(document)
    qtbot.waitUntil(lambda: store.writer.busy)
    store.close()  # a clean close: the write is waited for, then the file goes
    assert writes.running == 0 and not store.writer.busy
    assert not store.path.exists()
    assert list(store.folder.iterdir()) == []
