"""Errors the pipeline expects, and records as data (a row with status and error)."""

from __future__ import annotations


class MediaError(Exception):
    """An input that cannot be used: empty, truncated, not a video, unreadable.

    The message names the file and the reason; it must be deterministic (no
    temp paths, no timings) because it is written into ``videos.parquet``.
    """


class CorpusError(ValueError):
    """The corpus description itself is wrong (bad manifest, path escaping the root)."""


class ModelNotFoundError(FileNotFoundError):
    """A detector's model files are not where they were looked for."""


class TransientError(Exception):
    """A failure that may not happen again (I/O error, a decoder killed by a signal).

    Retried with backoff inside a run; recorded with ``error_kind='transient'`` when
    retries run out, and rerun by ``facecorpus retry-failed``.
    """


class InputChanged(TransientError):
    """The input is no longer the file that was hashed (gone, replaced, modified): its work is
    not stored under the old id. Transient: a later run snapshots it again (``retry-failed``)."""


class VideoTimeout(TransientError):
    """A video's processing ran past its deadline; its decoder was killed."""


class ErasedSampleError(LookupError):
    """A released face that an erasure removed (``facecorpus forget``); the message names the erasure record."""


class OutputError(OSError):
    """An output could not be written (disk full, read-only, no permission): one line naming the path."""


class TornDatasetError(ValueError):
    """A dataset's tables do not match the commit file that published them (a run killed
    mid-publish, or a table replaced by hand)."""
