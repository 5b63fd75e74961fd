"""Snapshot: what a corpus holds now, keyed by content hash."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.corpus.load import PATH_ERRORS, Corpus, CorpusEntry, path_error, printable
from pipeline.fsutil import FileIdentity, sha256_bytes, sha256_file


@dataclass(frozen=True)
class VideoInput:
    """One distinct video (by content) and every corpus entry that holds it."""

    video_id: str
    entry: CorpusEntry
    duplicate_uris: tuple[str, ...] = ()
    size_bytes: int | None = None
    problem: str | None = None
    identity: FileIdentity | None = None

    def changed(self) -> str | None:
        """Why the file is no longer the one hashed (a message naming it), or None.
        Work is stored under ``video_id``, so bytes that are not the hashed ones must not be."""
        reason = self.identity.changes(self.entry.path) if self.identity else None
        return f"{printable(self.entry.uri)}: {reason} after it was hashed; not decoded under the old id" if reason else None


def snapshot(corpus: Corpus) -> list[VideoInput]:
    """Hash every entry; entries with the same bytes become one video. Sorted by uri."""
    by_id: dict[str, list[CorpusEntry]] = {}
    facts: dict[str, tuple[int | None, str | None, FileIdentity | None]] = {}
    for entry in corpus.entries:
        video_id, size, problem, identity = _identify(entry)
        by_id.setdefault(video_id, []).append(entry)
        facts.setdefault(video_id, (size, problem, identity))
    inputs = []
    for video_id, entries in by_id.items():  # corpus entries are in uri order: facts are the first's
        first, *rest = sorted(entries, key=lambda e: e.uri)
        size, problem, identity = facts[video_id]
        inputs.append(VideoInput(video_id, first, tuple(e.uri for e in rest), size, problem, identity))
    return sorted(inputs, key=lambda v: v.entry.uri)


def _identify(entry: CorpusEntry) -> tuple[str, int | None, str | None, FileIdentity | None]:
    """(video_id, size, problem, identity). Inputs that cannot be read are keyed by their uri.
    The file's identity is taken before and after hashing: a file that changes while it is
    hashed is a problem, not an id."""
    problem = entry.problem
    if problem is None:
        try:
            if entry.path.is_file():
                before = FileIdentity.of(entry.path)
                digest = sha256_file(entry.path)
                changed = before.changes(entry.path)
                if changed is None:
                    return digest, before.size_bytes, None, before
                problem = f"{printable(entry.uri)}: {changed} while it was hashed"
            else:
                problem = f"{printable(entry.uri)}: not a regular file"
        except PATH_ERRORS as exc:
            problem = f"{printable(entry.uri)}: unreadable ({path_error(exc)})"
    return "uri-" + sha256_bytes(entry.uri.encode("utf-8", "surrogateescape"))[:59], None, problem, None
