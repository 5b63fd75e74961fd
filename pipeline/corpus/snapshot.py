"""Snapshot: what a corpus holds now, keyed by content hash."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.corpus.load import Corpus, CorpusEntry
from pipeline.fsutil import sha256_bytes, sha256_file


@dataclass(frozen=True)
class VideoInput:
    """One distinct video (by content) and every corpus entry that holds it."""

    video_id: str
    entry: CorpusEntry
    duplicate_uris: tuple[str, ...] = ()
    size_bytes: int | None = None
    problem: str | None = None


def snapshot(corpus: Corpus) -> list[VideoInput]:
    """Hash every entry; entries with the same bytes become one video. Sorted by uri."""
    by_id: dict[str, list[CorpusEntry]] = {}
    sizes: dict[str, int | None] = {}
    problems: dict[str, str] = {}
    for entry in corpus.entries:
        video_id, size, problem = _identify(entry)
        by_id.setdefault(video_id, []).append(entry)
        sizes[video_id] = size
        if problem:
            problems[video_id] = problem
    inputs = []
    for video_id, entries in by_id.items():
        first, *rest = sorted(entries, key=lambda e: e.uri)
        inputs.append(VideoInput(video_id, first, tuple(e.uri for e in rest), sizes[video_id], problems.get(video_id)))
    return sorted(inputs, key=lambda v: v.entry.uri)


def _identify(entry: CorpusEntry) -> tuple[str, int | None, str | None]:
    """(video_id, size, problem). Inputs that cannot be read are keyed by their uri."""
    if entry.problem is None and entry.path.is_file():
        try:
            return sha256_file(entry.path), entry.path.stat().st_size, None
        except OSError as exc:
            problem = f"{entry.uri}: unreadable ({exc.strerror or type(exc).__name__})"
    else:
        problem = entry.problem or f"{entry.uri}: not a regular file"
    return "uri-" + sha256_bytes(entry.uri.encode())[:59], None, problem
