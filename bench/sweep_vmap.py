"""Several small same-architecture sweep trials at once (torch.func.stack_module_state +
vmap) against the same trials one after another, side by side on the same batches.

Both sides train K copies of the sweep's tiny network (the offline shapes set, 28×28) with
plain SGD at K learning rates, one epoch, the same initial weights and the same batch order;
the stacked side must end at the same weights (checked) to count. Prints each side's time and
the ratio (sequential / stacked: above 1 means stacking is faster).

    python bench/sweep_vmap.py [--trials K] [--batch-size B] [--repeats R]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_load
from explorer.core.builder import build_model
from explorer.core.data import load_dataset
from explorer.core.dataset_split import Split
from explorer.core.spec import InputSpec, LayerSpec, NetworkSpec


def tiny_spec() -> NetworkSpec:
    layers = (
        LayerSpec.create("MaxPool2D", {"pool_size": 2}),
        LayerSpec.create("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}),
        LayerSpec.create("MaxPool2D", {"pool_size": 2}),
        LayerSpec.create("Flatten"),
        LayerSpec.create("Dense", {"units": 10}),
    )
    return NetworkSpec(input=InputSpec(1, 28, 28), num_classes=10, layers=layers)


def sequential(models: list[nn.Module], rates: list[float], batches: list) -> float:
    start = time.perf_counter()
    loss_fn = nn.CrossEntropyLoss()
    for model, rate in zip(models, rates, strict=True):
        optimizer = torch.optim.SGD(model.parameters(), lr=rate)
        for images, labels in batches:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(images), labels).backward()
            optimizer.step()
    return time.perf_counter() - start


def stacked(models: list[nn.Module], rates: list[float], batches: list) -> tuple[float, dict]:
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    rate = torch.tensor(rates)

    def loss(p: dict, b: dict, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = functional_call(base, (p, b), (images,))
        return nn.functional.cross_entropy(logits, labels)

    step = vmap(grad_and_value(loss), in_dims=(0, 0, None, None))
    start = time.perf_counter()
    for images, labels in batches:
        grads, _ = step(params, buffers, images, labels)
        with torch.no_grad():
            for name, value in params.items():
                shape = (-1,) + (1,) * (value.dim() - 1)
                value.sub_(rate.view(shape) * grads[name])
    return time.perf_counter() - start, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("shapes", device="cpu", validation_fraction=0.0, seed=0)
    generator = torch.Generator().manual_seed(0)
    batches = list(data.batches(Split.TRAIN, args.batch_size, shuffle=True, generator=generator))
    rates = [0.1 / 2**k for k in range(args.trials)]
    seq_times, stack_times = [], []
    for _ in range(args.repeats):
        torch.manual_seed(0)
        models = [build_model(tiny_spec()) for _ in range(args.trials)]
        copies = [copy.deepcopy(m) for m in models]
        stack_time, params = stacked(copies, rates, batches)
        seq_times.append(sequential(models, rates, batches))
        stack_times.append(stack_time)
        for k, model in enumerate(models):
            for name, value in model.named_parameters():
                torch.testing.assert_close(params[name][k], value.detach(), rtol=1e-4, atol=1e-5)
    seq, stack = statistics.median(seq_times), statistics.median(stack_times)
    print(f"{args.trials} trials, {len(batches)} batches of {args.batch_size}, 1 thread")
    print(f"one after another: {seq:.2f} s; stacked (vmap): {stack:.2f} s")
    print(f"ratio sequential/stacked: {seq / stack:.2f}x  ({machine_load()})")


if __name__ == "__main__":
    main()
