"""The facts a report shows, from the manifests: the summary, the funnel from sampled frames to
kept crops with every drop reason, breakdowns by corpus field, and capped, spread samples of
faces for the contact sheets. Polars over only the columns used, so 1,000,000 face rows read
in about a second (bench/report_1m.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from schemas.manifests import FACES_MANIFEST, TRACKS_MANIFEST, VIDEOS_MANIFEST

# The faces columns the report reads (those a manifest lacks are left out: an older dataset still reports).
FACE_COLUMNS = (
    "face_id", "video_id", "uri", "frame_index", "face_index", "pts_s", "frame_width_px", "frame_height_px", "bbox_xyxy_px", "det_score",
    "landmarks5_px", "crop_path", "track_id", "face_size_px", "sharpness", "brightness", "yaw_deg", "pitch_deg", "roll_deg",
    "quality_score", "status", "filter_reason", "filter_reasons", "duplicate_of", "identity_id",
    "label", "split", "license", "consent",
)  # fmt: skip
BREAKDOWN_FIELDS = ("license", "consent", "split", "label")
KEPT = "ok"
NONE_LABEL = "(none)"


@dataclass(frozen=True)
class Tables:
    videos: pl.DataFrame
    faces: pl.DataFrame
    tracks: pl.DataFrame | None


@dataclass(frozen=True)
class Step:
    """One line of the funnel: a count, and what it counts."""

    name: str
    count: int
    note: str = ""


@dataclass(frozen=True)
class Breakdown:
    """Videos, faces and kept faces per value of one corpus field."""

    field: str
    rows: tuple[tuple[str, int, int, int], ...]  # value, videos, faces, kept


def load_tables(dataset: Path) -> Tables:
    """The dataset's manifests (faces: only the report's columns); a missing manifest is an error naming it."""
    for name in (VIDEOS_MANIFEST, FACES_MANIFEST):
        if not (dataset / name).is_file():
            raise ValueError(f"{dataset / name} does not exist: is {dataset} a facecorpus dataset folder?")
    faces_lazy = pl.scan_parquet(dataset / FACES_MANIFEST)
    present = faces_lazy.collect_schema().names()
    faces = faces_lazy.select([c for c in FACE_COLUMNS if c in present]).collect()
    if "status" not in faces.columns:
        faces = faces.with_columns(pl.lit(KEPT).alias("status"))
    tracks = pl.read_parquet(dataset / TRACKS_MANIFEST) if (dataset / TRACKS_MANIFEST).is_file() else None
    return Tables(pl.read_parquet(dataset / VIDEOS_MANIFEST), faces, tracks)


def funnel(tables: Tables) -> list[Step]:
    """From inputs to kept crops; each drop with its reason."""
    videos, faces = tables.videos, tables.faces
    ok = videos.filter(pl.col("status") == KEPT)
    steps = [Step("inputs", videos.height, "distinct files of the corpus"), Step("videos decoded", ok.height)]
    failed = videos.filter(pl.col("status") == "failed")
    for kind, count in _counts(failed, "error_kind"):
        steps.append(Step(f"failed: {kind}", count, "dropped: the video's rows say why (error)"))
    excluded = videos.filter(pl.col("status") == "excluded").height
    if excluded:
        steps.append(Step("excluded by the policy", excluded, "not decoded: lacks what params.yaml policy requires"))
    if "near_duplicate_of" in videos.columns:
        flagged = videos.filter(pl.col("near_duplicate_of").is_not_null()).height
        steps.append(Step("near-duplicate videos", flagged, "flagged, kept in the manifests, left out of the selection"))
    steps.append(Step("frames sampled", int(ok["frames_sampled"].sum() or 0)))
    steps.append(Step("frames with faces", faces.select("video_id", "frame_index").unique().height))
    steps.append(Step("faces detected", faces.height, "one row each in faces.parquet"))
    for reason, count in drop_reasons(faces):
        steps.append(Step(f"dropped: {reason}", count))
    steps.append(Step("faces kept", faces.filter(pl.col("status") == KEPT).height, "status ok"))
    if tables.tracks is not None:
        steps.append(Step("tracks", tables.tracks.height))
    if "identity_id" in faces.columns:
        steps.append(Step("identities", faces["identity_id"].drop_nulls().n_unique()))
    return steps


def drop_reasons(faces: pl.DataFrame) -> list[tuple[str, int]]:
    """(reason, faces) for every face not kept: the first filter rule it failed, or ``duplicate``."""
    dropped = faces.filter(pl.col("status") != KEPT)
    if "filter_reason" in dropped.columns:
        dropped = dropped.with_columns(pl.coalesce(pl.col("filter_reason"), pl.col("status")).alias("reason"))
    else:
        dropped = dropped.with_columns(pl.col("status").alias("reason"))
    return _counts(dropped, "reason")


def all_filter_reasons(faces: pl.DataFrame) -> list[tuple[str, int]]:
    """(rule, faces that failed it), counting every rule a face failed, not only its first."""
    if "filter_reasons" not in faces.columns:
        return []
    exploded = faces.select(pl.col("filter_reasons").explode().alias("rule")).drop_nulls()
    return _counts(exploded, "rule")


def breakdowns(tables: Tables) -> list[Breakdown]:
    found = []
    for name in BREAKDOWN_FIELDS:
        if name not in tables.videos.columns:
            continue
        videos = tables.videos.group_by(pl.col(name).fill_null(NONE_LABEL)).agg(pl.len().alias("videos"))
        faces = (
            tables.faces.group_by(pl.col(name).fill_null(NONE_LABEL)).agg(
                pl.len().alias("faces"), (pl.col("status") == KEPT).sum().alias("kept")
            )
            if name in tables.faces.columns
            else pl.DataFrame({name: [], "faces": [], "kept": []}, schema={name: pl.String, "faces": pl.UInt32, "kept": pl.UInt32})
        )
        joined = videos.join(faces, on=name, how="left").fill_null(0).sort("videos", name, descending=[True, False])
        found.append(Breakdown(name, tuple((str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in joined.iter_rows())))
    return found


def spread(frame: pl.DataFrame, cap: int) -> pl.DataFrame:
    """At most ``cap`` rows, evenly spread over ``frame``'s order (deterministic)."""
    if frame.height <= cap:
        return frame
    step = frame.height / cap
    return frame[[int(i * step) for i in range(cap)]]


UNCHANGED_PAIR = "unchanged_pair"


def videos_by_faces(tables: Tables) -> pl.DataFrame:
    """Every video with its face counts (all, kept, filtered ``unchanged_pair``), most faces first (then by uri)."""
    faces = tables.faces
    unchanged = (
        pl.col("filter_reasons").list.contains(UNCHANGED_PAIR) if "filter_reasons" in faces.columns else pl.lit(False)
    )  # a fake's faces never changed from its original's (pair-aware extraction)
    counts = faces.group_by("video_id").agg(
        pl.len().alias("faces"), (pl.col("status") == KEPT).sum().alias("kept"), unchanged.sum().alias("unchanged_pair")
    )
    joined = tables.videos.join(counts, on="video_id", how="left").with_columns(pl.col("faces", "kept", "unchanged_pair").fill_null(0))
    return joined.sort(["faces", "uri"], descending=[True, False])


def _counts(frame: pl.DataFrame, column: str) -> list[tuple[str, int]]:
    if column not in frame.columns or frame.height == 0:
        return []
    grouped = frame.group_by(pl.col(column).fill_null(NONE_LABEL)).agg(pl.len().alias("n")).sort(["n", column], descending=[True, False])
    return [(str(value), int(n)) for value, n in grouped.iter_rows()]
