"""The channel explorer's background jobs (see channel_explorer.py): plain functions of
their data and a `TaskControl`, each on a snapshot of the weights (or the network's initial
weights when it has not been trained), never the model a run trains."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from explorer.core.channel_explorer import ChannelMaxima, MaximisedImage
from explorer.core.channel_tops import ChannelTops
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.paths import LayerPath
from explorer.core.spec import NetworkSpec
from explorer.ui.common.tasks import TaskControl

MAX_STEPS = 160


@dataclass(frozen=True, eq=False)
class TopMaps:
    """The chosen channel's maps (9, H, W) on its top images, for the hover view."""

    path: LayerPath
    channel: int
    indices: np.ndarray
    maps: np.ndarray


def _model(spec: NetworkSpec, state: Mapping[str, torch.Tensor] | None, seed: int) -> object:
    from explorer.core.builder import build_model
    from explorer.core.capture import snapshot_model

    return snapshot_model(spec, state) if state is not None else build_model(spec, seed=seed)


def find_job(
    spec: NetworkSpec,
    state: Mapping[str, torch.Tensor] | None,
    dataset: DeviceDataset,
    path: LayerPath,
    control: TaskControl,
) -> ChannelMaxima | None:
    from explorer.core.channel_explorer import channel_maxima

    model = _model(spec, state, spec.training.seed)
    return channel_maxima(model, dataset, path, cancel=control.stop_event)  # type: ignore[arg-type]


def maps_job(
    spec: NetworkSpec,
    state: Mapping[str, torch.Tensor] | None,
    dataset: DeviceDataset,
    path: LayerPath,
    channel: int,
    indices: np.ndarray,
    control: TaskControl,
) -> TopMaps:
    from explorer.core.channel_explorer import forward_to

    model = _model(spec, state, spec.training.seed)
    images = dataset.normalize(dataset.images(Split.TEST)[torch.from_numpy(indices)])
    with torch.inference_mode():
        maps = forward_to(model, path, images)[:, channel]  # type: ignore[arg-type]
    return TopMaps(path, channel, indices, maps.float().cpu().numpy().copy())


def maximise_job(
    spec: NetworkSpec,
    state: Mapping[str, torch.Tensor] | None,
    value_range: tuple[float, float],
    path: LayerPath,
    channel: int,
    control: TaskControl,
) -> MaximisedImage | None:
    from explorer.core.channel_explorer import maximise_channel

    model = _model(spec, state, spec.training.seed)
    return maximise_channel(
        model,  # type: ignore[arg-type]
        path,
        channel,
        steps=MAX_STEPS,
        value_range=value_range,
        cancel=control.stop_event,
        progress=control.report,
    )


@dataclass(frozen=True, eq=False)
class SavedTops:
    """A finished run's channels.npz: each convolution's top images, by path."""

    layers: dict[LayerPath, ChannelTops]


def saved_tops_job(path: Path, control: TaskControl) -> SavedTops:
    from explorer.core.channel_tops import load_channel_tops

    return SavedTops({tops.path: tops for tops in load_channel_tops(path)})
