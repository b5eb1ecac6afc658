"""Device choice, its description, thread counts and CPU mixed precision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from explorer.core.training import DeviceError, Trainer, TrainingFinished, resolve_device
from explorer.core.training.devices import apply_threads, automatic_threads, cpu_flags
from tests.core.test_trainer import quadrant_dataset, tiny_spec
from tests.processes import run_python


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_cpu_is_described_with_its_thread_count_and_the_count_is_applied() -> None:
    choice = resolve_device("cpu", threads=1)
    assert choice.device == torch.device("cpu")
    assert choice.description == "CPU (1 thread, set)"
    assert apply_threads(choice, 1) == 1 and torch.get_num_threads() == 1
    automatic = resolve_device("cpu")
    assert automatic.description.startswith(
        f"CPU ({automatic_threads()} thread{'s' if automatic_threads() > 1 else ''}, "
    )


def test_auto_falls_back_to_the_cpu_without_an_accelerator() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: auto picks it (see test_train_gpu.py)")
    assert resolve_device("auto").type in ("cpu", "mps")


def test_missing_or_unknown_devices_are_refused_with_a_message() -> None:
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA device"):
            resolve_device("cuda")


def test_bf16_support_follows_the_cpu_flags() -> None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo")
    flags = set(cpuinfo.read_text().split("flags")[1].split("\n")[0].split())
    assert cpu_flags() == frozenset(flags - {":"})
    choice = resolve_device("cpu")
    assert choice.bf16_supported == bool({"amx_bf16", "avx512_bf16"} & flags)


def test_cpu_mixed_precision_runs_bfloat16_channels_last_and_still_learns() -> None:
    torch.set_num_threads(1)
    trainer = Trainer(tiny_spec(epochs=4, mixed_precision=True), quadrant_dataset())
    assert trainer.mixed_precision
    conv = trainer.model.conv2d_1
    assert conv.conv.weight.is_contiguous(memory_format=torch.channels_last)
    seen: list[torch.dtype] = []
    handle = conv.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    try:
        final = list(trainer.run())[-1]
    finally:
        handle.remove()
    assert set(seen) == {torch.bfloat16}
    assert conv.conv.weight.dtype == torch.float32
    assert isinstance(final, TrainingFinished)
    assert final.test_accuracy > 0.9


@pytest.mark.slow
def test_preload_pays_the_first_optimizer_cost_up_front() -> None:

    # In a fresh process: after preload() the first real optimizer is cheap to build.
    code = (
        "import time, torch\n"
        "from explorer.core.training import preload\n"
        "preload()\n"
        "t = time.perf_counter()\n"
        "torch.optim.Adam([torch.zeros(3, requires_grad=True)])\n"
        "print(time.perf_counter() - t)\n"
    )
    result = run_python("-c", code, check=True)
    assert float(result.stdout) < 0.2


def test_out_of_memory_message_names_the_failed_batch_size_and_a_smaller_one() -> None:
    from explorer.core.training.failures import out_of_memory_message

    message = out_of_memory_message(tiny_spec(), torch.device("cpu"), 256)
    assert "batch size 256" in message
    assert "try batch size 128" in message


@pytest.mark.parametrize("free_mib", [1, 8, 64, 1024])
def test_the_suggested_batch_size_is_the_largest_the_estimate_fits(free_mib: int) -> None:
    from explorer.core.analysis import analyze
    from explorer.core.templates import load_template
    from explorer.core.training.failures import fitting_batch_size

    spec = load_template("keras-mnist")
    free = free_mib * 2**20
    size = fitting_batch_size(spec, free)
    analysis = analyze(spec)

    def needed(batch: int) -> int:
        return analysis.training_memory_bytes(batch, spec.training.optimizer)

    assert size >= 1
    if size > 1:
        assert needed(size) <= 0.8 * free
    assert needed(size + 1) > 0.8 * free


def test_the_trainer_sets_the_thread_count_on_the_thread_that_trains() -> None:
    import threading

    from explorer.core.training import TrainingStarted

    torch.set_num_threads(2)
    started: list[TrainingStarted] = []
    seen: list[int] = []

    def work() -> None:
        for event in Trainer(tiny_spec(epochs=1, threads=1), quadrant_dataset()).run():
            if isinstance(event, TrainingStarted):
                started.append(event)
                seen.append(torch.get_num_threads())

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=60)
    assert started[0].device == "CPU (1 thread, set)"
    assert seen == [1]
    assert torch.get_num_threads() == 2  # the caller's own count is left alone


def test_the_automatic_count_uses_every_core_on_the_command_line_and_spares_one_for_a_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from explorer.core.training import devices

    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "_usable_cores", lambda: 4)
    monkeypatch.setattr(devices, "gui_in_process", lambda: False)
    assert devices.thread_choice(0) == (4, "command line")
    assert devices.should_measure_threads(cpu, 0)  # the run times the counts at its start
    assert devices.thread_choice(3) == (3, "set")
    assert not devices.should_measure_threads(cpu, 3)
    monkeypatch.setattr(devices, "gui_in_process", lambda: True)
    assert devices.thread_choice(0) == (3, "window")
    assert not devices.should_measure_threads(cpu, 0)  # a window keeps its core free
    monkeypatch.setattr(devices, "_usable_cores", lambda: 1)
    assert devices.thread_choice(0) == (1, "window")


def test_a_window_in_the_process_is_seen_from_the_loaded_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A QApplication instance in the loaded Qt module means a window (core never imports
    Qt itself); the device line says why the count is what it is."""
    import sys
    import types

    from explorer.core.training.devices import describe_device, gui_in_process, thread_choice

    class Application:
        live: object | None = None

        @classmethod
        def instance(cls) -> object | None:
            return cls.live

    module = types.ModuleType("PySide6.QtWidgets")
    module.QApplication = Application  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "PySide6.QtWidgets", module)
    assert not gui_in_process()  # Qt loaded, no application: a command-line run
    Application.live = object()
    assert gui_in_process() and thread_choice(0)[1] == "window"
    apply_threads(torch.device("cpu"), 0)
    assert describe_device(torch.device("cpu")).endswith(", window)")


class _FakeClock:
    """A timer whose time moves only when the fake step runs: by the cost of torch's
    thread count at that moment."""

    def __init__(self, cost: dict[int, float]) -> None:
        self.now = 0.0
        self.cost = cost
        self.steps: list[int] = []

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        count = torch.get_num_threads()
        self.steps.append(count)
        self.now += self.cost[count]


def test_the_thread_count_is_the_fastest_measured_and_the_device_line_says_the_times() -> None:
    from explorer.core.training.devices import candidate_threads, describe_device, measure_threads

    clock = _FakeClock({1: 0.041, 2: 0.024, 3: 0.030, 4: 0.2})
    timing = measure_threads(clock.step, [1, 2, 3, 4], timer=clock)
    assert timing.fastest == 2 and torch.get_num_threads() == 2
    assert timing.per_step == pytest.approx({1: 0.041, 2: 0.024, 3: 0.030, 4: 0.2})
    assert describe_device(torch.device("cpu")) == (
        "CPU (2 threads, measured 1: 41 ms, 2: 24 ms, 3: 30 ms, 4: 200 ms per step)"
    )
    # One untimed step, then three rounds; counts over 1.5x the best drop after a round.
    assert clock.steps == [1, 1, 2, 3, 4, 2, 3, 2, 3]
    busy = _FakeClock({1: 0.27, 2: 2.2})  # the other core busy: two threads crawl
    assert measure_threads(busy.step, [1, 2], timer=busy).fastest == 1
    assert busy.steps == [1, 1, 2, 1, 1]
    tied = _FakeClock({1: 0.03, 2: 0.03})
    assert measure_threads(tied.step, [1, 2], timer=tied).fastest == 1  # fewer on a tie
    assert candidate_threads(1) == [1]
    assert candidate_threads(2) == [1, 2]
    assert candidate_threads(64) == [1, 2, 3, 4, 8, 16, 32, 64]


@pytest.mark.slow
def test_an_automatic_run_measures_its_threads_and_learns_as_a_set_count_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real short run: the device line gives the measured times of 1 and 2 threads, and
    the losses are those of a run on one set thread (seeds kept; float noise only)."""
    import re

    from explorer.core.training import Progress, TrainingStarted, devices

    monkeypatch.setattr(devices, "_usable_cores", lambda: 2)
    monkeypatch.setattr(devices, "gui_in_process", lambda: False)
    runs = {}
    for threads in (0, 1):
        spec = tiny_spec(epochs=2, threads=threads, dropout=True)
        runs[threads] = list(Trainer(spec, quadrant_dataset(), report_interval=0.0).run())
    started = runs[0][0]
    assert isinstance(started, TrainingStarted)
    found = re.fullmatch(
        r"CPU \(([12]) threads?, measured 1: (\d+) ms, 2: (\d+) ms per step\)", started.device
    )
    assert found, started.device
    chosen, one, two = map(int, found.groups())
    if one != two:  # (the line rounds to whole ms: equal there says nothing)
        assert chosen == (1 if one < two else 2)
    assert isinstance(runs[0][-1], TrainingFinished)
    losses = [[e.train_loss for e in run if isinstance(e, Progress)] for run in runs.values()]
    assert len(losses[0]) == len(losses[1]) == 30
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
