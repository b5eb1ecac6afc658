"""Taking a network elsewhere: PyTorch source, weights, TorchScript and ONNX files."""

from explorer.core.export.formats import (
    ONNX_INSTALL_HINT,
    OnnxUnavailableError,
    export_network,
    export_onnx,
    export_pytorch_source,
    export_torchscript,
    export_weights,
)
from explorer.core.export.source import (
    ExportError,
    class_name_for,
    module_expression,
    pytorch_source,
)
from explorer.core.export_formats import EXPORT_FORMATS

__all__ = [
    "EXPORT_FORMATS",
    "ONNX_INSTALL_HINT",
    "ExportError",
    "OnnxUnavailableError",
    "class_name_for",
    "export_network",
    "export_onnx",
    "export_pytorch_source",
    "export_torchscript",
    "export_weights",
    "module_expression",
    "pytorch_source",
]
