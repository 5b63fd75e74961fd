"""What an erasure targets: ``--video ID | --uri PATH | --subject ID | --identity ID`` -> faces and videos.

A video, uri or subject erases whole videos (``scope = video``: every face, the work,
the source's content hash denied); an identity erases the faces that carry its
``identity_id`` (``scope = face``), wherever they are, and those of every id merged
with it (``alias_of`` in the identity registry, either way: one person, whichever of
its ids the request names, e.g. an id from an older release). The difference masks of
pairs with a selected face on either side (Pair-aware extraction) go with its crops. The same selection runs on the
current manifests and on every old release's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import polars as pl

from pipeline.corpus.erasures import SCOPE_FACE, SCOPE_VIDEO
from schemas.manifests import ERASURE_TARGETS

IDENTITY_COLUMN = "identity_id"


class NoIdentities(ValueError):
    """``--identity`` on a dataset whose faces carry no ``identity_id`` column."""


@dataclass(frozen=True)
class Target:
    kind: str
    value: str

    def __post_init__(self) -> None:
        if self.kind not in ERASURE_TARGETS:
            raise ValueError(f"unknown erasure target {self.kind!r} (one of {', '.join(ERASURE_TARGETS)})")
        if not self.value:
            raise ValueError(f"--{self.kind} needs a value")

    @property
    def scope(self) -> str:
        return SCOPE_FACE if self.kind == "identity" else SCOPE_VIDEO


@dataclass(frozen=True)
class Selected:
    video_ids: frozenset[str]
    face_ids: frozenset[str]
    crop_sha256: frozenset[str]

    def __or__(self, other: Selected) -> Selected:
        return Selected(self.video_ids | other.video_ids, self.face_ids | other.face_ids, self.crop_sha256 | other.crop_sha256)


EMPTY = Selected(frozenset(), frozenset(), frozenset())


@dataclass(frozen=True)
class Manifests:
    """The tables of one folder (the dataset, or an old release) that a selection reads; None: it has none."""

    faces: pl.DataFrame
    videos: pl.DataFrame | None = None
    identities: pl.DataFrame | None = None  # the registry, whose aliases an identity target follows
    pairs: pl.DataFrame | None = None  # fake-to-original pairs with their difference masks


def select(target: Target, tables: Manifests, where: str) -> Selected:
    """The target's videos (scope video), faces and images (crops, and the difference masks of every
    pair with a selected face on either side) in one folder's manifests (``where`` names it)."""
    faces = tables.faces
    if target.kind == "identity":
        if IDENTITY_COLUMN not in faces.columns or faces[IDENTITY_COLUMN].null_count() == faces.height:
            raise NoIdentities(
                f"{where}: no face carries an {IDENTITY_COLUMN} (identities off: curate.embedder none, or a dataset from before them); "
                "--identity cannot select"
            )
        chosen = faces.filter(pl.col(IDENTITY_COLUMN).is_in(sorted(identity_group(target.value, tables.identities))))
        return _selected(frozenset(chosen["video_id"].to_list()), chosen, tables.pairs)
    rows = tables.videos if tables.videos is not None else faces.select("video_id", "uri", "subject").unique()
    if target.kind == "video":
        hit = rows.filter(pl.col("video_id") == target.value)
    elif target.kind == "uri":
        dup = pl.col("duplicate_uris").list.contains(target.value) if "duplicate_uris" in rows.columns else pl.lit(False)
        hit = rows.filter((pl.col("uri") == target.value) | dup)
    else:
        hit = rows.filter(pl.col("subject") == target.value)
    video_ids = frozenset(hit["video_id"].to_list())
    return _selected(video_ids, faces.filter(pl.col("video_id").is_in(list(video_ids))), tables.pairs)


def _selected(video_ids: frozenset[str], chosen: pl.DataFrame, pairs: pl.DataFrame | None) -> Selected:
    face_ids = frozenset(chosen["face_id"].to_list())
    return Selected(video_ids, face_ids, _crops(chosen) | _masks(face_ids, pairs))


def _masks(face_ids: frozenset[str], pairs: pl.DataFrame | None) -> frozenset[str]:
    """The content hashes of the difference masks (``masks/<sha[:2]>/<sha>.png``) of every pair with
    one of ``face_ids`` on either side: images made from its crop, erased with it."""
    if pairs is None or "mask_path" not in pairs.columns or not face_ids:
        return frozenset()
    ids = sorted(face_ids)
    hit = pairs.filter(pl.col("face_id").is_in(ids) | pl.col("original_face_id").is_in(ids))["mask_path"].drop_nulls()
    return frozenset(PurePosixPath(path).stem for path in hit.to_list())


def identity_group(identity: str, registry: pl.DataFrame | None) -> frozenset[str]:
    """``identity`` and every id joined to it by ``alias_of`` edges, transitively, either way."""
    group = {identity}
    if registry is None or not {"identity_id", "alias_of"} <= set(registry.columns):
        return frozenset(group)
    edges = registry.filter(pl.col("alias_of").is_not_null()).select("identity_id", "alias_of").rows()
    grown = True
    while grown:
        grown = False
        for alias, kept in edges:
            if (alias in group) != (kept in group):
                group |= {alias, kept}
                grown = True
    return frozenset(group)


def _crops(faces: pl.DataFrame) -> frozenset[str]:
    return frozenset(faces["crop_sha256"].drop_nulls().to_list()) if "crop_sha256" in faces.columns else frozenset()
