"""The Map Timeline view: a real run's frames, scrubbed with the keyboard, played with
Space, exported as a GIF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from explorer.core.app.training_run import start_run
from explorer.core.training.runs import RunFolder
from explorer.core.training.timeline import MapTimeline
from explorer.ui.training.timeline_view import TimelineView
from tests.core.test_trainer import quadrant_dataset, tiny_spec


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = RunFolder(tmp_path_factory.mktemp("timeline") / "run")
    for _ in start_run(tiny_spec(epochs=3), quadrant_dataset(), folder).events():
        pass
    return folder.path


def _view(qtbot: Any) -> TimelineView:
    view = TimelineView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_a_finished_run_opens_at_its_last_frame_and_scrubs_back(qtbot: Any, run_dir: Path) -> None:
    view = _view(qtbot)
    view.load_run(run_dir)
    timeline = MapTimeline.load(run_dir)
    assert len(timeline) >= 4  # the start, three epoch ends (and the end)
    assert view.slider.maximum() == len(timeline) - 1
    layer = view.layer_box.currentText()
    np.testing.assert_array_equal(view.image.image, timeline.frames[-1].mosaics[layer])
    assert f"step {timeline.frames[-1].step}" in view.step_label.text()
    view.slider.setFocus()
    qtbot.keyClick(view.slider, Qt.Key.Key_Home)
    np.testing.assert_array_equal(view.image.image, timeline.frames[0].mosaics[layer])
    assert "step 0" in view.step_label.text()


def test_space_plays_to_the_end_and_export_writes_every_frame(
    qtbot: Any, run_dir: Path, tmp_path: Path
) -> None:
    view = _view(qtbot)
    view.load_run(run_dir)
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow)
    view.slider.setFocus()
    qtbot.keyClick(view.slider, Qt.Key.Key_Space)
    assert view.play_button.isChecked() and view.slider.value() == 0
    qtbot.waitUntil(lambda: not view.play_button.isChecked(), timeout=10_000)
    assert view.slider.value() == view.slider.maximum()
    path = view.export(tmp_path / "maps.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == len(view.timeline)


def test_live_frames_follow_the_newest_unless_scrubbed_back(qtbot: Any, run_dir: Path) -> None:
    frames = MapTimeline.load(run_dir).frames
    view = _view(qtbot)
    view.add_frames(frames[:2])
    assert view.slider.value() == 1
    view.slider.setValue(0)
    view.add_frames(frames[2:])
    assert view.slider.value() == 0 and view.slider.maximum() == len(frames) - 1


def test_the_frames_button_writes_numbered_pngs_of_every_frame_in_its_colours(
    qtbot: Any, run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PySide6.QtWidgets import QFileDialog

    view = _view(qtbot)
    view.load_run(run_dir)
    layer = view.layer_box.currentText()
    folder = tmp_path / "frames"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kw: str(folder))
    qtbot.mouseClick(view.frames_button, Qt.MouseButton.LeftButton)
    written = sorted(folder.glob(f"{layer}_*.png"))
    frames = view.timeline.frames
    assert [p.name for p in written] == [f"{layer}_{n:04d}.png" for n in range(len(frames))]
    assert "ffmpeg" in view.step_label.text()
    mosaic = frames[-1].mosaics[layer]
    with Image.open(written[-1]) as png:
        pixels = np.asarray(png.convert("RGB"))
    height, width = pixels.shape[:2]
    assert height % 2 == 0 and width % 2 == 0  # as H.264 wants
    factor = -(-256 // max(mosaic.shape))
    assert pixels.shape[:2] >= (mosaic.shape[0] * factor, mosaic.shape[1] * factor)
    # Every pixel of the scaled mosaic has its index's colour in the view's table.
    scaled = np.kron(mosaic, np.ones((factor, factor), np.uint8))
    table = view._table
    expected = table[scaled]
    np.testing.assert_array_equal(pixels[: scaled.shape[0], : scaled.shape[1]], expected)
    # The padding (if any) is the gaps' white.
    assert (pixels[scaled.shape[0] :] == 255).all() and (pixels[:, scaled.shape[1] :] == 255).all()


def test_the_image_picked_to_inspect_is_the_next_runs_probe_unless_blank(
    qtbot: Any, tmp_path: Path, message_boxes: Any
) -> None:
    import torch

    from tests.ui.conftest import workbench_in_window
    from tests.ui.test_training import tiny_spec as window_spec

    for bench in workbench_in_window(qtbot, window_spec(), tmp_path / "runs"):
        picked = torch.linspace(-1, 2, 28 * 28).reshape(1, 28, 28)
        bench.inspect.picker.image_chosen.emit(picked, "test image #3")
        assert bench.training.probe is not None and torch.equal(bench.training.probe, picked)
        bench.inspect.picker.image_chosen.emit(torch.zeros(1, 28, 28), "blank image")
        assert bench.training.probe is None
