"""The profile measures real training steps per layer, and the largest-batch search finds a
batch that really runs, against torch's own numbers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

from explorer.cli import main
from explorer.core.analysis import analyze
from explorer.core.builder import build_model
from explorer.core.profiling import ProfileCancelled, allocation_peak, profile_network, run_steps
from explorer.core.profiling_batch import largest_batch, memory_budget, try_batch
from explorer.core.project import save_project
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, TrainingSpec
from explorer.core.templates import load_template

CPU = torch.device("cpu")


def tiny_spec() -> NetworkSpec:
    layers = (
        LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
        LayerSpec.create("MaxPool2D", {"pool_size": 2}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 3}),
    )
    return NetworkSpec(
        name="Tiny",
        input=InputSpec(1, 12, 12),
        num_classes=3,
        layers=layers,
        training=TrainingSpec.create({"dataset": "shapes", "optimizer": "adam", "threads": 1}),
    )


def test_profile_has_a_row_per_layer_with_positive_times_and_torchs_memory() -> None:
    spec = load_template("lenet5")
    profile = profile_network(spec, 8, "cpu")
    analysis = analyze(spec)
    assert [row.name for row in profile.layers] == [layer.name for layer in analysis.layers]
    assert all(row.forward_ms > 0 and row.backward_ms > 0 for row in profile.layers)
    assert profile.step_ms >= sum(r.forward_ms + r.backward_ms for r in profile.layers)
    model = build_model(spec, seed=0)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    assert profile.weight_bytes == weights == 4 * analysis.trainable_params
    # weights, gradients and the batch are all allocated when the step peaks
    assert profile.peak_bytes >= 2 * weights + 8 * 4 * 28 * 28
    assert 0.8 <= profile.estimated_peak_bytes / profile.peak_bytes <= 1.2
    first = profile.layers[0]
    assert first.estimated_activation_bytes == 8 * 6 * 28 * 28 * 4
    # the first convolution keeps its output (for the pooling's backward) and nothing more
    assert first.forward_bytes == first.estimated_activation_bytes
    assert all(
        first.forward_bytes <= row.peak_bytes <= profile.peak_bytes for row in profile.layers
    )


def test_the_peak_is_the_profilers_own_running_sum() -> None:
    events, model = run_steps(tiny_spec(), 4, CPU, 2)
    memory = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    running = [sum(n for _, n in memory[: i + 1]) for i in range(len(memory))]
    assert allocation_peak(events) == max(running)
    assert isinstance(model, torch.nn.Module)


def test_bad_settings_and_a_cancel_are_refused() -> None:
    with pytest.raises(ValueError, match="batch size"):
        profile_network(tiny_spec(), 0, "cpu")
    with pytest.raises(ValueError, match="steps"):
        profile_network(tiny_spec(), 2, "cpu", steps=11)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ProfileCancelled):
        profile_network(tiny_spec(), 2, "cpu", cancel=cancel)


@pytest.mark.slow
def test_largest_batch_runs_and_the_next_power_above_does_not_fit() -> None:
    spec = tiny_spec()
    roomy = 2**40
    budget = try_batch(spec, 20, CPU, roomy).peak_bytes
    assert budget is not None
    found = largest_batch(spec, "cpu", budget_bytes=budget, cap=1024)
    assert found.limited_by == "memory"
    assert 16 <= found.batch_size <= 24  # bisected to within 1/16 above 16
    again = try_batch(spec, found.batch_size, CPU, roomy)
    assert again.fits and again.peak_bytes is not None and again.peak_bytes <= budget
    assert found.peak_bytes == again.peak_bytes  # the same steps, the same allocations
    above = 1 << found.batch_size.bit_length()
    assert not try_batch(spec, above, CPU, budget).fits
    assert [t.batch_size for t in found.tries][:5] == [1, 2, 4, 8, 16]


def test_largest_batch_stops_at_the_cap_or_at_none() -> None:
    spec = tiny_spec()
    capped = largest_batch(spec, "cpu", budget_bytes=2**40, cap=6)
    assert (capped.batch_size, capped.limited_by) == (6, "cap")
    assert [t.batch_size for t in capped.tries] == [1, 2, 4, 6]
    nothing = largest_batch(spec, "cpu", budget_bytes=1000)
    assert (nothing.batch_size, nothing.limited_by) == (0, "memory")
    assert memory_budget(CPU) > 0


def test_cli_prints_the_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "--template", "lenet5", "--batch-size", "4", "--max-batch", "4"]) == 0
    out = capsys.readouterr().out
    for name in ("c1 (Conv2D)", "s2 (AvgPool2D)", "output (Dense)"):
        assert name in out
    assert "Fwd ms" in out and "Peak memory:" in out
    assert "Largest batch: 4 " in out and "the cap of 4" in out
    assert (
        main(["profile", "--template", "lenet5", "--batch-size", "2", "--no-search", "--json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["batch_size"] == 2 and data["largest_batch"] is None
    assert [row["name"] for row in data["layers"]][:2] == ["c1", "s2"]
    assert data["peak_bytes"] >= data["weight_bytes"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--template", "nope"], "unknown template"),
        (["--template", "lenet5", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["--template", "lenet5", "--steps", "11"], "--steps must be 1 to 10"),
        (["--template", "lenet5", "--max-batch", "-3"], "--max-batch must be at least 1"),
        (["--template", "lenet5", "--device", "tpu"], "unknown device"),
        (["--template", "vgg16", "--batch-size", "65536"], "use a smaller batch size"),
        ([], "give either a project FILE or --template"),
    ],
)
def test_cli_bad_input_exits_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["profile", *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_a_network_with_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = NetworkSpec(
        input=InputSpec(1, 4, 4),
        layers=(LayerSpec.create("Conv2D", {"filters": 2, "kernel_size": 7}),),
    )
    path = tmp_path / "broken.json"
    save_project(broken, path)
    assert main(["profile", str(path)]) == 2
    assert "error" in capsys.readouterr().err
