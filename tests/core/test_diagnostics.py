"""Diagnostics and fixes as values: each fix says what it does by its kind, and is placed
on a layer by a path."""

from __future__ import annotations

import pytest

from explorer.core.analysis import analyze
from explorer.core.diagnostics import (
    Diagnostic,
    InsertLayer,
    RemoveLayer,
    SetParams,
    Severity,
    UseAutomaticName,
)
from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec


def test_a_set_params_fix_without_changes_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one change"):
        SetParams("use the automatic name", ())


@pytest.mark.parametrize(
    "fix",
    [
        SetParams("use rate 0.5", (("rate", 0.5),)),
        InsertLayer("insert a Flatten layer before it", "Flatten"),
        RemoveLayer("remove this layer"),
        UseAutomaticName("use the automatic name"),
    ],
)
def test_placing_a_fix_keeps_its_kind_and_what_it_does(fix) -> None:
    placed = fix.at(LayerPath.top(3))
    assert type(placed) is type(fix)
    assert placed.path == LayerPath.top(3) and fix.path is None
    assert placed == type(fix)(**{**vars(fix), "path": LayerPath.top(3)})


def test_a_diagnostic_text_adds_the_fix_only_when_the_message_does_not_say_it() -> None:
    fix = SetParams("use relu", (("activation", "relu"),), path=LayerPath.top(0))
    said = Diagnostic(Severity.WARNING, "stacked sigmoids saturate: use relu", fix)
    unsaid = Diagnostic(Severity.WARNING, "stacked sigmoids saturate", fix)
    assert said.text() == "stacked sigmoids saturate: use relu"
    assert unsaid.text() == "stacked sigmoids saturate: use relu"
    assert Diagnostic(Severity.ERROR, "no layers").text() == "no layers"


def test_every_diagnostic_of_a_layer_names_it_by_its_path() -> None:
    L = LayerSpec.create
    spec = NetworkSpec(
        input=InputSpec(1, 28, 28),
        layers=(
            L("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "sigmoid"}),
            L("Activation", {"function": "sigmoid"}),
            L("Dropout", {"rate": 0.9}),
            L("Dense", {"units": 10}),
        ),
    )
    analysis = analyze(spec)
    by_layer = {
        d.path: d.message.split(":")[0] for layer in analysis.layers for d in layer.diagnostics
    }
    assert set(by_layer) == {LayerPath.top(1), LayerPath.top(2), LayerPath.top(3)}
    for layer in analysis.layers:
        assert all(d.path == LayerPath.top(layer.index) for d in layer.diagnostics)
    assert all(d.fix is None or d.fix.path is not None for d in analysis.diagnostics)
