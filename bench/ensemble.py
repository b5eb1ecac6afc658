"""What each extra ensemble member buys: test accuracy and time for the first k members.

    python bench/ensemble.py (--template NAME | FILE) [--members N] [--data-dir DIR]
        [--epochs E] [--out RUN_DIR] [--csv FILE]
    python bench/ensemble.py --run RUN_DIR [--data-dir DIR] [--csv FILE]

Trains the ensemble once with `python main.py train` (N members: the project's ensemble
size unless --members), or reads a finished ensemble run folder, then reports for
k = 1..N the test accuracy of the first k members' averaged probabilities
(`measure_ensemble`, what `train` prints) beside the cumulative training time. Each row
is checked against numpy: the accuracy of the members' softmax outputs averaged by hand.
A trained run also checks that the accuracy `train` printed is the table's last row.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_load
from explorer.core.app.preparation import load_network_dataset
from explorer.core.app.run_plan import finished_model, plan_resume
from explorer.core.builder import Network
from explorer.core.data.resident import DeviceDataset
from explorer.core.dataset_split import Split
from explorer.core.training.metrics import measure_ensemble

ROOT = Path(__file__).resolve().parents[1]
PRINTED = re.compile(r"ensemble of (\d+): test accuracy ([0-9.]+)%")


@dataclass(frozen=True)
class Row:
    """The first `members` members: their ensemble's accuracy (0..1), numpy's, the time."""

    members: int
    accuracy: float
    numpy_accuracy: float
    seconds: float
    member_accuracy: float


def member_probabilities(model: Network, dataset: DeviceDataset, flip: bool) -> np.ndarray:
    """The member's softmax on every test image (with its mirror image averaged in when the
    run evaluates with `flip`), as numpy computes it from the raw logits."""
    outputs = []
    model.eval()
    with torch.no_grad():
        for images, _ in dataset.batches(Split.TEST, 500):
            views = [images, images.flip(-1)] if flip else [images]
            logits = [model(view).double().cpu().numpy() for view in views]
            probs = [np.exp(z - z.max(1, keepdims=True)) for z in logits]
            outputs.append(np.mean([p / p.sum(1, keepdims=True) for p in probs], axis=0))
    return np.concatenate(outputs)


def table(
    models: list[Network], seconds: list[float], dataset: DeviceDataset, flip: bool
) -> list[Row]:
    """One row per prefix of `models` (trained in `seconds` each)."""
    labels = dataset.labels(Split.TEST).cpu().numpy()
    probabilities = [member_probabilities(m, dataset, flip) for m in models]
    rows = []
    for k in range(1, len(models) + 1):
        app = measure_ensemble(models[:k], dataset, Split.TEST, 500, flip=flip).accuracy
        averaged = np.mean(probabilities[:k], axis=0)
        reference = float((averaged.argmax(1) == labels).mean())
        own = float((probabilities[k - 1].argmax(1) == labels).mean())
        rows.append(Row(k, app, reference, float(sum(seconds[:k])), own))
    return rows


def train(args: argparse.Namespace) -> tuple[Path, str]:
    """Train the ensemble with `main.py train`; its run folder and printed output."""
    out = Path(args.out or tempfile.mkdtemp(prefix="ensemble-bench-")) / "run"
    command = [sys.executable, str(ROOT / "main.py"), "train", "--out", str(out)]
    command += ["--template", args.template] if args.template else [args.file]
    for flag, value in (("--ensemble", args.members), ("--epochs", args.epochs)):
        if value:
            command += [flag, str(value)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    print(done.stdout, end="")
    print(f"train: {time.perf_counter() - start:.1f} s wall, exit {done.returncode}")
    if done.returncode != 0:
        sys.exit(f"train failed: {done.stderr.strip()}")
    return out, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", help="project file")
    parser.add_argument("--template")
    parser.add_argument("--run", help="a finished ensemble run folder, instead of training")
    parser.add_argument("--members", type=int, help="ensemble size (default: the project's)")
    parser.add_argument("--epochs", type=int, help="epochs per member (default: the project's)")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", help="folder for the trained run (default: a temporary one)")
    parser.add_argument("--csv", help="also write the table here")
    args = parser.parse_args()
    if sum(bool(x) for x in (args.file, args.template, args.run)) != 1:
        parser.error("give one of FILE, --template or --run")

    print(f"before: {machine_load()}")
    printed = None
    if args.run:
        run = Path(args.run)
    else:
        run, output = train(args)
        printed = PRINTED.search(output)
    plan = plan_resume(run, {})
    if not plan.is_ensemble:
        sys.exit(f"{run} is one network, not an ensemble: train it with --ensemble 2 or more")
    unfinished = [str(m.folder.path) for m in plan.members if not m.finished]
    if unfinished:
        sys.exit(f"members not trained to the end: {', '.join(unfinished)}")
    device = torch.device("cpu")
    data_dir = args.data_dir or plan.settings.data_dir
    dataset = load_network_dataset(plan.spec, data_dir, device)
    models = [finished_model(m, device) for m in plan.members]
    seconds = [m.folder.read_metrics().events[-1]["elapsed"] for m in plan.members]
    flip = plan.spec.training.tta_flip
    rows = table(models, seconds, dataset, flip)

    print(f"{plan.spec.name} on {plan.spec.training.dataset}: {run}")
    print(f"{'members':>7}  {'ensemble':>9}  {'numpy':>9}  {'member k':>9}  {'train time':>10}")
    for row in rows:
        print(
            f"{row.members:>7}  {100 * row.accuracy:>8.2f}%  {100 * row.numpy_accuracy:>8.2f}%"
            f"  {100 * row.member_accuracy:>8.2f}%  {row.seconds:>9.1f}s"
        )
    print(f"after: {machine_load()}")
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(["members", "accuracy", "numpy_accuracy", "member_accuracy", "seconds"])
            for row in rows:
                writer.writerow(
                    [
                        row.members,
                        row.accuracy,
                        row.numpy_accuracy,
                        row.member_accuracy,
                        row.seconds,
                    ]
                )
    # Equal up to float rounding: less than one image of the test set apart.
    one_image = 1 / dataset.size(Split.TEST)
    failures = [r.members for r in rows if abs(r.accuracy - r.numpy_accuracy) >= one_image]
    last = f"{100 * rows[-1].accuracy:.2f}"
    if printed is not None and last != printed.group(2):
        print(f"MISMATCH: train printed {printed.group(2)}%, the table {last}%")
        return 1
    if failures:
        print(f"MISMATCH with numpy for {failures} members")
        return 1
    print("every row matches numpy's averaged probabilities")
    return 0


if __name__ == "__main__":
    sys.exit(main())
