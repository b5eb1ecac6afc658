"""The feature-map timeline: frames bounded in memory, saved and read back, exported as an
animated GIF, and recorded by a real run without changing its training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.core.app.training_run import start_run
from explorer.core.training import Trainer, TrainingFinished
from explorer.core.training.runs import RunFolder
from explorer.core.training.timeline import (
    TIMELINE_FILE,
    MapTimeline,
    TimelineError,
    TimelineFrame,
    export_gif,
    grey_palette,
)
from tests.core.test_trainer import quadrant_dataset, tiny_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _frame(step: int, size: int = 10) -> TimelineFrame:
    image = np.full((size, size), step % 256, dtype=np.uint8)
    return TimelineFrame(step, {"conv": image, "dense": image[:1]})


def test_the_cap_thins_the_older_frames_and_keeps_the_first_and_the_newest() -> None:
    per_frame = _frame(0).nbytes
    timeline = MapTimeline(cap_bytes=20 * per_frame)
    for step in range(0, 1000, 10):
        timeline.add(_frame(step))
    assert timeline.nbytes <= 20 * per_frame
    steps = timeline.steps
    assert steps[0] == 0 and steps[-1] == 990
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    # Denser near the end than near the start.
    gaps = np.diff(steps)
    assert gaps[-1] < gaps[1]


def test_a_saved_timeline_reads_back_frame_for_frame(tmp_path: Path) -> None:
    timeline = MapTimeline()
    for step in (0, 5, 9):
        timeline.add(_frame(step))
    timeline.save(tmp_path)
    back = MapTimeline.load(tmp_path)
    assert back.steps == [0, 5, 9]
    assert back.layers == ["conv", "dense"]
    for frame, copy in zip(timeline.frames, back.frames, strict=True):
        for name in ("conv", "dense"):
            np.testing.assert_array_equal(frame.mosaics[name], copy.mosaics[name])
    assert len(MapTimeline.load(tmp_path / "missing")) == 0
    (tmp_path / TIMELINE_FILE).write_bytes(b"not a zip")
    with pytest.raises(TimelineError, match="not a readable timeline"):
        MapTimeline.load(tmp_path)


def test_the_gif_has_one_frame_per_image_scaled_up_with_the_palette(tmp_path: Path) -> None:
    images = [np.array([[0, 1], [128, 255]], dtype=np.uint8), np.full((2, 2), 255, np.uint8)]
    path = export_gif(images, tmp_path / "maps.gif", min_size=64)
    with Image.open(path) as gif:
        assert gif.n_frames == 2
        assert gif.size == (64, 64)
        first = gif.convert("RGB")
        palette = grey_palette()
        assert first.getpixel((0, 0)) == tuple(palette[0:3])  # gap: white
        assert first.getpixel((63, 63)) == tuple(palette[3 * 255 : 3 * 256])
    with pytest.raises(ValueError, match="no frames"):
        export_gif([], tmp_path / "none.gif")


def test_a_run_records_its_timeline_and_trains_exactly_as_without_it(tmp_path: Path) -> None:
    spec = tiny_spec(epochs=2, dropout=True)
    folder = RunFolder(tmp_path / "run")
    run = start_run(spec, quadrant_dataset(), folder)
    events = list(run.events())
    assert isinstance(events[-1], TrainingFinished)
    timeline = MapTimeline.load(folder.path)
    assert timeline.steps[0] == 0 and timeline.steps[-1] == events[-1].step
    assert timeline.layers == list(run.trainer.model.layer_names)
    assert all(image.dtype == np.uint8 for image in timeline.frames[-1].mosaics.values())
    # The maps changed between initialisation and the end.
    first, last = timeline.frames[0].mosaics, timeline.frames[-1].mosaics
    assert not np.array_equal(first["conv2d_1"], last["conv2d_1"])
    plain = Trainer(run.trainer.spec, quadrant_dataset())
    for _ in plain.run():
        pass
    for key, value in plain.model.state_dict().items():
        assert torch.equal(run.trainer.model.state_dict()[key], value), key


def test_a_given_probe_is_the_timelines_image_unless_its_shape_is_not_the_inputs(
    tmp_path: Path,
) -> None:
    from explorer.core.capture import capture, snapshot_model
    from explorer.core.dataset_split import Split
    from explorer.core.training.timeline import frame_from_capture

    dataset = quadrant_dataset()
    probe = dataset.normalize(dataset.images(Split.TEST)[7:8])[0]
    folder = RunFolder(tmp_path / "run")
    run = start_run(tiny_spec(epochs=1), dataset, folder, probe=probe)
    assert run.timeline is not None and torch.equal(run.timeline.probe, probe)
    initial = run.trainer.weights_snapshot()
    events = iter(run.events())
    next(events)  # TrainingStarted: the first frame, of the initial weights
    first = run.timeline.timeline.frames[0]
    expected = frame_from_capture(0, capture(snapshot_model(run.trainer.spec, initial), probe))
    for name, mosaic in expected.mosaics.items():
        np.testing.assert_array_equal(first.mosaics[name], mosaic)
    for _ in events:
        pass
    # Another image: a different first frame. A probe of another shape: the first test image.
    other = start_run(tiny_spec(epochs=1), dataset, None, probe=torch.zeros(1, 5, 5))
    assert other.timeline is not None
    first_test = dataset.normalize(dataset.images(Split.TEST)[:1])[0]
    assert torch.equal(other.timeline.probe, first_test)
    assert not torch.equal(first_test, probe)
