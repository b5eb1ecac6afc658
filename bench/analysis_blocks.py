"""Analysis time per edit for ResNet-56 in blocks vs the torch way of learning its shapes.

ResNet-56 (He et al. 2016, section 4.2): a 3×3/16 stem, three stages of nine basic blocks
(16, 32, 64 filters; stride 2 and a pad shortcut at the start of stages 2 and 3), global
average pooling and Dense 10: 27 residual rows holding 135 layers, 167 in all. An edit
changes one layer inside the middle block; the analysis gets the analysis before it.

The peer runs the built model forward on the meta device (no memory, no arithmetic): the
cheapest way torch itself reports every module's output shape. It is timed with the model
already built, and again with the build. Budget (DESIGN.md): analysis <= 5 ms per edit
and >= 5x faster than the meta forward pass.

    python bench/analysis_blocks.py [--repeats 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from explorer.core.analysis import Analysis, analyze
from explorer.core.builder import Network, build_model
from explorer.core.paths import LayerPath
from explorer.core.spec import BlockSpec, InputSpec, LayerOrBlock, LayerSpec, NetworkSpec

EDITED = LayerPath((14, 0, 1))  # the first BatchNorm of the middle block's body


def _conv(filters: int, stride: int = 1) -> LayerSpec:
    values = {"filters": filters, "kernel_size": 3, "padding": "same", "use_bias": False}
    return LayerSpec.create("Conv2D", {**values, "stride": stride})


def resnet56() -> NetworkSpec:
    relu = LayerSpec.create("Activation", {"function": "relu"})
    rows: list[LayerOrBlock] = [_conv(16), LayerSpec.create("BatchNorm"), relu]
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(9):
            stride = 2 if stage and not block else 1
            body = [_conv(filters, stride), LayerSpec.create("BatchNorm"), relu]
            body += [_conv(filters), LayerSpec.create("BatchNorm")]
            rows.append(BlockSpec.create("Residual", {"shortcut": "pad"}, [body]))
    rows += [LayerSpec.create("GlobalAvgPool2D"), LayerSpec.create("Dense", {"units": 10})]
    spec = NetworkSpec(input=InputSpec(3, 32, 32), layers=tuple(rows))
    assert sum(1 for _ in spec.walk()) == 167
    return spec


def _edited(spec: NetworkSpec, momentum: float) -> NetworkSpec:
    return spec.replace_at(EDITED, LayerSpec.create("BatchNorm", {"momentum": momentum}))


def meta_shapes(model: Network, spec: NetworkSpec) -> tuple[int, ...]:
    with torch.device("meta"):
        return tuple(model(torch.empty(1, *spec.input.shape)).shape[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    specs = [_edited(resnet56(), 0.1), _edited(resnet56(), 0.2)]
    with torch.device("meta"):
        model = build_model(specs[0]).eval()
    first = analyze(specs[0])
    assert first.ok and first.output_shape == meta_shapes(model, specs[0])
    assert first.trainable_params == 853_018, first.trainable_params  # the paper's 0.85M

    previous: Analysis = first
    edit, edit_cpu, scratch, scratch_cpu, forward, build = [], [], [], [], [], []
    for i in range(args.repeats):  # alternate A/B so drift in machine load hits all
        spec = specs[(i + 1) % 2]
        start, cpu = time.perf_counter(), time.process_time()
        previous = analyze(spec, previous=previous)
        edit.append(time.perf_counter() - start)
        edit_cpu.append(time.process_time() - cpu)
        start, cpu = time.perf_counter(), time.process_time()
        analyze(spec)
        scratch.append(time.perf_counter() - start)
        scratch_cpu.append(time.process_time() - cpu)
        start = time.perf_counter()
        meta_shapes(model, spec)
        forward.append(time.perf_counter() - start)
        if i % 10 == 0:
            start = time.perf_counter()
            with torch.device("meta"):
                meta_shapes(build_model(spec), spec)
            build.append(time.perf_counter() - start)
    a = statistics.median(edit) * 1e3
    s = statistics.median(scratch) * 1e3
    f = statistics.median(forward) * 1e3
    b = statistics.median(build) * 1e3
    p90 = sorted(edit)[int(0.9 * len(edit))] * 1e3
    print(f"analysis per edit, ResNet-56:   median {a:.3f} ms  (p90 {p90:.3f} ms)  budget <= 5 ms")
    print(f"analysis from scratch:          median {s:.3f} ms")
    # On a loaded machine a run longer than a scheduler slice waits for the CPU: the
    # process's own CPU time says what the analysis costs.
    print(
        f"CPU time: per edit {statistics.median(edit_cpu) * 1e3:.3f} ms, "
        f"from scratch {statistics.median(scratch_cpu) * 1e3:.3f} ms"
    )
    print(f"meta forward (model built):     median {f:.3f} ms")
    print(f"build + meta forward:           median {b:.3f} ms")
    print(f"ratio: an edit's analysis is {f / a:.1f}x faster than the meta forward (budget >= 5x)")
    print(f"       from scratch {f / s:.1f}x; vs build + forward {b / a:.1f}x")


if __name__ == "__main__":
    main()
