"""Training memory as autograd really holds it, from the layers' autograd nodes.

Each layer type declares the autograd nodes its torch module runs in training (its
`autograd` rule in explorer/core/vocabulary/):
the size of each node's output and which tensors autograd saves for the backward pass
(its input, its output, or new tensors such as pooling indices and dropout noise). This
module walks those nodes the way one training step of the trainer runs them, on the CPU in
float32 and with the step order of `explorer.core.training.trainer`:

- forward: every saved tensor stays, plus the node's input and output, while the previous
  step's weight gradients are still held (the trainer clears them after the forward pass);
- backward, last node first: the tensors saved by the nodes not yet run, the gradient
  arriving at the node and the one it computes, and the weight gradients made so far
  (each node's saved tensors are freed as soon as it has run);
- optimizer step: weights, gradients, state, and the optimizer's temporaries for the largest
  parameter tensor (torch's single-tensor CPU implementations make them one at a time).

Sizes are per image unless they say otherwise; bytes are float32 (4 per element) except
where a node says so (int64 pooling indices).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias, TypeVar

from explorer.core.optimizers import DEFAULT_OPTIMIZER, optimizer_type

BYTES_PER_ELEMENT = 4  # float32

# Nodes per slice of `training_memory_steps`: a few milliseconds of the walk.
WALK_SLICE = 400

T = TypeVar("T")


def finished(steps: Generator[None, None, T]) -> T:
    """What a generator of slices of work (`training_memory_steps`) returns, all at once."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value  # type: ignore[no-any-return]


def format_bytes(count: float) -> str:
    """Bytes with a binary unit, e.g. '243.54 KB' (1 KB = 1024 B, as Keras prints)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Node:
    """One autograd node of a layer's module in training, per image.

    `output` is the element count of the new float32 tensor it returns, or None when it
    returns its input itself or a view of it (Flatten, Identity, Dropout with rate 0).
    `saves_input` / `saves_output` say which of them autograd keeps for the backward pass
    (only when the output needs a gradient), `extra_bytes` the other tensors it keeps
    (int64 pooling indices, dropout noise), and `weights` its trainable parameter count.
    The scratch sizes are the temporaries the node's kernels make beside its input, output
    and gradients: in the forward pass, in the backward pass, and in a backward pass that
    needs only the weights' gradient (the first layer's input needs none).
    """

    output: int | None
    saves_input: bool = False
    saves_output: bool = False
    extra_bytes: int = 0
    weights: int = 0
    forward_scratch: int = 0
    backward_scratch: int = 0
    weight_scratch: int = 0


@dataclass(frozen=True)
class Branches:
    """A block's nodes: sub-chains over the same input (an empty one passes it on), then
    `merge`, the node taking every sub-chain's output (`merge.saves_input`: it keeps all
    of them, as a product does; a sum or a concatenation keeps none)."""

    stacks: tuple[tuple[NodeOrBranches, ...], ...]
    merge: Node


NodeOrBranches: TypeAlias = Node | Branches


@dataclass(frozen=True)
class TrainingMemory:
    """The parts of the estimate, in bytes: weights-sized parts for the whole network,
    activation parts per image."""

    weight_bytes: int
    gradient_bytes: int
    optimizer_state_bytes: int
    optimizer_temporary_bytes: int
    # (activation bytes per image, weight-gradient bytes held) at each moment of the step
    moments: tuple[tuple[int, int], ...]
    # input batch and logits per image, held through the optimizer step
    held_bytes_per_image: int
    # what autograd keeps at the end of the forward pass, per image
    saved_bytes_per_image: int = 0

    def peak_bytes(self, batch_size: int) -> int:
        """Estimated peak memory of one training step with this batch size."""
        # kept per batch size: the totals and their warning ask for the same one, and each
        # answer goes over every moment (tens of thousands at thousands of layers)
        peaks: dict[int, int] = self.__dict__.setdefault("_peaks", {})
        peak = peaks.get(batch_size)
        if peak is None:
            peak = peaks[batch_size] = self._peak_bytes(batch_size)
        return peak

    def _peak_bytes(self, batch_size: int) -> int:
        base = self.weight_bytes + self.optimizer_state_bytes
        during_passes = max(
            (base + gradients + batch_size * per_image for per_image, gradients in self.moments),
            default=base,
        )
        step = (
            base
            + self.gradient_bytes
            + self.optimizer_temporary_bytes
            + batch_size * self.held_bytes_per_image
        )
        return max(during_passes, step)

    def largest_batch_within(self, budget_bytes: int, limit: int = 65536) -> int:
        """The largest batch size (1..limit) whose peak fits in `budget_bytes`; 1 if none does."""
        low, high = 1, limit
        if self.peak_bytes(low) > budget_bytes:
            return 1
        while low < high:  # the peak grows with the batch size
            middle = (low + high + 1) // 2
            if self.peak_bytes(middle) <= budget_bytes:
                low = middle
            else:
                high = middle - 1
        return low


class _Traced(NamedTuple):
    """A node placed in the step: tensor ids of its inputs and output, what it keeps (a
    tuple: thousands are made per estimate)."""

    inputs: tuple[int, ...]
    output: int
    saved: tuple[int, ...]
    extra_bytes: int
    weight_bytes: int
    backward: bool
    node: Node


class _Tracer:
    """Places nodes in the step: which tensor each reads and makes (a block's sub-chains
    all read the block's input; its merge reads every sub-chain's output)."""

    def __init__(self, input_elements: int) -> None:
        self.sizes = [input_elements * BYTES_PER_ELEMENT]  # tensor id -> bytes per image
        self.needs_grad = [False]
        self.trace: list[_Traced] = []

    def chain(self, nodes: Sequence[NodeOrBranches], current: int) -> Generator[None, None, int]:
        """Trace `nodes` reading tensor `current`, a slice at a time; the id of what they
        make."""
        for node in nodes:
            if isinstance(node, Branches):
                outputs = []
                for stack in node.stacks:
                    outputs.append((yield from self.chain(stack, current)))
                current = self.node(node.merge, tuple(outputs))
            else:
                current = self.node(node, (current,))
            if len(self.trace) % WALK_SLICE == 0:
                yield
        return current

    def node(self, node: Node, inputs: tuple[int, ...]) -> int:
        grad = node.weights > 0 or _any_needs_grad(self.needs_grad, inputs)
        out = inputs[0]
        if node.output is not None:
            self.sizes.append(node.output * BYTES_PER_ELEMENT)
            self.needs_grad.append(grad)
            out = len(self.sizes) - 1
        saved: tuple[int, ...] = ()
        if grad:
            if len(inputs) == 1:  # a layer's node (a merge has several inputs)
                first = inputs[0]
                saved = (first,) if node.saves_input else ()
                if node.saves_output and not (saved and out == first):
                    saved += (out,)
            else:
                kept = [i for i in inputs if node.saves_input]
                if node.saves_output:
                    kept.append(out)
                saved = tuple(dict.fromkeys(kept))
        self.trace.append(
            _Traced(
                inputs,
                out,
                saved,
                node.extra_bytes if grad else 0,
                node.weights * BYTES_PER_ELEMENT,
                grad,
                node,
            )
        )
        return out


def _any_needs_grad(needs_grad: list[bool], inputs: tuple[int, ...]) -> bool:
    if len(inputs) == 1:  # most nodes: no generator
        return needs_grad[inputs[0]]
    return any(needs_grad[i] for i in inputs)


def training_memory(
    input_elements: int,
    nodes: Sequence[NodeOrBranches],
    frozen_elements: int = 0,
    *,
    optimizer: str = DEFAULT_OPTIMIZER,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> TrainingMemory:
    """Walk one training step over `nodes` (in forward order) for an input of
    `input_elements` per image; `frozen_elements` counts the buffers beside the trainable
    weights (BatchNorm's running statistics)."""
    return finished(
        training_memory_steps(
            input_elements,
            nodes,
            frozen_elements,
            optimizer=optimizer,
            momentum=momentum,
            weight_decay=weight_decay,
        )
    )


def training_memory_steps(
    input_elements: int,
    nodes: Sequence[NodeOrBranches],
    frozen_elements: int = 0,
    *,
    optimizer: str = DEFAULT_OPTIMIZER,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> Generator[None, None, TrainingMemory]:
    """`training_memory` a slice at a time: each step of the generator walks at most
    about WALK_SLICE nodes (a window works the estimate of thousands of layers out between
    its events, and the walk holds the interpreter too long for a thread to help); it
    returns the estimate."""
    tracer = _Tracer(input_elements)
    logits = yield from tracer.chain(nodes, 0)
    sizes, needs_grad, trace = tracer.sizes, tracer.needs_grad, tracer.trace
    all_gradients = sum(t.weight_bytes for t in trace)
    moments: list[tuple[int, int]] = []

    # Forward: the batch, what is saved so far, and the tensors made and still to be read
    # (a node's input and output; a block's input until its last sub-chain has read it).
    # Sums are kept as they change, so a 5,000-layer network costs milliseconds.
    last_read = {i: step for step, t in enumerate(trace) for i in t.inputs}
    last_read[logits] = len(trace)
    held: set[int] = {0}
    held_bytes = sizes[0]
    alive: set[int] = set()
    alive_bytes = 0
    extra = 0
    for step, t in enumerate(trace):
        if step % WALK_SLICE == WALK_SLICE - 1:
            yield
        if t.output not in held and t.output not in alive:
            alive.add(t.output)
            alive_bytes += sizes[t.output]
        # pooling indices and dropout noise are made even when they are not kept
        activations = held_bytes + alive_bytes + extra + t.node.extra_bytes
        moments.append((activations + t.node.forward_scratch, all_gradients))
        for i in t.saved:
            if i not in held:
                held.add(i)
                held_bytes += sizes[i]
                if i in alive:
                    alive.discard(i)
                    alive_bytes -= sizes[i]
        extra += t.extra_bytes
        for i in t.inputs:
            if last_read.get(i) == step and i in alive:
                alive.discard(i)
                alive_bytes -= sizes[i]

    saved_ids = {i for t in trace for i in t.saved}
    saved_at_end = sum(sizes[i] for i in saved_ids) + extra

    # Backward, last node first: saved tensors of the nodes not yet run, the gradients
    # arriving and not yet used up (a block's input gathers one per sub-chain), the ones
    # the node computes, and the weight gradients made so far.
    users: dict[int, int] = {}
    for t in trace:
        for i in t.saved:
            users[i] = users.get(i, 0) + 1
    alive_saved = {0, logits, *users}
    alive_bytes = sum(sizes[i] for i in alive_saved)
    pending = {logits: sizes[logits]}
    pending_bytes = sizes[logits]
    gradients = 0
    for step, t in enumerate(reversed(trace)):
        if step % WALK_SLICE == WALK_SLICE - 1:
            yield
        if not t.backward:
            continue  # nothing it reads needs a gradient
        gradients += t.weight_bytes
        outgoing = 0
        new: list[int] = []
        for i in dict.fromkeys(t.inputs):
            if needs_grad[i] and i != t.output and i not in pending:
                outgoing += sizes[i]
                new.append(i)
        reads_grad = _any_needs_grad(needs_grad, t.inputs)
        scratch = t.node.backward_scratch if reads_grad else t.node.weight_scratch
        moments.append((alive_bytes + extra + pending_bytes + outgoing + scratch, gradients))
        extra -= t.extra_bytes
        if t.output not in t.inputs and t.output in pending:
            pending_bytes -= pending.pop(t.output)
        for i in new:
            pending[i] = sizes[i]
            pending_bytes += sizes[i]
        for i in t.saved:
            users[i] -= 1
            if users[i] == 0 and i not in (0, logits):
                alive_saved.discard(i)
                alive_bytes -= sizes[i]

    # What the optimizer keeps and makes, per weight, as its registry entry declares.
    state = optimizer_type(optimizer).state_tensors(momentum)
    temporaries = optimizer_type(optimizer).temporary_tensors(weight_decay)
    return TrainingMemory(
        weight_bytes=all_gradients + frozen_elements * BYTES_PER_ELEMENT,
        gradient_bytes=all_gradients,
        optimizer_state_bytes=state * all_gradients,
        optimizer_temporary_bytes=(
            # a layer's kernel is its largest tensor; its bias and slope are small beside it
            temporaries * max(t.weight_bytes for t in trace) if trace else 0
        ),
        moments=tuple(moments),
        held_bytes_per_image=sizes[0] + sizes[logits],
        saved_bytes_per_image=saved_at_end,
    )
