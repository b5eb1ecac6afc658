"""An ensemble in the window: Inspect's picker looks inside one member or shows the average,
File ▸ Save with weights keeps every member, opening restores them, Export writes them all."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from explorer.core.builder import build_model
from explorer.core.capture import capture, snapshot_model
from explorer.core.spec import NetworkSpec
from explorer.core.templates import load_template
from explorer.core.weights import load_project_members
from explorer.ui.inspect.panel import InspectPanel
from explorer.ui.shell.workbench import Workbench
from tests.ui.conftest import workbench_in_window

SIZE = 3


def ensemble_spec() -> NetworkSpec:
    spec = load_template("keras-mnist")
    return replace(spec, training=spec.training.with_values(ensemble=SIZE))


def members_of(spec: NetworkSpec) -> tuple[dict[str, torch.Tensor], ...]:
    return tuple(build_model(spec, seed=10 + k).state_dict() for k in range(SIZE))


@pytest.fixture
def panel(qtbot: Any) -> Iterator[InspectPanel]:
    torch.set_num_threads(1)
    widget = InspectPanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    widget.shutdown()


def _probabilities(spec: NetworkSpec, state: dict[str, torch.Tensor], image: torch.Tensor) -> Any:
    """softmax(network(image)) with these weights, apart from the capture code."""
    model = build_model(spec)
    model.load_state_dict(state)
    with torch.no_grad():
        return torch.softmax(model.eval()(image[None]), 1)[0].numpy()


def test_the_picker_switches_between_the_average_and_each_member(
    qtbot: Any, panel: InspectPanel
) -> None:
    spec = ensemble_spec()
    members = members_of(spec)
    with qtbot.waitSignal(panel.controller.captured, timeout=30_000):
        panel.set_spec(spec, members[0])
    assert panel.member_row.isHidden()  # one network: no picker

    with qtbot.waitSignal(panel.controller.captured, timeout=30_000):
        panel.set_members(members)
        panel.refresh_from_weights(members[0])
    picker = panel.member_picker
    assert not panel.member_row.isHidden()
    assert [picker.itemText(i) for i in range(picker.count())] == [
        "Average of 3",
        "Member 1",
        "Member 2",
        "Member 3",
    ]
    image = panel.picker.current
    result = panel.feature_maps.result
    average = np.mean([_probabilities(spec, m, image) for m in members], axis=0)
    np.testing.assert_allclose(result.probabilities, average, rtol=0, atol=1e-6)
    assert "member 1's" in panel.member_note.text()
    first = capture(snapshot_model(spec, members[0]), image)
    for got, expected in zip(result.layers, first.layers, strict=True):
        np.testing.assert_array_equal(got.output, expected.output)  # member 1's maps

    picker.setFocus()
    for k in (1, 2, 3):  # the keyboard moves down the list: member 1, 2, 3
        with qtbot.waitSignal(panel.controller.captured, timeout=30_000):
            qtbot.keyClick(picker, Qt.Key.Key_Down)
        assert picker.currentText() == f"Member {k}"
        result = panel.feature_maps.result
        own = capture(snapshot_model(spec, members[k - 1]), image)
        np.testing.assert_array_equal(result.probabilities, own.probabilities)  # exactly
        np.testing.assert_allclose(
            result.probabilities, _probabilities(spec, members[k - 1], image), atol=1e-6
        )
        for got, expected in zip(result.layers, own.layers, strict=True):
            np.testing.assert_array_equal(got.output, expected.output)
        assert panel.member_note.text() == ""
    assert not np.allclose(result.probabilities, average, atol=1e-4)

    panel.set_members(())
    assert panel.member_row.isHidden()


@pytest.fixture
def bench(qtbot: Any, tmp_path: Path, message_boxes: Any) -> Iterator[Workbench]:
    yield from workbench_in_window(qtbot, ensemble_spec(), tmp_path / "runs")


def test_an_ensemble_saved_from_the_window_reopens_with_every_member(
    qtbot: Any, bench: Workbench, tmp_path: Path
) -> None:
    spec = bench.document.spec
    members = members_of(spec)
    bench.set_trained(spec, members[0], members)
    assert bench.inspect.member_picker.count() == SIZE + 1
    path = tmp_path / "saved" / "ensemble.json"
    assert bench.window.files.save_to(str(path))
    _, state, saved = load_project_members(path)
    assert len(saved) == SIZE and state is not None

    bench.set_trained(spec, None)  # forget them: opening must bring them back
    assert bench.inspect.member_row.isHidden()
    assert bench.window.files.open_path(str(path), prompt=False)
    qtbot.waitUntil(lambda: len(bench.members_for(bench.document.spec)) == SIZE, timeout=20_000)
    for original, reopened in zip(members, bench.members_for(bench.document.spec), strict=True):
        assert all(torch.equal(reopened[key], value) for key, value in original.items())
    assert "ensemble of 3" in bench.window.statusBar().currentMessage()
    assert not bench.inspect.member_row.isHidden()

    # An edit of the network forgets the members, and the picker goes.
    edited = spec.replace_layer(0, spec.layers[0].with_values(filters=8))
    bench.document.edit(edited, "More filters")
    assert bench.members_for(edited) == ()
    assert bench.inspect.member_row.isHidden()


def test_export_from_the_window_writes_the_whole_ensemble(
    qtbot: Any, bench: Workbench, tmp_path: Path
) -> None:
    spec = bench.document.spec
    members = members_of(spec)
    bench.set_trained(spec, members[0], members)
    target = tmp_path / "ensemble.pt"
    with qtbot.waitSignal(bench.export.export_ended, timeout=60_000) as ended:
        assert bench.export.export("weights", str(target))
    assert "ensemble of 3" in ended.args[0]
    saved = torch.load(target, weights_only=True)
    for k, member in enumerate(members):
        assert all(torch.equal(saved[f"members.{k}.{key}"], v) for key, v in member.items())


def test_saving_members_against_another_ensemble_setting_says_how_to_save_them(
    bench: Workbench, tmp_path: Path, message_boxes: Any
) -> None:
    spec = bench.document.spec
    members = members_of(spec)
    bench.set_trained(spec, members[0], members)
    path = tmp_path / "ensemble.json"
    assert bench.window.files.save_to(str(path))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    fewer = replace(spec, training=spec.training.with_values(ensemble=2))
    bench.document.edit(fewer, "Ensemble of 2")
    assert len(bench.members_for(fewer)) == SIZE  # a training setting keeps the weights
    assert not bench.window.files.save_to(str(path))
    kind, title, text = message_boxes.shown[-1]
    assert (kind, title) == ("critical", "Cannot Save Project")
    assert "an ensemble of 3 networks, but the project's ensemble setting is 2" in text
    assert "set it to 3 to save these weights" in text
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
