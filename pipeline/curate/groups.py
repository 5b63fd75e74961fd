"""Curation II over the whole corpus: identities, splits, fake-to-original pairs, from stored work.

:class:`CorpusGroups` runs after the dataset curation (``dataset.py``) each time
the manifests are merged: it reads the embed stage's stored vectors and the last
run's registries (``identities.parquet``, ``splits.parquet`` and the track ->
identity column of ``faces.parquet``), so ids and splits carry over, and returns
faces with ``identity_id``, ``split_assigned`` and ``original_face_id``, and the
identities, splits and pairs tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.curate.identities import TrackVectors, assign_identities
from pipeline.curate.pairs import Originals, pair_faces, resolve_originals
from pipeline.curate.splits import SplitRatios, assign_splits
from schemas.manifests import FACES_MANIFEST, IDENTITIES_MANIFEST, IDENTITIES_SCHEMA, PAIRS_SCHEMA, SPLITS_MANIFEST, SPLITS_SCHEMA

# Bump when identities, splits or pairs change for the same inputs (dvc.yaml reads it as a parameter).
GROUPS_VERSION = 2  # 2: pairs say how they were made (aligned, matched) and carry masks


@dataclass(frozen=True)
class GroupCounts:
    """What the corpus step decided (metrics, the run report)."""

    embedded_faces: int
    identities: int
    identities_created: int
    identities_merged: int
    pairs: int
    fake_faces_unpaired: int
    missing_originals: list[str]
    splits: dict[str, int]
    groups_moved: int

    def to_json(self) -> dict:
        return asdict(self)

    def markdown_rows(self) -> list[str]:
        splits = ", ".join(f"{k} {v}" for k, v in self.splits.items()) or "none"
        missing = ", ".join(self.missing_originals[:10]) or "none"
        return [
            f"| identities (new / merged) | {self.identities} ({self.identities_created} / {self.identities_merged}) |",
            f"| faces by split | {splits} |",
            f"| fake faces paired / unpaired | {self.pairs} / {self.fake_faces_unpaired} |",
            f"| fakes whose original is missing | {len(self.missing_originals)}: {missing} |",
        ]


@dataclass(frozen=True)
class GroupParams:
    max_distance: float
    ratios: SplitRatios
    reassign: bool


@dataclass(frozen=True)
class Grouped:
    faces: pl.DataFrame
    identities: pl.DataFrame
    splits: pl.DataFrame
    pairs: pl.DataFrame
    counts: GroupCounts


@dataclass(frozen=True)
class Previous:
    """The last run's registries in the dataset folder (None where absent)."""

    identities: pl.DataFrame | None
    splits: pl.DataFrame | None
    placed: dict[str, str]

    @classmethod
    def read(cls, out_dir: Path) -> Previous:
        out_dir = Path(out_dir)
        identities = _read(out_dir / IDENTITIES_MANIFEST, IDENTITIES_SCHEMA)
        splits = _read(out_dir / SPLITS_MANIFEST, SPLITS_SCHEMA)
        placed = {}
        faces = out_dir / FACES_MANIFEST
        if faces.is_file() and "identity_id" in pq.read_schema(faces).names:
            table = pl.read_parquet(faces, columns=["track_id", "identity_id"]).drop_nulls().unique("track_id")
            placed = dict(table.iter_rows())
        return cls(identities, splits, placed)


def _read(path: Path, schema: pa.Schema) -> pl.DataFrame | None:
    return pl.from_arrow(pq.read_table(path).cast(schema)) if path.is_file() else None


def track_vectors(faces: pl.DataFrame, embeddings: pl.DataFrame) -> TrackVectors:
    """Each embedded track's normalised mean vector, with its video's corpus subject."""
    if embeddings.height == 0:
        return TrackVectors([], np.zeros((0, 0), np.float32), [])
    joined = embeddings.join(faces.select("face_id", "track_id", "subject"), on="face_id").sort("track_id", "face_id")
    tracks = joined.group_by("track_id", maintain_order=True).agg(pl.col("subject").first(), pl.len().alias("n"))
    vectors = np.asarray(joined["vector"].to_list(), np.float32)
    starts = np.concatenate([[0], np.cumsum(tracks["n"].to_numpy())[:-1]]).astype(np.int64)
    sums = np.add.reduceat(vectors, starts, axis=0)
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return TrackVectors(tracks["track_id"].to_list(), sums, tracks["subject"].to_list())


class CorpusGroups:
    def __init__(self, params: GroupParams) -> None:
        self.params = params

    def run(
        self,
        faces: pl.DataFrame,
        videos: pl.DataFrame,
        embeddings: pl.DataFrame,
        embedder: str | None,
        previous: Previous,
        frames: dict[str, pa.Table],
        aligned: pl.DataFrame | None = None,
    ) -> Grouped:
        """``aligned``: the exact pairs of frame-aligned fakes and their masks (``pipeline/curate/masks.py``)."""
        faces = faces.drop("identity_id", "split_assigned", "original_face_id", strict=False)
        identities = pl.from_arrow(IDENTITIES_SCHEMA.empty_table())
        created = merged = 0
        if embedder is not None:
            result = assign_identities(
                track_vectors(faces, embeddings), previous.identities, previous.placed, self.params.max_distance, embedder
            )
            identity = pl.DataFrame(
                {"track_id": list(result.track_identity), "identity_id": list(result.track_identity.values())},
                schema={"track_id": pl.String, "identity_id": pl.String},
            )
            faces = faces.join(identity, on="track_id", how="left", maintain_order="left")
            identities, created, merged = _with_counts(result.registry, faces), result.created, result.merged
        else:
            faces = faces.with_columns(identity_id=pl.lit(None, pl.String))
        originals = resolve_originals(videos)
        split = assign_splits(
            faces.select("face_id", "video_id", "identity_id", "split"),
            originals.of,
            previous.splits,
            self.params.ratios,
            self.params.reassign,
        )
        faces = faces.join(split.face_split.select("face_id", "split_assigned"), on="face_id", how="left", maintain_order="left")
        pairs = _pairs(faces, videos, originals, frames, aligned)
        faces = faces.join(pairs.select("face_id", "original_face_id"), on="face_id", how="left", maintain_order="left")
        fake_faces = faces.filter(pl.col("video_id").is_in(list(originals.of))).height
        counts = GroupCounts(
            embedded_faces=embeddings.height,
            identities=identities.filter(pl.col("alias_of").is_null() & (pl.col("faces") > 0)).height,
            identities_created=created,
            identities_merged=merged,
            pairs=pairs.height,
            fake_faces_unpaired=fake_faces - pairs.height,
            missing_originals=[f"{uri} -> {original}" for uri, original in originals.missing],
            splits=dict(sorted(faces.group_by("split_assigned").len().drop_nulls().iter_rows())),
            groups_moved=len(split.moved),
        )
        return Grouped(faces, identities, split.registry, pairs, counts)


def _pairs(
    faces: pl.DataFrame, videos: pl.DataFrame, originals: Originals, frames: dict[str, pa.Table], aligned: pl.DataFrame | None
) -> pl.DataFrame:
    first = {vid: float(np.min(t.column("pts_s").to_numpy())) for vid, t in frames.items() if t.num_rows}
    step = {vid: float(np.median(np.diff(np.sort(t.column("pts_s").to_numpy())))) for vid, t in frames.items() if t.num_rows > 1}
    pairs = pair_faces(faces, videos, originals, first, step, aligned)
    split = faces.select("face_id", "split_assigned")
    pairs = pairs.drop("split_assigned").join(split, on="face_id", how="left", maintain_order="left")
    return pl.from_arrow(pairs.to_arrow().select(PAIRS_SCHEMA.names).cast(PAIRS_SCHEMA))


def _with_counts(registry: pl.DataFrame, faces: pl.DataFrame) -> pl.DataFrame:
    counts = (
        faces.drop_nulls("identity_id")
        .group_by("identity_id")
        .agg(
            pl.col("track_id").n_unique().cast(pl.Int32).alias("tracks"),
            pl.len().cast(pl.Int32).alias("faces"),
            pl.col("video_id").n_unique().cast(pl.Int32).alias("videos"),
        )
    )
    table = (
        registry.drop("tracks", "faces", "videos")
        .join(counts, on="identity_id", how="left")
        .with_columns(pl.col("tracks", "faces", "videos").fill_null(0))
    )
    return pl.from_arrow(table.to_arrow().select(IDENTITIES_SCHEMA.names).cast(IDENTITIES_SCHEMA))
