"""The erasure log (``erasures.parquet``, ``ERASURES_SCHEMA``): read, append, and the deny-list it implies.

``facecorpus forget`` appends one row per erasure (what, when, why, by which ids and
content hashes; no face data). Ingestion reads it as a deny-list: a video erased as a
whole (``scope = video``) is left out of the inputs even when its file is still in the
corpus (by content hash); an erased face (``scope = face``) is left out of the manifests.
The consumer API reads it to name the erasure behind a sample it cannot serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.fsutil import atomic_write_bytes, table_bytes
from schemas.manifests import ERASURES_SCHEMA

SCOPE_VIDEO = "video"
SCOPE_FACE = "face"


@dataclass(frozen=True)
class Erasure:
    erasure_id: str
    erased_at: str
    reason: str
    target_kind: str
    target: str
    scope: str
    video_ids: tuple[str, ...]
    face_ids: tuple[str, ...]
    crop_sha256: tuple[str, ...]
    shard_md5: tuple[str, ...] = ()  # DVC objects (old shards, old report pages and images) deleted from the cache and remote
    replaced_by: tuple[str, ...] = ()  # parallel: the repacked shard without the erased faces ("" when none)

    def replacement(self, md5: str) -> str | None:
        return self.replaced_by[self.shard_md5.index(md5)] if md5 in self.shard_md5 else None

    def describe(self) -> str:
        return f"erasure {self.erasure_id} of {self.erased_at} ({self.target_kind}; reason: {self.reason})"


@dataclass(frozen=True)
class DenyList:
    """What ingestion must not bring back, and which erasure removed each id."""

    erasures: tuple[Erasure, ...] = ()

    @property
    def videos(self) -> frozenset[str]:
        return frozenset(v for e in self.erasures if e.scope == SCOPE_VIDEO for v in e.video_ids)

    @property
    def faces(self) -> frozenset[str]:
        return frozenset(f for e in self.erasures for f in e.face_ids)

    @property
    def crops(self) -> frozenset[str]:
        return frozenset(c for e in self.erasures for c in e.crop_sha256)

    def erasure_of(self, face_id: str | None = None, video_id: str | None = None) -> Erasure | None:
        """The erasure that removed this face (or this whole video), if any."""
        for e in self.erasures:
            if face_id in e.face_ids or (e.scope == SCOPE_VIDEO and video_id in e.video_ids):
                return e
        return None


def read_erasures(path: Path | None, table: pa.Table | None = None) -> DenyList:
    """The log at ``path`` (or given as ``table``); empty when there is none."""
    if table is None and (path is None or not Path(path).is_file()):
        return DenyList()
    rows = (table if table is not None else pq.read_table(path)).to_pylist()
    fields = Erasure.__dataclass_fields__
    return DenyList(tuple(Erasure(**{k: tuple(v) if isinstance(v, list) else v for k, v in r.items() if k in fields}) for r in rows))


def append_erasure(path: Path, erasure: Erasure) -> None:
    """Append one row (the log is only ever appended to; written atomically)."""
    old = pq.read_table(path).cast(ERASURES_SCHEMA) if Path(path).is_file() else ERASURES_SCHEMA.empty_table()
    row = {name: list(v) if isinstance(v, tuple) else v for name, v in erasure.__dict__.items()}
    new = pa.concat_tables([old, pa.Table.from_pylist([row], schema=ERASURES_SCHEMA)])
    atomic_write_bytes(Path(path), table_bytes(new))
