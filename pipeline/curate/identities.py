"""Identity clusters across the corpus: track vectors -> ``identity_id``, incremental, ids stable.

A track's vector is the normalised mean of its embedded faces' vectors
(``embed.py``). Assignment, each run, over the tracks of the current corpus:

1. a track the registry already placed (its ``track_id`` in the previous
   faces.parquet) keeps its identity (through ``alias_of`` when it was merged);
2. a track of a video whose corpus row names a ``subject`` gets that subject's
   identity (``source = subject``, id = hash of the subject): the corpus wins;
3. the other tracks and every live identity's centroid are clustered together
   with dlib's Chinese Whispers on the graph of pairs closer than the embedder's
   same-person distance (``neighbors.py``). A cluster holding no identity is a new
   identity (id = hash of its first track_id); one holding identities gives its
   new tracks to the nearest of them; identities a cluster joins are merged into
   the nearest subject identity, else the one with most tracks: the others stay in
   the registry with ``alias_of`` (subjects are never merged with each other).

Why Chinese Whispers (dlib's): it needs no cluster count, runs in time linear in
the edges (1M tracks: bench/identities.py), is the clustering dlib's own face
descriptor is documented with, and unlike single linkage (connected components)
one chance pair does not chain two people into one; dlib is already the default
embedder's dependency. scikit-learn's agglomerative clustering needs the full
distance matrix (1M tracks: 4 TB), HDBSCAN was measured too slow at 128-512
dimensions for the 10-minute target.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.curate.neighbors import chinese_whispers, threshold_edges
from schemas.manifests import IDENTITIES_SCHEMA

SOURCE_CLUSTER, SOURCE_SUBJECT = "cluster", "subject"
ID_CHARS = 32


def subject_identity(subject: str) -> str:
    return hashlib.sha256(f"subject\0{subject}".encode()).hexdigest()[:ID_CHARS]


def cluster_identity(embedder: str, first_track_id: str) -> str:
    """Another embedder's clusters are other identities, so its label is part of the id."""
    return hashlib.sha256(f"cluster\0{embedder}\0{first_track_id}".encode()).hexdigest()[:ID_CHARS]


@dataclass(frozen=True)
class TrackVectors:
    """The current corpus's embedded tracks: ids, unit vectors (rows), the corpus subject (or None)."""

    track_ids: list[str]
    vectors: np.ndarray
    subjects: list[str | None]


@dataclass(frozen=True)
class IdentityResult:
    """Each track's identity, and the registry (IDENTITIES_SCHEMA rows without the counts)."""

    track_identity: dict[str, str]
    registry: pl.DataFrame
    merged: int
    created: int


class Registry:
    """The identity registry in memory: id -> source, subject, alias_of, centroid, tracks."""

    def __init__(self, table: pl.DataFrame | None, embedder: str) -> None:
        self.rows: dict[str, dict] = {}
        self.embedder = embedder
        # Another embedder's vectors are not comparable: its identities are kept in the registry, never reused.
        self.foreign = table.filter(pl.col("embedder") != embedder) if table is not None else None
        for row in table.filter(pl.col("embedder") == embedder).iter_rows(named=True) if table is not None else ():
            self.rows[row["identity_id"]] = {**row, "centroid": np.asarray(row["centroid"], np.float32)}

    def resolve(self, identity_id: str) -> str | None:
        seen = set()
        while identity_id in self.rows and self.rows[identity_id]["alias_of"] and identity_id not in seen:
            seen.add(identity_id)
            identity_id = self.rows[identity_id]["alias_of"]
        return identity_id if identity_id in self.rows else None

    def live(self) -> list[str]:
        return sorted(k for k, r in self.rows.items() if not r["alias_of"])

    def add(self, identity_id: str, source: str, subject: str | None, centroid: np.ndarray) -> None:
        if identity_id not in self.rows:
            self.rows[identity_id] = {
                "identity_id": identity_id,
                "source": source,
                "subject": subject,
                "alias_of": None,
                "centroid": centroid,
            }


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def assign_identities(
    tracks: TrackVectors, previous: pl.DataFrame | None, placed: dict[str, str], max_distance: float, embedder: str
) -> IdentityResult:
    """``previous``: the last registry (identities.parquet) or None; ``placed``: track_id ->
    identity_id from the last faces.parquet."""
    registry = Registry(previous, embedder)
    assigned: dict[str, str] = {}
    for t, tid in enumerate(tracks.track_ids):
        kept = registry.resolve(placed[tid]) if tid in placed else None
        subject = tracks.subjects[t]
        if subject:
            kept = subject_identity(subject)
            registry.add(kept, SOURCE_SUBJECT, subject, tracks.vectors[t])
        if kept:
            assigned[tid] = kept
    _refresh_centroids(registry, tracks, assigned)
    before = len(registry.rows)
    merged = _cluster_new(registry, tracks, assigned, max_distance)
    assigned = {tid: registry.resolve(identity) for tid, identity in assigned.items()}
    _refresh_centroids(registry, tracks, assigned)
    return IdentityResult(assigned, _registry_frame(registry, embedder), merged, len(registry.rows) - before)


def _refresh_centroids(registry: Registry, tracks: TrackVectors, assigned: dict[str, str]) -> None:
    index = {tid: t for t, tid in enumerate(tracks.track_ids)}
    members: dict[str, list[int]] = {}
    for tid, identity in assigned.items():
        members.setdefault(identity, []).append(index[tid])
    for identity, rows in members.items():
        registry.rows[identity]["centroid"] = _unit(tracks.vectors[rows].mean(axis=0))


def _cluster_new(registry: Registry, tracks: TrackVectors, assigned: dict[str, str], max_distance: float) -> int:
    """Cluster the unplaced tracks with the live identities' centroids; returns the merges made."""
    new = [t for t, tid in enumerate(tracks.track_ids) if tid not in assigned]
    if not new:
        return 0
    live = registry.live()
    nodes = np.concatenate([tracks.vectors[new], np.stack([registry.rows[i]["centroid"] for i in live])]) if live else tracks.vectors[new]
    labels = chinese_whispers(len(nodes), threshold_edges(nodes, max_distance))
    sizes: dict[str, int] = {}
    for identity in assigned.values():
        sizes[identity] = sizes.get(identity, 0) + 1
    merges = 0
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for group in np.split(order, bounds):
        members = [new[g] for g in group if g < len(new)]
        identities = [live[g - len(new)] for g in group if g >= len(new)]
        merges += _settle(registry, tracks, assigned, members, identities, sizes)
    return merges


def _settle(
    registry: Registry, tracks: TrackVectors, assigned: dict[str, str], members: list[int], identities: list[str], sizes: dict[str, int]
) -> int:
    """Give one cluster's new tracks an identity; merge the cluster identities it joined (the
    caller resolves the merged ones' tracks through ``alias_of``)."""
    if not identities:
        first = min(tracks.track_ids[m] for m in members)
        identity = cluster_identity(registry.embedder, first)
        registry.add(identity, SOURCE_CLUSTER, None, _unit(tracks.vectors[members].mean(axis=0)))
        for m in members:
            assigned[tracks.track_ids[m]] = identity
        return 0
    subjects = [i for i in identities if registry.rows[i]["source"] == SOURCE_SUBJECT]
    survivors = subjects or [max(identities, key=lambda i: (sizes.get(i, 0), i))]
    centroids = np.stack([registry.rows[i]["centroid"] for i in survivors])
    for m in members:
        assigned[tracks.track_ids[m]] = survivors[int(np.argmax(centroids @ tracks.vectors[m]))]
    merges = 0
    for i in identities:
        if i not in survivors:
            target = survivors[int(np.argmax(centroids @ registry.rows[i]["centroid"]))]
            registry.rows[i]["alias_of"] = target
            merges += 1
    return merges


def _registry_frame(registry: Registry, embedder: str) -> pl.DataFrame:
    rows = [
        {**{k: r[k] for k in ("identity_id", "source", "subject", "alias_of")}, "embedder": embedder, "tracks": 0, "faces": 0, "videos": 0,
         "centroid": r["centroid"].tolist()}
        for r in (registry.rows[k] for k in sorted(registry.rows))
    ]  # fmt: skip
    table = pl.from_arrow(pa.Table.from_pylist(rows, schema=IDENTITIES_SCHEMA))
    if registry.foreign is not None and registry.foreign.height:
        table = pl.concat([table, registry.foreign.with_columns(pl.col("tracks", "faces", "videos") * 0)]).sort("identity_id")
    return table
