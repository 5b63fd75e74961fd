"""Curation over the whole dataset: filters, near-duplicate faces and videos, the tracks table, the counts.

:class:`DatasetCuration` takes the merged faces (detections, crops, stored
quality scores and tracks, corpus fields), the videos and their frame
signatures, and returns the curated manifests: every face keeps its row, with
``status`` (``ok``, ``filtered``, ``duplicate``) and its reasons; videos get
``near_duplicate_of``; ``tracks.parquet`` has one row per track. It reads only
stored work, so the manifest merge runs it every time: a changed threshold
costs this step and nothing upstream.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl
import pyarrow as pa

from pipeline.config import CurateOptions
from pipeline.curate.duplicates import DuplicateParams, DuplicateStage
from pipeline.curate.filters import REASONS, FilterParams, FilterStage
from pipeline.curate.groups import GroupCounts
from pipeline.curate.videos import VIDEO_SIGNATURES_SCHEMA, NearDuplicateParams, NearDuplicateVideos
from pipeline.records import Status
from pipeline.stages.base import Stage
from schemas.manifests import TRACKS_SCHEMA


@dataclass(frozen=True)
class CurationCounts:
    """What curation decided: faces by status, filtered faces by first reason and by every
    rule they failed, tracks, and videos flagged as near-duplicates."""

    faces: int
    kept: int
    filtered: int
    duplicate: int
    tracks: int
    near_duplicate_videos: int
    filtered_by_reason: dict[str, int]
    failed_rules: dict[str, int]
    groups: GroupCounts | None = None  # identities, splits, pairs (pipeline/curate/groups.py)

    def to_json(self) -> dict:
        return asdict(self)

    def markdown_rows(self) -> list[str]:
        reasons = ", ".join(f"{k} {v}" for k, v in self.filtered_by_reason.items()) or "none"
        return [
            f"| faces kept / filtered / duplicate | {self.kept} / {self.filtered} / {self.duplicate} |",
            f"| filtered by first reason | {reasons} |",
            f"| tracks | {self.tracks} |",
            f"| near-duplicate videos | {self.near_duplicate_videos} |",
            *(self.groups.markdown_rows() if self.groups else []),
        ]


@dataclass(frozen=True)
class Curated:
    faces: pl.DataFrame
    videos: pl.DataFrame
    tracks: pl.DataFrame
    counts: CurationCounts


class DatasetCuration:
    def __init__(self, curate: CurateOptions) -> None:
        self.filter = FilterStage(FilterParams.of(curate))
        self.duplicates = DuplicateStage(DuplicateParams(curate.dup_max_distance))
        self.near_duplicates = NearDuplicateVideos(NearDuplicateParams(curate.video_dup_max_distance, curate.video_dup_min_share))

    @property
    def stages(self) -> tuple[Stage, ...]:
        return (self.filter, self.duplicates, self.near_duplicates)

    def run(self, faces: pl.DataFrame, videos: pl.DataFrame, frames: dict[str, pa.Table]) -> Curated:
        """``faces``: the merged faces with their scores and tracks; ``videos``: videos.parquet's
        rows; ``frames``: each ok video's frame signatures."""
        faces = faces.drop("status", "filter_reason", "filter_reasons", "duplicate_of", strict=False)
        faces = faces.join(pl.from_arrow(self.filter(faces)), on="face_id", how="left", maintain_order="left")
        decided = pl.from_arrow(self.duplicates(faces))
        faces = faces.drop("status").join(decided, on="face_id", how="left", maintain_order="left")
        flags = pl.from_arrow(self.near_duplicates(video_signatures(videos, frames)))
        videos = videos.drop("near_duplicate_of").join(flags, on="video_id", how="left", maintain_order="left")
        tracks = track_table(faces)
        return Curated(faces, videos, tracks, counts(faces, tracks, videos))


def video_signatures(videos: pl.DataFrame, frames: dict[str, pa.Table]) -> pl.DataFrame:
    """The near-duplicate stage's item: each ok video with frame signatures, its hashes and what ranks it."""
    rows = [
        {
            "video_id": v["video_id"],
            "uri": v["uri"],
            "original": v["original"],
            "pixels": (v["width_px"] or 0) * (v["height_px"] or 0),
            "size_bytes": v["size_bytes"],
            "frame_phashes": frames[v["video_id"]].column("frame_phash").to_pylist(),
        }
        for v in videos.filter(pl.col("status") == Status.OK.value).iter_rows(named=True)
        if v["video_id"] in frames
    ]
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=VIDEO_SIGNATURES_SCHEMA))


def track_table(faces: pl.DataFrame) -> pl.DataFrame:
    """One row per track (``TRACKS_SCHEMA``): its span, size, scores and best face (kept
    faces first, then by quality_score, then the earliest)."""
    kept = pl.col("status") == Status.OK.value
    best_first = faces.sort(
        [kept.not_(), pl.col("quality_score"), pl.col("pts_s"), pl.col("face_id")], descending=[False, True, False, False]
    )
    table = best_first.group_by("track_id", maintain_order=True).agg(
        pl.col("video_id").first(),
        pl.col("uri").first(),
        pl.col("shot_index").first(),
        pl.col("pts_s").min().alias("first_pts_s"),
        pl.col("pts_s").max().alias("last_pts_s"),
        pl.len().alias("faces"),
        kept.sum().alias("faces_kept"),
        pl.col("det_score").mean().alias("mean_det_score"),
        pl.col("det_score").min().alias("min_det_score"),
        pl.col("face_size_px").median().alias("median_face_size_px"),
        pl.col("face_id").first().alias("best_face_id"),
    )
    table = table.sort("video_id", "first_pts_s", "track_id").select(TRACKS_SCHEMA.names)
    return pl.from_arrow(table.to_arrow().cast(TRACKS_SCHEMA))


def counts(faces: pl.DataFrame, tracks: pl.DataFrame, videos: pl.DataFrame) -> CurationCounts:
    status = dict(faces.group_by("status").len().iter_rows())
    first = dict(faces.drop_nulls("filter_reason").group_by("filter_reason").len().iter_rows())
    every = dict(faces.select(pl.col("filter_reasons").explode().drop_nulls()).group_by("filter_reasons").len().iter_rows())
    return CurationCounts(
        faces=faces.height,
        kept=status.get(Status.OK.value, 0),
        filtered=status.get(Status.FILTERED.value, 0),
        duplicate=status.get(Status.DUPLICATE.value, 0),
        tracks=tracks.height,
        near_duplicate_videos=int(videos["near_duplicate_of"].is_not_null().sum()),
        filtered_by_reason={r: first[r] for r in REASONS if r in first},
        failed_rules={r: every[r] for r in REASONS if r in every},
    )
