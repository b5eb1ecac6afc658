"""The real `sweep` command with stacked trials against `sweep --no-stack`, side by side on
the same plan: K learning rates of one small network, one epoch, one CPU thread.

Each side is the whole command in this process (plan, data, every trial's run folder and
results.csv), alternating which goes first. Prints each side's median time, the ratio (one
after another / stacked: above 1 means stacking is faster), the trial's multiply-accumulates
per batch (what sweep_stack.MAX_STACKED_MACS bounds), the largest difference in validation
accuracy between the two sides (float rounding, which long runs at a high rate amplify as a
change of thread count does) and the load.

    python bench/sweep_stack.py [--dataset shapes|mnist] [--trials 4,8] [--batch-size 32,128]
        [--filters 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED_DATASETS, machine_load
from explorer.cli import main as cli


def write_project(path: Path, dataset: str, filters: int, batch_size: int) -> Path:
    project = {
        "format": "cnn-explorer",
        "version": 1,
        "name": "bench",
        "input": {"channels": 1, "height": 28, "width": 28},
        "num_classes": 10,
        "layers": [
            {"type": "Conv2D", "filters": filters, "kernel_size": 3, "activation": "relu"},
            {"type": "MaxPool2D", "pool_size": 2},
            {"type": "Conv2D", "filters": 2 * filters, "kernel_size": 3, "activation": "relu"},
            {"type": "MaxPool2D", "pool_size": 2},
            {"type": "Flatten"},
            {"type": "Dense", "units": 10, "activation": "softmax"},
        ],
        "training": {
            "dataset": dataset,
            "optimizer": "sgd",
            "momentum": 0.9,
            "batch_size": batch_size,
            "epochs": 1,
            "validation_split": 0.1,
            "seed": 0,
            "threads": 1,
        },
    }
    path.write_text(json.dumps(project), encoding="utf-8")
    return path


def data_dir() -> str | None:
    """Real MNIST: $CNN_EXPLORER_TEST_DATA, else ../shared/datasets beside the checkout."""
    named = os.environ.get("CNN_EXPLORER_TEST_DATA")
    if named:
        return named
    return str(SHARED_DATASETS) if SHARED_DATASETS.is_dir() else None


def run_sweep(project: Path, out: Path, rates: str, stack: bool) -> tuple[float, list[dict]]:
    argv = ["sweep", str(project), "--set", f"learning_rate={rates}", "--out", str(out)]
    if (folder := data_dir()) is not None:
        argv += ["--data-dir", folder]
    argv += [] if stack else ["--no-stack"]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = cli(argv)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"sweep failed ({code})")
    if stack and " stacked\n" not in printed.getvalue():
        raise SystemExit("the trials did not stack")
    with (out / "results.csv").open(encoding="utf-8") as stream:
        return seconds, list(csv.DictReader(stream))


def difference(rows: list[dict], others: list[dict]) -> float:
    """The largest difference in validation accuracy between the same trials."""
    pairs = zip(rows, others, strict=True)
    return max(
        abs(float(a["validation_accuracy"]) - float(b["validation_accuracy"])) for a, b in pairs
    )


def case(dataset: str, trials: int, batch_size: int, filters: int, repeats: int) -> None:
    rates = ",".join(f"{0.02 / 2**k:g}" for k in range(trials))
    times: dict[bool, list[float]] = {True: [], False: []}
    differences = []
    with tempfile.TemporaryDirectory() as tmp:
        project = write_project(Path(tmp) / "p.json", dataset, filters, batch_size)
        for repeat in range(repeats):
            rows: dict[bool, list[dict]] = {}
            for stack in (True, False) if repeat % 2 == 0 else (False, True):
                out = Path(tmp) / f"{repeat}-{stack}"
                times[stack].append((result := run_sweep(project, out, rates, stack))[0])
                rows[stack] = result[1]
            differences.append(difference(rows[True], rows[False]))
        macs = int(rows[True][0]["macs"])
    stacked, alone = statistics.median(times[True]), statistics.median(times[False])
    print(
        f"{dataset} {trials} trials, batch {batch_size}, {filters}/{2 * filters} filters "
        f"({macs * batch_size:,} MACs a batch): one after another {alone:.2f} s, "
        f"stacked {stacked:.2f} s, ratio {alone / stacked:.2f}x, max |Δ val acc| "
        f"{max(differences):.4f}  ({machine_load()})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--trials", default="4,8")
    parser.add_argument("--batch-size", default="32,128")
    parser.add_argument("--filters", default="4")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for filters in map(int, args.filters.split(",")):
        for batch_size in map(int, args.batch_size.split(",")):
            for trials in map(int, args.trials.split(",")):
                case(args.dataset, trials, batch_size, filters, args.repeats)


if __name__ == "__main__":
    main()
