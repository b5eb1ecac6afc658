"""HTTP downloads with progress, checksum verification, retries with backoff and resume.

A file is written to `<name>.part` beside its destination and renamed only once its MD5
matches, so the destination never holds a partial or unverified file. An interrupted
transfer resumes from the bytes already received with an HTTP Range request when the server
honours it (206), and starts over when it does not (200). Uses only urllib.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from explorer.core.data.errors import ChecksumError, DatasetError, DownloadError

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
    and doubling up to `max_backoff_s`; `timeout_s` bounds each connect and each read."""

    attempts: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    timeout_s: float = 30.0
    chunk_bytes: int = 1 << 16


DEFAULT_RETRY = RetryPolicy()


class _Transient(Exception):
    """Worth another attempt on the same mirror."""


class _Permanent(Exception):
    """This mirror will not serve the file (e.g. HTTP 404); try the next one."""


class _Offline(_Transient):
    """No connection could be made at all (refused, name not resolved, unreachable)."""


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
) -> Path:
    """Download `dest.name` from the first of `urls` that delivers it with MD5 `md5`.

    Each URL gets `retry.attempts` tries; a partial file is resumed between tries. Returns
    `dest`. Raises ChecksumError if what arrived did not match (nothing is kept), or
    DownloadError saying why every URL failed (offline, HTTP status, interrupted).
    An exception raised by `progress` aborts the download and keeps the partial file, so a
    caller can cancel and resume later.
    """
    part = dest.with_name(dest.name + ".part")
    try:
        return _download(urls, dest, part, md5, progress, retry, size_hint, file_index, file_count)
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
) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    offline = checksum_failed = False

    def report(done: int, total: int | None) -> None:
        if progress is not None:
            progress(DownloadProgress(dest.name, done, total or size_hint, file_index, file_count))

    for url in urls:
        delay = retry.backoff_s
        resumed = False
        for attempt in range(1, retry.attempts + 1):
            try:
                resumed |= _fetch(url, part, retry, report)
            except _Permanent as error:
                failures.append(f"{url}: {error}")
                break
            except _Transient as error:
                failures.append(f"{url}: {error}")
                offline |= isinstance(error, _Offline)
                log.info("download of %s failed (attempt %d): %s", url, attempt, error)
                if isinstance(error, _Offline) and attempt >= OFFLINE_ATTEMPTS:
                    break  # an unreachable host rarely comes back within seconds
                if attempt < retry.attempts:
                    time.sleep(delay)
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
            failures.append(f"{url}: checksum mismatch (MD5 {actual}, expected {md5})")
            break
    raise _failure(dest, failures, offline=offline, checksum_failed=checksum_failed)


def _fetch(
    url: str, part: Path, retry: RetryPolicy, report: Callable[[int, int | None], None]
) -> bool:
    """Bring `part` up to the full file from `url`; returns True if it resumed a partial one.

    Raises _Transient or _Permanent on failure; a short body is _Transient, as http.client
    returns early without an error when a connection drops mid-body.
    """
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=retry.timeout_s)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 416 and have:
            return True  # the partial file is already whole (or wrong): the MD5 decides
        reason = f"HTTP {error.code} {error.reason}"
        if error.code >= 500 or error.code in (408, 429):
            raise _Transient(reason) from error
        raise _Permanent(reason) from error
    except urllib.error.URLError as error:
        raise _Offline(f"cannot connect ({_reason(error.reason)})") from error
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


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"host name not found: {reason.strerror or reason}"
    if isinstance(reason, TimeoutError):
        return "timed out"
    return str(reason) or type(reason).__name__


def _failure(
    dest: Path, failures: list[str], *, offline: bool, checksum_failed: bool
) -> DownloadError:
    tried = "\n".join(f"  - {line}" for line in failures)
    if checksum_failed:
        return ChecksumError(
            f"{dest.name} did not match its published checksum, so it was not kept; the "
            f"file on the server may be damaged or replaced.\n{tried}"
        )
    if offline and all("cannot connect" in line for line in failures):
        hosts = sorted({urlsplit(line.split(": ", 1)[0]).netloc for line in failures})
        return DownloadError(
            f"cannot download {dest.name}: no connection to {', '.join(hosts)}. You seem to "
            f"be offline: connect and try again, copy the files into {dest.parent}, or use "
            f"the built-in 'shapes' dataset, which needs no download.\n{tried}"
        )
    return DownloadError(f"cannot download {dest.name}; every mirror failed:\n{tried}")
