"""The analysis walks into blocks, and the builder builds them: shapes, counts, errors on
the block's path, repeats, and the modules a path names."""

from __future__ import annotations

import pytest
import torch

from explorer.core.analysis import analyze
from explorer.core.builder import BuildError, build_model
from explorer.core.diagnostics import RemoveLayer, SetParams
from explorer.core.fixes import apply_fix, selection_after
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, InputSpec, LayerSpec, NetworkSpec


def conv(filters: int, stride: int = 1, **values: object) -> LayerSpec:
    return LayerSpec.create(
        "Conv2D",
        {"filters": filters, "kernel_size": 3, "padding": "same", "stride": stride, **values},
    )


def basic_block(
    filters: int, stride: int = 1, shortcut: str = "auto", repeat: int = 1
) -> BlockSpec:
    body = [
        conv(filters, stride, use_bias=False),
        LayerSpec.new("BatchNorm"),
        LayerSpec.create("Activation", {"function": "relu"}),
        conv(filters, use_bias=False),
        LayerSpec.new("BatchNorm"),
    ]
    return BlockSpec.create("Residual", {"shortcut": shortcut, "repeat": repeat}, [body])


def resnet20(shortcut: str) -> NetworkSpec:
    """He et al. 2016, section 4.2: 3 stages of 3 basic blocks on 32×32×3."""
    layers = [
        conv(16, use_bias=False),
        LayerSpec.new("BatchNorm"),
        LayerSpec.create("Activation", {"function": "relu"}),
        basic_block(16, repeat=3, shortcut=shortcut),
        basic_block(32, 2, shortcut),
        basic_block(32, repeat=2, shortcut=shortcut),
        basic_block(64, 2, shortcut),
        basic_block(64, repeat=2, shortcut=shortcut),
        LayerSpec.new("GlobalAvgPool2D"),
        LayerSpec.create("Dense", {"units": 10}),
    ]
    return NetworkSpec(input=InputSpec(3, 32, 32), layers=tuple(layers))


def counts(model: torch.nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() for n, b in model.named_buffers() if "num_batches" not in n)
    return trainable, buffers


def test_resnet20_has_the_papers_parameter_counts_in_the_analysis_and_the_model() -> None:
    # 0.27M with option A (pad); projections where the shape changes add two 1×1 convs + BN
    for shortcut, trainable in (("pad", 269_722), ("auto", 272_474)):
        spec = resnet20(shortcut)
        analysis = analyze(spec)
        assert analysis.ok, analysis.errors
        assert analysis.trainable_params == trainable
        model = build_model(spec, seed=0)
        assert counts(model) == (trainable, analysis.non_trainable_params)
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert analyze(resnet20("pad")).non_trainable_params == 1_376


def test_every_nested_layer_has_the_shape_its_module_gives() -> None:
    spec = resnet20("auto")
    analysis = analyze(spec)
    model = build_model(spec, seed=0).eval()
    seen: dict[str, tuple[int, ...]] = {}
    hooks = [
        module.register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, tuple(o.shape[1:]))
        )
        for name, module in model.named_modules()
    ]
    try:
        model(torch.zeros(1, 3, 32, 32))
    finally:
        for hook in hooks:
            hook.remove()
    nested = [layer for layer in analysis.walk() if layer.path and layer.path.depth > 1]
    assert len(nested) == 5 * 5  # the first copy of each block's body
    for layer in analysis.walk():
        assert layer.path is not None
        assert seen[model.module_name(layer.path)] == layer.output_shape
    # a later copy's layers are modules too
    third = model.module_name(LayerPath((3, 0, 0)), copy=2)
    assert third == "residual_1.2.body.conv2d_2"
    assert model.module_at(LayerPath((3, 0, 0)), copy=2) is model.get_submodule(third)


def test_a_block_in_the_analysis_totals_its_copies_and_holds_its_first_copys_layers() -> None:
    analysis = analyze(resnet20("auto"))
    stage = analysis.at(LayerPath.top(3))
    assert stage.is_block and stage.name == "residual_1"
    body = stage.children[0]
    assert [layer.name for layer in body] == [
        "conv2d_2",
        "batch_norm_2",
        "activation_2",
        "conv2d_3",
        "batch_norm_3",
    ]
    one_copy = sum(layer.trainable_params for layer in body)
    assert stage.trainable_params == 3 * one_copy
    assert stage.receptive_field is not None
    # three blocks of two 3×3 convolutions after the stem's: 3 + 3·2·2 = 15
    assert stage.receptive_field.size == (15, 15)


def test_a_shape_mismatch_at_the_merge_is_an_error_on_the_block_with_a_fix() -> None:
    spec = NetworkSpec(
        layers=(
            conv(8),
            BlockSpec.create("Residual", {"shortcut": "identity"}, [[conv(16)]]),
            LayerSpec.new("Flatten"),
            LayerSpec.create("Dense", {"units": 10}),
        )
    )
    analysis = analyze(spec)
    (error,) = analysis.errors
    assert error.path == LayerPath.top(1)
    assert "identity shortcut" in error.message
    assert isinstance(error.fix, SetParams) and error.fix.path == LayerPath.top(1)
    assert error.fix.label == "pad channels" and error.fix.changes == (("shortcut", "pad"),)
    fixed = apply_fix(spec, error.fix)
    assert analyze(fixed).ok
    assert analyze(fixed).trainable_params == counts(build_model(fixed))[0]
    # a body that drops channels needs weights: a projection
    fewer = spec.replace_at(LayerPath((1, 0, 0)), conv(4))
    (error,) = analyze(fewer).errors
    assert error.fix is not None and error.fix.label == "use a projection shortcut"
    assert analyze(apply_fix(fewer, error.fix)).ok


def test_a_merge_of_mismatched_sizes_offers_the_one_layer_change_that_matches_them() -> None:
    strided = conv(4, 2)  # 9 -> 5
    spec = NetworkSpec(
        input=InputSpec(1, 9, 9),
        layers=(
            BlockSpec.create("Parallel", {"merge": "concat"}, [[conv(4)], [strided]]),
            LayerSpec.new("Flatten"),
            LayerSpec.create("Dense", {"units": 10}),
        ),
    )
    (error,) = analyze(spec).errors
    assert error.path == LayerPath.top(0) and "concat joins channels" in error.message
    assert error.fix is not None and error.fix.path == LayerPath((0, 1, 0))
    assert error.fix.label == "match the sizes: use stride 1 on conv2d_2"
    assert analyze(apply_fix(spec, error.fix)).ok


def test_removing_the_last_layer_of_a_sub_stack_selects_its_block() -> None:
    inner = LayerSpec.create("Conv2D", {"filters": 1, "kernel_size": 1, "activation": "softmax"})
    spec = NetworkSpec(
        input=InputSpec(1, 4, 4),
        layers=(
            BlockSpec.create("Parallel", {"merge": "add"}, [[inner], [inner, inner]]),
            LayerSpec.new("Flatten"),
            LayerSpec.create("Dense", {"units": 10}),
        ),
    )
    only = RemoveLayer("remove this layer", path=LayerPath((0, 0, 0)))
    assert selection_after(spec, only) == LayerPath.top(0)
    second = RemoveLayer("remove this layer", path=LayerPath((0, 1, 1)))
    assert selection_after(spec, second) == LayerPath((0, 1, 0))
    assert selection_after(spec, RemoveLayer("x", path=LayerPath((0, 1, 0)))) == LayerPath(
        (0, 1, 0)
    )


def test_an_error_inside_a_block_is_on_the_nested_layers_path_and_later_rows_are_unknown() -> None:
    spec = NetworkSpec(
        input=InputSpec(1, 8, 8),
        layers=(
            BlockSpec.create(
                "Parallel",
                {"merge": "concat"},
                [[conv(4)], [LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 9})]],
            ),
            LayerSpec.new("Flatten"),
            LayerSpec.create("Dense", {"units": 10}),
        ),
    )
    analysis = analyze(spec)
    (error,) = analysis.errors
    assert error.path == LayerPath((0, 1, 0))
    assert "kernel 9" in error.message
    assert not analysis.at(LayerPath.top(0)).known
    assert not analysis.layers[2].known
    try:
        build_model(spec)
    except BuildError as refused:
        assert "layer 1 › branch 2 › 1: " in str(refused)
    else:
        raise AssertionError("a spec with errors was built")


def test_an_error_in_a_later_copy_is_reported_on_the_block() -> None:
    # each copy shrinks the maps by 2: the third copy gets 2×2 maps, too small for 3×3
    shrinking = BlockSpec.create(
        "Parallel",
        {"merge": "concat", "repeat": 3},
        [
            [LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3})],
            [LayerSpec.create("MaxPool2D", {"pool_size": 3, "stride": 1})],
        ],
    )
    spec = NetworkSpec(
        input=InputSpec(1, 6, 6),
        layers=(shrinking, LayerSpec.new("Flatten"), LayerSpec.create("Dense", {"units": 10})),
    )
    errors = analyze(spec).errors
    assert [e.path for e in errors] == [LayerPath.top(0)] * 2
    assert errors[0].message.startswith("copy 3 of 3: branch 1 › 1 (Conv2D): kernel 3 > input 2")
    assert errors[1].message.startswith("copy 3 of 3: branch 2 › 1 (MaxPool2D): pool 3 > input 2")


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_a_built_network_with_blocks_scripts_and_gives_the_same_outputs() -> None:
    squeeze = BlockSpec.create(
        "Parallel",
        {"merge": "multiply"},
        [
            [],
            [
                LayerSpec.new("GlobalAvgPool2D"),
                LayerSpec.create("Dense", {"units": 2, "activation": "relu"}),
                LayerSpec.create("Dense", {"units": 8, "activation": "sigmoid"}),
            ],
        ],
    )
    spec = NetworkSpec(
        input=InputSpec(1, 12, 12),
        layers=(
            conv(8),
            BlockSpec.create(
                "Residual", {"repeat": 2, "activation": "prelu"}, [[conv(8), squeeze]]
            ),
            LayerSpec.new("Flatten"),
            LayerSpec.create("Dense", {"units": 10}),
        ),
    )
    analysis = analyze(spec)
    assert analysis.ok, analysis.errors
    model = build_model(spec, seed=0).eval()
    assert counts(model) == (analysis.trainable_params, analysis.non_trainable_params)
    scripted = torch.jit.script(model)
    x = torch.randn(3, 1, 12, 12)
    assert torch.allclose(scripted(x), model(x))


def test_a_block_named_as_a_layer_is_an_error_on_it_and_the_shapes_go_on() -> None:
    spec = NetworkSpec(
        layers=(
            conv(4).with_name("stem"),
            BlockSpec.create("Residual", {}, [[conv(4)]], name="stem"),
            LayerSpec.new("Flatten"),
            LayerSpec.create("Dense", {"units": 10}),
        )
    )
    analysis = analyze(spec)
    (error,) = analysis.errors
    assert error.path == LayerPath.top(1)
    assert error.message == "name 'stem' is already used by layer 1"
    assert analysis.layers[1].known and analysis.layers[3].output_shape == (10,)
