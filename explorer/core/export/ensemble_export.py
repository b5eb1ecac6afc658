"""Writing an ensemble as one model: PyTorch source, weights, TorchScript and ONNX.

Each file computes what `explorer.core.ensemble.Ensemble` computes: the log of the members'
averaged class probabilities (softmax of it gives the average back; its argmax is the
ensemble's class). The weights are one state_dict keyed `members.k.<member key>`, as the
app's `Ensemble.state_dict()`. The PyTorch source is the member network's file (its class
once) with an `Ensemble` class and a main program for the ensemble in place of its own.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template

import torch
from torch import nn

from explorer.core.ensemble import Ensemble, build_ensemble
from explorer.core.export.formats import (
    _first_line,
    _quiet_torch,
    export_onnx,
    export_weights,
)
from explorer.core.export.source import ExportError, class_name_for, pytorch_source
from explorer.core.export_formats import EXPORT_FORMATS
from explorer.core.files import check_file_target, write_stream_atomic, write_text_atomic
from explorer.core.spec import NetworkSpec

#: where the member network's file starts its main program, replaced by the ensemble's
MAIN_MARKER = '\nif __name__ == "__main__":\n'

ENSEMBLE_SOURCE = Template('''
# ---- the ensemble: $size networks of this architecture, their probabilities averaged ----------

ENSEMBLE_SIZE = $size


class Ensemble(nn.Module):
    """ENSEMBLE_SIZE networks of one architecture, each with its own weights.

    forward() returns the log of the members' averaged class probabilities: softmax of it
    gives the average back, and its argmax is the ensemble's class. predict_proba() returns
    the average. CNN Explorer's ensemble weights hold member k's tensors as `members.k.…`.
    """

    def __init__(self, size: int = ENSEMBLE_SIZE) -> None:
        super().__init__()
        self.members = nn.ModuleList(build_model() for _ in range(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict_proba(x).clamp_min(1e-12).log()

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """The members' class probabilities averaged (batch, NUM_CLASSES)."""
        return torch.stack([torch.softmax(m(x), dim=1) for m in self.members]).mean(0)


def build_ensemble() -> Ensemble:
    return Ensemble()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="An ensemble of $class_name networks.")
    parser.add_argument("--weights", help="the ensemble's state_dict saved by CNN Explorer")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    ensemble = build_ensemble()
    if args.weights:
        ensemble.load_state_dict(torch.load(args.weights, weights_only=True))
        ensemble.eval()
        with torch.no_grad():
            print("output shape:", tuple(ensemble(torch.randn(2, *INPUT_SHAPE)).shape))
    else:
        # Each member starts from its own initial weights and trains as one network.
        for number, member in enumerate(ensemble.members, start=1):
            print(f"member {number} of {len(ensemble.members)}")
            train(member, args.epochs)
        torch.save(ensemble.state_dict(), "weights.pt")
        print("weights saved to weights.pt")
''')


def ensemble_source(
    spec: NetworkSpec, ensemble: Ensemble, *, file_name: str = "ensemble.py"
) -> str:
    """The text of a standalone .py file defining the network once and an `Ensemble` of
    as many (see ENSEMBLE_SOURCE); only the structure of `ensemble` is used."""
    member = pytorch_source(spec, model=ensemble.member(0), file_name=file_name)
    head, marker, _ = member.rpartition(MAIN_MARKER)
    if not marker:  # the network's file changed its layout: say so rather than write junk
        raise ExportError("cannot write the ensemble's source: the network's has no main program")
    size = len(ensemble.members)
    tail = ENSEMBLE_SOURCE.substitute(size=size, class_name=class_name_for(spec))
    return head.rstrip("\n") + "\n\n" + tail


class ScriptableEnsemble(nn.Module):
    """`Ensemble` as TorchScript compiles it: each member an nn.Sequential of the network's
    named layers, so the state_dict keys stay the app's (`members.k.<layer>.…`)."""

    def __init__(self, ensemble: Ensemble) -> None:
        super().__init__()
        self.members = nn.ModuleList(
            nn.Sequential(OrderedDict(ensemble.member(index).layer_modules()))
            for index in range(len(ensemble.members))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict_proba(x).clamp_min(1e-12).log()

    @torch.jit.export
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        probabilities = [torch.softmax(member(x), dim=1) for member in self.members]
        return torch.stack(probabilities).mean(0)


def export_ensemble_torchscript(ensemble: Ensemble, path: str | os.PathLike[str]) -> None:
    """Save a TorchScript module (torch.jit.load) computing the ensemble's output, with
    `predict_proba` too."""
    with _quiet_torch("TorchScript export"):
        try:
            scripted = torch.jit.script(ScriptableEnsemble(ensemble))
        except Exception as error:  # the compiler raises many kinds, all meaning "cannot"
            raise ExportError(f"cannot export as TorchScript: {_first_line(error)}") from error
        scripted.eval()
        write_stream_atomic(path, lambda stream: torch.jit.save(scripted, stream))


def export_ensemble(
    spec: NetworkSpec,
    members: Sequence[Mapping[str, torch.Tensor]],
    fmt: str,
    path: str | os.PathLike[str],
) -> list[Path]:
    """Export the ensemble of these members' weights (two or more states of `spec`'s
    network) in one of EXPORT_FORMATS as one module; return the files written.

    PyTorch source also writes the weights beside it (`ensemble.py` + `ensemble.pt`).
    Raises BuildError for a spec with errors.
    """
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; formats: {', '.join(EXPORT_FORMATS)}")
    path = Path(path)
    targets = [path, path.with_suffix(".pt")] if fmt == "pytorch" else [path]
    for target in targets:  # before any work, and before the first file is written
        check_file_target(target)
    ensemble = build_ensemble(spec, members)
    if fmt == "pytorch":
        write_text_atomic(path, ensemble_source(spec, ensemble, file_name=path.name))
        export_weights(ensemble, targets[1])
    elif fmt == "weights":
        export_weights(ensemble, path)
    elif fmt == "torchscript":
        export_ensemble_torchscript(ensemble, path)
    else:
        export_onnx(ensemble, path)
    return targets
