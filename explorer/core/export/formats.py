"""Writing a built network to files: weights, PyTorch source, TorchScript and ONNX.

Every file is written beside its destination under a temporary name and renamed over it,
so a failed export never leaves half a file behind, and a destination that is not a regular
file (a folder, a device, a FIFO) is refused before any work (see explorer.core.files).
Exported graphs run in eval mode (dropout off, BatchNorm on its running statistics) and
return logits, like `Network`; ONNX files keep each BatchNorm as its own node.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path

import torch
from torch import nn

from explorer.core.builder import Network
from explorer.core.ensemble import Ensemble
from explorer.core.export.source import ExportError, pytorch_source
from explorer.core.export_formats import EXPORT_FORMATS
from explorer.core.files import (
    check_file_target,
    write_file_atomic,
    write_stream_atomic,
    write_text_atomic,
)
from explorer.core.spec import NetworkSpec
from explorer.core.weights import save_state_dict

log = logging.getLogger(__name__)

_TERMINAL_COLOURS = re.compile(r"\x1b\[[0-9;]*m")
ONNX_INSTALL_HINT = 'ONNX export needs the onnx extra: pip install "cnn-explorer[onnx]"'


class OnnxUnavailableError(ExportError):
    """The optional onnx/onnxscript packages are not installed."""


def export_weights(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Save the model's state_dict (CPU tensors), loadable with torch.load(weights_only=True)."""
    save_state_dict(model.state_dict(), path)


def export_pytorch_source(
    spec: NetworkSpec, path: str | os.PathLike[str], *, model: Network | None = None
) -> None:
    """Write the standalone PyTorch source of the network (see `pytorch_source`)."""
    path = Path(path)
    write_text_atomic(path, pytorch_source(spec, model=model, file_name=path.name))


def export_torchscript(model: Network, path: str | os.PathLike[str]) -> None:
    """Save a TorchScript module (load with torch.jit.load) computing the network's logits.

    The layers are scripted as an nn.Sequential of the same named children, so the saved
    module's state_dict keys equal the app's.
    """
    sequential = nn.Sequential(OrderedDict(model.layer_modules()))
    # torch 2.13 marks TorchScript deprecated in favour of torch.export, but torch.jit.load
    # is still what C++ (libtorch) and most deployment guides use, so it stays offered.
    with _quiet_torch("TorchScript export"):
        try:
            scripted = torch.jit.script(sequential)
        except Exception as error:  # the compiler raises many kinds, all meaning "cannot"
            raise ExportError(f"cannot export as TorchScript: {_first_line(error)}") from error
        scripted.eval()
        # Into a stream, not to a path: saving to a path on a full disk aborts the process.
        write_stream_atomic(path, lambda stream: torch.jit.save(scripted, stream))


def onnx_available() -> bool:
    """Whether the onnx extra (onnx, onnxscript) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(
    model: Network | Ensemble, path: str | os.PathLike[str], *, opset: int | None = None
) -> None:
    """Save an ONNX model in one file with a dynamic batch dimension.

    Input "images" (batch, C, H, W) float32, output "logits" (batch, classes). Raises
    OnnxUnavailableError when the onnx extra is missing.
    """
    if not onnx_available():
        raise OnnxUnavailableError(ONNX_INSTALL_HINT)
    model = _onnx_ready(model)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    # Batch 2, not 1: torch.export specialises a dimension of size 1 to a constant.
    example = torch.randn(2, *model.input_shape, device=device)
    batch = torch.export.Dim("batch", min=1)
    was_training = model.training
    model.eval()

    try:
        with _quiet_torch("ONNX export"):
            program = torch.onnx.export(
                model,
                (example,),
                None,
                input_names=["images"],
                output_names=["logits"],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes={"x": {0: batch}},
                verbose=False,
                optimize=False,  # _optimize_keeping_norms instead
            )
            if program is not None:
                _optimize_keeping_norms(program)
    except Exception as error:
        raise ExportError(f"cannot export as ONNX: {_first_line(error)}") from error
    finally:
        model.train(was_training)
    if program is None:  # only with a destination file, which is not given here
        raise ExportError("cannot export as ONNX: the exporter returned no program")
    # Written apart from the conversion, so a full disk is an OSError naming the file.
    # The models are far below ONNX's 2 GB limit: keep the weights in the file.
    with _quiet_torch("ONNX export"):
        write_file_atomic(path, lambda target: program.save(str(target), external_data=False))


def _optimize_keeping_norms(program: torch.onnx.ONNXProgram) -> None:
    """Simplify the exported graph as torch.onnx's own optimisation does (constant folding
    and onnxscript's default rewrite rules), except that each BatchNorm stays a
    BatchNormalization node instead of being folded into the convolution before it: the
    file keeps the network's layers and imports back with the same analysis.

    onnxscript names its default rules only privately; where that name is gone (another
    onnxscript), the whole of its optimisation runs, folding the norms as before.
    """
    import onnxscript.optimizer
    from onnxscript import rewriter

    try:
        from onnxscript.rewriter.rules import common as rules

        folding = {
            rules.fuse_batchnorm_into_conv_rule,
            rules.fuse_batchnorm_into_conv_transpose_rule,
            rules.fuse_batchnorm_into_gemm_rule,
        }
        defaults = rewriter._DEFAULT_REWRITE_RULES
    except (ImportError, AttributeError):
        log.debug("onnxscript without its default rules by name: BatchNorm is folded")
        program.optimize()
        return
    kept = [rule for rule in defaults if rule not in folding]
    for _ in range(2):  # a rewrite can leave more to fold, as onnxscript's two rounds do
        onnxscript.optimizer.fold_constants(program.model)
        program.model = rewriter.rewrite(program.model, kept)
    onnxscript.optimizer.remove_unused_nodes(program.model)


def _first_line(error: BaseException) -> str:
    """What a converter says is wrong: the first line of the deepest cause's message (the
    wrappers' messages and the rest, often pages of graph dumps, go to the debug log)."""
    log.debug("export failed", exc_info=error)
    while error.__cause__ is not None:
        error = error.__cause__
    text = _TERMINAL_COLOURS.sub("", str(error)).strip()
    return (text.splitlines() or [type(error).__name__])[0].strip()


def _onnx_ready(model: Network | Ensemble) -> Network | Ensemble:
    """The model itself, or an eval-mode equivalent the ONNX exporter can translate.

    torch.export has no ONNX translation for RReLU, whose eval-mode output is a leaky ReLU
    with the mean of its slope range, so a copy swaps that in (RReLU has no weights).
    """
    if not any(isinstance(module, nn.RReLU) for module in model.modules()):
        return model
    copy = deepcopy(model)
    for parent in list(copy.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.RReLU):
                parent.add_module(name, nn.LeakyReLU((child.lower + child.upper) / 2))
    return copy


_TORCH_LOGGERS = ("torch.onnx", "torch.fx", "torch._dynamo", "torch.export")


@contextlib.contextmanager
def _quiet_torch(what: str) -> Iterator[None]:
    """Keep torch's exporter chatter (progress prints, deprecation notices about its own
    internals) out of the user's terminal and the test run; log it at debug level."""
    chatter = io.StringIO()
    # torch.onnx warns about every torchvision operator it skips when torchvision is absent,
    # and torch.export's shape solver warns on stderr before a failure is raised.
    loggers = [logging.getLogger(name) for name in _TORCH_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(chatter),
            # torch.export prints the partial graph of a model it cannot trace to stderr.
            contextlib.redirect_stderr(chatter),
        ):
            warnings.simplefilter("always")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    for warning in caught:
        log.debug("%s: %s", what, warning.message)
    if chatter.getvalue():
        log.debug("%s: %s", what, chatter.getvalue())


def export_network(
    spec: NetworkSpec,
    state_dict: dict[str, torch.Tensor] | None,
    fmt: str,
    path: str | os.PathLike[str],
) -> list[Path]:
    """Build the network (trained weights, or fresh ones from the spec's seed), export it in
    one of EXPORT_FORMATS, and return the files written.

    PyTorch source with trained weights also writes them beside it (`model.py` +
    `model.pt`), so the source can load them. Raises BuildError for a spec with errors.
    """
    from explorer.core.builder import build_model

    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; formats: {', '.join(EXPORT_FORMATS)}")
    path = Path(path)
    targets = (
        [path, path.with_suffix(".pt")] if fmt == "pytorch" and state_dict is not None else [path]
    )
    for target in targets:  # before any work, and before the first file is written
        check_file_target(target)
    model = build_model(spec, seed=spec.training.seed)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    model.eval()
    if fmt == "pytorch":
        export_pytorch_source(spec, path, model=model)
        if state_dict is not None:
            export_weights(model, targets[1])
    elif fmt == "weights":
        export_weights(model, path)
    elif fmt == "torchscript":
        export_torchscript(model, path)
    else:
        export_onnx(model, path)
    return targets
