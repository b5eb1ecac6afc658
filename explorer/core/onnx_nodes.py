"""ONNX nodes -> layers: the one-node rules of the ONNX import (see onnx_import.py).

`NodeReader` converts one node (Conv, pooling, Gemm/MatMul, BatchNormalization, an
activation, Flatten/Reshape) to a layer with the tensors of its weighted modules, reading
attributes and constant inputs; the graph walk that joins them into blocks subclasses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from explorer.core.project_format import ProjectError
from explorer.core.spec import LayerOrBlock, LayerSpec
from explorer.core.vocabulary.conv import conv_padding

# ONNX op -> the vocabulary's activation function (LeakyRelu/Elu carry their alpha).
ACTIVATION_OPS = {
    "Relu": "relu",
    "LeakyRelu": "leaky_relu",
    "PRelu": "prelu",
    "Elu": "elu",
    "Selu": "selu",
    "Gelu": "gelu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "Softmax": "softmax",
}
ALPHA_DEFAULTS = {"LeakyRelu": 0.01, "Elu": 1.0}


class OnnxImportError(ProjectError):
    """An ONNX file that cannot be opened as a project; the message is meant for the user."""


@dataclass
class Item:
    """A converted layer or block and the tensors of its weighted modules, in module order."""

    spec: LayerOrBlock
    tensors: list[dict[str, torch.Tensor]] = field(default_factory=list)


class NodeReader:
    """Reads single nodes of one graph: its constants (initializers and folded nodes),
    which nodes read each value, and the graph's output."""

    onnx: Any
    constants: dict[str, np.ndarray]
    readers: dict[str, list[Any]]
    output: str

    def _layer(
        self, node: Any, shape: tuple[int, ...], pads: list[int] | None
    ) -> tuple[Item | None, str, tuple[int, ...]]:
        op, out = node.op_type, node.output[0]
        if op == "Conv":
            return self._conv(node, shape, pads)
        if op in ("MaxPool", "AveragePool"):
            return self._pool(node, shape, pads)
        if op in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax"):
            kind = "GlobalAvgPool2D" if "Mean" in op or "Average" in op else "GlobalMaxPool2D"
            if op.startswith("Reduce") and self._reduce_axes(node) not in ([2, 3], [-2, -1]):
                raise self._unsupported(node, "reduces over axes other than height and width")
            return Item(LayerSpec.create(kind)), out, (shape[0],)
        if op in ("Unsqueeze", "Reshape") and len(shape) == 1 and self._to_image(node, op):
            return None, out, shape  # (C,) -> (C, 1, 1) before a multiply: broadcast anyway
        if op in ("Flatten", "Reshape"):
            if op == "Reshape" and not self._to_2d(node, shape):
                raise self._unsupported(node, "reshapes to something other than (batch, -1)")
            if len(shape) == 1:
                return None, out, shape  # already flat (after a global pooling)
            return Item(LayerSpec.create("Flatten")), out, (int(np.prod(shape)),)
        if op in ("Gemm", "MatMul"):
            return self._dense(node, shape)
        if op == "BatchNormalization":
            return self._norm(node), out, shape
        if op in ACTIVATION_OPS:
            return self._activation(node), out, shape
        raise self._unsupported(node, "has no layer in the vocabulary")

    def _norm(self, node: Any) -> Item:
        scale, bias, mean, var = (self._tensor(node, i) for i in range(1, 5))
        eps = float(self._attribute(node, "epsilon", 1e-5))
        momentum = 1 - float(self._attribute(node, "momentum", 0.9))
        values = {
            key: value
            for key, value, default in (("eps", eps, 1e-5), ("momentum", momentum, 0.1))
            if not np.isclose(value, default, rtol=1e-6, atol=0)
        }
        tensors = {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var}
        return Item(LayerSpec.create("BatchNorm", values), [tensors])

    def _activation(self, node: Any) -> Item:
        op = node.op_type
        values: dict[str, Any] = {"function": ACTIVATION_OPS[op]}
        tensors: list[dict[str, torch.Tensor]] = []
        if op in ALPHA_DEFAULTS:
            values["alpha"] = float(self._attribute(node, "alpha", ALPHA_DEFAULTS[op]))
        if op == "PRelu":
            slope = self._tensor(node, 1).reshape(-1)
            if slope.numel() != 1:
                raise self._unsupported(node, "has a slope per channel (one is supported)")
            tensors.append({"weight": slope})
        if op == "Softmax" and self._attribute(node, "axis", -1) not in (1, -1):
            raise self._unsupported(node, "is not over the classes")
        return Item(LayerSpec.create("Activation", values), tensors)

    def _conv(
        self, node: Any, shape: tuple[int, ...], pads: list[int] | None
    ) -> tuple[Item, str, tuple[int, ...]]:
        weight = self._tensor(node, 1)
        filters, per_group, kh, kw = weight.shape
        groups = int(self._attribute(node, "group", 1))
        stride = self._pair(node, "strides")
        dilation = self._pair(node, "dilations")
        padding = self._padding(node, shape, (kh, kw), stride, dilation, pads)
        values: dict[str, Any] = {
            "kernel_size": compact((kh, kw)),
            "stride": compact(stride),
            "padding": padding,
            "dilation": compact(dilation),
            "use_bias": len(node.input) > 2 and bool(node.input[2]),
        }
        if groups > 1 and groups == shape[0] and per_group == 1:
            values["depth_multiplier"] = filters // groups
            spec = LayerSpec.create("DepthwiseConv2D", values)
        else:
            spec = LayerSpec.create("Conv2D", {"filters": filters, "groups": groups, **values})
        tensors = {"weight": weight}
        if values["use_bias"]:
            tensors["bias"] = self._tensor(node, 2)
        top, bottom, left, right = _pads(padding, shape, (kh, kw), stride, dilation)
        size = [
            (n + a + b - d * (k - 1) - 1) // s + 1
            for n, a, b, k, s, d in zip(
                shape[1:], (top, left), (bottom, right), (kh, kw), stride, dilation, strict=True
            )
        ]
        return Item(spec, [tensors]), node.output[0], (filters, *size)

    def _pool(
        self, node: Any, shape: tuple[int, ...], pads: list[int] | None
    ) -> tuple[Item, str, tuple[int, ...]]:
        kernel = self._pair(node, "kernel_shape")
        stride = self._pair(node, "strides")
        if self._attribute(node, "ceil_mode", 0):
            raise self._unsupported(node, "rounds its output size up (ceil_mode)")
        padding = self._padding(node, shape, kernel, stride, (1, 1), pads)
        if padding != "valid" and node.op_type == "AveragePool":
            raise self._unsupported(node, "averages over padding")
        kind = "MaxPool2D" if node.op_type == "MaxPool" else "AvgPool2D"
        values = {"pool_size": compact(kernel), "stride": compact(stride), "padding": padding}
        top, bottom, left, right = _pads(padding, shape, kernel, stride, (1, 1))
        size = [
            (n + a + b - k) // s + 1
            for n, a, b, k, s in zip(
                shape[1:], (top, left), (bottom, right), kernel, stride, strict=True
            )
        ]
        return Item(LayerSpec.create(kind, values)), node.output[0], (shape[0], *size)

    def _dense(self, node: Any, shape: tuple[int, ...]) -> tuple[Item, str, tuple[int, ...]]:
        if len(shape) != 1:
            raise self._unsupported(node, f"multiplies a {len(shape) + 1}-D tensor")
        weight = self._tensor(node, 1)
        bias: torch.Tensor | None = None
        out = node.output[0]
        if node.op_type == "Gemm":
            if self._attribute(node, "transA", 0) or self._attribute(node, "alpha", 1.0) != 1:
                raise self._unsupported(node, "scales or transposes its input")
            if not self._attribute(node, "transB", 0):
                weight = weight.T
            if len(node.input) > 2 and node.input[2]:
                bias = self._tensor(node, 2) * float(self._attribute(node, "beta", 1.0))
        else:
            weight = weight.T
            readers = self.readers.get(out, [])
            if len(readers) == 1 and readers[0].op_type == "Add" and out != self.output:
                added = [n for n in readers[0].input if n != out]
                if len(added) == 1 and added[0] in self.constants:
                    bias = torch.from_numpy(self.constants[added[0]].copy()).reshape(-1)
                    out = readers[0].output[0]
        units = weight.shape[0]
        tensors = {"weight": weight.contiguous()}
        if bias is not None:
            tensors["bias"] = bias.reshape(units)
        values = {"units": units, "use_bias": bias is not None}
        return Item(LayerSpec.create("Dense", values), [tensors]), out, (units,)

    # ---- attributes and constants ----------------------------------------------------------

    def _attribute(self, node: Any, name: str, default: Any) -> Any:
        for attribute in node.attribute:
            if attribute.name == name:
                value = self.onnx.helper.get_attribute_value(attribute)
                return value.decode() if isinstance(value, bytes) else value
        return default

    def _pair(self, node: Any, name: str) -> tuple[int, int]:
        value = list(self._attribute(node, name, [1, 1]))
        if len(value) != 2:
            raise self._unsupported(node, f"is not 2-D ({name} {value})")
        return int(value[0]), int(value[1])

    def _tensor(self, node: Any, index: int) -> torch.Tensor:
        name = node.input[index] if index < len(node.input) else ""
        if name not in self.constants:
            raise self._unsupported(node, f"takes input {index + 1} from the data, not weights")
        return torch.from_numpy(np.array(self.constants[name], dtype=np.float32))

    def _padding(
        self,
        node: Any,
        shape: tuple[int, ...],
        kernel: tuple[int, int],
        stride: tuple[int, int],
        dilation: tuple[int, int],
        before: list[int] | None,
    ) -> Any:
        auto = self._attribute(node, "auto_pad", "NOTSET")
        if auto in ("SAME_UPPER",) and before is None:
            return "same"
        if auto not in ("NOTSET", "VALID"):
            raise self._unsupported(node, f"pads {auto}")
        top, left, bottom, right = (int(p) for p in self._attribute(node, "pads", [0, 0, 0, 0]))
        if before is not None:
            top, left, bottom, right = (
                a + b for a, b in zip((top, left, bottom, right), before, strict=True)
            )
        if (top, left, bottom, right) == (0, 0, 0, 0):
            return "valid"
        if top == bottom and left == right:
            return compact((top, left))
        same = conv_padding(shape[1:3], kernel, stride, dilation, "same")  # type: ignore[arg-type]
        if same == (top, bottom, left, right):
            return "same"
        raise self._unsupported(node, f"pads unevenly ({top}, {left}, {bottom}, {right})")

    def _pad(self, node: Any) -> list[int]:
        mode = self._attribute(node, "mode", "constant")
        pads = [int(p) for p in self.constants.get(node.input[1], np.array([]))]
        value = self.constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
        if mode != "constant" or np.any(np.asarray(value) != 0) or len(pads) != 8:
            raise self._unsupported(node, "is not zero padding of height and width")
        if any(pads[i] for i in (0, 1, 4, 5)):
            raise self._unsupported(node, "pads the batch or channels")
        return [pads[2], pads[3], pads[6], pads[7]]  # top, left, bottom, right

    def _reduce_axes(self, node: Any) -> list[int]:
        return sorted(self._axes(node))

    def _axes(self, node: Any) -> list[int]:
        if len(node.input) > 1 and node.input[1] in self.constants:
            return [int(a) for a in self.constants[node.input[1]].reshape(-1)]
        return [int(a) for a in self._attribute(node, "axes", [])]

    def _to_image(self, node: Any, op: str) -> bool:
        if op == "Unsqueeze":
            return sorted(a % 4 for a in self._axes(node)) == [2, 3]
        target = self.constants.get(node.input[1])
        return target is not None and target.size == 4 and list(target[2:]) == [1, 1]

    def _to_2d(self, node: Any, shape: tuple[int, ...]) -> bool:
        target = self.constants.get(node.input[1])
        if target is None or target.size != 2:
            return False
        second = int(target[1])
        return second == -1 or second == int(np.prod(shape))

    def _unsupported(self, node: Any, why: str) -> OnnxImportError:
        name = node.name or node.output[0]
        return OnnxImportError(f"node {name!r} ({node.op_type}) {why}: it cannot be imported")


def _pads(
    padding: Any, shape: tuple[int, ...], kernel: Any, stride: Any, dilation: Any
) -> tuple[int, int, int, int]:
    return conv_padding(shape[1:3], kernel, stride, dilation, padding)  # type: ignore[arg-type]


def compact(pair: Sequence[int]) -> int | list[int]:
    """An int when both sides agree, else [h, w], as project files write them."""
    return int(pair[0]) if pair[0] == pair[1] else [int(pair[0]), int(pair[1])]
