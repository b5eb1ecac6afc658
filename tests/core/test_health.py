"""Layer health: the recorder's figures against a hand count on a small network, training
unchanged by recording, and the records in the run folder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.core.app.training_run import start_run
from explorer.core.block_spec import BlockSpec
from explorer.core.builder import build_model
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec, TrainingSpec
from explorer.core.training import Trainer, TrainingFinished
from explorer.core.training.health import HISTOGRAM_BINS, HealthRecorder, health_layers
from explorer.core.training.health_log import (
    HealthRecord,
    append_health,
    health_path,
    read_health,
    truncate_health,
)
from explorer.core.training.runs import RunFolder
from explorer.core.training.step import update
from tests.core.test_trainer import quadrant_dataset, tiny_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _hand_spec() -> NetworkSpec:
    layers = (
        LayerSpec.create("Conv2D", {"filters": 3, "kernel_size": 1, "activation": "relu"}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 5, "activation": "tanh"}),
        LayerSpec.create("Dense", {"units": 2}),
    )
    training = TrainingSpec.create({"optimizer": "sgd", "learning_rate": 0.1})
    return NetworkSpec("hand", InputSpec(1, 4, 4), 2, layers, training=training)


def _hand_network() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The network with weights set so that two of three conv channels are dead on images in
    [0, 1], a batch of such images, and labels."""
    spec = _hand_spec()
    model = build_model(spec, seed=0)
    conv = model.get_submodule(model.module_name(spec.walk().__next__()[0])).conv
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([-1.0, 1.0, 1.0]).reshape(3, 1, 1, 1))
        conv.bias.copy_(torch.tensor([-0.1, 0.0, -10.0]))
        dense = model.get_submodule(model.layer_names[2]).linear
        dense.weight.mul_(20.0)  # large pre-activations: some tanh outputs saturate
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(16, 1, 4, 4, generator=generator)
    labels = torch.randint(0, 2, (16,), generator=generator)
    return model, images, labels


def test_figures_match_a_hand_count_on_a_small_network() -> None:
    model, images, labels = _hand_network()
    spec = _hand_spec()
    names = [name for name, _ in health_layers(spec, model)]
    conv_name, _, dense_name, out_name = names
    # The hand count, with numpy, from the weights before the update.
    x = images.numpy().reshape(16, 1, 16)
    w = model.get_submodule(conv_name).conv.weight.detach().numpy().reshape(3, 1, 1)
    b = model.get_submodule(conv_name).conv.bias.detach().numpy().reshape(1, 3, 1)
    relu = np.maximum(x * w[None, :, 0] + b, 0.0)  # (16, 3, 16)
    dead = np.mean([relu[:, c].max() <= 0 for c in range(3)])
    dense = model.get_submodule(dense_name).linear
    z = relu.reshape(16, 48) @ dense.weight.detach().numpy().T + dense.bias.detach().numpy()
    tanh = np.tanh(z)
    saturated = np.mean(np.abs(tanh) > 0.99)
    # The gradients, by autograd on a copy, and the weights before the update.
    copy = build_model(spec, seed=0)
    copy.load_state_dict(model.state_dict())
    loss = F.cross_entropy(copy(images), labels)
    params = list(copy.get_submodule(dense_name).parameters())
    grads = torch.autograd.grad(loss, params)
    grad_norm = float(torch.sqrt(sum((g**2).sum() for g in grads)))
    weight_norm = float(torch.sqrt(sum((p.detach() ** 2).sum() for p in params)))

    recorder = HealthRecorder(health_layers(spec, model), interval=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with recorder.recording(0):
        update(model, optimizer, images, labels)
    (record,) = recorder.read()
    assert record.step == 1
    assert list(record.layers) == names
    conv_health, dense_health = record.layers[conv_name], record.layers[dense_name]
    assert dead == pytest.approx(2 / 3)
    assert conv_health.dead == pytest.approx(dead)
    assert conv_health.saturated is None
    assert 0 < saturated < 1
    assert dense_health.saturated == pytest.approx(saturated)
    assert dense_health.dead is None
    assert dense_health.act_mean == pytest.approx(tanh.mean(), rel=1e-5)
    assert dense_health.act_std == pytest.approx(tanh.std(ddof=1), rel=1e-5)
    assert dense_health.grad_norm == pytest.approx(grad_norm, rel=1e-5)
    # Plain SGD moves the weights by lr · gradient.
    assert dense_health.update_ratio == pytest.approx(0.1 * grad_norm / weight_norm, rel=1e-4)
    # A layer without parameters has activations only; the output layer neither.
    flatten = record.layers[names[1]]
    assert flatten.grad_norm is None and flatten.weight_hist is None
    assert record.layers[out_name].dead is None and record.layers[out_name].saturated is None


def test_histograms_count_every_kernel_weight_over_its_range() -> None:
    model, images, labels = _hand_network()
    spec = _hand_spec()
    recorder = HealthRecorder(health_layers(spec, model), interval=1)
    with recorder.recording(0):
        update(model, torch.optim.SGD(model.parameters(), lr=0.1), images, labels)
    (record,) = recorder.read()
    dense_name = health_layers(spec, model)[2][0]
    dense = model.get_submodule(dense_name).linear
    health = record.layers[dense_name]
    assert health.weight_hist is not None and health.grad_hist is not None
    assert len(health.weight_hist) == HISTOGRAM_BINS
    assert sum(health.weight_hist) == dense.weight.numel()
    assert health.weight_range == pytest.approx(float(dense.weight.detach().abs().max()))
    assert health.grad_range == pytest.approx(float(dense.weight.grad.abs().max()))
    expected, _ = np.histogram(
        dense.weight.detach().numpy() / health.weight_range, HISTOGRAM_BINS, (-1.0, 1.0)
    )
    assert np.abs(np.array(health.weight_hist) - expected).sum() <= 2  # edge rounding


def test_only_every_nth_update_is_recorded_and_hooks_are_removed() -> None:
    model, images, labels = _hand_network()
    spec = _hand_spec()
    recorder = HealthRecorder(health_layers(spec, model), interval=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for done in range(7):
        with recorder.recording(done):
            update(model, optimizer, images, labels)
    assert [record.step for record in recorder.read()] == [1, 4, 7]
    assert recorder.read() == []
    assert all(not module._forward_hooks for module in model.modules())


def _trained(interval: int) -> tuple[dict[str, torch.Tensor], list[float]]:
    spec = tiny_spec(epochs=2, dropout=True, health_interval=interval)
    trainer = Trainer(spec, quadrant_dataset(), report_interval=0.0)
    losses = [e.train_loss for e in trainer.run() if hasattr(e, "train_loss")]
    return trainer.model.state_dict(), losses


def test_recording_every_step_leaves_training_bit_identical() -> None:
    off_state, off_losses = _trained(0)
    on_state, on_losses = _trained(1)
    default_state, _ = _trained(TrainingSpec().health_interval)
    assert on_losses == off_losses
    for key, value in off_state.items():
        assert torch.equal(on_state[key], value), key
        assert torch.equal(default_state[key], value), key


def test_a_run_writes_its_records_to_health_jsonl(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    run = start_run(tiny_spec(epochs=1, health_interval=4), quadrant_dataset(), folder)
    taken: list[HealthRecord] = []
    for event in run.events():
        taken.extend(run.take_health())
        last = event
    assert isinstance(last, TrainingFinished)
    steps = last.step
    assert [r.step for r in taken] == list(range(1, steps + 1, 4))
    assert read_health(folder.path) == taken


def test_a_continued_run_cuts_its_health_back_to_the_checkpoint(tmp_path: Path) -> None:
    records = [HealthRecord(step, {}) for step in (1, 5, 9)]
    append_health(tmp_path, records)
    assert truncate_health(tmp_path, 5) == 1
    assert [r.step for r in read_health(tmp_path)] == [1, 5]


def test_damaged_lines_of_health_jsonl_are_skipped(tmp_path: Path) -> None:
    model, images, labels = _hand_network()
    recorder = HealthRecorder(health_layers(_hand_spec(), model), interval=1)
    with recorder.recording(0):
        update(model, torch.optim.SGD(model.parameters(), lr=0.1), images, labels)
    records = recorder.read()
    append_health(tmp_path, records)
    with health_path(tmp_path).open("a", encoding="utf-8") as stream:
        stream.write('{"step": "x", "layers": {}}\nnot json\n{"step": 3, "layers": {"a": {}}}\n')
        stream.write('{"step": 7, "lay')  # cut off
    assert read_health(tmp_path) == records
    assert read_health(tmp_path / "missing") == []


def test_layers_inside_blocks_are_recorded_by_qualified_name() -> None:
    conv = {"filters": 2, "kernel_size": 3, "padding": "same", "activation": "relu"}
    body = [LayerSpec.create("Conv2D", conv), LayerSpec.create("Conv2D", conv)]
    block = BlockSpec.create("Residual", {"repeat": 2}, [body])
    spec = replace(
        _hand_spec(), layers=(LayerSpec.create("Conv2D", conv), block, *_hand_spec().layers[1:])
    )
    model = build_model(spec, seed=0)
    layers = health_layers(spec, model)
    assert len(layers) == 6  # conv, two in the block (first copy), flatten, two dense
    names = [name for name, _ in layers]
    assert all(model.get_submodule(name) is module for name, module in layers)
    assert sum("." in name for name in names) == 2
    recorder = HealthRecorder(layers, interval=1)
    images = torch.rand(4, 1, 4, 4)
    with recorder.recording(0):
        update(model, torch.optim.SGD(model.parameters(), lr=0.1), images, torch.zeros(4).long())
    (record,) = recorder.read()
    # Each figure is of its own module: the gradients the update left there.
    for name, module in layers:
        grads = [p.grad.reshape(-1) for p in module.parameters()]
        if grads:
            expected = float(torch.linalg.vector_norm(torch.cat(grads)))
            assert record.layers[name].grad_norm == pytest.approx(expected, rel=1e-5), name
    assert record.layers[names[1]].dead is not None
