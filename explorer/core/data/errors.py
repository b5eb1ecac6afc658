"""Errors raised by the data layer; their messages are written for the user, not for a log."""

from __future__ import annotations


class DatasetError(Exception):
    """A dataset could not be found, read, verified or downloaded.

    The message says what went wrong, names the file or URL involved, and where possible
    says what to do next, so the CLI and the GUI can show it as it is.
    """


class UnknownDatasetError(DatasetError):
    """The dataset name is not in the catalogue (bad input, not a failure)."""


class DownloadError(DatasetError):
    """A download failed: network unreachable, HTTP error, or interrupted beyond retries."""


class ChecksumError(DownloadError):
    """A downloaded file did not match its published checksum; it was not kept."""


class DownloadCancelled(DatasetError):
    """The caller cancelled a download; the partial file is kept, so the next one resumes."""
