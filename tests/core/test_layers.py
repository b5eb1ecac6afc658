"""The registry: every entry declares every rule, the rules hold together, and messages
about unknown types name what they can."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from explorer.core.diagnostics import ShapeError
from explorer.core.layers import FAMILIES, LAYER_TYPES, UnknownLayerType, layer_type
from explorer.core.memory import Node
from explorer.core.params import Kind
from explorer.core.project import parse_layer
from explorer.core.spec import LayerSpec, SpecError
from explorer.core.vocabulary.geometry import Window
from explorer.core.vocabulary.layer_type import (
    AdviceContext,
    LayerType,
    Reach,
    Shape,
)

# Inputs on which every type of the vocabulary takes its freshly dropped layer.
IMAGE: Shape = (3, 12, 12)
VECTOR: Shape = (20,)


def fitting_inputs(entry: LayerType) -> list[Shape]:
    """The inputs (an image, a vector) that the type's dropped layer accepts."""
    p = LayerSpec.new(entry.name).resolved_view()
    fitting = []
    for shape in (IMAGE, VECTOR):
        try:
            entry.output_shape(shape, p)
        except ShapeError:
            continue
        fitting.append(shape)
    return fitting


TYPE_NAMES = list(LAYER_TYPES)


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_every_type_declares_every_rule(name: str) -> None:
    entry = LAYER_TYPES[name]
    required = [f.name for f in dataclasses.fields(LayerType) if f.default is dataclasses.MISSING]
    for rule in required:
        value = getattr(entry, rule)
        if rule == "window" and entry.reach is not Reach.WINDOW:
            assert value is None
        else:
            assert value is not None, rule
    assert entry.family in FAMILIES
    assert entry.base_name.isidentifier() and entry.base_name.islower()
    assert entry.summary.endswith(".")
    for param in entry.params:
        assert param.help, param.name
        assert not param.required or param.initial is not None, param.name
        if param.kind is Kind.CHOICE:
            assert param.choices


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_every_rule_answers_for_a_dropped_layer(name: str) -> None:
    entry = LAYER_TYPES[name]
    layer = LayerSpec.new(name)
    p = layer.resolved_view()
    inputs = fitting_inputs(entry)
    assert inputs, f"{name} takes neither an image nor a vector"
    for shape in inputs:
        out = entry.output_shape(shape, p)
        assert out and all(n > 0 for n in out)
        trainable, frozen = entry.weights(shape, p)
        assert trainable >= 0 and frozen >= 0
        assert entry.macs(shape, out, p) >= 0
        if entry.window is not None:
            window = entry.window(shape, p)
            assert isinstance(window, Window)
            assert (out[1], out[2]) == window.output_size((shape[1], shape[2]))
        nodes = entry.autograd(shape, out, p)
        assert nodes and all(isinstance(node, Node) for node in nodes)
        assert isinstance(entry.build(shape, p), nn.Module)
        for downsampled in (False, True):
            advice = entry.advice(shape, out, p, AdviceContext(downsampled, 1))
            assert all(a.message for a in advice)
    assert layer.describe()


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_every_type_counts_what_its_torch_module_holds_and_computes(name: str) -> None:
    """Shape, parameters and multiply-adds against the real module (torch's own FLOP
    counter: two FLOPs per multiply-add)."""
    entry = LAYER_TYPES[name]
    p = LayerSpec.new(name).resolved_view()
    for shape in fitting_inputs(entry):
        out = entry.output_shape(shape, p)
        module = entry.build(shape, p).eval()
        x = torch.randn(2, *shape)
        with torch.no_grad(), FlopCounterMode(display=False) as flops:
            y = module(x)
        assert tuple(y.shape[1:]) == out
        trainable = sum(t.numel() for t in module.parameters() if t.requires_grad)
        frozen = sum(b.numel() for b in module.buffers() if b.is_floating_point())
        assert entry.weights(shape, p) == (trainable, frozen)
        assert entry.macs(shape, out, p) == flops.get_total_flops() // (2 * 2)
        assert math.prod(out) == y[0].numel()


def test_a_window_is_declared_exactly_for_windowed_types() -> None:
    conv = LAYER_TYPES["Conv2D"]
    with pytest.raises(ValueError, match="Conv2D: a window is declared exactly"):
        dataclasses.replace(conv, window=None)
    dropout = LAYER_TYPES["Dropout"]
    with pytest.raises(ValueError, match="Dropout: a window is declared exactly"):
        dataclasses.replace(dropout, reach=Reach.WINDOW)


def test_a_role_names_one_of_the_types_own_keys() -> None:
    with pytest.raises(ValueError, match="role key 'units' is not one of its params"):
        dataclasses.replace(LAYER_TYPES["Conv2D"], scores_key="units")


def test_the_registry_keeps_the_palette_order() -> None:
    assert TYPE_NAMES == [
        "Conv2D",
        "DepthwiseConv2D",
        "SeparableConv2D",
        "MaxPool2D",
        "AvgPool2D",
        "GlobalMaxPool2D",
        "GlobalAvgPool2D",
        "Flatten",
        "Dense",
        "Dropout",
        "BatchNorm",
        "Activation",
    ]


def test_an_unknown_type_without_a_position_names_no_layer() -> None:
    with pytest.raises(SpecError) as caught:
        LayerSpec.create("Conv9D")
    assert caught.value.message.startswith("unknown layer type 'Conv9D'; expected one of Conv2D")
    assert caught.value.layer_index is None


def test_an_unknown_type_at_a_position_names_the_layer_by_number() -> None:
    with pytest.raises(SpecError) as caught:
        LayerSpec.create("Conv9D", index=2)
    assert caught.value.message.startswith("layer 3: unknown layer type 'Conv9D'")
    with pytest.raises(SpecError) as caught:
        parse_layer(0, {"type": None})
    assert caught.value.message.startswith("layer 1: 'type' must be a string, got None")


def test_looking_up_an_unknown_type_reads_as_a_message() -> None:
    with pytest.raises(KeyError) as caught:
        layer_type("Conv9D")
    assert isinstance(caught.value, UnknownLayerType)
    assert str(caught.value) == (
        "unknown layer type 'Conv9D'; expected one of " + ", ".join(LAYER_TYPES)
    )
    with pytest.raises(UnknownLayerType):
        LayerSpec.new("Conv9D")
