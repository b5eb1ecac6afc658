"""`datasets`: list the catalogue and what is cached where, or download one dataset.

    python main.py datasets [list] [--json] [--data-dir DIR]
    python main.py datasets download NAME [--data-dir DIR] [--force] [--mirror URL]

Exit status: 0 done, 1 the download failed (message says why), 2 bad input (unknown name).
The data layer is imported only when the command runs, keeping `--help` fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from explorer.core.data import DownloadProgress

from explorer.commands.base import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, late_help
from explorer.commands.common import DATA_DIR_HELP, dataset_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", default=None, help=DATA_DIR_HELP)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser(
        "list", help="list datasets and where each is cached (the default action)"
    )
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    download = actions.add_parser(
        "download", help="download a dataset into the cache and verify its checksums"
    )
    name = download.add_argument("name", metavar="NAME", help="the dataset to download")
    late_help(name, lambda: f"the dataset to download: {dataset_names(downloadable=True)}")
    download.add_argument(
        "--force", action="store_true", help="download even if a copy is already found"
    )
    download.add_argument(
        "--mirror",
        metavar="URL",
        action="append",
        help="base URL to download from instead of the official mirrors (repeatable); "
        "files are still checked against the official checksums",
    )
    for sub in (listing, download):
        # SUPPRESS: given after the action, it overrides; absent, the parent's value stays.
        sub.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help=DATA_DIR_HELP)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) == "download":
        return _download(args)
    return _list(args)


def _list(args: argparse.Namespace) -> int:
    from explorer.core.data import dataset_status, list_datasets, resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    rows: list[dict[str, object]] = []
    table = [("NAME", "INPUT (C,H,W)", "CLASSES", "TRAIN/TEST", "STATUS")]
    for entry in list_datasets():
        status = None if entry.kind == "folder" else dataset_status(entry.name, data_dir)
        message = status.message if status else entry.description
        rows.append(
            {
                "name": entry.name,
                "title": entry.title,
                "input_shape": list(entry.input_shape) if entry.input_shape else None,
                "class_names": list(entry.class_names),
                "train_size": entry.train_size,
                "test_size": entry.test_size,
                "available": status.available if status else None,
                "source": status.source if status else "image folder",
                "location": str(status.location) if status and status.location else None,
                "status": message,
            }
        )
        table.append(
            (
                entry.name,
                "x".join(map(str, entry.input_shape)) if entry.input_shape else "any",
                str(len(entry.class_names)) if entry.class_names else "any",
                f"{entry.train_size}/{entry.test_size}" if entry.train_size else "-",
                message,
            )
        )
    if getattr(args, "json", False):
        print(json.dumps({"data_dir": str(data_dir), "datasets": rows}, indent=2))
        return EXIT_OK
    print(f"Data folder: {data_dir}\n")
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line[:4], widths, strict=True)]
        print("  ".join([*cells, line[4]]))
    return EXIT_OK


def _download(args: argparse.Namespace) -> int:
    from explorer.core.data import (
        DatasetError,
        UnknownDatasetError,
        download_dataset,
        find_entry,
        resolve_data_dir,
    )

    try:
        entry = find_entry(args.name)
    except UnknownDatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if entry.kind == "shapes":
        print("shapes is built in and generated on demand: nothing to download")
        return EXIT_OK
    if entry.source is None:
        print(
            f"error: {args.name} is read from your own folder; only "
            "mnist, fashion-mnist and cifar10 are downloaded",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    remote = None
    if args.mirror:
        remote = entry.source.with_mirrors(
            *(m if m.endswith("/") else m + "/" for m in args.mirror)
        )
    data_dir = resolve_data_dir(args.data_dir)
    bar = ProgressBar(sys.stderr)
    try:
        folder = download_dataset(
            entry.name, data_dir=data_dir, progress=bar, force=args.force, remote=remote
        )
    except DatasetError as error:
        bar.close()
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    bar.close()
    print(f"{entry.name} is ready in {folder}")
    return EXIT_OK


class ProgressBar:
    """Download progress on a stream: one redrawn line on a terminal (at most 10 redraws a
    second), otherwise a plain line when each file starts, at every quarter, and at the end."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._file: str | None = None
        self._started = 0.0
        self._first_done = 0
        self._last_draw = 0.0
        self._quarter = -1
        self._open_line = False

    def __call__(self, event: DownloadProgress) -> None:
        now = time.monotonic()
        if event.filename != self._file:
            self.close()
            self._file, self._started, self._quarter = event.filename, now, -1
            self._last_draw = 0.0  # draw a new file at once
            self._first_done = event.done  # resumed bytes do not count towards the rate
            if not self._tty:
                size = f" ({event.total / 1e6:.1f} MB)" if event.total else ""
                self._line(f"downloading {event.filename}{size} [{self._count(event)}]")
        complete = event.total is not None and event.done >= event.total
        if self._tty:
            if complete or now - self._last_draw >= 0.1:
                self._last_draw = now
                self._stream.write("\r" + self._render(event, now))
                self._stream.flush()
                self._open_line = True
            if complete:
                self.close()
            return
        fraction = event.fraction
        if fraction is not None and int(fraction * 4) > self._quarter:
            self._quarter = int(fraction * 4)
            self._line(f"  {event.filename}: {self._amount(event, now)}")

    def close(self) -> None:
        """End the current line (call before printing anything else)."""
        if self._open_line:
            self._stream.write("\n")
            self._stream.flush()
            self._open_line = False

    def _render(self, event: DownloadProgress, now: float) -> str:
        fraction = event.fraction
        filled = int((fraction or 0.0) * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        return f"{event.filename} [{self._count(event)}] [{bar}] {self._amount(event, now)}"

    def _amount(self, event: DownloadProgress, now: float) -> str:
        done_mb = event.done / 1e6
        rate = (event.done - self._first_done) / 1e6 / max(now - self._started, 1e-3)
        if event.total:
            percent = 100.0 * (event.fraction or 0.0)
            return f"{percent:3.0f}% {done_mb:.1f}/{event.total / 1e6:.1f} MB {rate:.1f} MB/s"
        return f"{done_mb:.1f} MB {rate:.1f} MB/s"

    @staticmethod
    def _count(event: DownloadProgress) -> str:
        return f"{event.file_index + 1}/{event.file_count}"

    def _line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()
