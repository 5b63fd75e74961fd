"""Erasure in old versions: find the target in every old release, then clear its bytes from the DVC cache and remote.

Every object the cache and the default remote hold is read once: an object whose
sha256 is an erased crop's is deleted; a tar shard with an erased member is deleted
and replaced (cache and remote) by the same shard without the erased faces' members,
so the old release still serves its other faces (``pipeline/dataset.py`` follows the
replacement that the erasure log records). ``audit`` runs the same scan to prove it.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import polars as pl

from pipeline.privacy.dvcstore import DvcStore
from pipeline.privacy.select import EMPTY, Manifests, NoIdentities, Selected, Target, select
from pipeline.release.pack import add_member
from schemas.manifests import FACES_MANIFEST, IDENTITIES_MANIFEST, PAIRS_MANIFEST, VIDEOS_MANIFEST


@dataclass(frozen=True)
class Member:
    name: str
    sha256: str
    data: bytes

    @property
    def face_id(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class SweepResult:
    deleted: tuple[str, ...] = ()
    replaced_by: tuple[str, ...] = ()  # parallel to deleted: the repacked shard's md5, "" when nothing was left
    reports: tuple[str, ...] = ()  # of deleted: old releases' report objects (pages and images showing an erased face)


def in_old_releases(store: DvcStore, out: str, target: Target) -> Selected:
    """The target's faces and crops in every release folder a commit (or the working tree) locked."""
    found = EMPTY
    for release in store.releases(out):
        faces = _parquet(store, release.files.get(FACES_MANIFEST))
        if faces is None:
            continue
        videos, identities, pairs = (_parquet(store, release.files.get(n)) for n in (VIDEOS_MANIFEST, IDENTITIES_MANIFEST, PAIRS_MANIFEST))
        try:
            found |= select(target, Manifests(faces, videos, identities, pairs), f"release {release.rev}")
        except NoIdentities:  # a release from before identities: nothing there carries the identity
            continue
    return found


def _parquet(store: DvcStore, md5: str | None) -> pl.DataFrame | None:
    data = store.read(md5) if md5 else None
    return None if data is None else pl.read_parquet(io.BytesIO(data))


def sweep(store: DvcStore, erased: Selected, reports: Iterable[str] = ()) -> SweepResult:
    """Delete or repack every object holding an erased crop's bytes, and delete the ``reports``
    objects (``pipeline/privacy/reports.py``); what was deleted and its replacement."""
    # Recorded with the shards (the log's shard_md5, no replacement): a fetch of an old release
    # then knows which erasure withheld a report file, as it knows for a shard.
    gone_reports = tuple(md5 for md5 in sorted(set(reports)) if store.delete(md5))
    deleted, replaced = list(gone_reports), [""] * len(gone_reports)
    for md5 in sorted({md5 for _, md5, _ in _listing(store)}):
        data = store.read(md5)
        if data is None or md5.endswith(".dir"):
            continue
        if hashlib.sha256(data).hexdigest() in erased.crop_sha256:
            store.delete(md5)
            deleted.append(md5)
            replaced.append("")
        elif is_tar(data):
            members = list(tar_members(data))
            keep = [m for m in members if not _erased(m, erased)]
            if len(keep) < len(members):
                new = store.put(_repack(keep)) if keep else ""
                store.delete(md5)
                deleted.append(md5)
                replaced.append(new)
    return SweepResult(tuple(deleted), tuple(replaced), gone_reports)


def _listing(store: DvcStore) -> Iterator[tuple[str, str, None]]:
    for name, odb in store.stores:
        for md5 in odb.all():
            yield name, md5, None


def _erased(member: Member, erased: Selected) -> bool:
    """A member goes when it is an erased crop, or belongs to an erased face (its image and its json)."""
    return member.sha256 in erased.crop_sha256 or member.face_id in erased.face_ids


def is_tar(data: bytes) -> bool:
    return len(data) >= 512 and data[257:262] == b"ustar"


def tar_members(data: bytes) -> Iterator[Member]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar:
            if info.isfile():
                body = tar.extractfile(info).read()
                yield Member(info.name, hashlib.sha256(body).hexdigest(), body)


def _repack(members: list[Member]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member in members:
            add_member(tar, member.name, member.data)
    return buffer.getvalue()
