"""Every convolution's channels at once: the test images that excite each channel most, in
one pass over a split with a hook on each convolution, for a finished run's folder.

`channel_maxima` (channel_explorer.py) keeps every image's peak for one layer, so the
window can switch channels for free; here each batch's peaks are merged into a running
top-k per channel, so memory stays k × channels whatever the split's size. Ties keep split
order, as `ChannelMaxima.top` does.

Arrays per layer: `indices` (C, k) int64 split indices, highest peak first; `peaks` (C, k)
float32; `positions` (C, k) int64 flat row·W + column of each peak on the (H, W) map.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from explorer.core.builder import Network
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.paths import LayerPath
from explorer.core.spec import LayerSpec, NetworkSpec

__all__ = [
    "CONV_TYPES",
    "TOP",
    "ChannelTops",
    "channel_tops",
    "conv_paths",
    "load_channel_tops",
    "save_channel_tops",
]

#: The layer types whose channels are ranked.
CONV_TYPES = frozenset({"Conv2D", "DepthwiseConv2D", "SeparableConv2D"})
#: Images kept per channel.
TOP = 9


@dataclass(frozen=True, eq=False)
class ChannelTops:
    """The top images of every channel of one layer (see the module's array shapes)."""

    path: LayerPath
    name: str
    map_size: tuple[int, int]
    indices: npt.NDArray[np.int64]
    peaks: npt.NDArray[np.float32]
    positions: npt.NDArray[np.int64]
    #: how many images were ranked
    ranked: int = 0

    @property
    def channels(self) -> int:
        return int(self.indices.shape[0])

    # The ranking as `ChannelMaxima` gives it, for the images kept.

    def top(self, channel: int, k: int = TOP) -> npt.NDArray[np.int64]:
        """The `k` (at most those kept) images whose map of `channel` peaks highest."""
        if not 0 <= channel < self.channels:
            raise ValueError(f"channel {channel} is not in 0..{self.channels - 1}")
        return self.indices[channel, :k].astype(np.int64)

    def _rank(self, index: int, channel: int) -> int:
        found = np.flatnonzero(self.indices[channel] == index)
        if not len(found):
            raise ValueError(f"image {index} is not among channel {channel}'s top images")
        return int(found[0])

    def position(self, index: int, channel: int) -> tuple[int, int]:
        """(row, column) of the peak of `channel` on kept image `index`."""
        flat = int(self.positions[channel, self._rank(index, channel)])
        row, column = divmod(flat, self.map_size[1])
        return row, column

    def peak(self, index: int, channel: int) -> float:
        return float(self.peaks[channel, self._rank(index, channel)])


def conv_paths(spec: NetworkSpec) -> dict[LayerPath, str]:
    """The convolutions of `spec` at any depth, by path, with their names."""
    names = spec.names()
    return {
        path: names[path]
        for path, item in spec.walk()
        if isinstance(item, LayerSpec) and item.type in CONV_TYPES
    }


class _Top:
    """A running top-k of one layer's channels; `add` takes a batch's output."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.peaks: torch.Tensor | None = None  # (≤k, C)
        self.indices: torch.Tensor | None = None
        self.positions: torch.Tensor | None = None
        self.map_size = (0, 0)
        self.first = 0  # the split index of the batch's first image

    def add(self, out: torch.Tensor) -> None:
        if out.dim() != 4:
            return
        self.map_size = (int(out.shape[2]), int(out.shape[3]))
        peak, where = out.flatten(2).float().max(dim=2)  # (B, C)
        count, channels = peak.shape
        index = torch.arange(self.first, self.first + count, device=peak.device)
        index = index.unsqueeze(1).expand(count, channels)
        if self.peaks is not None:
            assert self.indices is not None and self.positions is not None
            # Earlier images first: a stable sort then keeps equal peaks in split order.
            peak = torch.cat((self.peaks, peak))
            index = torch.cat((self.indices, index))
            where = torch.cat((self.positions, where))
        order = torch.sort(peak, dim=0, descending=True, stable=True).indices[: self.k]
        self.peaks = peak.gather(0, order)
        self.indices = index.gather(0, order)
        self.positions = where.gather(0, order)


def channel_tops(
    model: Network,
    paths: dict[LayerPath, str],
    dataset: DeviceDataset,
    split: Split = Split.TEST,
    *,
    k: int = TOP,
    batch_size: int = 500,
    cancel: threading.Event | None = None,
) -> list[ChannelTops] | None:
    """One pass over `split` with a hook on each layer of `paths` (path → name): each
    channel's `k` highest-peaking images. Eval mode (restored), no autograd, on the
    model's device; layers without maps are left out; None when `cancel` was set."""
    device = next((p.device for p in model.parameters()), dataset.device)
    tops = {path: _Top(k) for path in paths}
    handles = []
    for path, top in tops.items():

        def hook(_m: nn.Module, _i: object, out: torch.Tensor, top: _Top = top) -> None:
            top.add(out)

        handles.append(model.module_at(path).register_forward_hook(hook))
    was_training = model.training
    model.eval()
    first = 0
    try:
        with torch.inference_mode():
            for images, _ in dataset.batches(split, batch_size):
                if cancel is not None and cancel.is_set():
                    return None
                for top in tops.values():
                    top.first = first
                model(images.to(device))
                first += int(images.shape[0])
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return [
        ChannelTops(
            path,
            paths[path],
            top.map_size,
            top.indices.T.cpu().numpy().astype(np.int64),
            top.peaks.T.cpu().numpy().astype(np.float32),
            top.positions.T.cpu().numpy().astype(np.int64),
            first,
        )
        for path, top in tops.items()
        if top.indices is not None and top.peaks is not None and top.positions is not None
    ]


def save_channel_tops(
    path: str | os.PathLike[str], tops: list[ChannelTops], split: Split = Split.TEST
) -> None:
    """Write the layers' tops to an .npz: `layers` (JSON: name, path, map size, images
    ranked, in order),
    `split`, and per layer `<name>.indices`, `<name>.peaks`, `<name>.positions`."""
    listed = [
        {
            "name": top.name,
            "path": top.path.to_json(),
            "map_size": list(top.map_size),
            "ranked": top.ranked,
        }
        for top in tops
    ]
    arrays: dict[str, npt.NDArray[Any]] = {
        "layers": np.array(json.dumps(listed)),
        "split": np.array(str(split)),
    }
    for top in tops:
        arrays[f"{top.name}.indices"] = top.indices
        arrays[f"{top.name}.peaks"] = top.peaks
        arrays[f"{top.name}.positions"] = top.positions
    with open(path, "wb") as file:
        np.savez_compressed(file, allow_pickle=False, **arrays)


def load_channel_tops(path: str | os.PathLike[str]) -> list[ChannelTops]:
    """What `save_channel_tops` wrote."""
    with np.load(path, allow_pickle=False) as data:
        listed = json.loads(str(data["layers"]))
        return [
            ChannelTops(
                LayerPath.from_json(entry["path"]),
                entry["name"],
                (int(entry["map_size"][0]), int(entry["map_size"][1])),
                data[f"{entry['name']}.indices"],
                data[f"{entry['name']}.peaks"],
                data[f"{entry['name']}.positions"],
                int(entry.get("ranked", 0)),
            )
            for entry in listed
        ]
