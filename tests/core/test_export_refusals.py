"""A network a format cannot express is refused with one line saying why: exit 2 from the
command line, nothing written, no traceback and no converter chatter on the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from explorer.cli import main
from explorer.commands.base import EXIT_BAD_INPUT
from explorer.core import builder
from explorer.core.builder import Network
from explorer.core.export import ExportError, export_onnx, export_torchscript
from explorer.core.spec import NetworkSpec


class TakesVarargs(nn.Module):
    """TorchScript compiles no function with *args."""

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return x


class DecidesOnValues(nn.Module):
    """torch.export cannot trace a branch on a tensor's value."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if float(x.sum()) > 0:
            return x
        return -x


def _network(module: nn.Module) -> Network:
    return Network(
        [("flatten_1", nn.Flatten()), ("odd_1", module)],
        input_shape=(1, 28, 28),
        final_softmax=False,
        penalties={},
    )


def test_torchscript_of_an_unscriptable_module_says_so(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"^cannot export as TorchScript: Compiled functions"):
        export_torchscript(_network(TakesVarargs()), tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_onnx_of_an_untraceable_module_names_the_cause_without_chatter(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnxscript")
    with pytest.raises(ExportError) as raised:
        export_onnx(_network(DecidesOnValues()), tmp_path / "m.onnx")
    message = str(raised.value)
    assert message.startswith("cannot export as ONNX: Could not guard on data-dependent")
    assert "\n" not in message and "\x1b" not in message  # one line, no terminal colours
    assert capfd.readouterr() == ("", "")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fmt", "module", "message"),
    [
        ("torchscript", TakesVarargs(), "error: cannot export as TorchScript: "),
        ("pytorch", DecidesOnValues(), "error: cannot write DecidesOnValues as PyTorch source"),
    ],
)
def test_the_command_exits_2_for_a_network_the_format_cannot_express(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    module: nn.Module,
    message: str,
) -> None:
    # The builder makes only exportable modules, so this one builds a network holding one.
    def build_odd(spec: NetworkSpec, *, seed: int | None = None) -> Network:
        return _network(module)

    monkeypatch.setattr(builder, "build_model", build_odd)
    out = tmp_path / "model.out"
    code = main(["export", "--template", "keras-mnist", "--format", fmt, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert err.startswith(message) and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
