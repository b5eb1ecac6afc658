"""Facts declared once: every optimizer of the registry, every device choice and the input
and class-count bounds work the same for each part that reads them."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from explorer.core.analysis import analyze
from explorer.core.builder import BuildError, build_model
from explorer.core.diagnostics import Diagnostic, Severity
from explorer.core.error_list import format_errors
from explorer.core.export import export_pytorch_source
from explorer.core.optimizers import DEFAULT_OPTIMIZER, OPTIMIZERS, optimizer_type
from explorer.core.paths import LayerPath
from explorer.core.project import ProjectError, parse_project
from explorer.core.spec import (
    INPUT_PARAMS,
    NUM_CLASSES,
    TRAINING_PARAMS,
    InputSpec,
    LayerSpec,
    NetworkSpec,
    SpecError,
    TrainingSpec,
)
from explorer.core.training.devices import DeviceError, resolve_device
from explorer.core.training.optim import make_optimizer
from explorer.core.training_spec import DEVICE_CHOICES
from tests.processes import run_python


def tiny_spec(**training: Any) -> NetworkSpec:
    layers = (
        LayerSpec.create("Conv2D", {"filters": 2, "kernel_size": 3, "activation": "relu"}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 3}),
    )
    return NetworkSpec(
        name="Tiny",
        input=InputSpec(1, 6, 6),
        num_classes=3,
        layers=layers,
        training=TrainingSpec.create({"dataset": "shapes", **training}),
    )


def one_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(4, 1, 6, 6, generator=generator)
    labels = torch.tensor([0, 1, 2, 0])
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


# ---- the optimizer registry -----------------------------------------------------------------


def test_the_training_settings_offer_exactly_the_registry() -> None:
    param = TRAINING_PARAMS["optimizer"]
    assert param.choices == tuple(OPTIMIZERS)
    assert param.default == DEFAULT_OPTIMIZER == TrainingSpec().optimizer
    with pytest.raises(SpecError, match="expected one of sgd, adam, adamw, rmsprop"):
        TrainingSpec.create({"optimizer": "lbfgs"})
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        optimizer_type("lbfgs")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_builds_in_torch_with_its_defaults_and_steps(name: str) -> None:
    spec = tiny_spec(optimizer=name)
    model = build_model(spec, seed=0)
    optimizer = make_optimizer(model.parameters(), spec.training)
    assert type(optimizer) is getattr(torch.optim, OPTIMIZERS[name].torch_class)
    assert optimizer.param_groups[0]["lr"] == spec.training.learning_rate
    before = [p.detach().clone() for p in model.parameters()]
    one_step(model, optimizer)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_takes_the_settings_its_entry_names(name: str) -> None:
    training = TrainingSpec.create(
        {"optimizer": name, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}
    )
    entry = OPTIMIZERS[name]
    options = entry.options(training)
    assert ("momentum" in options) == entry.momentum
    assert ("nesterov" in options) == entry.nesterov
    group = make_optimizer([torch.nn.Parameter(torch.zeros(2))], training).param_groups[0]
    assert {key: group[key] for key in options} == options
    assert options["weight_decay"] == 0.01
    if entry.momentum:
        assert group["momentum"] == 0.9


def test_nesterov_is_off_without_momentum_as_torch_requires() -> None:
    training = TrainingSpec.create({"optimizer": "sgd", "nesterov": True})
    assert OPTIMIZERS["sgd"].options(training)["nesterov"] is False
    make_optimizer([torch.nn.Parameter(torch.zeros(2))], training)  # torch would refuse


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_memory_estimate_counts_the_state_the_entry_declares(name: str) -> None:
    analysis = analyze(tiny_spec())
    entry = OPTIMIZERS[name]
    plain = analysis.training_memory(name)
    with_momentum = analysis.training_memory(name, momentum=0.9, weight_decay=0.01)
    weights = plain.gradient_bytes
    assert plain.optimizer_state_bytes == entry.state_per_weight * weights
    assert with_momentum.optimizer_state_bytes == entry.state_tensors(0.9) * weights
    assert (with_momentum.optimizer_state_bytes > plain.optimizer_state_bytes) == entry.momentum
    coupled = with_momentum.optimizer_temporary_bytes > plain.optimizer_temporary_bytes
    assert coupled == (not entry.decoupled_weight_decay)


DRIVER = textwrap.dedent(
    """
    import json, runpy, sys
    import torch

    found = {}
    for name, path in json.loads(sys.argv[1]).items():
        sys.argv = [path, "--epochs", "1"]
        program = runpy.run_path(path, run_name="__main__")  # trains as a user runs it
        optimizer = program["make_optimizer"](program["build_model"]())
        group = optimizer.param_groups[0]
        found[name] = [type(optimizer).__name__, {k: v for k, v in group.items() if k != "params"}]
    assert not any(m.split(".")[0] == "explorer" for m in sys.modules), "imported explorer"
    print(json.dumps(found))
    """
)


@pytest.mark.slow
def test_the_exported_script_trains_with_every_optimizer_as_the_app_builds_it(
    tmp_path: Path,
) -> None:
    settings = {"momentum": 0.5, "nesterov": True, "weight_decay": 0.001, "batch_size": 200}
    sources = {}
    for name in OPTIMIZERS:
        spec = tiny_spec(optimizer=name, **settings)
        sources[name] = str(tmp_path / f"{name}.py")
        export_pytorch_source(spec, sources[name])
    completed = run_python("-I", "-c", DRIVER, json.dumps(sources), cwd=tmp_path, timeout=300)
    assert completed.returncode == 0, completed.stderr
    found = json.loads(completed.stdout.splitlines()[-1])
    for name, (class_name, group) in found.items():
        training = tiny_spec(optimizer=name, **settings).training
        app = make_optimizer([torch.nn.Parameter(torch.zeros(1))], training).param_groups[0]
        assert class_name == OPTIMIZERS[name].torch_class
        assert group == json.loads(json.dumps({k: v for k, v in app.items() if k != "params"}))


# ---- device choices -------------------------------------------------------------------------


@pytest.mark.parametrize("name", DEVICE_CHOICES)
def test_every_device_choice_is_accepted_by_the_spec_and_understood_by_devices(
    name: str,
) -> None:
    assert TRAINING_PARAMS["device"].choices == DEVICE_CHOICES
    assert TrainingSpec.create({"device": name}).device == name
    try:
        choice = resolve_device(name)
    except DeviceError as error:  # known, but not on this machine
        assert "unknown device" not in str(error)
        assert name in ("cuda", "mps")
    else:
        assert choice.type == name or (name == "auto" and choice.type in DEVICE_CHOICES)


def test_a_device_outside_the_choices_is_refused_by_both() -> None:
    with pytest.raises(SpecError, match="'device': expected one of auto, cpu, cuda, mps"):
        TrainingSpec.create({"device": "tpu"})
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        resolve_device("tpu")


# ---- input and class-count bounds ------------------------------------------------------------


def _project(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": "cnn-explorer",
        "version": 1,
        "input": {"channels": 1, "height": 28, "width": 28},
        "num_classes": 10,
        "layers": [],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("key", list(INPUT_PARAMS))
def test_input_bounds_are_enforced_alike_by_the_spec_and_the_loader(key: str) -> None:
    param = INPUT_PARAMS[key]
    assert param.minimum is not None and param.maximum is not None
    low, high = int(param.minimum), int(param.maximum)
    shape = {"channels": 1, "height": 28, "width": 28}
    for value in (low - 1, low, high, high + 1, 2.0, True):
        raw = {**shape, key: value}
        accepted = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        project = _project(input=raw)
        if accepted:
            assert getattr(InputSpec.create(**raw), key) == value
            assert getattr(parse_project(project).input, key) == value
            continue
        with pytest.raises(SpecError) as from_spec:
            InputSpec.create(**raw)
        with pytest.raises(ProjectError) as from_loader:
            parse_project(project)
        assert str(from_loader.value) == str(from_spec.value)
        assert str(from_spec.value).startswith(f"'input.{key}': ")


def test_class_count_bounds_are_enforced_alike_by_the_spec_and_the_loader() -> None:
    assert NUM_CLASSES.minimum is not None and NUM_CLASSES.maximum is not None
    low, high = int(NUM_CLASSES.minimum), int(NUM_CLASSES.maximum)
    for value in (low - 1, low, high, high + 1, 10.0):
        accepted = isinstance(value, int) and low <= value <= high
        if accepted:
            assert NetworkSpec().with_num_classes(value).num_classes == value
            assert parse_project(_project(num_classes=value)).num_classes == value
            continue
        with pytest.raises(SpecError) as from_spec:
            NetworkSpec().with_num_classes(value)
        with pytest.raises(ProjectError) as from_loader:
            parse_project(_project(num_classes=value))
        assert str(from_loader.value) == str(from_spec.value)


def test_defaults_of_the_input_and_class_count_are_the_declared_ones() -> None:
    bare = parse_project({"format": "cnn-explorer", "version": 1})
    declared = tuple(param.default for param in INPUT_PARAMS.values())
    assert bare.input == InputSpec()
    assert InputSpec().shape == declared
    assert bare.num_classes == NetworkSpec().num_classes == NUM_CLASSES.default


def test_changing_the_class_count_drops_class_names_that_no_longer_fit() -> None:
    named = replace(NetworkSpec(num_classes=2), class_names=("cat", "dog"))
    assert named.with_num_classes(2).class_names == ("cat", "dog")
    assert named.with_num_classes(3).class_names == ()


# ---- the error list ---------------------------------------------------------------------------


def _error(message: str, index: int | None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, message, path=None if index is None else LayerPath.top(index))


def test_the_error_list_names_each_layer_on_its_own_line_or_inline_with_a_limit() -> None:
    errors = [_error(f"problem {i}", i) for i in range(4)] + [_error("no layers", None)]
    assert format_errors(errors[:1]) == "the network has 1 error:\n  layer 1: problem 0"
    assert format_errors(errors[3:]) == (
        "the network has 2 errors:\n  layer 4: problem 3\n  no layers"
    )
    assert format_errors(errors, inline=True, limit=2) == (
        "the network has 5 errors: layer 1: problem 0; layer 2: problem 1 (and 3 more)"
    )


def test_the_builder_reports_errors_with_the_shared_list() -> None:
    spec = tiny_spec()
    broken = spec.with_layers((LayerSpec.create("Dense", {"units": 3}), *spec.layers))
    errors = analyze(broken).errors
    assert errors
    with pytest.raises(BuildError) as caught:
        build_model(broken)
    assert str(caught.value) == format_errors(errors)
