"""Standalone PyTorch source for a network: readable, importing nothing from this project.

The code is generated from the modules `build_model` builds, not from a second table of
layer types: each torch module is written back as the constructor call that makes it,
with the arguments read from the module's own attributes by the names of its constructor's
parameters. The generated class therefore has the same submodule names and nesting as the
app's `Network`, so the app's `state_dict` loads into it with `strict=True`.
"""

from __future__ import annotations

import inspect
import json
import keyword
import re
import textwrap
from typing import Any

from torch import nn

from explorer.core.builder import Network, build_model, kernel_weights
from explorer.core.export.block_classes import (
    BLOCK_CLASSES,
    block_classes_source,
    block_expression,
)
from explorer.core.export.layout import LINE_LENGTH, Call, Expression, layout
from explorer.core.export.script import TRAINING_SCRIPT
from explorer.core.optimizers import optimizer_type
from explorer.core.spec import NetworkSpec
from explorer.core.training.augment import AugmentSettings, augmentation_source

# Constructor arguments that describe where a module lives, not what it computes.
_PLACEMENT_ARGUMENTS = frozenset({"device", "dtype"})
_INDENT = "    "


class ExportError(RuntimeError):
    """The network cannot be exported in that format (the command exits 2); the message is
    meant for the user."""


def class_name_for(spec: NetworkSpec) -> str:
    """A Python class name from the project name: 'LeNet-5 (MNIST, 28×28)' -> LeNet5.

    Parenthesised remarks are dropped and each word's own capitals are kept.
    """
    words = re.findall(r"[A-Za-z0-9]+", re.sub(r"\(.*?\)", " ", spec.name))
    words = words or re.findall(r"[A-Za-z0-9]+", spec.name)
    name = "".join(word[:1].upper() + word[1:] for word in words)
    if not name or name[0].isdigit() or keyword.iskeyword(name):
        name = "Network" + name
    return name


def module_expression(module: nn.Module, indent: str = "") -> str:
    """The expression that constructs a module equal to `module`, laid out for a line
    starting with `indent`.

    Containers (nn.Sequential, the block classes) are written with their children's names,
    so state_dict keys match; leaf modules with the arguments that differ from the
    constructor's defaults.
    """
    return layout(_expression(module), indent)


def _expression(module: nn.Module) -> Expression:
    if isinstance(module, nn.Sequential):
        return _sequential_expression(module)
    if isinstance(module, BLOCK_CLASSES):
        return block_expression(module, _expression)
    cls = type(module)
    if getattr(nn, cls.__name__, None) is not cls:
        raise ExportError(f"cannot write {cls.__name__} as PyTorch source: not a torch.nn module")
    arguments: list[Expression | tuple[str, Expression]] = []
    for parameter in inspect.signature(cls.__init__).parameters.values():
        if parameter.name == "self" or parameter.name in _PLACEMENT_ARGUMENTS:
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        value = _constructor_value(module, parameter.name)
        if parameter.default is inspect.Parameter.empty:
            if parameter.kind is parameter.KEYWORD_ONLY:
                arguments.append((f"{parameter.name}=", _literal(value)))
            else:
                arguments.append(_literal(value))
        elif not _same_value(value, parameter.default) and _literal(value) != _literal(
            parameter.default
        ):
            arguments.append((f"{parameter.name}=", _literal(value)))
    return Call.of(f"nn.{cls.__name__}(", arguments)


def _constructor_value(module: nn.Module, name: str) -> Any:
    if name == "bias":
        # The attribute holds the tensor; the constructor takes whether there is one.
        return getattr(module, "bias", None) is not None
    if not hasattr(module, name):
        raise ExportError(
            f"cannot write {type(module).__name__} as PyTorch source: its constructor "
            f"argument {name!r} is not stored on the module"
        )
    value = getattr(module, name)
    if not isinstance(value, bool | int | float | str | tuple | type(None)):
        raise ExportError(
            f"cannot write {type(module).__name__} as PyTorch source: argument {name!r} "
            f"holds a {type(value).__name__}"
        )
    return value


def _same_value(value: Any, default: Any) -> bool:
    return type(value) is type(default) and bool(value == default)


def _literal(value: Any) -> str:
    # Torch stores an int size as a pair, e.g. kernel_size 5 as (5, 5); write it back as 5.
    if isinstance(value, tuple) and value and all(type(v) is int and v == value[0] for v in value):
        return repr(value[0])
    if isinstance(value, str):
        return json.dumps(value)  # in double quotes, as formatters write strings
    return repr(value)


def _sequential_expression(module: nn.Sequential) -> Expression:
    names = [name for name, _ in module.named_children()]
    if not names:
        return "nn.Sequential()"
    if names == [str(i) for i in range(len(names))]:  # a block's copies, or unnamed parts
        parts = [_expression(child) for child in module.children()]
        if len(parts) > 1 and all(part == parts[0] for part in parts) and _is_block(module[0]):
            # Copies made alike (a block ×N after its first) read best as one.
            return Call.of("nn.Sequential(", [("*", Call.repeated(parts[0], len(parts)))])
        return Call.of("nn.Sequential(", parts)
    named = Call.of(
        "OrderedDict(",
        [(f"{name}=", _expression(child)) for name, child in module.named_children()],
    )
    return Call.of("nn.Sequential(", [named])


def _is_block(module: nn.Module) -> bool:
    return isinstance(module, BLOCK_CLASSES)


def pytorch_source(
    spec: NetworkSpec, *, model: Network | None = None, file_name: str = "model.py"
) -> str:
    """The text of a standalone .py file defining the network as an nn.Module.

    `model` is the built network to describe (built from `spec` when omitted); only its
    structure is used, never its weights. The file also holds `build_model()`,
    `predict_proba`, `penalty` and a training loop with the project's settings that needs
    only PyTorch and runs as one process or under torchrun (it reads MNIST and
    Fashion-MNIST files; torchvision, when installed, downloads them or CIFAR-10).
    """
    network = model if model is not None else build_model(spec)
    layers = "".join(
        f"{_INDENT * 2}self.{name} = "
        f"{layout(_expression(module), _INDENT * 2, len(f'self.{name} = '))}\n"
        for name, module in network.layer_modules()
    )
    calls = "".join(f"{_INDENT * 2}x = self.{name}(x)\n" for name in network.layer_names)
    if network.final_softmax:
        outputs = (
            "The project's last layer ends in a softmax: forward() returns the logits before "
            "it, because nn.CrossEntropyLoss applies log-softmax itself; predict_proba() "
            "applies the softmax."
        )
    else:
        outputs = "forward() returns the class scores (logits); predict_proba() applies softmax."
    training = spec.training
    optimizer = optimizer_type(training.optimizer)
    c, h, w = spec.input.shape
    augment_class, augment_body = augmentation_source(AugmentSettings.of(training), (h, w))
    return TRAINING_SCRIPT.substitute(
        title=_title(spec.name),
        file_name=file_name,
        channels_height_width=f"{c}, {h}, {w}",
        final_softmax=textwrap.fill(outputs, width=92),
        ordered_dict="from collections import OrderedDict\n" if "OrderedDict" in layers else "",
        block_classes=block_classes_source(network),
        class_names_literal=_wrapped_tuple(spec.class_names),
        class_name=class_name_for(spec),
        layers=layers,
        calls=calls,
        penalty=_penalty_source(network),
        input_shape=repr(spec.input.shape),
        num_classes=spec.num_classes,
        dataset=json.dumps(training.dataset),
        learning_rate=repr(training.learning_rate),
        optimizer_class=optimizer.torch_class,
        optimizer_options="".join(
            f"{_INDENT * 2}{key}={value!r},\n" for key, value in optimizer.options(training).items()
        ),
        batch_size=repr(training.batch_size),
        epochs=repr(training.epochs),
        schedule=json.dumps(training.schedule),
        step_size=repr(training.step_size),
        gamma=repr(training.gamma),
        validation_split=repr(training.validation_split),
        patience=repr(training.early_stopping_patience),
        label_smoothing=repr(training.label_smoothing),
        seed=repr(training.seed),
        # The template puts the blank lines after it.
        augment_class=augment_class,
        augmentation=augment_body.rstrip("\n"),
    )


def _penalty_source(network: Network) -> str:
    """The body of `penalty()`: the spec's per-layer L1/L2 terms on kernel weights.

    `network.penalties` names each layer by its module's qualified name
    ('residual_2.1.body.conv2d_4'). Each kernel is reached by its attribute path
    (`self.residual_2[1].body.conv2d_4.conv.weight`) when every term fits on a line, else
    by its state_dict key from a table, since a formatter cannot split a long path.
    """
    kernels: list[tuple[str, float, float]] = []
    for name, (l1, l2) in network.penalties.items():
        module = network.get_submodule(name)
        for kernel in kernel_weights(module):
            path = next(key for key, value in module.named_parameters() if value is kernel)
            kernels.append((f"{name}.{path}", l1, l2))
    body = _INDENT * 2
    if not kernels:
        return f"{body}return torch.zeros(())"
    terms = []
    for key, l1, l2 in kernels:
        weight = "self" + attribute_path(key)
        if l1:
            terms.append(f"{l1!r} * {weight}.abs().sum()")
        if l2:
            terms.append(f"{l2!r} * {weight}.square().sum()")
    one_line = f"{body}return " + " + ".join(terms)
    if len(one_line) <= LINE_LENGTH:
        return one_line
    if all(len(f"{body}{_INDENT}+ {term}") <= LINE_LENGTH for term in terms):
        rows = f"\n{body}{_INDENT}+ ".join(terms)
        return f"{body}return (\n{body}{_INDENT}{rows}\n{body})"
    table = "".join(_factors_row(body + _INDENT, key, l1, l2) for key, l1, l2 in kernels)
    return (
        f"{body}# The L1 and L2 factors of each penalised kernel, by its state_dict key.\n"
        f"{body}factors = {{\n{table}{body}}}\n"
        f"{body}total = torch.zeros((), device=next(self.parameters()).device)\n"
        f"{body}for key, (l1, l2) in factors.items():\n"
        f"{body}{_INDENT}weight = self.get_parameter(key)\n"
        f"{body}{_INDENT}total = total + l1 * weight.abs().sum() + l2 * weight.square().sum()\n"
        f"{body}return total"
    )


def _factors_row(indent: str, key: str, l1: float, l2: float) -> str:
    """One entry of the table of penalty factors, split as ruff splits one too long."""
    row = f"{indent}{json.dumps(key)}: ({l1!r}, {l2!r}),\n"
    if len(row) - 1 <= LINE_LENGTH:
        return row
    inner = indent + _INDENT
    return f"{indent}{json.dumps(key)}: (\n{inner}{l1!r},\n{inner}{l2!r},\n{indent}),\n"


def attribute_path(qualified_name: str) -> str:
    """Python that reaches a submodule from its parent: 'residual_2.1.body.conv2d_4' ->
    '.residual_2[1].body.conv2d_4' (the copies of a block and the branches are indexed)."""
    return "".join(
        f"[{part}]" if part.isdigit() else f".{part}" for part in qualified_name.split(".")
    )


def _title(name: str) -> str:
    """The docstring's first sentence, wrapped to the line length after its quotes."""
    quoted = re.sub(r'["\\]', "'", name)  # no quote or backslash may end the docstring
    text = f"{quoted}: a convolutional network exported from CNN Explorer."
    return textwrap.fill(text, width=LINE_LENGTH, initial_indent='"""')[3:]


def _wrapped_tuple(items: tuple[str, ...]) -> str:
    # json.dumps writes a valid Python string literal, with the double quotes ruff prefers.
    literals = [json.dumps(item, ensure_ascii=False) for item in items]
    one_line = "(" + ", ".join(literals) + ("," if len(literals) == 1 else "") + ")"
    if len(one_line) <= 80:
        return one_line
    return "(\n" + "".join(f"{_INDENT}{literal},\n" for literal in literals) + ")"
