"""Limits the analysis enforces before torch sees a network: upper bounds on every numeric
key, networks too large to build, BatchNorm that cannot train at batch size 1, and training
that would not fit in the device's memory."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from explorer.core.advice import MAX_PARAMETER_BYTES
from explorer.core.analysis import analyze
from explorer.core.device_memory import device_memory
from explorer.core.fixes import apply_fix
from explorer.core.layers import LAYER_TYPES
from explorer.core.params import Kind, Param
from explorer.core.paths import LayerPath
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, SpecError, TrainingSpec
from explorer.core.summary import summary_json, summary_text
from explorer.core.templates import load_template

L = LayerSpec.create
ROOT = Path(__file__).resolve().parents[2]
_NUMERIC = (Kind.INT, Kind.FLOAT, Kind.PAIR, Kind.PADDING, Kind.POOL_PADDING)
NUMERIC_PARAMS = [
    (entry.name, param)
    for entry in LAYER_TYPES.values()
    for param in entry.params
    if param.kind in _NUMERIC
]


def _just_above(param: Param) -> int | float:
    assert param.maximum is not None
    if param.exclusive_maximum:
        return param.maximum
    if param.kind is Kind.FLOAT:
        return math.nextafter(param.maximum, math.inf)
    return int(param.maximum) + 1


def _valid_values(type_name: str) -> dict[str, object]:
    entry = LAYER_TYPES[type_name]
    return {p.name: p.initial for p in entry.params if p.initial is not None}


def test_every_numeric_key_in_the_registry_has_an_upper_bound() -> None:
    assert len(NUMERIC_PARAMS) >= 17
    unbounded = [f"{t}.{p.name}" for t, p in NUMERIC_PARAMS if p.maximum is None]
    assert unbounded == []


@pytest.mark.parametrize(
    ("type_name", "param"), NUMERIC_PARAMS, ids=lambda v: getattr(v, "name", v)
)
def test_a_value_just_above_the_bound_is_refused_naming_the_key(
    type_name: str, param: Param
) -> None:
    values = {**_valid_values(type_name), param.name: _just_above(param)}
    if type_name == "Activation":
        values["function"] = "elu"
    with pytest.raises(SpecError) as caught:
        L(type_name, values, index=3)
    assert caught.value.key == param.name
    assert f"layer 4 ({type_name}): {param.name!r}" in caught.value.message  # counted from 1
    assert "out of range" in caught.value.message
    # The bound itself is accepted where it is inclusive.
    if not param.exclusive_maximum:
        assert param.maximum is not None
        bound = param.maximum if param.kind is Kind.FLOAT else int(param.maximum)
        L(type_name, {**values, param.name: bound})


@pytest.mark.parametrize(
    ("type_name", "key", "value"),
    [
        ("MaxPool2D", "pool_size", 2**40),
        ("Conv2D", "stride", 10**30),
        ("Activation", "alpha", 1e308),
    ],
)
def test_the_reported_overflowing_values_are_refused(
    type_name: str, key: str, value: object
) -> None:
    values = {**_valid_values(type_name), key: value}
    if type_name == "Activation":
        values["function"] = "leaky_relu"
    with pytest.raises(SpecError, match=key):
        L(type_name, values)


def _trillion_dense_chain() -> NetworkSpec:
    # 784 → 2**20 → 2**20 → 10: about 1.1 trillion weights (4 TB of float32)
    return NetworkSpec(
        input=InputSpec(1, 28, 28),
        layers=(
            L("Flatten"),
            L("Dense", {"units": 1 << 20}),
            L("Dense", {"units": 1 << 20}),
            L("Dense", {"units": 10}),
        ),
    )


def test_a_network_too_large_to_build_is_an_error_with_its_numbers() -> None:
    analysis = analyze(_trillion_dense_chain())
    assert analysis.params > 1.1e12
    assert analysis.param_bytes > MAX_PARAMETER_BYTES
    (error,) = analysis.errors
    assert f"{analysis.params:,} parameters" in error.message
    assert "4.00 TB of weights" in error.message
    assert "dense_2 alone has 1,099,512,676,352" in error.message


def test_one_images_activations_beyond_the_limit_are_an_error() -> None:
    spec = NetworkSpec(
        input=InputSpec(3, 10000, 10000),
        layers=(
            L("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"}),
            L("GlobalAvgPool2D"),
            L("Dense", {"units": 10}),
        ),
    )
    (error,) = analyze(spec).errors
    assert "one image's activations take 24.96 GB" in error.message
    assert "conv2d_1 alone makes 6,400,000,000 values" in error.message


@pytest.mark.slow
def test_building_a_huge_network_is_refused_before_allocating(tmp_path: Path) -> None:
    """In a subprocess capped at 3 GB of address space, so a regression that allocates the
    4 TB of weights fails there instead of taking this machine's memory."""
    project = tmp_path / "huge.json"
    spec = _trillion_dense_chain()
    project.write_text(
        json.dumps(
            {
                "format": "cnn-explorer",
                "version": 1,
                "name": "huge",
                "input": {"channels": 1, "height": 28, "width": 28},
                "num_classes": 10,
                "layers": [layer.to_json() for layer in spec.layers],
            }
        ),
        encoding="utf-8",
    )
    script = textwrap.dedent(
        """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
        from explorer.core.builder import BuildError, build_model
        from tests.core.test_analysis_limits import _trillion_dense_chain
        try:
            build_model(_trillion_dense_chain())
        except BuildError as error:
            print(error)
            sys.exit(0)
        sys.exit(3)
        """
    )
    built = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert built.returncode == 0, built.stderr
    assert "1,100,346,294,282 parameters" in built.stdout
    assert "4.00 TB of weights" in built.stdout
    summary = subprocess.run(
        [
            sys.executable,
            "-c",
            script.split("from explorer")[0]
            + "from explorer.cli import main; sys.exit(main(['summary', sys.argv[1]]))",
            str(project),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert summary.returncode == 2, summary.stderr
    assert "Traceback" not in summary.stderr
    assert "4.00 TB of weights" in summary.stdout + summary.stderr


def _dense_batchnorm(batch_size: int) -> NetworkSpec:
    return NetworkSpec(
        input=InputSpec(1, 8, 8),
        layers=(
            L("Flatten"),
            L("Dense", {"units": 16, "activation": "relu"}),
            L("BatchNorm"),
            L("Dense", {"units": 10}),
        ),
        training=TrainingSpec(batch_size=batch_size),
    )


def test_batchnorm_after_dense_with_batch_size_one_warns_with_a_fix() -> None:
    spec = _dense_batchnorm(1)
    analysis = analyze(spec)
    assert analysis.ok
    (warning,) = analysis.warnings
    assert warning.path == LayerPath.top(2)
    assert "batch size 1" in warning.message and "BatchNorm on a vector" in warning.message
    assert warning.fix is not None
    assert analyze(apply_fix(spec, warning.fix)).warnings == ()
    assert analyze(_dense_batchnorm(2)).warnings == ()


def test_batchnorm_on_one_pixel_maps_with_batch_size_one_warns_and_on_larger_maps_not() -> None:
    def net(size: int) -> NetworkSpec:
        return NetworkSpec(
            input=InputSpec(1, size, size),
            layers=(
                L("Conv2D", {"filters": 4, "kernel_size": size}),
                L("BatchNorm"),
                L("Flatten"),
                L("Dense", {"units": 10}),
            ),
            training=TrainingSpec(batch_size=1),
        )

    assert "1×1 maps" in analyze(net(5)).warnings[0].message
    assert analyze(replace(net(5), input=InputSpec(1, 6, 6))).warnings == ()


def test_batchnorm_at_batch_size_one_really_fails_in_torch() -> None:
    """The warning's reason, checked against torch itself."""
    import torch

    from explorer.core.builder import build_model

    model = build_model(_dense_batchnorm(1), seed=0).train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        model(torch.randn(1, 1, 8, 8))


def test_summary_warns_when_training_memory_exceeds_the_device() -> None:
    memory = device_memory("cpu")
    assert memory is not None
    spec = load_template("vgg16")
    spec = replace(spec, training=spec.training.with_values(batch_size=65536, device="cpu"))
    analysis = analyze(spec)
    assert analysis.training_memory_bytes(65536, "sgd", 0.9) > memory[1]
    text = summary_text(spec, analysis)
    assert "more than the" in text and "RAM of this machine" in text
    assert "0 errors, 1 warning" in text
    warnings = summary_json(spec, analysis)["warnings"]
    assert [w["layer"] for w in warnings] == [None]
    assert "use a smaller batch size" in warnings[0]["message"]


def test_summary_does_not_warn_when_training_fits() -> None:
    spec = load_template("keras-mnist")
    spec = replace(spec, training=spec.training.with_values(device="cpu"))
    text = summary_text(spec, analyze(spec))
    assert "0 errors, 0 warnings" in text and "more than the" not in text


def test_physical_ram_is_what_the_kernel_reports() -> None:
    memory = device_memory("cpu")
    assert memory is not None
    total_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    # /proc/meminfo leaves out memory the kernel reserved at boot, so it is a little lower.
    assert total_kb * 1024 <= memory[1] < total_kb * 1024 * 1.1
