"""The export formats, each declared once: its key (the command line's `--format`), how the
window's Export menu names it, and its file suffix. No torch here, so `export --help` and the
menu are built without it; `explorer.core.export` writes them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    key: str
    title: str  # the Export menu's entry
    suffix: str
    file_filter: str  # for the save dialog


FORMATS = (
    ExportFormat("pytorch", "PyTorch &Source (.py)…", ".py", "Python source (*.py)"),
    ExportFormat("weights", "&Weights (state_dict .pt)…", ".pt", "PyTorch weights (*.pt)"),
    ExportFormat("torchscript", "&TorchScript (.pt)…", ".pt", "TorchScript (*.pt)"),
    ExportFormat("onnx", "&ONNX (.onnx)…", ".onnx", "ONNX model (*.onnx)"),
)
EXPORT_FORMATS = tuple(f.key for f in FORMATS)
