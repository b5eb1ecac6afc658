"""Shared test set-up: headless Qt, real datasets from ../shared/datasets when available."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

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
