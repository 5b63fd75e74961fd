"""Splits without leakage: every face's group key -> a split that never moves.

A face's group key is its identity (``identity:<id>``) when known, else its
video's root (``video:<id>``: the original for a fake, the video itself
otherwise). Keys are joined into groups (union-find) through fakes: every key of
a fake video joins every key of its original and the original's ``video:`` key,
so a fake, its original and every face of their people land in one split.

A group's split, in order: the split the registry (the last ``splits.parquet``)
recorded for its keys (the one held by most of its faces; new keys join it:
new data never moves an existing group); else the corpus ``split`` of its faces
(the most common) unless ``reassign``; else a stable hash of the group's
smallest key into the ratios. When new data proves two recorded groups are one
(a new fake of an original, a merge of identities), the larger keeps its split
and the other moves with it: counted in ``moved`` and reported, since leaving
both would leak. The registry only grows: a key that left the corpus keeps its row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from schemas.manifests import SPLIT_NAMES, SPLITS_SCHEMA

SOURCE_HASH, SOURCE_CORPUS, SOURCE_GROUP = "hash", "corpus", "group"


@dataclass(frozen=True)
class SplitRatios:
    train: float
    val: float
    test: float

    def __post_init__(self) -> None:
        if min(self.train, self.val, self.test) < 0 or self.train + self.val + self.test <= 0:
            raise ValueError(f"curate.split_train, split_val, split_test must be >= 0 and not all 0, got {self}")

    def pick(self, key: str) -> str:
        """The split of a group by a stable hash of its key into [0, 1)."""
        u = int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) / 2.0**64
        total = self.train + self.val + self.test
        edges = (self.train / total, (self.train + self.val) / total)
        return SPLIT_NAMES[0] if u < edges[0] else SPLIT_NAMES[1] if u < edges[1] else SPLIT_NAMES[2]


@dataclass(frozen=True)
class SplitResult:
    face_split: pl.DataFrame  # face_id, group_key, split_assigned
    registry: pl.DataFrame  # SPLITS_SCHEMA
    moved: tuple[str, ...]  # recorded keys whose split changed because their group joined a larger one


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = self.parent.setdefault(x, x)
        while root != self.parent[root]:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_keys(faces: pl.DataFrame, originals: dict[str, str]) -> pl.DataFrame:
    """faces (face_id, video_id, identity_id) -> with ``group_key``."""
    root = pl.col("video_id").replace_strict(originals, default=pl.col("video_id"), return_dtype=pl.String)
    key = pl.when(pl.col("identity_id").is_not_null()).then(pl.lit("identity:") + pl.col("identity_id")).otherwise(pl.lit("video:") + root)
    return faces.with_columns(group_key=key)


def assign_splits(
    faces: pl.DataFrame, originals: dict[str, str], previous: pl.DataFrame | None, ratios: SplitRatios, reassign: bool
) -> SplitResult:
    """``faces``: face_id, video_id, identity_id, split (the corpus's); ``originals``: fake video_id ->
    its original's video_id; ``previous``: the last splits.parquet or None."""
    keyed = group_keys(faces, originals)
    groups = UnionFind()
    for key in keyed["group_key"].unique().to_list():
        groups.find(key)
    keys_of = {vid: keys for vid, keys in keyed.group_by("video_id").agg(pl.col("group_key").unique()).iter_rows()}
    for fake, original in originals.items():
        for key in [*keys_of.get(fake, []), *keys_of.get(original, [])]:
            groups.union(key, f"video:{original}")
    recorded = {}
    if previous is not None:
        recorded = {
            k: (s, src)
            for k, s, src in previous.select("group_key", "split", "source").iter_rows()
            if not (reassign and src == SOURCE_CORPUS)
        }
    weights = keyed.group_by("group_key").agg(pl.len().alias("faces"), pl.col("split").drop_nulls().mode().first().alias("corpus_split"))
    members: dict[str, list[tuple[str, int, str | None]]] = {}
    for key, count, corpus_split in weights.sort("group_key").iter_rows():
        members.setdefault(groups.find(key), []).append((key, count, corpus_split))
    rows, moved, split_of = [], [], {}
    for group, keys in members.items():
        split, source = _group_split(group, keys, recorded, ratios, reassign)
        for key, _, _ in keys:
            split_of[key] = split
            if key in recorded and recorded[key][0] != split:
                moved.append(key)
            rows.append(
                {
                    "group_key": key,
                    "group_id": group,
                    "split": split,
                    "source": recorded[key][1] if key in recorded and recorded[key][0] == split else source,
                }
            )
    registry = _registry(previous, rows)
    face_split = keyed.select("face_id", "group_key", split_assigned=pl.col("group_key").replace_strict(split_of, return_dtype=pl.String))
    return SplitResult(face_split, registry, tuple(sorted(moved)))


def _group_split(
    group: str, keys: list[tuple[str, int, str | None]], recorded: dict, ratios: SplitRatios, reassign: bool
) -> tuple[str, str]:
    held: dict[str, int] = {}
    for key, count, _ in keys:
        if key in recorded:
            held[recorded[key][0]] = held.get(recorded[key][0], 0) + count
    if held:
        return max(held, key=lambda s: (held[s], s)), SOURCE_GROUP
    corpus: dict[str, int] = {}
    for _, count, corpus_split in keys:
        if corpus_split:
            corpus[corpus_split] = corpus.get(corpus_split, 0) + count
    if corpus and not reassign:
        return max(corpus, key=lambda s: (corpus[s], s)), SOURCE_CORPUS
    return ratios.pick(group), SOURCE_HASH


def _registry(previous: pl.DataFrame | None, rows: list[dict]) -> pl.DataFrame:
    current = pl.from_arrow(pa.Table.from_pylist(rows, schema=SPLITS_SCHEMA))
    if previous is not None:
        current = pl.concat([previous.filter(~pl.col("group_key").is_in(current["group_key"].implode())), current])
    return current.sort("group_key")
