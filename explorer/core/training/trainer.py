"""The training engine: a generator of progress events over a device-resident dataset.

`Trainer.run()` yields frozen events (see events.py) and never raises: a non-finite loss, an
out-of-memory error or any other exception ends the run with a `TrainingFailed` event. Each
step's loss and logits stay on the device and are read together (the only host sync) when an
event is built, at most every `report_interval` seconds and at each epoch end. `stop()`,
`pause()` and `resume()` may be called from any thread; the loop checks them before every batch.

Side effects, as in any training script: a fresh run seeds torch's global generator with the
training seed (dropout draws from it), CPU runs set the training thread's torch thread count,
and CUDA runs turn on `cudnn.benchmark`.
"""

from __future__ import annotations

import copy
import gc
import logging
import math
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from explorer.core.builder import Network, build_model
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.spec import NetworkSpec, TrainingSpec
from explorer.core.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    cpu_copy,
    save_checkpoint,
)
from explorer.core.training.devices import DeviceError, apply_threads, describe_device
from explorer.core.training.events import (
    EpochEnded,
    Progress,
    TrainingEvent,
    TrainingFailed,
    TrainingFinished,
    TrainingStarted,
    TrainingStopped,
    event_to_json,
)
from explorer.core.training.failures import (
    batch_norm_message,
    non_finite_evaluation_message,
    non_finite_message,
    non_finite_penalty_message,
    out_of_memory_message,
)
from explorer.core.training.metrics import SplitMetrics, measure
from explorer.core.training.optim import learning_rate_at, make_optimizer, set_learning_rate
from explorer.core.training.position import Position
from explorer.core.training.resume import check_resumable

log = logging.getLogger(__name__)

# Logits of this many steps are kept before their correct predictions are counted: one
# argmax for many steps, and a bounded amount of memory when events are far apart.
_FOLD_STEPS = 64
REPORT_INTERVAL = 0.05  # seconds between progress events (the GUI draws at most 20 per second)
# What torch's batch_norm says when a training batch gives it one value per channel.
_SINGLE_VALUE_BATCH_NORM = "Expected more than 1 value per channel"


class TrainingAborted(Exception):
    """Internal: ends the loop with a TrainingFailed event carrying this message."""


class Trainer:
    """Trains one network on one dataset; `run()` is the generator that does the work.

    `training` overrides `spec.training`. The dataset must already live on the training
    device; the spec must be valid (build_model raises BuildError otherwise). With `resume`,
    the model, optimizer, position and random states continue from the checkpoint. With
    `checkpoint_path`, a checkpoint is written at each epoch end and on stop.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        dataset: DeviceDataset,
        training: TrainingSpec | None = None,
        *,
        resume: Checkpoint | None = None,
        checkpoint_path: str | Path | None = None,
        report_interval: float = REPORT_INTERVAL,
    ) -> None:
        self.spec = spec
        self.training = training or spec.training
        self.dataset = dataset
        self.device = dataset.device
        self.report_interval = report_interval
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else None
        model = build_model(spec, seed=self.training.seed)
        if resume is not None:
            check_resumable(
                resume,
                model,
                make_optimizer(model.parameters(), self.training),
                self.training,
                _epoch_plan(dataset.size(Split.TRAIN), self.training.batch_size)[2],
            )
            _check_random_states(resume, self.device)
            model.load_state_dict(resume.model_state)
        self.mixed_precision = self.training.mixed_precision and self.device.type in ("cpu", "cuda")
        model = model.to(self.device)
        if self.mixed_precision:
            # oneDNN and cuDNN run bfloat16 convolutions fastest on NHWC tensors.
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self._model: Network = model
        self._optimizer = make_optimizer(self._model.parameters(), self.training)
        if resume is not None:
            self._optimizer.load_state_dict(resume.optimizer_state)
        self._resume = resume
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        # Held while the model changes (one step), so snapshots see whole updates only.
        self._lock = threading.Lock()
        self._position = Position()

    # ---- control, from any thread ---------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to stop before its next batch (also ends a pause)."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold the loop before its next batch, keeping all state, until resume() or stop()."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def model(self) -> Network:
        """The live model being trained (the final model once run() has ended). Do not run
        forward passes on it while training runs: use weights_snapshot()."""
        return self._model

    def weights_snapshot(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the model's state_dict, taken between two steps."""
        with self._lock:
            # One copy, in the plain layout even for channels_last weights.
            return {
                key: value.detach().to("cpu", copy=True, memory_format=torch.contiguous_format)
                for key, value in self._model.state_dict().items()
            }

    def warm_up(self) -> None:
        """One forward and backward pass of a throwaway copy of the model on a real batch, so
        kernels are chosen and caches filled before the first real step."""
        model = copy.deepcopy(self._model)
        images, labels = next(self.dataset.batches(Split.TRAIN, self.training.batch_size))
        try:
            with self._autocast():
                logits = model(self._layout(images))
                loss = F.cross_entropy(logits.float(), labels)
        except ValueError as error:
            if _SINGLE_VALUE_BATCH_NORM not in str(error):
                raise
            # Nothing to prepare: training itself stops at its first step and says why.
            log.debug("no warm-up: %s", batch_norm_message(self.training.batch_size))
            return
        torch.autograd.backward(loss)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    # ---- the loop --------------------------------------------------------------------------

    def run(self) -> Iterator[TrainingEvent]:
        """Train, yielding events; the last event is TrainingFinished, TrainingStopped or
        TrainingFailed. Never raises for a training problem."""
        failure: TrainingFailed | None = None
        try:
            yield from self._train()
        except TrainingAborted as error:
            failure = TrainingFailed(str(error), self._position.step)
        except torch.cuda.OutOfMemoryError:
            failure = self._out_of_memory()
        except (RuntimeError, MemoryError, ValueError) as error:
            if "out of memory" in str(error) or "can't allocate memory" in str(error):
                failure = self._out_of_memory()
            elif _SINGLE_VALUE_BATCH_NORM in str(error):
                failure = TrainingFailed(batch_norm_message(self.training.batch_size), 0)
            else:
                failure = self._unexpected(error)
        except Exception as error:
            failure = self._unexpected(error)
        if failure is not None:
            self._release_memory()
            yield failure

    def _unexpected(self, error: Exception) -> TrainingFailed:
        # The one-line message is for the user; the traceback goes with the event for a log
        # file (the run folder's), and to the debug log, never to a terminal by default.
        log.debug("training failed", exc_info=error)
        details = "".join(traceback.format_exception(error))
        text = str(error).strip().splitlines()
        summary = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
        return TrainingFailed(f"training failed: {summary}", self._position.step, details)

    def _train(self) -> Iterator[TrainingEvent]:
        training, dataset, model, optimizer = (
            self.training,
            self.dataset,
            self._model,
            self._optimizer,
        )
        batch_size = training.batch_size
        train_size = dataset.size(Split.TRAIN)
        if train_size == 0:
            raise TrainingAborted("the training split is empty")
        drop_last, epoch_size, steps_per_epoch = _epoch_plan(train_size, batch_size)
        total_steps = steps_per_epoch * training.epochs
        if self.device.type == "cpu":
            # Here, on the thread that trains: OpenMP thread counts are per calling thread.
            try:
                apply_threads(self.device, training.threads)
            except DeviceError as error:
                raise TrainingAborted(str(error)) from None
        order = torch.Generator(device=self.device)
        if self._resume is None:
            order.manual_seed(training.seed)
            torch.manual_seed(training.seed)
        else:
            self._restore(order)
        position = self._position
        evaluation_batch = max(2 * batch_size, 256)
        scheduled = training.schedule != "constant"

        device = self.device
        # Per-step results stay on the device until an event reads them all at once: the
        # step itself adds one argmax, nothing else (DESIGN.md: accumulate, sync per UI tick).
        losses: list[torch.Tensor] = []
        predictions: list[torch.Tensor] = []
        targets: list[torch.Tensor] = []
        hits: list[torch.Tensor] = []  # correct counts of folded steps
        penalties: list[torch.Tensor] = []  # the L1/L2 terms, checked with the losses
        sizes: list[int] = []
        summary_dtype = torch.float32 if device.type == "mps" else torch.float64
        window_samples = window_steps = 0
        start_step = position.step

        yield TrainingStarted(
            device=describe_device(device),
            epochs=training.epochs,
            steps_per_epoch=steps_per_epoch,
            train_size=train_size,
            validation_size=dataset.size(Split.VALIDATION),
            test_size=dataset.size(Split.TEST),
            start_step=start_step,
            mixed_precision=self.mixed_precision,
        )
        model.train()
        started = time.perf_counter()
        paused_for = 0.0
        window_start = started
        last_report = -math.inf
        lr = learning_rate_at(training, position.step, steps_per_epoch, total_steps)
        set_learning_rate(optimizer, lr)

        def elapsed(now: float) -> float:
            return position.elapsed + now - started - paused_for

        def report(now: float) -> Progress:
            nonlocal window_samples, window_steps, window_start, last_report
            if predictions:
                hits.append(_count_hits(predictions, targets))
            loss_total, correct, finite_steps, finite_penalties = _read_window(
                losses, penalties, hits, sizes, summary_dtype
            )
            first = position.step - window_steps + 1  # the window's first step
            if finite_penalties < len(penalties) and finite_penalties <= finite_steps:
                # The penalty went first: it, not the learning rate, is what to change.
                raise TrainingAborted(
                    non_finite_penalty_message(
                        first + finite_penalties, position.epoch + 1, model.penalties
                    )
                )
            if finite_steps < window_steps or not math.isfinite(loss_total):
                raise TrainingAborted(
                    non_finite_message(
                        first + finite_steps, position.epoch + 1, lr, model.penalties
                    )
                )
            losses.clear()
            penalties.clear()
            hits.clear()
            sizes.clear()
            position.epoch_loss += loss_total
            position.epoch_correct += correct
            position.epoch_samples += window_samples
            done = position.step - start_step
            spent = elapsed(now) - position.elapsed
            event = Progress(
                step=position.step,
                epoch=position.epoch + 1,
                epoch_fraction=position.batch / steps_per_epoch,
                samples_seen=position.epoch * epoch_size
                + min(position.batch * batch_size, epoch_size),
                train_loss=loss_total / window_samples,
                train_accuracy=correct / window_samples,
                learning_rate=lr,
                images_per_second=window_samples / max(now - window_start, 1e-9),
                elapsed=elapsed(now),
                eta=spent / done * (total_steps - position.step) if done else math.nan,
            )
            window_samples = window_steps = 0
            window_start = last_report = now
            return event

        while position.epoch < training.epochs:
            epoch_order = order.get_state()
            batches = dataset.batches(
                Split.TRAIN, batch_size, shuffle=True, generator=order, drop_last=drop_last
            )
            for index, (images, labels) in enumerate(batches):
                if index < position.batch:
                    continue  # resuming inside an epoch: these batches were already taken
                if not self._running.is_set():
                    pause_start = time.perf_counter()
                    self._running.wait()
                    paused_for += time.perf_counter() - pause_start
                    window_start += time.perf_counter() - pause_start
                if self._stop.is_set():
                    now = time.perf_counter()
                    if window_steps:
                        yield report(now)
                    self._save(epoch_order, elapsed(now))
                    yield TrainingStopped(position.epoch + 1, position.step, elapsed(now))
                    return
                if scheduled:
                    lr = learning_rate_at(training, position.step, steps_per_epoch, total_steps)
                    set_learning_rate(optimizer, lr)
                with self._lock:
                    with self._autocast():
                        logits = model(self._layout(images))
                        loss = F.cross_entropy(logits.float(), labels)
                    penalty = model.penalty()
                    total = loss if penalty is None else loss + penalty
                    if penalty is not None:
                        penalties.append(penalty.detach())
                    optimizer.zero_grad(set_to_none=True)
                    torch.autograd.backward(total)
                    optimizer.step()
                n = labels.shape[0]
                losses.append(loss.detach())
                predictions.append(logits.detach())
                targets.append(labels)
                if len(predictions) >= _FOLD_STEPS:
                    hits.append(_count_hits(predictions, targets))
                sizes.append(n)
                position.step += 1
                position.batch += 1
                window_samples += n
                window_steps += 1
                now = time.perf_counter()
                if now - last_report >= self.report_interval:
                    yield report(now)
            if window_steps:
                yield report(time.perf_counter())
            ended, early_stop = self._end_epoch(lr, elapsed(time.perf_counter()), evaluation_batch)
            self._save(order.get_state(), ended.elapsed)
            yield ended
            if early_stop:
                break

        result = self._evaluate(Split.TEST, evaluation_batch)
        if result.size and not math.isfinite(result.loss):
            raise TrainingAborted(
                non_finite_evaluation_message(Split.TEST, position.epoch, lr, self._model.penalties)
            )
        yield TrainingFinished(
            epoch=position.epoch,
            step=position.step,
            test_loss=result.loss,
            test_accuracy=result.accuracy,
            per_class_accuracy=result.per_class_accuracy,
            early_stopped=position.epoch < training.epochs,
            elapsed=elapsed(time.perf_counter()),
        )

    def _end_epoch(self, lr: float, elapsed: float, batch_size: int) -> tuple[EpochEnded, bool]:
        position = self._position
        validation: SplitMetrics | None = None
        if self.dataset.size(Split.VALIDATION):
            validation = self._evaluate(Split.VALIDATION, batch_size)
            if not math.isfinite(validation.loss):
                raise TrainingAborted(
                    non_finite_evaluation_message(
                        Split.VALIDATION, position.epoch + 1, lr, self._model.penalties
                    )
                )
        samples = max(position.epoch_samples, 1)
        position.epoch += 1
        event = EpochEnded(
            epoch=position.epoch,
            step=position.step,
            train_loss=position.epoch_loss / samples,
            train_accuracy=position.epoch_correct / samples,
            validation_loss=None if validation is None else validation.loss,
            validation_accuracy=None if validation is None else validation.accuracy,
            learning_rate=lr,
            elapsed=elapsed,
        )
        position.batch = 0
        position.epoch_loss = position.epoch_correct = 0.0
        position.epoch_samples = 0
        position.history.append(event_to_json(event))
        early_stop = False
        patience = self.training.early_stopping_patience
        if validation is not None and patience:
            if validation.loss < position.best_validation_loss:
                position.best_validation_loss = validation.loss
                position.epochs_without_improvement = 0
            else:
                position.epochs_without_improvement += 1
                early_stop = position.epochs_without_improvement >= patience
        return event, early_stop

    def _evaluate(self, split: Split, batch_size: int) -> SplitMetrics:
        return measure(
            self._model,
            self.dataset,
            split,
            batch_size,
            autocast=self._autocast(),
            channels_last=self.mixed_precision,
        )

    def history(self) -> list[dict[str, Any]]:
        """One dict per finished epoch (the EpochEnded events as JSON)."""
        return list(self._position.history)

    # ---- helpers --------------------------------------------------------------------------

    def _autocast(self) -> AbstractContextManager[object]:
        if not self.mixed_precision:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _layout(self, images: torch.Tensor) -> torch.Tensor:
        if self.mixed_precision:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def checkpoint(self, order_state: torch.Tensor, elapsed: float) -> Checkpoint:
        position = self._position
        with self._lock:
            # Straight to the CPU: no second copy of the weights and optimizer state on a
            # device that may be nearly full.
            model_state = cpu_copy(self._model.state_dict())
            optimizer_state = cpu_copy(self._optimizer.state_dict())
        cpu_rng = torch.get_rng_state()
        device_rng = (
            torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else cpu_rng
        )
        return Checkpoint(
            spec=self.spec,
            model_state=model_state,
            optimizer_state=optimizer_state,
            epoch=position.epoch,
            step=position.step,
            batch=position.batch,
            elapsed=elapsed,
            history=tuple(position.history),
            best_validation_loss=position.best_validation_loss,
            epochs_without_improvement=position.epochs_without_improvement,
            device_rng=device_rng,
            cpu_rng=cpu_rng,
            order_rng=order_state,
            epoch_totals=(position.epoch_loss, position.epoch_correct, position.epoch_samples),
        )

    def _save(self, order_state: torch.Tensor, elapsed: float) -> None:
        if self.checkpoint_path is not None:
            try:
                save_checkpoint(self.checkpoint(order_state, elapsed), self.checkpoint_path)
            except OSError as error:
                # save_checkpoint leaves the previous checkpoint whole and no temporary.
                raise TrainingAborted(
                    f"cannot write the checkpoint {self.checkpoint_path}: "
                    f"{error.strerror or error} (the previous checkpoint is kept)"
                ) from None

    def _restore(self, order: torch.Generator) -> None:
        resume = self._resume
        assert resume is not None
        order.set_state(resume.order_rng)
        torch.set_rng_state(resume.cpu_rng)
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(resume.device_rng, self.device)
        self._position = Position.from_checkpoint(resume)

    def _out_of_memory(self) -> TrainingFailed:
        self._release_memory()
        message = out_of_memory_message(self.spec, self.device, self.training.batch_size)
        return TrainingFailed(message, self._position.step)

    def _release_memory(self) -> None:
        self._optimizer.zero_grad(set_to_none=True)
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _epoch_plan(train_size: int, batch_size: int) -> tuple[bool, int, int]:
    """Whether the last batch is dropped, the images and the batches of one epoch."""
    # A last batch of one image breaks BatchNorm after Flatten; drop it in that case only.
    drop_last = train_size % batch_size == 1 and train_size > 1
    epoch_size = train_size - 1 if drop_last else train_size
    return drop_last, epoch_size, max(1, math.ceil(epoch_size / batch_size))


def _check_random_states(checkpoint: Checkpoint, device: torch.device) -> None:
    """Raise CheckpointError unless the saved generator states fit this device's
    generators (tried on throwaway generators, so nothing changes on failure)."""
    states = [("order_rng", checkpoint.order_rng)]
    if device.type == "cuda":
        states.append(("device_rng", checkpoint.device_rng))
    for name, state in states:
        try:
            torch.Generator(device=device).set_state(state)
        except (RuntimeError, ValueError, TypeError):
            raise CheckpointError(
                f"the checkpoint's {name!r} is not a state of a {device.type} generator"
            ) from None


def _count_hits(logits: list[torch.Tensor], labels: list[torch.Tensor]) -> torch.Tensor:
    """Correct predictions of the listed steps, on the device; empties both lists."""
    count = (torch.cat(logits).argmax(1) == torch.cat(labels)).sum()
    logits.clear()
    labels.clear()
    return count


def _read_window(
    losses: list[torch.Tensor],
    penalties: list[torch.Tensor],
    hits: list[torch.Tensor],
    sizes: list[int],
    dtype: torch.dtype,
) -> tuple[float, int, int, int]:
    """Summed loss, correct predictions, the number of steps before the first non-finite
    loss and before the first non-finite L1/L2 term (0 without terms), of the steps since
    the last event: one host read for all four."""
    device = losses[0].device
    step_losses = torch.stack(losses).to(dtype)
    weights = torch.tensor(sizes, dtype=dtype, device=device)
    correct = torch.stack(hits).sum().to(dtype)
    values = [(step_losses * weights).sum(), correct, _finite_prefix(step_losses)]
    if penalties:
        values.append(_finite_prefix(torch.stack(penalties).to(dtype)))
    read = torch.stack(values).tolist()
    finite_penalties = int(read[3]) if penalties else 0
    return read[0], int(read[1]), int(read[2]), finite_penalties


def _finite_prefix(values: torch.Tensor) -> torch.Tensor:
    """How many leading entries of the 1-D `values` are finite, as a 0-D tensor."""
    steps = torch.arange(len(values), dtype=values.dtype, device=values.device)
    return torch.where(torch.isfinite(values), torch.full_like(steps, len(values)), steps).min()
