"""Run folders: where a training run keeps its project, metrics and checkpoint.

```
runs/20260101-120000-keras-tutorial-cnn/
    project.json        the spec, with the training settings actually used
    metrics.jsonl       one JSON object per event (see events.event_to_json)
    checkpoint.pt       the latest checkpoint (see checkpoint.py)
```
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from types import TracebackType
from typing import TextIO

from explorer.core.project import save_project
from explorer.core.spec import NetworkSpec
from explorer.core.training.events import TrainingEvent, event_to_json

PROJECT_FILE = "project.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"


def default_run_dir(name: str, root: str | os.PathLike[str] = "runs") -> Path:
    """`root/<local time stamp>-<name as a file-name slug>`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "run"
    return Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug[:40]}"


class RunFolder:
    """A run folder; `append` writes one event to metrics.jsonl (flushed, so a crash or
    Ctrl-C keeps every line written so far)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._metrics: TextIO | None = None

    @property
    def project_path(self) -> Path:
        return self.path / PROJECT_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    def create(self, spec: NetworkSpec) -> None:
        """Make the folder and write project.json."""
        self.path.mkdir(parents=True, exist_ok=True)
        save_project(spec, self.project_path)

    def append(self, event: TrainingEvent) -> None:
        if self._metrics is None:
            self.path.mkdir(parents=True, exist_ok=True)
            self._metrics = self.metrics_path.open("a", encoding="utf-8")
        self._metrics.write(json.dumps(event_to_json(event)) + "\n")
        self._metrics.flush()

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
