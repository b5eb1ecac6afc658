"""Shared test set-up: headless Qt, real datasets from ../shared/datasets when available."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _laptop_screen() -> str:
    """Qt's offscreen platform with one 1280×800 screen (its default is 800×800), the size
    the layout budgets are written for; windows fit themselves into their screen."""
    import json
    import tempfile

    screen = {"name": "laptop", "x": 0, "y": 0, "width": 1280, "height": 800}
    path = Path(tempfile.gettempdir()) / "cnn-explorer-test-screen-1280x800.json"
    path.write_text(json.dumps({"screens": [{**screen, "logicalDpi": 96, "dpr": 1}]}))
    return f"offscreen:configfile={path}"


if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    os.environ["QT_QPA_PLATFORM"] = _laptop_screen()

# .ci/run points this at ../shared/datasets; outside CI the tests that need it skip.
TEST_DATA_ENV = "CNN_EXPLORER_TEST_DATA"


def _test_data_dir() -> Path | None:
    value = os.environ.get(TEST_DATA_ENV)
    if value and Path(value).is_dir():
        return Path(value)
    return None


@pytest.fixture
def real_datasets() -> Path:
    """Folder with mnist/ and fashion-mnist/ IDX .gz files; skips when not configured."""
    path = _test_data_dir()
    if path is None:
        pytest.skip(f"real datasets not available: set {TEST_DATA_ENV} to ../shared/datasets")
    return path
