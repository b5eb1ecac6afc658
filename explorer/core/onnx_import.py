"""ONNX file -> project: a sequential or residual/branching CNN mapped onto the vocabulary.

The graph is read from its input along single paths; a value read by several nodes is a
fork whose paths meet again at an Add (a Residual block, or a Parallel add), a Concat
(Parallel concat) or a Mul (Parallel multiply, as in squeeze-excite). Weights are kept:
`import_onnx` returns the spec and a state dict for `build_with_weights`, so the project
computes what the ONNX model computes. `onnx` is imported only when a file is read (it is
the optional `[onnx]` extra). Anything the vocabulary has no layer for is named with its
node and op type in an `OnnxImportError`, a ProjectError, so callers show it as they show
a bad project file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from explorer.core.onnx_nodes import (
    ACTIVATION_OPS,
    ALPHA_DEFAULTS,
    Item,
    NodeReader,
    OnnxImportError,
    compact,
)
from explorer.core.spec import BlockSpec, InputSpec, LayerSpec, NetworkSpec
from explorer.core.spec_errors import SpecError

__all__ = ["ONNX_IMPORT_HINT", "Imported", "OnnxImportError", "import_onnx"]

ONNX_IMPORT_HINT = 'Opening ONNX files needs the onnx extra: pip install "cnn-explorer[onnx]"'

_MERGES = {"Add": "add", "Concat": "concat", "Mul": "multiply"}
_SKIPPED = {"Dropout", "Identity"}


# Stands for the weightless pad shortcut on its path while a fork is read.
_PAD_SHORTCUT = Item(LayerSpec.create("Flatten"))


@dataclass(frozen=True)
class Imported:
    """The project read from an ONNX file and the state dict reproducing its outputs."""

    spec: NetworkSpec
    state_dict: dict[str, torch.Tensor]


def import_onnx(path: str | os.PathLike[str]) -> Imported:
    """Read an ONNX file as a project with its weights; OnnxImportError when it cannot be
    read or holds an op the vocabulary has no layer for (named by node and op type)."""
    try:
        import onnx
    except ImportError as error:
        raise OnnxImportError(ONNX_IMPORT_HINT) from error
    path = Path(path)
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except (OSError, ValueError, onnx.checker.ValidationError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise OnnxImportError(f"{path}: not a readable ONNX model: {first}") from error
    except Exception as error:  # protobuf's DecodeError is not a ValueError
        raise OnnxImportError(
            f"{path}: not a readable ONNX model ({type(error).__name__})"
        ) from error
    reader = _GraphReader(model.graph, onnx)
    items, classes = reader.read()
    try:
        spec = NetworkSpec(
            name=path.stem,
            input=InputSpec.create(*reader.input_shape),
            layers=tuple(item.spec for item in items),
        ).with_num_classes(classes)
    except SpecError as error:
        raise OnnxImportError(f"{path}: {error}") from error
    return Imported(spec, _state_dict(spec, items, path))


def _state_dict(spec: NetworkSpec, items: Sequence[Item], path: Path) -> dict[str, torch.Tensor]:
    """The built model's state dict with the ONNX tensors put into its weighted modules,
    matched in module order (body before shortcut, branches in order, as the builder)."""
    from explorer.core.builder import BuildError, build_model

    try:
        model = build_model(spec, seed=0)
    except BuildError as error:
        raise OnnxImportError(f"{path}: the imported network does not build: {error}") from error
    weighted = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.PReLU)
    modules = [m for m in model.modules() if isinstance(m, weighted)]
    tensors = [t for item in items for t in item.tensors]
    if len(modules) != len(tensors):
        raise OnnxImportError(
            f"{path}: {len(tensors)} weighted layers read, the project builds {len(modules)}"
        )
    with torch.no_grad():
        for module, values in zip(modules, tensors, strict=True):
            for name, value in values.items():
                target = getattr(module, name)
                if target.shape != value.shape:
                    raise OnnxImportError(
                        f"{path}: a {type(module).__name__} {name} of shape "
                        f"{tuple(value.shape)} where the project has {tuple(target.shape)}"
                    )
                target.copy_(value)
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


class _GraphReader(NodeReader):
    """Walks one ONNX graph from its input to its output, converting nodes to items."""

    def __init__(self, graph: Any, onnx: Any) -> None:
        self.onnx = onnx
        self.constants: dict[str, np.ndarray] = {
            init.name: onnx.numpy_helper.to_array(init) for init in graph.initializer
        }
        self.nodes = []
        for node in graph.node:
            inputs = [name for name in node.input if name]
            if node.op_type == "Constant" or (inputs and all(n in self.constants for n in inputs)):
                self._fold(node, inputs)  # shape arithmetic on constants, as Concat of ints
            else:
                self.nodes.append(node)
        self.readers: dict[str, list[Any]] = {}
        for node in self.nodes:
            for name in node.input:
                if name and name not in self.constants:
                    self.readers.setdefault(name, []).append(node)
        inputs = [i for i in graph.input if i.name not in self.constants]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise OnnxImportError(
                f"expected one image input and one output, got {len(inputs)} and "
                f"{len(graph.output)}"
            )
        self.input = inputs[0].name
        self.output = graph.output[0].name
        dims = [
            d.dim_value if d.HasField("dim_value") else None
            for d in inputs[0].type.tensor_type.shape.dim
        ]
        if len(dims) != 4 or None in dims[1:]:
            raise OnnxImportError(
                f"input {self.input!r}: expected images (batch, channels, height, width) "
                f"with a fixed image size, got dimensions {dims}"
            )
        self.input_shape = (int(dims[1]), int(dims[2]), int(dims[3]))  # type: ignore[arg-type]

    def _fold(self, node: Any, inputs: list[str]) -> None:
        """Work out a node whose inputs are all constants (onnx's reference evaluator)."""
        from onnx.reference import ReferenceEvaluator

        try:
            results = ReferenceEvaluator(node).run(None, {n: self.constants[n] for n in inputs})
        except Exception as error:  # the evaluator raises whatever its op raises
            raise self._unsupported(node, f"cannot be worked out ({error})") from error
        for name, value in zip(node.output, results, strict=False):
            self.constants[name] = np.asarray(value)

    def read(self) -> tuple[list[Item], int]:
        items, end, merge = self._chain(self.input, None, self.input_shape)
        if merge is not None:
            raise self._unsupported(merge, "joins paths that did not fork from one value")
        value, shape = end
        if value != self.output:
            raise OnnxImportError(f"the graph does not reach its output {self.output!r}")
        if len(shape) != 1:
            raise OnnxImportError(f"the output has shape {shape}, expected (classes,) per image")
        return items, shape[0]

    # ---- walking -------------------------------------------------------------------------

    def _chain(
        self, value: str, first: Any, shape: tuple[int, ...]
    ) -> tuple[list[Item], tuple[str, tuple[int, ...]], Any]:
        """Convert nodes from `value` (through `first`, when given) until a merge node that
        joins a fork opened before, or the graph's output. Returns the items, the last
        value with its shape, and that merge node (None at the output)."""
        items: list[Item] = []
        pads: list[int] | None = None
        node = first
        while True:
            if node is None:
                readers = self.readers.get(value, [])
                if value == self.output and not readers:
                    return items, (value, shape), None
                if len(readers) > 1:
                    item, value, shape = self._fork(value, readers, shape)
                    items.append(item)
                    node = None
                    continue
                if not readers:
                    raise OnnxImportError(f"value {value!r} leads nowhere")
                node = readers[0]
            op = node.op_type
            dynamic = [n for n in node.input if n and n not in self.constants]
            if op in _MERGES and len(dynamic) > 1:
                return items, (value, shape), node
            if pads is not None and op not in ("Conv", "MaxPool", "AveragePool"):
                raise self._unsupported(node, "follows a Pad that no Conv or pooling takes")
            if op == "Pad":
                pads = self._pad(node)
                value, node = node.output[0], None
                continue
            if op in _SKIPPED:
                value, node = node.output[0], None
                continue
            converted, value, shape = self._layer(node, shape, pads)
            pads = None
            node = None
            if converted is None:
                continue
            if converted.spec.type in ("Conv2D", "DepthwiseConv2D", "Dense"):
                converted, value = self._fuse_activation(converted, value)
            items.append(converted)

    def _fork(
        self, value: str, readers: list[Any], shape: tuple[int, ...]
    ) -> tuple[Item, str, tuple[int, ...]]:
        """The block from a value read by several nodes to the node joining the paths."""
        stacks: list[tuple[list[Item], tuple[str, tuple[int, ...]]]] = []
        merge = None
        for reader in readers:
            if reader.op_type in _MERGES and value in reader.input:
                stacks.append(([], (value, shape)))  # an identity path
                joined = reader
            elif reader.op_type == "Slice":
                padded, joined = self._pad_shortcut(reader)
                stacks.append(([_PAD_SHORTCUT], (padded, shape)))
            else:
                items, end, joined = self._chain(value, reader, shape)
                if joined is None:
                    raise self._unsupported(reader, "starts a path that never joins the others")
                stacks.append((items, end))
            if merge is not None and joined is not merge:
                raise self._unsupported(joined, "joins only some of the paths from one fork")
            merge = joined
        assert merge is not None
        ends = [end[0] for _, end in stacks]
        if sorted(ends) != sorted(n for n in merge.input if n not in self.constants):
            raise self._unsupported(merge, "joins paths from more than one fork")
        kind = _MERGES[merge.op_type]
        shapes = [end[1] for _, end in stacks]
        if kind == "concat":
            axis = self._attribute(merge, "axis", 1)
            if axis not in (1, -3) or any(len(s) != 3 for s in shapes):
                raise self._unsupported(merge, f"concatenates on axis {axis}, not channels")
            out = (sum(s[0] for s in shapes), *shapes[0][1:])
        else:
            out = max(shapes, key=lambda s: int(np.prod(s)))
        block = self._block(kind, [items for items, _ in stacks], shape, out)
        block, value = self._fuse_activation(block, merge.output[0])
        return block, value, out

    def _block(
        self, kind: str, stacks: list[list[Item]], shape: tuple[int, ...], out: tuple[int, ...]
    ) -> Item:
        if kind == "add" and len(stacks) == 2:
            if any(s == [_PAD_SHORTCUT] for s in stacks):
                body = next(s for s in stacks if s != [_PAD_SHORTCUT])
                return self._residual("pad", body, [])
            stacks.sort(key=len, reverse=True)  # the body first, the shortcut after
            body, short = stacks
            if not short:
                return self._residual("identity", body, [])
            if _is_projection(short, shape, out):
                return self._residual("projection", body, short)
            if len(short) == 1 and _is_projection([*short, Item(_NORM)], shape, out, bias=None):
                return self._residual("projection", body, _unfold(short[0]))
        values: dict[str, Any] = {"merge": kind, "activation": "linear"}
        spec = BlockSpec.create("Parallel", values, [[i.spec for i in s] for s in stacks])
        return Item(spec, [t for s in stacks for i in s for t in i.tensors])

    def _residual(self, shortcut: str, body: list[Item], short: list[Item]) -> Item:
        values = {"shortcut": shortcut, "activation": "linear"}
        spec = BlockSpec.create("Residual", values, [[i.spec for i in body]])
        return Item(spec, [t for i in [*body, *short] for t in i.tensors])

    def _pad_shortcut(self, node: Any) -> tuple[str, Any]:
        """The end value and the Add of a pad shortcut as the app exports it: Slices taking
        every stride-th row and column, then a Pad adding zero channels at the end."""
        while node.op_type == "Slice":
            starts, ends, axes, steps = (self._ints(node, i) for i in range(1, 5))
            if starts != [0] or ends[0] < 2**31 or axes[0] not in (2, 3, -1, -2):
                raise self._unsupported(node, "slices other than every n-th row or column")
            if steps[0] < 1:
                raise self._unsupported(node, f"slices with step {steps[0]}")
            node = self._only_reader(node)
        if node.op_type != "Pad":
            raise self._unsupported(node, "follows a Slice on a shortcut without a Pad")
        pads = self._ints(node, 1)
        value = self.constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
        extra_only = len(pads) == 8 and all(p == 0 for i, p in enumerate(pads) if i != 5)
        if not extra_only or np.any(np.asarray(value) != 0):
            raise self._unsupported(node, "pads a shortcut other than with zero channels")
        end = node.output[0]
        merge = self._only_reader(node)
        if merge.op_type != "Add":
            raise self._unsupported(merge, "reads a padded shortcut but is not an Add")
        return end, merge

    def _only_reader(self, node: Any) -> Any:
        readers = self.readers.get(node.output[0], [])
        if len(readers) != 1:
            raise self._unsupported(node, "feeds more than one node inside a shortcut")
        return readers[0]

    def _ints(self, node: Any, index: int) -> list[int]:
        name = node.input[index] if index < len(node.input) else ""
        if name not in self.constants:
            raise self._unsupported(node, f"takes input {index + 1} from the data")
        return [int(v) for v in self.constants[name].reshape(-1)]

    def _fuse_activation(self, item: Item, value: str) -> tuple[Item, str]:
        """Take the activation that alone reads `value` into the layer or block's own
        activation setting, as the app's export writes it; the item unchanged otherwise."""
        readers = self.readers.get(value, [])
        if len(readers) != 1 or readers[0].op_type not in ACTIVATION_OPS or value == self.output:
            return item, value
        node = readers[0]
        if node.op_type == "PRelu" or node.op_type in ALPHA_DEFAULTS:
            return item, value  # kept as an Activation layer with its own parameters
        key = "function" if item.spec.type == "Activation" else "activation"
        spec = item.spec.with_values(**{key: ACTIVATION_OPS[node.op_type]})
        return Item(spec, item.tensors), node.output[0]

    # ---- one node --------------------------------------------------------------------------


_NORM = LayerSpec.create("BatchNorm")


def _unfold(conv: Item) -> list[Item]:
    """A projection whose BatchNorm the exporter folded into the 1×1 conv, as the
    builder's conv + BatchNorm: the norm passes the conv's output on, adding its bias."""
    tensors = dict(conv.tensors[0])
    filters = tensors["weight"].shape[0]
    bias = tensors.pop("bias", torch.zeros(filters))
    eps = torch.tensor(1e-5, dtype=torch.float32)
    norm = {
        "weight": torch.ones(filters),
        "bias": bias,
        "running_mean": torch.zeros(filters),
        "running_var": torch.full((filters,), float(1 - eps)),
    }
    spec = conv.spec
    assert isinstance(spec, LayerSpec)
    return [Item(spec.with_values(use_bias=False), [tensors]), Item(_NORM, [norm])]


def _is_projection(
    short: list[Item], shape: tuple[int, ...], out: tuple[int, ...], bias: bool | None = False
) -> bool:
    """Whether a shortcut path is the builder's projection: a bias-free 1×1 Conv2D with
    the body's stride, then BatchNorm with default settings (see blocks.projection_layers).
    `bias` None accepts a conv with a bias (a folded BatchNorm's)."""
    if len(short) != 2 or len(shape) != 3 or len(out) != 3:
        return False
    conv, norm = (item.spec for item in short)
    if conv.type != "Conv2D" or norm.type != "BatchNorm" or norm.values:
        return False
    values = dict(conv.values)
    stride = (-(-shape[1] // out[1]), -(-shape[2] // out[2]))
    return (
        values.get("kernel_size") == 1
        and (bias is None or values.get("use_bias") is bias)
        and values.get("padding") == "valid"
        and values.get("groups", 1) == 1
        and values.get("dilation") == 1
        and values.get("stride") == compact(stride)
        and "activation" not in values
    )
