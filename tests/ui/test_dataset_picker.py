"""The dataset picker: each entry's label agrees with the line under the list, and a chosen
folder is detected and validated at once (in the background) before it becomes the dataset."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from explorer.core.data import catalogue
from explorer.ui.training.datasets import FOLDER_ITEM, DatasetDownloader, DatasetPicker
from tests.core.test_data_folder import make_folder, save_image
from tests.core.test_data_formats import write_idx_set


@pytest.fixture(autouse=True)
def _no_keras(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    monkeypatch.delenv("CNN_EXPLORER_DATA", raising=False)


@pytest.fixture
def picker(qtbot: Any, tmp_path: Path) -> Any:
    widget = DatasetPicker(tmp_path / "data")
    qtbot.addWidget(widget)
    widget.resize(420, 120)
    widget.show()
    widget.populate()
    yield widget
    widget.shutdown()


def _texts(picker: DatasetPicker) -> dict[str, str]:
    return {picker.combo.itemData(i): picker.combo.itemText(i) for i in range(picker.combo.count())}


def test_labels_say_cached_built_in_or_not_downloaded_once(tmp_path: Path, qtbot: Any) -> None:
    write_idx_set(tmp_path / "data" / "mnist")
    picker = DatasetPicker(tmp_path / "data")
    qtbot.addWidget(picker)
    picker.populate()

    texts = _texts(picker)

    assert texts["mnist"] == "MNIST handwritten digits (cached)"
    assert texts["fashion-mnist"] == "Fashion-MNIST clothing (not downloaded)"
    assert texts["shapes"] == "Shapes (built in, offline)"
    picker.shutdown()


def test_a_damaged_copy_is_labelled_damaged_like_the_line_under_it(
    picker: DatasetPicker, tmp_path: Path
) -> None:
    write_idx_set(tmp_path / "data" / "mnist")
    labels = tmp_path / "data" / "mnist" / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(b"\x1f\x8b not really gzip")

    picker.show_dataset("mnist")

    assert _texts(picker)["mnist"] == "MNIST handwritten digits (damaged)"
    assert str(labels) in picker.status.text()
    assert picker.download_button.isVisibleTo(picker)


def _choose_folder(qtbot: Any, picker: DatasetPicker, folder: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(folder))
    picker.combo.setFocus()
    qtbot.keyClick(picker.combo, Qt.Key.Key_End)  # the last entry: "folder…"
    assert picker.combo.currentData() in (FOLDER_ITEM, f"folder:{folder}")


def test_choosing_an_idx_folder_shows_what_it_holds_and_then_uses_it(
    qtbot: Any, picker: DatasetPicker, tmp_path: Path, monkeypatch: Any
) -> None:
    folder = tmp_path / "from a colleague"
    write_idx_set(folder, train=30, test=10)
    picker.show_dataset("shapes")

    with qtbot.waitSignal(picker.dataset_chosen, timeout=10_000) as chosen:
        _choose_folder(qtbot, picker, folder, monkeypatch)

    assert chosen.args == [f"folder:{folder}"]
    picker.show_dataset(f"folder:{folder}")  # as the panel does once the edit is made
    assert picker.status.text() == "IDX files: 30 train / 10 test, 28×28"
    assert picker.combo.currentText() == "from a colleague/ (found)"


def test_class_folders_are_listed_with_their_counts(
    qtbot: Any, picker: DatasetPicker, tmp_path: Path, monkeypatch: Any
) -> None:
    make_folder(tmp_path / "photos", per_class=3)
    picker.show_dataset("shapes")

    with qtbot.waitSignal(picker.dataset_chosen, timeout=10_000):
        _choose_folder(qtbot, picker, tmp_path / "photos", monkeypatch)
    picker.show_dataset(f"folder:{tmp_path / 'photos'}")

    assert picker.status.text() == "3 class folders: circle 3, square 3, triangle 3"
    assert picker.combo.currentText() == "photos/ (image folder)"


def test_an_unusable_folder_says_why_and_the_dataset_stays(
    qtbot: Any, picker: DatasetPicker, tmp_path: Path, monkeypatch: Any
) -> None:
    save_image(tmp_path / "one" / "cat" / "0.png", 7)
    picker.show_dataset("shapes")
    chosen: list[str] = []
    picker.dataset_chosen.connect(chosen.append)

    _choose_folder(qtbot, picker, tmp_path / "one", monkeypatch)
    qtbot.waitUntil(lambda: picker.status.text().startswith("Not used"), timeout=10_000)

    assert picker.status.text() == (
        f"Not used — {tmp_path / 'one'} has 1 class folder(s) with images (cat 1); "
        "it needs at least 2, one sub-folder per class holding PNG, JPEG or BMP files"
    )
    assert chosen == []
    assert picker.combo.currentData() == "shapes"
    assert picker.combo.findData(f"folder:{tmp_path / 'one'}") == -1


def test_in_the_window_a_chosen_folder_becomes_the_dataset_as_one_undo_step(
    qtbot: Any, tmp_path: Path, monkeypatch: Any, message_boxes: Any
) -> None:
    from explorer.core.templates import load_template
    from explorer.ui.shell.main_window import MainWindow
    from explorer.ui.shell.training_docks import TrainingDocks

    window = MainWindow(load_template("keras-mnist"))
    qtbot.addWidget(window)
    docks = TrainingDocks(
        window, runs_root=tmp_path / "runs", data_dir=tmp_path / "data", warm_up=False
    )
    window.show()
    qtbot.waitExposed(window)
    picker = docks.panel.settings_page.dataset_picker
    qtbot.waitUntil(lambda: picker.combo.count() > 1)
    folder = tmp_path / "digits"
    write_idx_set(folder, train=30, test=10)
    try:
        assert picker.combo.currentText() == "MNIST handwritten digits (not downloaded)"
        assert picker.status.text().startswith("not downloaded")

        _choose_folder(qtbot, picker, folder, monkeypatch)
        qtbot.waitUntil(
            lambda: window.document.spec.training.dataset == f"folder:{folder}", timeout=10_000
        )

        assert picker.status.text() == "IDX files: 30 train / 10 test, 28×28"
        assert picker.combo.currentText() == "digits/ (found)"
        window.document.undo_stack.undo()
        assert window.document.spec.training.dataset == "mnist"
        assert picker.combo.currentText() == "MNIST handwritten digits (not downloaded)"
        assert picker.status.text().startswith("not downloaded")
    finally:
        docks.shutdown()
        window.recovery.timer.stop()
        window.document.undo_stack.setClean()


class _Unavailable(BaseHTTPRequestHandler):
    """Answers every request with 503, which the downloader retries after a back-off."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        self.send_error(503, "Service Unavailable")

    def log_message(self, format: str, *args: object) -> None:
        return


def test_cancel_ends_a_download_while_it_waits_to_retry(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    _Unavailable.requests = []
    mirror = f"http://127.0.0.1:{server.server_address[1]}/"
    entry = catalogue.MNIST
    source = catalogue.RemoteSource((mirror,), entry.source.files if entry.source else ())
    monkeypatch.setitem(
        catalogue._ALIASES, "mnist", catalogue.DatasetEntry(**{**entry.__dict__, "source": source})
    )
    downloader = DatasetDownloader(tmp_path / "data")
    try:
        with qtbot.waitSignal(downloader.finished, timeout=10_000) as finished:
            downloader.start("mnist")
            # The first answer is a 503: the worker now waits a second before trying again.
            qtbot.waitUntil(lambda: len(_Unavailable.requests) == 1, timeout=10_000)
            downloader.cancel()
    finally:
        downloader.shutdown()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    assert finished.args == ["mnist", "cancelled"]
    assert _Unavailable.requests == ["/train-images-idx3-ubyte.gz"]  # no second try


def test_a_folder_shown_after_shutdown_is_not_inspected(
    picker: DatasetPicker, tmp_path: Path
) -> None:
    picker.shutdown()

    picker.show_dataset(f"folder:{tmp_path}")

    assert picker.status.text() == f"Looking at {tmp_path}…"
    assert not picker.inspector.busy


def test_a_choice_made_while_a_folder_is_looked_at_wins(
    qtbot: Any, picker: DatasetPicker, tmp_path: Path, monkeypatch: Any
) -> None:
    make_folder(tmp_path / "photos", per_class=3)
    picker.show_dataset("shapes")
    chosen: list[str] = []
    picker.dataset_chosen.connect(chosen.append)
    gate = threading.Event()  # holds the inspection back until the second choice is made
    picker.inspector.start(lambda control: gate.wait(10))

    _choose_folder(qtbot, picker, tmp_path / "photos", monkeypatch)
    qtbot.keyClick(picker.combo, Qt.Key.Key_Home)  # MNIST, the first entry
    gate.set()
    qtbot.waitUntil(lambda: not picker.inspector.busy, timeout=10_000)
    qtbot.wait(20)  # an inspection result still on its way would arrive now

    assert chosen == ["mnist"]
    assert picker.combo.findData(f"folder:{tmp_path / 'photos'}") == -1
