"""The application layer and the capture result types import without torch.

The window draws before torch loads, so what its views import at start-up (the capture
result types, the curve history, the trained-weights rule, the layer-name rule) must not
pull torch in; and the run preparation loads torch only when a run is prepared.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes import run_python

ROOT = Path(__file__).resolve().parents[2]


def _imports_torch(module: str) -> bool:
    script = f"import sys\nimport {module}\nprint('torch' in sys.modules)\n"
    result = run_python("-c", script, cwd=ROOT, check=True)
    return result.stdout.strip() == "True"


@pytest.mark.parametrize(
    "module",
    [
        "explorer.core.capture_types",
        "explorer.core.app",
        "explorer.core.app.preparation",
        "explorer.core.app.training_run",
        "explorer.core.app.run_plan",
        "explorer.core.app.curves",
        "explorer.core.app.trained_weights",
        "explorer.core.app.layer_names",
    ],
)
def test_importing_does_not_import_torch(module: str) -> None:
    assert not _imports_torch(module)


def test_the_capture_module_itself_imports_torch() -> None:
    """The check above can fail: the module that runs the forward pass does load torch."""
    assert _imports_torch("explorer.core.capture")


def test_capture_re_exports_the_same_types() -> None:
    from explorer.core import capture, capture_types

    assert capture.CaptureResult is capture_types.CaptureResult
    assert capture.LayerCapture is capture_types.LayerCapture
