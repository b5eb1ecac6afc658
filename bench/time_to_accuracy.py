"""Time to accuracy: `main.py train --template mnist-fast` against PyTorch's MNIST example.

    python bench/time_to_accuracy.py [--dataset mnist|fashion-mnist] [--data-dir DIR]
                                     [--max-epochs 15] [--peer-threads T]

Ours: the whole `python main.py train --template mnist-fast --data-dir DIR` process (start-up,
data loading, training, the final test), timed from outside as a subprocess (Fashion-MNIST:
`fashion-fast`). The peer: the recipe of PyTorch's examples/mnist/main.py (conv32 3×3 – conv64
3×3 – maxpool 2 – dropout 0.25 – fc128 – dropout 0.5 – fc10, Adadelta lr 1.0, StepLR γ 0.7 per
epoch, batch 64, normalised with 0.1307/0.3081, data held in memory), evaluated on the test
set after every epoch until it first reaches the target (MNIST 99.0%, Fashion 92.0%); its
time counts training and evaluation, not loading the data. Ours runs first, so the peer's
work does not count in the load average our automatic thread count reads. The peer uses as
many threads as our run chose (its device line), and the same seed-free recipe as upstream
(seed 1). Prints both times, accuracies and the ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import SHARED_DATASETS, load, machine_load  # noqa: E402
from explorer.core.dataset_split import Split  # noqa: E402

TARGETS = {"mnist": 0.990, "fashion-mnist": 0.920}
TEMPLATES = {"mnist": "mnist-fast", "fashion-mnist": "fashion-fast"}


class PeerNet(nn.Module):
    """examples/mnist/main.py's Net."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


def run_ours(template: str, data_dir: Path) -> tuple[float, float, str]:
    """Wall seconds, test accuracy and device line of the whole training process."""
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "main.py"), "train", "--template", template]
        command += ["--data-dir", str(data_dir), "--out", str(Path(out) / "run")]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"ours failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    print(done.stdout, end="")
    accuracy = re.search(r"test accuracy ([\d.]+)%", done.stdout)
    device = re.search(r"^training on (.+)$", done.stdout, re.MULTILINE)
    assert accuracy is not None
    return seconds, float(accuracy.group(1)) / 100, device.group(1) if device else "?"


def run_peer(name: str, data_dir: Path, target: float, max_epochs: int) -> list[tuple]:
    """(epoch, cumulative seconds, test accuracy) per epoch, until the target or the cap."""
    dataset = load(name, data_dir, "cpu")

    def prepared(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        images = dataset.images(split).float().div_(255.0).sub_(0.1307).div_(0.3081)
        return images, dataset.labels(split)

    train_x, train_y = prepared(Split.TRAIN)
    test_x, test_y = prepared(Split.TEST)
    torch.manual_seed(1)
    model = PeerNet()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    rows, seconds = [], 0.0
    for epoch in range(1, max_epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_y))
        for start in range(0, len(order), 64):
            index = order[start : start + 64]
            optimizer.zero_grad()
            F.cross_entropy(model(train_x[index]), train_y[index]).backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(test_y), 1000):
                logits = model(test_x[start : start + 1000])
                correct += int((logits.argmax(1) == test_y[start : start + 1000]).sum())
        seconds += time.perf_counter() - started
        accuracy = correct / len(test_y)
        rows.append((epoch, seconds, accuracy))
        print(f"peer epoch {epoch}: test {100 * accuracy:.2f}%  {seconds:.1f} s", flush=True)
        if accuracy >= target:
            break
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(TARGETS), default="mnist")
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATASETS)
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--peer-threads", type=int, help="default: as many as ours chose")
    args = parser.parse_args()
    target = TARGETS[args.dataset]
    print(machine_load())
    ours, our_accuracy, device = run_ours(TEMPLATES[args.dataset], args.data_dir)
    print(f"ours: {ours:.1f} s, test {100 * our_accuracy:.2f}% on {device}")
    found = re.search(r"CPU \((\d+) thread", device)
    threads = args.peer_threads or (int(found.group(1)) if found else torch.get_num_threads())
    torch.set_num_threads(threads)
    print(f"{machine_load()}; peer on {threads} thread{'s' if threads != 1 else ''}")
    rows = run_peer(args.dataset, args.data_dir, target, args.max_epochs)
    epoch, peer, peer_accuracy = rows[-1]
    reached = "reached" if peer_accuracy >= target else "did not reach"
    print(
        f"peer: {peer:.1f} s to epoch {epoch} ({reached} {100 * target:.1f}%: "
        f"{100 * peer_accuracy:.2f}%)\n"
        f"ours: {ours:.1f} s whole process ({100 * our_accuracy:.2f}%)\n"
        f"ratio peer/ours: {peer / ours:.1f}x  ({machine_load()})"
    )
    return 0 if our_accuracy >= target else 1


if __name__ == "__main__":
    raise SystemExit(main())
