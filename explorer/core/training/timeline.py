"""The feature-map timeline: the probe image's maps at each refresh during training, kept as
uint8 mosaics (one per layer per frame), bounded in memory, saved in the run folder and
exported as an animated GIF.

A frame holds, per layer, the indexed mosaic the feature-map view draws (each map on its
own scale; colour indices 1..255, 0 for the gaps; see mosaic.py), so playing it back needs
no network. When the frames pass `cap_bytes`, every second frame of the older half goes
(the first frame, from initialisation, always stays): the recent past stays dense and the
whole run stays in view.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from explorer.core.files import write_file_atomic
from explorer.core.mosaic import layer_mosaics

if TYPE_CHECKING:
    from explorer.core.capture_types import CaptureResult

TIMELINE_FILE = "timeline.npz"
#: Memory for the frames of one run: 1,000 frames of keras-mnist's maps fit in 32 MB.
DEFAULT_CAP_BYTES = 32 << 20

IndexImage = npt.NDArray[np.uint8]


class TimelineError(ValueError):
    """A timeline file that cannot be read; the message says why."""


@dataclass(frozen=True)
class TimelineFrame:
    """Every layer's mosaic after update number `step`."""

    step: int
    mosaics: Mapping[str, IndexImage]

    @property
    def nbytes(self) -> int:
        return sum(image.nbytes for image in self.mosaics.values())


def frame_from_capture(step: int, result: CaptureResult) -> TimelineFrame:
    """The capture's layers as one frame (the per-map mosaics, colour indices)."""
    mosaics = {
        layer.name: np.ascontiguousarray(layer_mosaics(layer.output).per_map.image, np.uint8)
        for layer in result.layers
    }
    return TimelineFrame(step, mosaics)


class MapTimeline:
    """The frames of one run in step order, within `cap_bytes`."""

    def __init__(self, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        self.cap_bytes = cap_bytes
        self.frames: list[TimelineFrame] = []

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def nbytes(self) -> int:
        return sum(frame.nbytes for frame in self.frames)

    @property
    def layers(self) -> list[str]:
        return list(self.frames[0].mosaics) if self.frames else []

    @property
    def steps(self) -> list[int]:
        return [frame.step for frame in self.frames]

    def add(self, frame: TimelineFrame) -> None:
        """Append a frame (a frame of a step already there replaces it), then thin."""
        if self.frames and self.frames[-1].step == frame.step:
            self.frames[-1] = frame
        else:
            self.frames.append(frame)
        while self.nbytes > self.cap_bytes and len(self.frames) > 2:
            self._thin()

    def _thin(self) -> None:
        """Drop every second frame of the older half, never the first."""
        half = len(self.frames) // 2
        older = self.frames[:half]
        kept = [frame for index, frame in enumerate(older) if index % 2 == 0]
        if len(kept) == len(older):  # too few to thin: drop the oldest after the first
            kept = older[:1]
            self.frames = kept + self.frames[2:]
            return
        self.frames = kept + self.frames[half:]

    def images(self, layer: str) -> list[IndexImage]:
        """The layer's mosaic in each frame that has it."""
        return [frame.mosaics[layer] for frame in self.frames if layer in frame.mosaics]

    # ---- files -----------------------------------------------------------------------------

    def save(self, run_dir: str | os.PathLike[str]) -> Path:
        """Write timeline.npz into the folder (atomically; raises OSError)."""
        path = Path(run_dir) / TIMELINE_FILE
        layers = self.layers
        arrays: dict[str, np.ndarray] = {
            "steps": np.array(self.steps, dtype=np.int64),
            "layers": np.array(json.dumps(layers)),
        }
        for index, name in enumerate(layers):
            arrays[f"layer_{index}"] = np.stack([frame.mosaics[name] for frame in self.frames])

        def write(target: Path) -> None:
            with target.open("wb") as stream:
                np.savez_compressed(stream, **arrays)  # type: ignore[arg-type]

        write_file_atomic(path, write)
        return path

    @staticmethod
    def load(run_dir: str | os.PathLike[str], cap_bytes: int = DEFAULT_CAP_BYTES) -> MapTimeline:
        """The folder's timeline (empty when it has none); TimelineError when damaged."""
        path = Path(run_dir) / TIMELINE_FILE
        timeline = MapTimeline(cap_bytes)
        if not path.exists():
            return timeline
        try:
            with np.load(path, allow_pickle=False) as data:
                steps = [int(step) for step in data["steps"]]
                layers = json.loads(str(data["layers"]))
                stacks = [data[f"layer_{index}"] for index in range(len(layers))]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise TimelineError(f"{path}: not a readable timeline ({error})") from None
        if any(stack.dtype != np.uint8 or len(stack) != len(steps) for stack in stacks):
            raise TimelineError(f"{path}: its layers do not have one uint8 image per step")
        timeline.frames = [
            TimelineFrame(step, {name: stacks[i][t] for i, name in enumerate(layers)})
            for t, step in enumerate(steps)
        ]
        return timeline


def grey_palette() -> list[int]:
    """A GIF palette for colour indices: 0 (gaps) white, 1..255 dark to light grey."""
    palette = [255, 255, 255]
    for index in range(1, 256):
        level = round((index - 1) * 255 / 254)
        palette += [level, level, level]
    return palette


def _scaled_frames(
    images: Sequence[IndexImage], palette: Sequence[int] | None, min_size: int
) -> list[Any]:
    """The index images as palette PIL images, each scaled up by the same whole factor to
    at least `min_size` pixels on its long side (ValueError when there are none)."""
    from PIL import Image

    if not images:
        raise ValueError("no frames to export")
    height, width = images[0].shape
    factor = max(1, -(-min_size // max(height, width)))
    colours = list(palette) if palette is not None else grey_palette()
    frames = []
    for image in images:
        frame = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="P")
        frame.putpalette(colours)
        frames.append(frame.resize((width * factor, height * factor), Image.Resampling.NEAREST))
    return frames


def export_gif(
    images: Sequence[IndexImage],
    path: str | os.PathLike[str],
    *,
    palette: Sequence[int] | None = None,
    frame_ms: int = 120,
    min_size: int = 256,
) -> Path:
    """Write the index images as an animated GIF (looping), each scaled up by a whole
    factor to at least `min_size` pixels on its long side (raises OSError, ValueError
    when there are no images)."""
    frames = _scaled_frames(images, palette, min_size)
    target = Path(path)
    frames[0].save(
        target, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0, optimize=False
    )
    return target


def export_frames(
    images: Sequence[IndexImage],
    folder: str | os.PathLike[str],
    prefix: str = "frame",
    *,
    palette: Sequence[int] | None = None,
    min_size: int = 256,
) -> list[Path]:
    """Write the index images as numbered RGB PNGs `<prefix>_0000.png`, … in `folder`
    (made when missing), scaled as `export_gif` scales them and padded with the gap colour
    (index 0) to even sizes, which H.264 needs, for a video encoder:
    `ffmpeg -framerate 8 -i <prefix>_%04d.png -pix_fmt yuv420p maps.mp4`. Raises OSError,
    ValueError when there are no images."""
    from PIL import Image

    frames = _scaled_frames(images, palette, min_size)
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for number, frame in enumerate(frames):
        width, height = frame.size
        if width % 2 or height % 2:
            padded = Image.new("P", (width + width % 2, height + height % 2), 0)
            padded.putpalette(frame.getpalette())
            padded.paste(frame, (0, 0))
            frame = padded
        path = target / f"{prefix}_{number:04d}.png"
        frame.convert("RGB").save(path)
        written.append(path)
    return written
