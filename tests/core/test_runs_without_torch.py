"""Listing and reading run folders needs no torch: the training package imports its modules
only when one of its names is asked for."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import explorer.core.training as training
from explorer.core.training.runs import list_run_folders

ROOT = Path(__file__).resolve().parents[2]


def test_listing_and_reading_run_folders_does_not_import_torch(tmp_path: Path) -> None:
    lines = [
        {"event": "stopped", "epoch": 1, "step": 3, "elapsed": 1.5},
        {"event": "nonsense"},
    ]
    for name in ("20260101-120000-a", "20260102-090000-b"):
        (tmp_path / name).mkdir()
        text = "".join(json.dumps(line) + "\n" for line in lines)
        (tmp_path / name / "metrics.jsonl").write_text(text, encoding="utf-8")
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "loose-file.txt").write_text("", encoding="utf-8")
    script = (
        "import sys\n"
        "from explorer.core.training.runs import list_run_folders\n"
        f"for run in list_run_folders({str(tmp_path)!r}):\n"
        "    log = run.read_metrics()\n"
        "    print(run.path.name, len(log.events), len(log.problems))\n"
        "print('torch' in sys.modules)\n"
    )
    output = subprocess.check_output([sys.executable, "-c", script], cwd=ROOT, text=True)
    assert output.splitlines() == [
        "20260102-090000-b 1 1",  # newest first
        "20260101-120000-a 1 1",
        "False",
    ]


def test_a_missing_runs_folder_lists_no_runs(tmp_path: Path) -> None:
    assert list_run_folders(tmp_path / "never-made") == []


def test_each_name_of_the_package_is_the_one_its_module_defines() -> None:
    for name, home in training._HOMES.items():
        module = importlib.import_module(f"explorer.core.training.{home}")
        assert getattr(training, name) is getattr(module, name)
        assert name in dir(training)
    with pytest.raises(AttributeError, match="no attribute 'Trainr'"):
        training.Trainr  # noqa: B018


def test_the_type_checkers_imports_and_the_lazy_names_agree() -> None:
    """The names imported under TYPE_CHECKING are exactly those the package hands out."""
    tree = ast.parse(Path(training.__file__).read_text(encoding="utf-8"))
    guarded = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    imported = {
        alias.name: node.module.rpartition(".")[2]
        for node in guarded.body
        if isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names
    }
    assert imported == training._HOMES
