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

import gc
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path

import torch

from explorer.core.builder import Network, build_model
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.spec import NetworkSpec, TrainingSpec
from explorer.core.training.augment import build_augmentation
from explorer.core.training.checkpoint import (
    Checkpoint,
    cpu_copy,
    save_checkpoint,
)
from explorer.core.training.control import RunControl
from explorer.core.training.devices import (
    DeviceError,
    apply_threads,
    describe_device,
    should_measure_threads,
)
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
    TrainingAborted,
    failure_for,
    non_finite_evaluation_message,
)
from explorer.core.training.health import HealthRecorder, health_layers
from explorer.core.training.kept_weights import BestWeights, WeightAverage
from explorer.core.training.metrics import SplitMetrics, measure_ensemble, test_evaluation
from explorer.core.training.metrics_window import MetricsWindow
from explorer.core.training.optim import learning_rate_at, make_optimizer, set_learning_rate
from explorer.core.training.position import EpochPlan, RunPosition, RunSession
from explorer.core.training.resume import batch_order, check_resumable, random_states
from explorer.core.training.stacked import BatchReady, SuppliedStep
from explorer.core.training.step import compiled_forward, fastest_threads, update, warm_up

log = logging.getLogger(__name__)

REPORT_INTERVAL = 0.05  # seconds between progress events (the GUI draws at most 20 per second)


class Trainer(RunControl):
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
        self.plan = EpochPlan.of(
            dataset.size(Split.TRAIN), self.training.batch_size, self.training.epochs
        )
        model = build_model(spec, seed=self.training.seed)
        if resume is not None:
            check_resumable(
                resume,
                model,
                make_optimizer(model.parameters(), self.training),
                self.training,
                self.plan.steps_per_epoch,
                self.device,
            )
            model.load_state_dict(resume.model_state)
        self.mixed_precision = self.training.mixed_precision and self.device.type in ("cpu", "cuda")
        model = model.to(self.device)
        if self.mixed_precision:
            # oneDNN and cuDNN run bfloat16 convolutions fastest on NHWC tensors.
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self._model: Network = model
        # The training step's forward pass, compiled (sharing the model's weights) if asked.
        self._forward = compiled_forward(model) if self.training.compile else None
        # Layer health, recorded around every Nth update (training.health_interval).
        self.health = HealthRecorder(health_layers(spec, model), self.training.health_interval)
        self._optimizer = make_optimizer(self._model.parameters(), self.training)
        # The moving average of the weights, which evaluation, checkpoints and the end use.
        decay = self.training.ema_decay
        self._average = WeightAverage(model, decay) if decay > 0 else None
        self._best = BestWeights(None if resume is None else resume.best_state)
        if resume is not None:
            self._optimizer.load_state_dict(resume.optimizer_state)
            if self._average is not None and resume.averaged_state is not None:
                self._average.load_state_dict(resume.averaged_state)
        self._resume = resume
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        RunControl.__init__(self)
        # Held while the model changes (one step), so snapshots see whole updates only.
        self._lock = threading.Lock()
        # Where the run is as of the last progress event; the steps since are in the window.
        self._position = RunPosition() if resume is None else resume.position
        self._window = MetricsWindow(self.device)
        # Per-sample augmentation of training batches (None when off); evaluation never.
        self._augment = build_augmentation(
            self.training, dataset.mean, dataset.std, dataset.info.input_shape
        )
        # In lockstep (a stacked group), the gradients of the next update (see stacked.py).
        self._lockstep = False
        self._supplied: SuppliedStep | None = None

    @property
    def model(self) -> Network:
        """The live model being trained (the final model once run() has ended). Do not run
        forward passes on it while training runs: use weights_snapshot()."""
        return self._model

    def weights_snapshot(self) -> dict[str, torch.Tensor]:
        """A CPU copy of the evaluated model's state_dict (the moving average where there is
        one), taken between two steps."""
        with self._lock:
            # One copy, in the plain layout even for channels_last weights.
            return {
                key: value.detach().to("cpu", copy=True, memory_format=torch.contiguous_format)
                for key, value in self._evaluated().state_dict().items()
            }

    def _evaluated(self) -> Network:
        """The weights a measure sees: the moving average where there is one."""
        return self._model if self._average is None else self._average.module

    def warm_up(self) -> None:
        """One forward and backward pass of a throwaway copy of the model on a real batch, so
        kernels are chosen and caches filled before the first real step."""
        images, labels = next(self.dataset.batches(Split.TRAIN, self.training.batch_size))
        warm_up(self._model, self._layout(images), labels, self._autocast(), self.training)

    # ---- the loop --------------------------------------------------------------------------

    def run(self) -> Iterator[TrainingEvent]:
        """Train, yielding events; the last event is TrainingFinished, TrainingStopped or
        TrainingFailed. Never raises for a training problem."""
        for event in self._run():
            if not isinstance(event, BatchReady):
                yield event

    def lockstep_run(self) -> Iterator[TrainingEvent | BatchReady]:
        """`run()`, yielding a `BatchReady` before every update: a stacked one waits for
        `supply()` (a group of trainers then moves one batch at a time, see stacked.py)."""
        self._lockstep = True
        return self._run()

    def supply(self, step: SuppliedStep) -> None:
        """The gradients of the update the last `BatchReady` announced."""
        self._supplied = step

    def _run(self) -> Iterator[TrainingEvent | BatchReady]:
        failure: TrainingFailed | None = None
        try:
            yield from self._train()
        except Exception as error:
            # Memory first: an out-of-memory message suggests a batch size from what is free.
            self._release_memory()
            failure = failure_for(
                error, self._step_now(), self.spec, self.device, self.training.batch_size
            )
        if failure is not None:  # yielded outside the handler, which holds the error's frames
            yield failure

    def _step_now(self) -> int:
        """Updates done so far, the window's unreported ones included."""
        return self._position.step + self._window.steps

    def _train(self) -> Iterator[TrainingEvent | BatchReady]:
        training, plan = self.training, self.plan
        if self.dataset.size(Split.TRAIN) == 0:
            raise TrainingAborted("the training split is empty")
        if self.device.type == "cpu":
            # Here, on the thread that trains: OpenMP thread counts are per calling thread.
            try:
                apply_threads(self.device, training.threads)
            except DeviceError as error:
                raise TrainingAborted(str(error)) from None
            if should_measure_threads(self.device, training.threads):
                images, labels = next(self.dataset.batches(Split.TRAIN, training.batch_size))
                images, autocast = self._layout(images), self._autocast()
                fastest_threads(self._model, images, labels, autocast, training)
        order = batch_order(self.device, self.training.seed, self._resume)
        yield TrainingStarted(
            device=describe_device(self.device),
            epochs=training.epochs,
            steps_per_epoch=plan.steps_per_epoch,
            train_size=self.dataset.size(Split.TRAIN),
            validation_size=self.dataset.size(Split.VALIDATION),
            test_size=self.dataset.size(Split.TEST),
            start_step=self._position.step,
            mixed_precision=self.mixed_precision,
        )
        self._model.train()
        session = RunSession(
            start_step=self._position.step,
            elapsed_before=self._position.elapsed,
            started=time.perf_counter(),
            learning_rate=self._learning_rate(),
        )
        self._window.open(session.started)
        set_learning_rate(self._optimizer, session.learning_rate)
        scheduled = training.schedule != "constant"
        while self._position.epoch < training.epochs:
            epoch_order = order.get_state()
            batches = self.dataset.batches(
                Split.TRAIN,
                plan.batch_size,
                shuffle=True,
                generator=order,
                drop_last=plan.drop_last,
                # Resuming inside an epoch: the batches before the position were taken.
                start_batch=self._position.batch,
            )
            for images, labels in batches:
                if not self._running.is_set():
                    self._wait_while_paused(session)
                if self.stop_requested:
                    yield from self._stopped(session, epoch_order)
                    return
                if scheduled:
                    session.learning_rate = self._learning_rate()
                    set_learning_rate(self._optimizer, session.learning_rate)
                if self._lockstep:
                    yield BatchReady(images, labels, not self.health.due(self._step_now()))
                self._step(images, labels)
                now = time.perf_counter()
                if self._window.due(now, self.report_interval):
                    yield self._report(session, now)
            if self._window.steps:
                yield self._report(session, time.perf_counter())
            ended = self._end_epoch(session, session.elapsed(time.perf_counter()))
            self._save(order.get_state(), ended.elapsed)
            yield ended
            patience = training.early_stopping_patience
            if ended.validation_loss is not None and self._position.out_of_patience(patience):
                with self._lock:  # back to the weights of the best validation loss
                    self._best.restore(self._evaluated())
                break
        yield self._finish(session)

    def _learning_rate(self) -> float:
        """The scheduled learning rate of the next update."""
        plan = self.plan
        return learning_rate_at(
            self.training, self._step_now(), plan.steps_per_epoch, plan.total_steps
        )

    def _wait_while_paused(self, session: RunSession) -> None:
        paused = time.perf_counter()
        self._running.wait()
        seconds = time.perf_counter() - paused
        session.paused_for += seconds
        self._window.pause(seconds)

    def _step(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """One update; its results stay on the device, in the window."""
        if self._augment is not None:
            images = self._augment(images)
        supplied, self._supplied = self._supplied, None
        with self._lock, self.health.recording(self._step_now()):
            if supplied is not None:
                loss, logits, penalty = supplied.apply(self._model, self._optimizer)
            else:
                loss, logits, penalty = update(
                    self._model,
                    self._optimizer,
                    self._layout(images),
                    labels,
                    self._autocast(),
                    label_smoothing=self.training.label_smoothing,
                    forward=self._forward,
                )
            if self._average is not None:
                self._average.update(self._model)
        self._window.add(
            loss.detach(),
            logits.detach(),
            labels,
            None if penalty is None else penalty.detach(),
        )

    def _report(self, session: RunSession, now: float) -> Progress:
        """The window's steps as a Progress event, counted into the position; raises
        TrainingAborted at the first non-finite loss or L1/L2 term among them."""
        totals = self._window.read(now)
        position, lr = self._position, session.learning_rate
        problem = totals.problem(position.step + 1, position.epoch + 1, lr, self._model.penalties)
        if problem:
            raise TrainingAborted(problem)
        self._window.clear(now)
        position = self._position = position.after_steps(
            totals.steps, totals.loss, totals.correct, totals.samples
        )
        return Progress(
            step=position.step,
            epoch=position.epoch + 1,
            epoch_fraction=position.batch / self.plan.steps_per_epoch,
            samples_seen=self.plan.samples_seen(position),
            train_loss=totals.mean_loss,
            train_accuracy=totals.accuracy,
            learning_rate=lr,
            images_per_second=totals.images_per_second,
            elapsed=session.elapsed(now),
            eta=session.eta(position.step, self.plan.total_steps, now),
        )

    def _stopped(self, session: RunSession, epoch_order: torch.Tensor) -> Iterator[TrainingEvent]:
        """Report what the window holds, save, and say the run stopped."""
        now = time.perf_counter()
        if self._window.steps:
            yield self._report(session, now)
        position = self._position
        self._save(epoch_order, session.elapsed(now))
        yield TrainingStopped(position.epoch + 1, position.step, session.elapsed(now))

    def _end_epoch(self, session: RunSession, elapsed: float) -> EpochEnded:
        """The epoch's event, with the validation metrics; the position moves to the next
        epoch."""
        position, lr = self._position, session.learning_rate
        validation: SplitMetrics | None = None
        if self.dataset.size(Split.VALIDATION):
            validation = self._evaluate(Split.VALIDATION, position.epoch + 1, lr)
        event = EpochEnded(
            epoch=position.epoch + 1,
            step=position.step,
            train_loss=position.train_loss,
            train_accuracy=position.train_accuracy,
            validation_loss=None if validation is None else validation.loss,
            validation_accuracy=None if validation is None else validation.accuracy,
            learning_rate=lr,
            elapsed=elapsed,
        )
        patience = self.training.early_stopping_patience
        self._position = position.after_epoch(event_to_json(event), event.validation_loss, patience)
        if validation is not None and patience and not self._position.epochs_without_improvement:
            self._best.keep(self._evaluated())
        return event

    def _finish(self, session: RunSession) -> TrainingFinished:
        position = self._position
        if self._average is not None:
            # The run's result is the averaged network: what `model` exports from now on.
            with self._lock:
                self._model.load_state_dict(self._average.module.state_dict())
        result = self._evaluate(Split.TEST, position.epoch, session.learning_rate, predictions=True)
        return TrainingFinished(
            epoch=position.epoch,
            step=position.step,
            test_loss=result.loss,
            test_accuracy=result.accuracy,
            per_class_accuracy=result.per_class_accuracy,
            early_stopped=position.epoch < self.training.epochs,
            elapsed=session.elapsed(time.perf_counter()),
            evaluation=test_evaluation(result, self.dataset),
        )

    def _evaluate(
        self, split: Split, epoch: int, learning_rate: float, *, predictions: bool = False
    ) -> SplitMetrics:
        """The model's metrics on `split` after `epoch`; TrainingAborted when the loss
        there is not finite."""
        result = measure_ensemble(
            [self._evaluated()],
            self.dataset,
            split,
            max(2 * self.training.batch_size, 256),
            autocast=self._autocast(),
            channels_last=self.mixed_precision,
            flip=self.training.tta_flip,
            predictions=predictions,
        )
        if result.size and not math.isfinite(result.loss):
            penalties = self._model.penalties
            raise TrainingAborted(
                non_finite_evaluation_message(split, epoch, learning_rate, penalties)
            )
        return result

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
        """The run as of the last progress event, with `elapsed` seconds of training and
        the batch order's generator in `order_state`."""
        with self._lock:
            # Straight to the CPU: no second copy of the weights and optimizer state on a
            # device that may be nearly full.
            model_state = cpu_copy(self._model.state_dict())
            optimizer_state = cpu_copy(self._optimizer.state_dict())
            averaged = None if self._average is None else self._average.state_dict()
        cpu_rng, device_rng = random_states(self.device)
        return Checkpoint(
            spec=self.spec,
            model_state=model_state,
            optimizer_state=optimizer_state,
            position=replace(self._position, elapsed=elapsed),
            device_rng=device_rng,
            cpu_rng=cpu_rng,
            order_rng=order_state,
            averaged_state=averaged,
            best_state=self._best.state,
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

    def _release_memory(self) -> None:
        self._optimizer.zero_grad(set_to_none=True)
        # Only the main thread collects: on a window's training thread, a collection that
        # frees a Qt object runs its C++ destructor there, which waits for the interpreter
        # lock this thread already holds under another thread state (a hang).
        if threading.current_thread() is threading.main_thread():
            gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
