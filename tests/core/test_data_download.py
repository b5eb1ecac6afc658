"""The downloader against a real HTTP server on 127.0.0.1: progress, checksums, resume,
retries, fallback mirrors, HTTP errors and being offline."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pickle
import re
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from explorer.commands import datasets as datasets_command
from explorer.core.data import (
    ChecksumError,
    DatasetError,
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    RemoteFile,
    RemoteSource,
    RetryPolicy,
    catalogue,
    download_dataset,
    load_dataset,
)
from explorer.core.data import download as download_module
from explorer.core.data.download import download_file
from tests.core.test_data_formats import IDX_STEMS

Serve = Callable[..., "FileServer"]
FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.02, timeout_s=5.0)
IDX_NAMES = tuple(f"{stem}.gz" for stem in IDX_STEMS)  # as published


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    monkeypatch.delenv("CNN_EXPLORER_DATA", raising=False)


# --- a small, bounded HTTP server -------------------------------------------------------


@dataclass
class FileServer:
    """Serves `files` by name. `drop_after` bytes: the first response for each file stops
    there and closes the connection. `ranges`: whether Range requests get a 206."""

    files: dict[str, bytes]
    base_url: str = ""
    drop_after: int | None = None
    ranges: bool = True
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    bytes_sent: int = 0
    _dropped: set[str] = field(default_factory=set)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: closing it ends the body

    def do_GET(self) -> None:
        state: FileServer = self.server.state  # type: ignore[attr-defined]
        name = self.path.lstrip("/")
        requested = self.headers.get("Range")
        state.requests.append((name, requested))
        if name not in state.files:
            self.send_error(404, "Not Found")
            return
        data = state.files[name]
        start = 0
        if requested and state.ranges:
            start = int(requested.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state.drop_after is not None and name not in state._dropped:
            state._dropped.add(name)
            body = body[: state.drop_after]
        # Counted before sending: the client may have read it all and the test asserted
        # before this thread would run again.
        state.bytes_sent += len(body)
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return


@pytest.fixture
def serve() -> Iterator[Callable[..., FileServer]]:
    servers: list[tuple[ThreadingHTTPServer, threading.Thread, threading.Timer]] = []

    def start(files: dict[str, bytes], **options: object) -> FileServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        state = FileServer(files, **options)  # type: ignore[arg-type]
        state.base_url = f"http://127.0.0.1:{server.server_address[1]}/"
        server.state = state  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        # Bounded: even if a test hangs, the server stops on its own.
        watchdog = threading.Timer(60.0, server.shutdown)
        watchdog.daemon = True
        watchdog.start()
        servers.append((server, thread, watchdog))
        return state

    yield start
    for server, thread, watchdog in servers:
        watchdog.cancel()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _source(base_url: str, files: dict[str, bytes], *more_mirrors: str) -> RemoteSource:
    remote = tuple(RemoteFile(name, _md5(data), len(data)) for name, data in files.items())
    return RemoteSource((base_url, *more_mirrors), remote)


def _refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there any more


def _small_idx_files(train: int = 40, test: int = 20) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    files = {}
    for prefix, count in (("train", train), ("t10k", test)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        header = np.array([0x803, count, 28, 28], ">u4").tobytes()
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(header + images.tobytes())
        label_header = np.array([0x801, count], ">u4").tobytes()
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(label_header + labels.tobytes())
    return files


# --- the real files, served -------------------------------------------------------------


def test_download_of_real_mnist_verifies_and_reports_progress(
    serve: Serve, real_datasets: Path, tmp_path: Path
) -> None:
    files = {name: (real_datasets / "mnist" / name).read_bytes() for name in IDX_NAMES}
    server = serve(files)
    events: list[DownloadProgress] = []

    folder = download_dataset(
        "mnist",
        data_dir=tmp_path,
        progress=events.append,
        remote=_source(server.base_url, files),
        retry=FAST,
    )

    assert folder == tmp_path / "mnist"
    for name, data in files.items():
        assert (folder / name).read_bytes() == data
    assert not list(folder.glob("*.part"))
    for index, name in enumerate(IDX_NAMES):
        mine = [e for e in events if e.filename == name]
        assert {e.file_index for e in mine} == {index}
        assert all(e.file_count == 4 and e.total == len(files[name]) for e in mine)
        assert [e.done for e in mine] == sorted(e.done for e in mine)
        assert mine[-1].done == len(files[name]) and mine[-1].fraction == 1.0
    assert len(events) > 4  # the big files report many chunks, not just the end
    loaded = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert loaded.size("train") == 60_000 and loaded.size("test") == 10_000


def test_corrupted_file_fails_its_checksum_and_nothing_is_cached(
    serve: Serve, real_datasets: Path, tmp_path: Path
) -> None:
    good = (real_datasets / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    corrupted = bytearray(good)
    corrupted[len(corrupted) // 2] ^= 0xFF
    server = serve({"t10k-labels-idx1-ubyte.gz": bytes(corrupted)})
    dest = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"

    with pytest.raises(ChecksumError, match="checksum") as caught:
        download_file([server.base_url + dest.name], dest, _md5(good), retry=FAST)

    assert server.base_url in str(caught.value)
    assert not dest.exists()
    assert not list(dest.parent.glob("*"))  # no .part left either


def test_connection_dropped_mid_file_resumes_with_a_range_request(
    serve: Serve, real_datasets: Path, tmp_path: Path
) -> None:
    data = (real_datasets / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes()
    cut = len(data) // 3
    server = serve({"images.gz": data}, drop_after=cut)
    events: list[DownloadProgress] = []

    dest = download_file(
        [server.base_url + "images.gz"],
        tmp_path / "images.gz",
        _md5(data),
        progress=events.append,
        retry=FAST,
    )

    assert dest.read_bytes() == data
    assert server.requests == [("images.gz", None), ("images.gz", f"bytes={cut}-")]
    assert server.bytes_sent == len(data)  # nothing fetched twice
    resumed = [e for e in events if e.done == cut]
    assert resumed, "the resumed transfer reports the bytes already on disk"


def test_server_ignoring_range_restarts_from_the_beginning(serve: Serve, tmp_path: Path) -> None:
    data = bytes(range(256)) * 2000
    server = serve({"blob": data}, drop_after=10_000, ranges=False)

    dest = download_file([server.base_url + "blob"], tmp_path / "blob", _md5(data), retry=FAST)

    assert dest.read_bytes() == data
    assert len(server.requests) == 2 and server.requests[1][1] == "bytes=10000-"
    assert server.bytes_sent == 10_000 + len(data)


def test_http_404_gives_a_clear_message(serve: Serve, tmp_path: Path) -> None:
    server = serve({})
    dest = tmp_path / "missing.gz"

    with pytest.raises(DownloadError, match="HTTP 404") as caught:
        download_file([server.base_url + "missing.gz"], dest, "0" * 32, retry=FAST)

    assert "missing.gz" in str(caught.value)
    assert len(server.requests) == 1  # a 404 is not retried
    assert not dest.exists() and not dest.with_name("missing.gz.part").exists()


def test_offline_connection_refused_gives_a_clear_message(tmp_path: Path) -> None:
    url = _refused_url()

    with pytest.raises(DownloadError, match="offline") as caught:
        download_file([url + "file.gz"], tmp_path / "file.gz", "0" * 32, retry=FAST)

    message = str(caught.value)
    assert message.count(url) == 1  # each address once, however often it was tried
    assert "cannot connect (connection refused); tried 2 times" in message
    assert "shapes" in message  # says what still works without a network
    assert not isinstance(caught.value, ChecksumError)


def test_fallback_mirror_is_used_when_the_first_is_unreachable(
    serve: Serve, tmp_path: Path
) -> None:
    files = _small_idx_files()
    server = serve(files)
    remote = _source(_refused_url(), files, server.base_url)

    folder = download_dataset("mnist", data_dir=tmp_path, remote=remote, retry=FAST)

    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    assert load_dataset("mnist", data_dir=tmp_path, download=False).size("train") == 40


def test_verified_files_are_not_downloaded_again(serve: Serve, tmp_path: Path) -> None:
    files = _small_idx_files()
    server = serve(files)
    remote = _source(server.base_url, files)
    download_dataset("mnist", data_dir=tmp_path, remote=remote, retry=FAST)
    first = len(server.requests)

    download_dataset("mnist", data_dir=tmp_path, remote=remote, retry=FAST, force=True)

    assert first == 4 and len(server.requests) == 4


def test_damaged_file_in_the_cache_is_replaced_on_load(
    serve: Serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = _small_idx_files()
    server = serve(files)
    cache = tmp_path / "mnist"
    cache.mkdir()
    for name, content in files.items():
        (cache / name).write_bytes(content)
    truncated = cache / "train-images-idx3-ubyte.gz"
    truncated.write_bytes(files[truncated.name][:500])

    with caplog.at_level("WARNING"):
        loaded = load_dataset("mnist", data_dir=tmp_path, remote=_source(server.base_url, files))

    assert loaded.size("train") == 40
    assert truncated.read_bytes() == files[truncated.name]
    assert [name for name, _ in server.requests] == [truncated.name]
    assert any("train-images-idx3-ubyte.gz" in r.message for r in caplog.records)


def test_damaged_file_outside_the_cache_is_reported_not_replaced(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, data in _small_idx_files().items():
        (raw / name).write_bytes(data[:-8] if name.startswith("t10k-images") else data)

    with pytest.raises(DatasetError, match=re.escape("t10k-images-idx3-ubyte.gz")):
        load_dataset("mnist", data_dir=tmp_path)

    assert (raw / "t10k-images-idx3-ubyte.gz").stat().st_size > 0  # left as it was


def test_cifar_archive_is_verified_and_unpacked(serve: Serve, tmp_path: Path) -> None:
    archive = io.BytesIO()
    rng = np.random.default_rng(1)
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for name in names:
            batch = {
                b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                b"labels": [0, 1, 2, 3],
            }
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        evil = tarfile.TarInfo("../outside")  # must not escape the cache
        evil.size = 1
        tar.addfile(evil, io.BytesIO(b"x"))
    files = {"cifar-10-python.tar.gz": archive.getvalue()}
    server = serve(files)
    remote = RemoteSource(
        (server.base_url,),
        (RemoteFile("cifar-10-python.tar.gz", _md5(archive.getvalue())),),
        archive_folder="cifar-10-batches-py",
    )

    folder = download_dataset("cifar10", data_dir=tmp_path, remote=remote, retry=FAST)

    assert folder == tmp_path / "cifar10" / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    assert not (tmp_path / "cifar10" / "cifar-10-python.tar.gz").exists()
    assert not (tmp_path / "outside").exists()
    data = load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert (data.size("train"), data.size("test")) == (20, 4)


# --- the command line -------------------------------------------------------------------


def _run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="datasets")
    datasets_command.add_arguments(parser)
    return datasets_command.run(parser.parse_args(list(argv)))


def test_cli_download_prints_plain_progress_lines_when_not_a_terminal(
    serve: Serve,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = _small_idx_files()
    server = serve(files)
    entry = catalogue.MNIST
    test_entry = catalogue.DatasetEntry(
        **{**entry.__dict__, "source": _source(server.base_url, files)}
    )
    monkeypatch.setitem(catalogue._ALIASES, "mnist", test_entry)

    code = _run_cli("download", "mnist", "--data-dir", str(tmp_path))

    out, err = capsys.readouterr()
    assert code == 0
    assert f"ready in {tmp_path / 'mnist'}" in out
    assert "\r" not in err
    for name in files:
        assert f"downloading {name}" in err and f"{name}: 100%" in err


def test_cli_download_offline_exits_1_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(download_module._Patience, "wait", lambda self, s: waits.append(s))
    url = _refused_url()

    code = _run_cli("download", "mnist", "--data-dir", str(tmp_path), "--mirror", url)

    assert code == 1
    err = capsys.readouterr().err
    assert "offline" in err and "Traceback" not in err
    assert err.count(url + "train-images-idx3-ubyte.gz") == 1
    assert waits == [1.0]  # the default policy backs off, but gives up on a dead host soon


# --- a mirror that never answers, the deadline, and cancel -------------------------------


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections (the kernel completes them into the backlog) and
    never reads or answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


def test_the_default_policy_gives_up_within_20_seconds_in_all() -> None:
    policy = download_module.DEFAULT_RETRY
    assert policy.deadline_s <= 20.0
    # A silent mirror costs one timeout, so two of them still get their turn in the budget.
    assert 2 * policy.timeout_s <= policy.deadline_s


def test_silent_mirrors_are_each_tried_once_and_named_once(silent_url: str, tmp_path: Path) -> None:
    policy = RetryPolicy(attempts=4, backoff_s=0.01, timeout_s=0.2, deadline_s=10.0)
    urls = [silent_url + "a.gz", silent_url + "b.gz"]

    with pytest.raises(DownloadError) as caught:
        download_file(urls, tmp_path / "a.gz", "0" * 32, retry=policy)

    message = str(caught.value)
    assert [message.count(url) for url in urls] == [1, 1]
    assert message.count("connected, but no answer within 0.2 s") == 2
    assert not (tmp_path / "a.gz").exists()


def test_the_deadline_bounds_every_wait_across_mirrors_and_retries(
    silent_url: str, tmp_path: Path
) -> None:
    # Per-request timeouts of 30 s on two silent mirrors would take a minute: only the
    # 0.5 s deadline can make this return in less than one of them.
    policy = RetryPolicy(attempts=4, backoff_s=0.01, timeout_s=30.0, deadline_s=0.5)
    urls = [silent_url + "a.gz", silent_url + "b.gz"]
    started = time.monotonic()

    with pytest.raises(
        DownloadError, match=re.escape("gave up after 0.5 s without receiving data")
    ) as caught:
        download_file(urls, tmp_path / "a.gz", "0" * 32, retry=policy)

    assert time.monotonic() - started < policy.timeout_s
    assert str(caught.value).count(urls[0]) == 1


def test_cancel_interrupts_a_retry_wait(tmp_path: Path) -> None:
    # An hour's back-off after the first refused connection: only the cancel ends it.
    policy = RetryPolicy(attempts=2, backoff_s=3600.0, timeout_s=5.0, deadline_s=7200.0)
    cancel = threading.Event()
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            download_file(
                [_refused_url() + "f.gz"], tmp_path / "f.gz", "0" * 32, retry=policy, cancel=cancel
            )
        except BaseException as error:  # handed to the test thread, which asserts on it
            outcome.append(error)

    worker = threading.Thread(target=attempt)
    worker.start()
    cancel.set()
    worker.join(timeout=60)

    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], DownloadCancelled)


def test_cancel_stops_a_transfer_and_keeps_the_partial_file(serve: Serve, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4000
    server = serve({"blob": data})
    cancel = threading.Event()
    seen: list[int] = []

    def progress(report: DownloadProgress) -> None:
        seen.append(report.done)
        if report.done >= 65536:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        download_file(
            [server.base_url + "blob"],
            tmp_path / "blob",
            _md5(data),
            progress=progress,
            retry=FAST,
            cancel=cancel,
        )

    kept = (tmp_path / "blob.part").read_bytes()
    assert 65536 <= len(kept) <= 2 * 65536  # it stopped at the next chunk
    assert kept == data[: len(kept)]
    assert not (tmp_path / "blob").exists()
