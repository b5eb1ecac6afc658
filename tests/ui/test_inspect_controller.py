"""The capture controller: a real thread, stale results dropped, clean shutdown."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.core.builder import build_model
from explorer.core.capture import capture, snapshot_model
from explorer.core.templates import load_template
from explorer.ui.inspect.controller import InspectController


@pytest.fixture
def controller(qtbot):
    made = InspectController()
    yield made
    made.shutdown()
    assert not made.busy  # the no_running_threads fixture checks that its thread is joined


def _same(a, b) -> bool:
    return all(np.array_equal(x.output, y.output) for x, y in zip(a.layers, b.layers, strict=True))


def test_capture_runs_off_the_gui_thread(qtbot, controller, monkeypatch) -> None:
    from explorer.ui.inspect import controller as inspect_controller

    spec = load_template("lenet5")
    seen: list[threading.Thread] = []
    real = inspect_controller.capture

    def recording(*args, **kwargs):
        seen.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(inspect_controller, "capture", recording)
    arrived: list[threading.Thread] = []
    controller.captured.connect(lambda _: arrived.append(threading.current_thread()))
    with qtbot.waitSignal(controller.captured, timeout=30_000):
        controller.set_spec(spec)
        controller.set_image(torch.randn(1, 28, 28))
    assert seen and all(thread is not threading.main_thread() for thread in seen)
    assert arrived == [threading.main_thread()]


def test_results_for_a_replaced_image_are_dropped(qtbot, controller) -> None:
    spec = load_template("keras-mnist")
    first, second = torch.randn(1, 28, 28), torch.randn(1, 28, 28)
    results = []
    controller.captured.connect(results.append)
    controller.set_spec(spec)
    controller.set_image(first)  # starts a capture of `first`...
    controller.set_image(second)  # ...which is stale before it finishes
    qtbot.waitUntil(lambda: not controller.busy and bool(results), timeout=30_000)
    qtbot.wait(50)
    model = build_model(spec, seed=spec.training.seed)
    want = capture(model, second)
    assert results and all(_same(r, want) for r in results)


def test_a_burst_of_weight_refreshes_captures_the_latest(qtbot, controller) -> None:
    spec = load_template("keras-mnist")
    image = torch.randn(1, 28, 28)
    with qtbot.waitSignal(controller.captured, timeout=30_000):
        controller.set_spec(spec)
        controller.set_image(image)
    results = []
    controller.captured.connect(results.append)
    states = [build_model(spec, seed=s).state_dict() for s in range(1, 6)]
    for state in states:
        controller.refresh_from_weights(state)
    qtbot.waitUntil(lambda: not controller.busy, timeout=30_000)
    assert 1 <= len(results) < len(states)  # the burst collapsed
    assert _same(results[-1], capture(snapshot_model(spec, states[-1]), image))


def test_refreshes_while_another_thread_trains_leave_training_untouched(qtbot, controller) -> None:
    torch.set_num_threads(1)
    spec = load_template("keras-mnist")
    model = build_model(spec, seed=0)
    reference = build_model(spec, seed=0)
    snapshots: list[dict] = []
    lock = threading.Lock()

    def train(net, keep) -> None:
        gen = torch.Generator().manual_seed(1)
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        for _ in range(20):
            x = torch.randn(16, 1, 28, 28, generator=gen)
            y = torch.randint(0, 10, (16,), generator=gen)
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
            if keep:
                with lock:
                    snapshots.append({k: v.detach().clone() for k, v in net.state_dict().items()})

    train(reference, False)
    with qtbot.waitSignal(controller.captured, timeout=30_000):
        controller.set_spec(spec)
        controller.set_image(torch.randn(1, 28, 28))
    worker = threading.Thread(target=train, args=(model, True))
    worker.start()
    drawn = []
    controller.captured.connect(drawn.append)
    while worker.is_alive():
        with lock:
            latest = snapshots[-1] if snapshots else None
        if latest is not None:
            controller.refresh_from_weights(latest)
        qtbot.wait(20)
    worker.join()
    controller.refresh_from_weights(snapshots[-1])
    qtbot.waitUntil(lambda: not controller.busy, timeout=30_000)
    assert drawn
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_a_broken_request_reports_and_the_thread_keeps_working(qtbot, controller) -> None:
    spec = load_template("keras-mnist")
    controller.set_spec(spec)
    with qtbot.waitSignal(controller.failed, timeout=30_000) as blocker:
        controller.refresh_from_weights({"nonsense": torch.zeros(1)})
        controller.set_image(torch.randn(1, 28, 28))
    message = blocker.args[0]
    # torch's own words, naming the keys that do not fit the network.
    assert message.startswith("RuntimeError: Error(s) in loading state_dict for Network")
    assert 'Missing key(s) in state_dict: "conv2d_1.conv.weight"' in message
    assert 'Unexpected key(s) in state_dict: "nonsense"' in message
    with qtbot.waitSignal(controller.captured, timeout=30_000):
        controller.set_spec(load_template("lenet5"))


def test_going_back_to_a_network_reuses_its_initial_weights(qtbot, controller, monkeypatch) -> None:
    import dataclasses

    from explorer.ui.inspect import controller as inspect_controller

    built: list[object] = []
    real = inspect_controller.build_model

    def counting(spec, **kwargs):
        built.append(spec)
        return real(spec, **kwargs)

    monkeypatch.setattr(inspect_controller, "build_model", counting)
    first = load_template("keras-mnist")
    second = dataclasses.replace(first, layers=first.layers[:1] + first.layers[2:])
    image = torch.randn(1, 28, 28)
    controller.set_image(image)
    for spec in (first, second, first, second):  # an edit, an undo, a redo
        with qtbot.waitSignal(controller.captured, timeout=30_000) as blocker:
            controller.set_spec(spec)
        want = capture(real(spec, seed=spec.training.seed), image)
        assert _same(blocker.args[0], want)
    assert built == [first, second]  # each built once
