"""Channel explorer: every channel's top-9 MNIST test images of one layer, in one pass.

Times `channel_maxima` (a forward up to the layer, then each map's peak and where it is,
for all 10,000 test images and every channel at once) on keras-mnist's layers, beside two
peers run in the same rounds on the same model and data:

- "plain inference": `evaluate`, the whole network's forward pass over the test split
  (what the top-9 pass must cost no more than, or about);
- "per-channel pass": the naive explorer, one pass per channel asked for (timed for
  `--peer-channels` channels, printed per channel: a user looking at several channels
  pays it for each).

Budget (issue 15): ≤ 2 s for keras-mnist on the 2-core CPU. Rounds alternate the three so
load from other processes hits them alike; the load average is printed with the numbers.
Run: python bench/channel_explorer.py [--rounds N] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--peer-channels", type=int, default=2)
    args = parser.parse_args()

    import torch

    from bench.common import load, machine_load
    from explorer.core.builder import build_model
    from explorer.core.channel_explorer import channel_maxima, forward_to
    from explorer.core.dataset_split import Split
    from explorer.core.evaluation import evaluate
    from explorer.core.paths import LayerPath
    from explorer.core.templates import load_template

    torch.set_num_threads(args.threads)
    spec = load_template("keras-mnist")
    model = build_model(spec, seed=0).eval()
    dataset = load("mnist", args.data_dir, "cpu")
    layers = [LayerPath.top(0), LayerPath.top(2)]

    def per_channel(path: LayerPath) -> None:
        with torch.inference_mode():
            for channel in range(args.peer_channels):
                peaks = [
                    forward_to(model, path, images)[:, channel].amax(dim=(1, 2))
                    for images, _ in dataset.batches(Split.TEST, 500)
                ]
                torch.cat(peaks).topk(9)

    times: dict[str, list[float]] = {}
    print(f"before: {machine_load()}")
    for _ in range(args.rounds):
        for path in layers:
            start = time.perf_counter()
            found = channel_maxima(model, dataset, path)
            assert found is not None
            for channel in range(found.channels):
                found.top(channel)
            times.setdefault(f"top-9 pass, {path}", []).append(time.perf_counter() - start)
        start = time.perf_counter()
        evaluate(model, dataset, Split.TEST)
        times.setdefault("plain inference (whole network)", []).append(time.perf_counter() - start)
        start = time.perf_counter()
        per_channel(layers[-1])
        times.setdefault(f"per-channel pass, {layers[-1]}", []).append(
            (time.perf_counter() - start) / args.peer_channels
        )
    print(f"after:  {machine_load()}")
    print(
        f"keras-mnist, {dataset.size(Split.TEST):,} MNIST test images, "
        f"torch {args.threads} threads, median of {args.rounds} rounds"
    )
    plain = statistics.median(times["plain inference (whole network)"])
    for name, values in times.items():
        value = statistics.median(values)
        print(f"  {name:<40}{value:7.2f} s   {value / plain:5.2f}× plain inference")
    print("budget: top-9 pass ≤ 2 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
