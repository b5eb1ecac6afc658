"""HTTP downloads with progress, checksum verification, retries with backoff and resume.

A file is written to `<name>.part` beside its destination and renamed only once its MD5
matches, so the destination never holds a partial or unverified file. An interrupted
transfer resumes from the bytes already received with an HTTP Range request when the server
honours it (206), and starts over when it does not (200). Uses only urllib.

Waiting is bounded: each connect and read by `RetryPolicy.timeout_s`, and all waiting for
one file together (every mirror, every retry and every back-off) by `deadline_s` without a
byte arriving, so a mirror that accepts connections and never answers costs seconds, not
minutes. A cancel event interrupts a back-off at once and a transfer at its next chunk.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from explorer.core.data.errors import (
    ChecksumError,
    DatasetError,
    DownloadCancelled,
    DownloadError,
)

log = logging.getLogger(__name__)

USER_AGENT = "cnn-explorer/0.1 (+urllib)"
OFFLINE_ATTEMPTS = 2  # tries per mirror when no connection can be made at all


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report: `done` of `total` bytes of file `file_index` of `file_count`.

    `done` counts bytes on disk for this file, resumed bytes included (it drops back to 0
    when a server cannot resume); `total` is None when neither the server nor the catalogue
    gave a size. Reports arrive on the downloading thread, once per 64 KiB chunk.
    """

    filename: str
    done: int
    total: int | None
    file_index: int = 0
    file_count: int = 1

    @property
    def fraction(self) -> float | None:
        """done/total in 0..1, or None when the total is unknown."""
        return min(self.done / self.total, 1.0) if self.total else None


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` per mirror, waiting `backoff_s` seconds before the second
    and doubling up to `max_backoff_s`; `timeout_s` bounds each connect and each read, and
    `deadline_s` all the waiting for one file while no byte arrives, across every mirror,
    retry and back-off (the clock restarts whenever data comes in, so a slow but working
    download is never cut short)."""

    attempts: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 8.0
    timeout_s: float = 8.0
    deadline_s: float = 20.0
    chunk_bytes: int = 1 << 16


DEFAULT_RETRY = RetryPolicy()


class _Transient(Exception):
    """Worth another attempt on the same mirror."""


class _Permanent(Exception):
    """This mirror will not serve the file (e.g. HTTP 404); try the next one."""


class _Offline(_Transient):
    """No connection could be made at all (refused, name not resolved, unreachable)."""


class _NoAnswer(_Transient):
    """The connection or the response did not come within the timeout; a silent server
    rarely wakes up within seconds, so the next mirror is tried."""


class _Patience:
    """The deadline across mirrors and retries: `left()` seconds until `deadline_s` pass
    without data; `fed()` restarts the clock when bytes arrive."""

    def __init__(self, deadline_s: float, cancel: threading.Event | None) -> None:
        self.deadline_s = deadline_s
        self.cancel = cancel if cancel is not None else threading.Event()
        self._since = time.monotonic()

    def fed(self) -> None:
        self._since = time.monotonic()

    def left(self) -> float:
        return self.deadline_s - (time.monotonic() - self._since)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise DownloadCancelled("download cancelled (the partial file is kept)")

    def wait(self, seconds: float) -> None:
        """Sleep `seconds` (never past the deadline); a cancel ends the wait at once."""
        if self.cancel.wait(max(0.0, min(seconds, self.left()))):
            self.check_cancel()


def file_md5(path: Path) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    urls: Sequence[str],
    dest: Path,
    md5: str,
    *,
    progress: ProgressCallback | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    size_hint: int | None = None,
    file_index: int = 0,
    file_count: int = 1,
    cancel: threading.Event | None = None,
) -> Path:
    """Download `dest.name` from the first of `urls` that delivers it with MD5 `md5`.

    Each URL gets `retry.attempts` tries; a partial file is resumed between tries. Returns
    `dest`. Raises ChecksumError if what arrived did not match (nothing is kept), or
    DownloadError saying why every URL failed (offline, HTTP status, no answer within the
    deadline), naming each URL once. Setting `cancel` raises DownloadCancelled, within a
    chunk or at once during a back-off; an exception raised by `progress` aborts likewise.
    Both keep the partial file, so a later download resumes it.
    """
    part = dest.with_name(dest.name + ".part")
    patience = _Patience(retry.deadline_s, cancel)
    try:
        return _download(
            urls, dest, part, md5, progress, retry, size_hint, file_index, file_count, patience
        )
    except OSError as error:
        # Network errors became _Transient/_Permanent inside; what is left is local disk.
        raise DatasetError(f"cannot write {part}: {error}") from error


def _download(
    urls: Sequence[str],
    dest: Path,
    part: Path,
    md5: str,
    progress: ProgressCallback | None,
    retry: RetryPolicy,
    size_hint: int | None,
    file_index: int,
    file_count: int,
    patience: _Patience,
) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = _Failures()
    offline = checksum_failed = False

    def report(done: int, total: int | None) -> None:
        patience.fed()
        patience.check_cancel()
        if progress is not None:
            progress(DownloadProgress(dest.name, done, total or size_hint, file_index, file_count))

    for url in urls:
        delay = retry.backoff_s
        resumed = False
        for attempt in range(1, retry.attempts + 1):
            patience.check_cancel()
            if patience.left() <= 0:
                failures.gave_up(retry.deadline_s)
                break
            try:
                resumed |= _fetch(url, part, retry, patience, report)
            except _Permanent as error:
                failures.add(url, str(error))
                break
            except _Transient as error:
                failures.add(url, str(error))
                offline |= isinstance(error, _Offline)
                log.info("download of %s failed (attempt %d): %s", url, attempt, error)
                if isinstance(error, _NoAnswer):
                    break
                if isinstance(error, _Offline) and attempt >= OFFLINE_ATTEMPTS:
                    break  # an unreachable host rarely comes back within seconds
                if attempt < retry.attempts:
                    patience.wait(delay)
                    delay = min(delay * 2, retry.max_backoff_s)
                continue
            actual = file_md5(part)
            if actual == md5:
                os.replace(part, dest)
                log.info("downloaded %s from %s (MD5 verified)", dest, url)
                return dest
            part.unlink()
            if resumed and attempt < retry.attempts:
                # The resumed bytes may be the bad ones: one clean try before blaming the mirror.
                log.warning("%s: checksum mismatch after resuming; downloading it again", url)
                resumed = False
                continue
            checksum_failed = True
            failures.add(url, f"checksum mismatch (MD5 {actual}, expected {md5})")
            break
        if failures.deadline_passed:
            break
    if patience.left() <= 0:
        failures.gave_up(retry.deadline_s)
    raise _failure(dest, failures, offline=offline, checksum_failed=checksum_failed)


class _Failures:
    """What went wrong, one line per URL (its last reason, and how many tries it got)."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}
        self.tries: dict[str, int] = {}
        self.deadline_passed: float | None = None

    def add(self, url: str, reason: str) -> None:
        self.reasons[url] = reason
        self.tries[url] = self.tries.get(url, 0) + 1

    def gave_up(self, deadline_s: float) -> None:
        self.deadline_passed = deadline_s

    def lines(self) -> list[str]:
        lines = []
        for url, reason in self.reasons.items():
            tries = self.tries[url]
            lines.append(f"{url}: {reason}" + (f"; tried {tries} times" if tries > 1 else ""))
        return lines


def _fetch(
    url: str,
    part: Path,
    retry: RetryPolicy,
    patience: _Patience,
    report: Callable[[int, int | None], None],
) -> bool:
    """Bring `part` up to the full file from `url`; returns True if it resumed a partial one.

    Raises _Transient or _Permanent on failure; a short body is _Transient, as http.client
    returns early without an error when a connection drops mid-body.
    """
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    timeout = max(0.05, min(retry.timeout_s, patience.left()))
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and have:
            return True  # the partial file is already whole (or wrong): the MD5 decides
        reason = f"HTTP {error.code} {error.reason}"
        if error.code >= 500 or error.code in (408, 429):
            raise _Transient(reason) from error
        raise _Permanent(reason) from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _NoAnswer(f"no connection within {_seconds(timeout)} s") from error
        raise _Offline(f"cannot connect ({_reason(error.reason)})") from error
    except TimeoutError as error:
        raise _NoAnswer(f"connected, but no answer within {_seconds(timeout)} s") from error
    except (OSError, http.client.HTTPException) as error:
        # Connected, but the server closed or garbled its answer.
        raise _Transient(f"no valid response ({_reason(error)})") from error
    with response:
        resuming = have > 0 and response.status == 206
        total = _content_total(response, have if resuming else 0)
        if have and not resuming:
            log.info("%s does not resume downloads; starting %s again", url, part.name)
        if resuming and not _starts_at(response, have):
            part.unlink()
            raise _Transient("server resumed at the wrong offset; starting again")
        done = have if resuming else 0
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        report(done, total)
        with part.open("ab" if resuming else "wb") as out:
            while True:
                try:
                    chunk = response.read(retry.chunk_bytes)
                except (OSError, http.client.HTTPException) as error:
                    lost = f"connection lost after {done + received} bytes ({error})"
                    raise _Transient(lost) from error
                if not chunk:
                    break
                out.write(chunk)  # a disk error here is not the network's: it propagates
                received += len(chunk)
                report(done + received, total)
    if expected is not None and received < expected:
        raise _Transient(f"connection dropped after {done + received} of {total} bytes")
    return resuming


def _content_total(response: http.client.HTTPResponse, offset: int) -> int | None:
    """The full file size in bytes from Content-Range (a 206) or Content-Length."""
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].strip().isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _starts_at(response: http.client.HTTPResponse, offset: int) -> bool:
    # "bytes 1000-1999/2000"
    content_range = response.headers.get("Content-Range", "")
    try:
        return int(content_range.split()[1].split("-")[0]) == offset
    except (IndexError, ValueError):
        return False


def _seconds(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"host name not found: {reason.strerror or reason}"
    if isinstance(reason, TimeoutError):
        return "timed out"
    return str(reason) or type(reason).__name__


def _failure(
    dest: Path, failures: _Failures, *, offline: bool, checksum_failed: bool
) -> DownloadError:
    lines = failures.lines()
    tried = "\n".join(f"  - {line}" for line in lines)
    if checksum_failed:
        return ChecksumError(
            f"{dest.name} did not match its published checksum, so it was not kept; the "
            f"file on the server may be damaged or replaced.\n{tried}"
        )
    if offline and all("cannot connect" in line for line in lines):
        hosts = sorted({urlsplit(url).netloc for url in failures.reasons})
        return DownloadError(
            f"cannot download {dest.name}: no connection to {', '.join(hosts)}. You seem to "
            f"be offline: connect and try again, copy the files into {dest.parent}, or use "
            f"the built-in 'shapes' dataset, which needs no download.\n{tried}"
        )
    if failures.deadline_passed is not None:
        return DownloadError(
            f"cannot download {dest.name}: gave up after {_seconds(failures.deadline_passed)} s "
            f"without receiving data:\n{tried}"
        )
    return DownloadError(f"cannot download {dest.name}; every mirror failed:\n{tried}")
