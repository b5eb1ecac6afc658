"""The app as pip installs it: a wheel in a fresh environment, with no source tree to lean on.

Templates and every other resource must travel as package data; a checkout is not there to
find them beside the code. The environments see the system's packages (torch, PySide6) so
nothing is downloaded, but their own copy of cnn-explorer comes first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import explorer
from explorer.core.templates import template_names

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

# Opens the window exactly as `cnn-explorer` does (the same function), then quits at once.
GUI_START = textwrap.dedent(
    """
    import sys, tempfile
    from PySide6.QtCore import QTimer
    from explorer.ui.common import settings
    settings.use_location(tempfile.mkdtemp())
    from explorer.ui.shell.app import make_application, open_main_window
    app = make_application([])
    window = open_main_window(None)
    print(window.document.spec.name)
    print(len(window.files.templates_menu.actions()))
    QTimer.singleShot(0, window.close)
    QTimer.singleShot(0, app.quit)
    sys.exit(app.exec())
    """
)

METADATA_VERSION = "import importlib.metadata as m; print(m.version('cnn-explorer'))"


def _copy_source(target: Path) -> Path:
    """What a clean clone holds for building: the project file, README and the package."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(
        ROOT / "explorer", target / "explorer", ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _fresh_environment(folder: Path) -> Path:
    # --without-pip: the system's pip (visible through the system site-packages) installs
    # into whichever environment runs it, and creating the venv stays quick.
    _run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(folder)],
        cwd=folder.parent,
    )
    return folder / "bin" / "python"


def _pip(python: Path, *args: str, cwd: Path) -> None:
    result = _run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", *args], cwd=cwd
    )
    assert result.returncode == 0, result.stderr


def _check_installed_app(python: Path, elsewhere: Path, package_root: Path) -> None:
    located = _run([str(python), "-c", "import explorer; print(explorer.__file__)"], elsewhere)
    assert Path(located.stdout.strip()).is_relative_to(package_root), located.stdout

    script = python.parent / "cnn-explorer"
    templates = _run([str(script), "templates"], elsewhere)
    assert templates.returncode == 0, templates.stderr
    listed = [line.split()[0] for line in templates.stdout.splitlines()]
    assert listed == template_names()

    summary = _run([str(script), "summary", "--template", "keras-mnist"], elsewhere)
    assert summary.returncode == 0, summary.stderr
    assert "Total params: 62,346" in summary.stdout

    # The distribution's version is read from explorer.__version__ (one source of truth).
    metadata = _run([str(python), "-c", METADATA_VERSION], elsewhere)
    assert metadata.stdout.strip() == explorer.__version__

    version = _run([str(script), "--version"], elsewhere)
    assert version.returncode == 0 and version.stdout.split() == [
        "cnn-explorer",
        explorer.__version__,
    ]

    gui = _run([str(python), "-c", GUI_START], elsewhere)
    assert gui.returncode == 0, gui.stderr
    assert gui.stdout.splitlines() == ["Keras tutorial CNN (MNIST)", str(len(template_names()))]


def test_a_wheel_installed_without_its_source_tree_runs_every_entry_point(tmp_path: Path) -> None:
    source = _copy_source(tmp_path / "source")
    wheel_command = ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    dist = tmp_path / "dist"
    built = _run(
        [sys.executable, "-m", "pip", *wheel_command, "-w", str(dist), str(source)], tmp_path
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("cnn_explorer-*.whl")
    python = _fresh_environment(tmp_path / "venv")
    _pip(python, str(wheel), cwd=tmp_path)
    shutil.rmtree(source)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _check_installed_app(python, elsewhere, tmp_path / "venv")


def test_an_editable_install_reads_the_resources_of_its_own_checkout(tmp_path: Path) -> None:
    source = _copy_source(tmp_path / "source")
    python = _fresh_environment(tmp_path / "venv")
    _pip(python, "--no-build-isolation", "-e", str(source), cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _check_installed_app(python, elsewhere, source)
