"""explorer.core must run without Qt: importing all of it loads neither PySide6 nor pyqtgraph."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import explorer.core
from tests.processes import run_python

ROOT = Path(__file__).resolve().parents[2]


def test_core_imports_no_qt() -> None:
    modules = sorted(
        m.name for m in pkgutil.walk_packages(explorer.core.__path__, "explorer.core.")
    )
    assert "explorer.core.analysis" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph',"
        " 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    result = run_python("-c", script, cwd=ROOT, check=True)
    assert result.stdout.strip() == "", f"Qt imported by explorer.core: {result.stdout}"


def test_the_editor_path_does_not_import_torch() -> None:
    """The window must appear before torch loads, so analysis and project I/O are torch-free."""
    script = (
        "import sys\n"
        "import explorer.core.analysis, explorer.core.project, explorer.core.templates\n"
        "import explorer.core.summary\n"
        "print('torch' in sys.modules)\n"
    )
    result = run_python("-c", script, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"
