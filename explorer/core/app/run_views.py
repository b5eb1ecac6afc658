"""What a finished run leaves for looking inside without the window: `embedding.npz` (the
PCA layout of the penultimate features of up to 5,000 test images, with their labels and
predictions; not the features themselves, megabytes per run) and `channels.npz` (each
convolution channel's top test images), written into the run folder by `TrainingRun` once
the trainer has finished, for the CLI and the window alike. Datasets without a test split
get neither.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from explorer.core.builder import Network
    from explorer.core.data import DeviceDataset
    from explorer.core.spec import NetworkSpec

log = logging.getLogger(__name__)

EMBEDDING_FILE = "embedding.npz"
CHANNELS_FILE = "channels.npz"


def write_run_views(
    folder: str | Path,
    spec: NetworkSpec,
    model: Network,
    dataset: DeviceDataset,
    cancel: threading.Event | None = None,
) -> list[Path]:
    """Write embedding.npz and channels.npz into `folder` from the model's test split (the
    latter only when the network has convolutions); the paths written. Nothing when the
    dataset has no test split or `cancel` is set before the end; a network without a layer
    to take features before gets no embedding."""
    from explorer.core.channel_tops import channel_tops, conv_paths, save_channel_tops
    from explorer.core.dataset_split import Split
    from explorer.core.embedding import pca_embedding, penultimate_features, save_embedding

    if dataset.size(Split.TEST) == 0:
        return []
    folder = Path(folder)
    written: list[Path] = []
    try:
        features = penultimate_features(model, dataset, cancel=cancel)
    except ValueError as error:
        log.info("no embedding for the run: %s", error)
        features = None
    if features is not None and features.size >= 2:
        target = folder / EMBEDDING_FILE
        layout = {"pca": pca_embedding(features.features)}
        save_embedding(target, features, layout, with_features=False)
        written.append(target)
    paths = conv_paths(spec)
    tops = channel_tops(model, paths, dataset, cancel=cancel) if paths else None
    if tops:
        target = folder / CHANNELS_FILE
        save_channel_tops(target, tops)
        written.append(target)
    return written
