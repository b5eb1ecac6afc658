"""How a block combines its sub-stacks: the shortcut of a residual block, and the merge.

These rules are shared by the analysis (shapes, counts, errors with fixes) and the builder
(the modules), so the two cannot disagree. Shapes are (C, H, W) or (N,) without the batch.

- The *projection* shortcut is a real Conv2D 1×1 (no bias, strided as needed) and a
  BatchNorm: `projection_layers` gives them as layer specs, so their counts, memory and
  modules come from the layer registry like any layer's.
- The *pad* shortcut (He et al. 2016, option A) keeps every `stride`-th position and adds
  zero channels; it has no weights.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from explorer.core.block_spec import BlockSpec
from explorer.core.diagnostics import SetParams, ShapeError
from explorer.core.layer_spec import LayerSpec
from explorer.core.params import Value
from explorer.core.vocabulary.blocks import Merge, Shortcut
from explorer.core.vocabulary.layer_type import Shape

__all__ = [
    "merged_shape",
    "projection_layers",
    "resolve_shortcut",
    "shortcut_stride",
    "stride_fixes",
]


def _text(shape: Shape) -> str:
    return "×".join(str(n) for n in shape)


def shortcut_stride(input_shape: Shape, body_shape: Shape) -> tuple[int, int] | None:
    """The stride that takes the input's height and width to the body's output's with a
    1×1 window (ceil(size / stride) == body size), or None when none does."""
    if len(input_shape) != 3 or len(body_shape) != 3:
        return None
    stride = []
    for size, target in zip(input_shape[1:], body_shape[1:], strict=True):
        if target < 1 or target > size:
            return None
        s = -(-size // target)  # the smallest stride giving at most `target` positions
        if -(-size // s) != target:
            return None
        stride.append(s)
    return (stride[0], stride[1])


def resolve_shortcut(requested: str, input_shape: Shape, body_shape: Shape) -> Shortcut:
    """The shortcut a residual block uses: `auto` is identity when the body keeps the shape
    and projection otherwise. ShapeError (with a fix on the block) when the chosen one
    cannot make the input's shape match the body's."""
    kind = Shortcut(requested)
    same = tuple(input_shape) == tuple(body_shape)
    if kind is Shortcut.AUTO:
        kind = Shortcut.IDENTITY if same else Shortcut.PROJECTION
    if kind is Shortcut.IDENTITY:
        if not same:
            # An identity was asked for, so the fix without weights comes first: zero
            # channels where the body adds channels, a projection where it drops some.
            fix: SetParams | None = None
            if len(input_shape) == 3 and shortcut_stride(input_shape, body_shape) is not None:
                fix = (
                    SetParams("pad channels", (("shortcut", "pad"),))
                    if body_shape[0] >= input_shape[0]
                    else SetParams("use a projection shortcut", (("shortcut", "projection"),))
                )
            raise ShapeError(
                f"the body turns {_text(input_shape)} into {_text(body_shape)}, so an identity "
                "shortcut cannot be added to it",
                fix,
            )
        return kind
    if len(input_shape) != 3 or len(body_shape) != 3:
        raise ShapeError(
            f"a {kind.value} shortcut needs image maps (C×H×W), the body turns "
            f"{_text(input_shape)} into {_text(body_shape)}",
            SetParams("use an identity shortcut", (("shortcut", "identity"),)) if same else None,
        )
    if shortcut_stride(input_shape, body_shape) is None:
        raise ShapeError(
            f"the body turns {_text(input_shape)} into {_text(body_shape)}: no stride of a "
            "1×1 shortcut reaches that size (give the body's strided layer 'same' padding)"
        )
    if kind is Shortcut.PAD and body_shape[0] < input_shape[0]:
        raise ShapeError(
            f"a pad shortcut adds zero channels, but the body has fewer channels "
            f"({body_shape[0]}) than its input ({input_shape[0]})",
            SetParams("use a projection shortcut", (("shortcut", "projection"),)),
        )
    return kind


def projection_layers(input_shape: Shape, body_shape: Shape) -> tuple[LayerSpec, LayerSpec]:
    """The layers of a projection shortcut from `input_shape` to `body_shape`: Conv2D 1×1
    without bias, strided as the body is, then BatchNorm (as in He et al. 2016)."""
    stride = shortcut_stride(input_shape, body_shape)
    if stride is None:
        raise ValueError(f"no projection takes {input_shape} to {body_shape}")
    conv = LayerSpec.create(
        "Conv2D",
        {
            "filters": body_shape[0],
            "kernel_size": 1,
            "stride": list(stride) if stride[0] != stride[1] else stride[0],
            "use_bias": False,
        },
    )
    return conv, LayerSpec.create("BatchNorm", {})


def merged_shape(merge: str, shapes: Sequence[Shape]) -> Shape:
    """The shape of the branches' outputs merged; ShapeError (with a fix on the block where
    one exists) when they cannot be.

    `add` needs equal shapes; `concat` equal spatial sizes (it joins channels, or the
    values of vectors); `multiply` equal shapes, or a vector of one value per channel (or
    C×1×1 maps) that scales each channel of the others (squeeze-and-excite)."""
    kind = Merge(merge)
    listed = ", ".join(_text(s) for s in shapes)
    if kind is Merge.CONCAT:
        ranks = {len(s) for s in shapes}
        if ranks == {3} and len({tuple(s[1:]) for s in shapes}) == 1:
            return (sum(s[0] for s in shapes), *shapes[0][1:])
        if ranks == {1}:
            return (sum(s[0] for s in shapes),)
        raise ShapeError(
            f"concat joins channels of maps of one size, but the branches give {listed}: "
            "match the branches' strides and padding",
        )
    if len({tuple(s) for s in shapes}) == 1:
        return shapes[0]
    if kind is Merge.MULTIPLY:
        maps = {tuple(s) for s in shapes if len(s) == 3 and s[1:] != (1, 1)}
        if len(maps) == 1:
            (target,) = maps
            scales_ok = all(
                tuple(s) == target or (s[0] == target[0] and (len(s) == 1 or s[1:] == (1, 1)))
                for s in shapes
            )
            if scales_ok:
                return target
        raise ShapeError(
            f"multiply needs equal shapes or one value per channel, but the branches give {listed}",
        )
    fix = None
    same_size = all(len(s) == 3 for s in shapes) and len({tuple(s[1:]) for s in shapes}) == 1
    if same_size and len({s[0] for s in shapes}) > 1:
        fix = SetParams("concatenate the branches instead", (("merge", "concat"),))
    raise ShapeError(
        f"add needs equal shapes, but the branches give {listed}: match the branches' "
        "filters and strides",
        fix,
    )


def stride_fixes(block: BlockSpec) -> Iterator[tuple[int, int, SetParams]]:
    """Edits that may make a block's sub-stacks meet in one size, as (sub-stack, position,
    fix) for the windowed layers directly in them, those keeping more of the maps first:
    'same' padding where a layer pads less, stride 1 where it strides, then stride 2 where
    it does not. The analysis offers the first that makes the block work."""
    changes: list[tuple[str, Value, str]] = [
        ("padding", "same", "use padding 'same'"),
        ("stride", 1, "use stride 1"),
        ("stride", 2, "use stride 2"),
    ]
    for key, value, label in changes:
        for which, stack in enumerate(block.stacks):
            for index, item in enumerate(stack):
                if not isinstance(item, LayerSpec) or item.entry.window is None:
                    continue
                p = item.resolved_view()
                if key in p and p[key] != value:
                    yield which, index, SetParams(label, ((key, value),))
