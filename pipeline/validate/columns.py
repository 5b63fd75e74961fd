"""Batches for the data contracts: each manifest's own columns plus computed ``chk_*`` columns.

Every function here returns one Arrow table per suite: the manifest's columns as
read, followed by the suite's computed columns in the order its contract lists
them (``schemas/contracts``). Computation is vectorised (numpy, polars) over the
whole manifest, so cross-row facts (a face's video, rows per video, faces per
frame) are exact however the table is later partitioned. A column the manifest
lacks, or holds with the wrong type, yields null computed values: the contract's
column and type checks report it, and the derived checks skip it. Likewise a NaN
or infinite input is null to the derived checks: the finiteness checks report it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.fsutil import check_published
from pipeline.validate.arrow import finite_flags, float_matrix, float_vector, object_column, with_computed
from pipeline.validate.curation import face_facts, near_duplicate_ok, tracks_table
from pipeline.validate.files import crop_file_facts
from schemas.contracts import crops, faces, run, shards, videos
from schemas.contracts.limits import ContractLimits
from schemas.manifests import FACES_MANIFEST, TIMELINE_SLACK_FRAMES, TIMELINE_SLACK_SHARE, TRACKS_MANIFEST, VIDEOS_MANIFEST

PRESET_SIZE_PATTERN = r"^[^:]+:(\d+):"
CROP_PATH_PARTS_PATTERN = r"^crops/([0-9a-f]{2})/([0-9a-f]{64})\.[a-z]+$"


@dataclass(frozen=True)
class DatasetTables:
    dataset_dir: Path
    videos: pa.Table
    faces: pa.Table
    tracks: pa.Table  # no columns when the folder has no tracks.parquet: the tracks suite's checks say so


def load_dataset(dataset_dir: Path) -> DatasetTables:
    dataset_dir = Path(dataset_dir)
    check_published(dataset_dir, [VIDEOS_MANIFEST, FACES_MANIFEST, TRACKS_MANIFEST])
    tables = []
    for name in (VIDEOS_MANIFEST, FACES_MANIFEST):
        path = dataset_dir / name
        if not path.is_file():
            raise ValueError(f"{dataset_dir}: no {name}; is this a dataset folder?")
        tables.append(pq.read_table(path))
    tracks_path = dataset_dir / TRACKS_MANIFEST
    return DatasetTables(dataset_dir, *tables, pq.read_table(tracks_path) if tracks_path.is_file() else pa.table({}))


def videos_table(data: DatasetTables, limits: ContractLimits) -> pa.Table:
    table = data.videos
    width, height = float_vector(table, "width_px"), float_vector(table, "height_px")
    computed = {
        **finite_flags(table, videos.SCHEMA),
        "chk_status": object_column(table, "status"),
        # A missing size counts as -1, so an ok video without one fails the size check.
        "chk_frame_min_side_px": np.nan_to_num(np.minimum(width, height), nan=-1.0),
        "chk_frames_sampled": float_vector(table, "frames_sampled"),
        "chk_faces_found": float_vector(table, "faces_found"),
        "chk_faces_rows": _faces_per_video(table, data.faces),
        "chk_near_duplicate_ok": near_duplicate_ok(table),
        "chk_timeline_excess_frames": _timeline_excess_frames(table),
    }
    return with_computed(table, computed, videos.COMPUTED)


def _timeline_excess_frames(table: pa.Table) -> np.ndarray:
    """How many frames duration_s x fps misses frame_count by, beyond the slack (<= 0: plausible);
    a still: its distance from 1 frame and 0 s. NaN where a figure is missing (failed rows)."""
    duration, fps, frames = (float_vector(table, c) for c in ("duration_s", "fps", "frame_count"))
    image = table.column("is_image").to_pylist() if "is_image" in table.column_names else [None] * table.num_rows
    still = np.array([v is True for v in image], dtype=bool)
    moving = np.where(fps > 0, np.abs(duration * fps - frames) - np.maximum(TIMELINE_SLACK_FRAMES, TIMELINE_SLACK_SHARE * frames), 1.0)
    moving = np.where(np.isnan(fps) | np.isnan(duration) | np.isnan(frames), np.nan, moving)
    return np.where(still, np.abs(frames - 1) + np.abs(duration), moving)


def _faces_per_video(videos_: pa.Table, faces_: pa.Table) -> np.ndarray:
    if "video_id" not in videos_.column_names or "video_id" not in faces_.column_names:
        return np.full(videos_.num_rows, np.nan)
    counts = pl.DataFrame({"video_id": object_column(faces_, "video_id")}).group_by("video_id").len()
    ids = pl.DataFrame({"video_id": object_column(videos_, "video_id")}).with_row_index("row")
    joined = ids.join(counts, on="video_id", how="left").sort("row")
    return joined["len"].fill_null(0).cast(pl.Float64).to_numpy()


def faces_table(data: DatasetTables, limits: ContractLimits) -> pa.Table:
    table = data.faces
    bbox = float_matrix(table, "bbox_xyxy_px", 4)
    affine = float_matrix(table, "affine_2x3", 6)
    with np.errstate(invalid="ignore", over="ignore"):
        det = np.abs(affine[:, 0] * affine[:, 4] - affine[:, 1] * affine[:, 3])
    computed = {
        **finite_flags(table, faces.SCHEMA),
        "chk_det_score": float_vector(table, "det_score"),
        **_box_facts(table, bbox),
        "chk_affine_abs_det": det,
        "chk_crop_size_px": float_vector(table, "crop_size_px"),
        "chk_preset_size_px": _preset_size(table),
        **_video_facts(table, data.videos),
        "chk_uri": object_column(table, "uri"),
        "chk_frame_index": float_vector(table, "frame_index"),
        "chk_face_index": float_vector(table, "face_index"),
        **face_facts(table, data.tracks),
    }
    return with_computed(table, computed, faces.COMPUTED)


def tracks_suite_table(data: DatasetTables, limits: ContractLimits) -> pa.Table:
    return tracks_table(data.tracks, data.faces, data.videos)


def _box_facts(table: pa.Table, bbox: np.ndarray) -> dict[str, np.ndarray]:
    x1, y1, x2, y2 = bbox.T
    width, height = float_vector(table, "frame_width_px"), float_vector(table, "frame_height_px")
    landmarks = float_matrix(table, "landmarks5_px", 10)
    box_w, box_h = x2 - x1, y2 - y1
    with np.errstate(invalid="ignore", divide="ignore"):
        # How far the farthest landmark lies outside the box, in box widths (x) or heights (y).
        xs, ys = landmarks[:, 0::2], landmarks[:, 1::2]
        out_x = np.maximum(x1[:, None] - xs, xs - x2[:, None]) / box_w[:, None]
        out_y = np.maximum(y1[:, None] - ys, ys - y2[:, None]) / box_h[:, None]
        outside = np.maximum(np.max(np.maximum(out_x, out_y), axis=1, initial=-np.inf), 0.0)
        outside[~((box_w > 0) & (box_h > 0))] = np.nan
    return {
        "chk_bbox_frame_margin_px": np.minimum.reduce([x1, y1, width - x2, height - y2]),
        "chk_bbox_min_side_px": np.minimum(box_w, box_h),
        "chk_landmarks_outside_box": outside,
    }


def _preset_size(table: pa.Table) -> pl.Series:
    preset = pl.Series("preset", object_column(table, "preset"))
    return preset.str.extract(PRESET_SIZE_PATTERN, 1).cast(pl.Float64)


def _video_facts(faces_: pa.Table, videos_: pa.Table) -> dict[str, pa.Array | np.ndarray]:
    rows = faces_.num_rows
    if "video_id" not in faces_.column_names or "video_id" not in videos_.column_names:
        return {
            "chk_video_known": np.zeros(rows, dtype=bool),
            "chk_video_status": pa.nulls(rows, pa.string()),
            "chk_video_uri": pa.nulls(rows, pa.string()),
            "chk_video_frames_sampled": np.full(rows, np.nan),
        }
    known = (
        pl.DataFrame(
            {
                "video_id": object_column(videos_, "video_id"),
                "status": object_column(videos_, "status"),
                "uri": object_column(videos_, "uri"),
                "frames_sampled": float_vector(videos_, "frames_sampled"),
            }
        )
        .unique("video_id", keep="first", maintain_order=True)
        .with_columns(known=pl.lit(True))
    )
    face_ids = pl.DataFrame({"video_id": object_column(faces_, "video_id")}).with_row_index("row")
    joined = face_ids.join(known, on="video_id", how="left").sort("row")
    return {
        "chk_video_known": joined["known"].fill_null(False).to_numpy(),
        "chk_video_status": joined["status"],
        "chk_video_uri": joined["uri"],
        "chk_video_frames_sampled": joined["frames_sampled"].to_numpy(),
    }


def crops_table(data: DatasetTables, limits: ContractLimits) -> pa.Table:
    table = _distinct_crops(data.faces)
    paths = pl.Series("crop_path", object_column(table, "crop_path"))
    files = crop_file_facts(data.dataset_dir, paths.to_list())
    computed = {
        **finite_flags(table, crops.SCHEMA),
        "chk_sha256": object_column(table, "crop_sha256"),
        "chk_path_sha256": _sha256_named_by(paths),
        "chk_file_exists": files.exists,
        "chk_file_sha256": pa.array(files.sha256, pa.string()),
        "chk_crop_size_px": float_vector(table, "crop_size_px"),
        "chk_image_side_px": files.image_side_px,
    }
    return with_computed(table, computed, crops.COMPUTED)


def _distinct_crops(faces_: pa.Table) -> pa.Table:
    """One row per distinct (crop_path, crop_sha256, crop_size_px), sorted by path."""
    present = [name for name in crops.SCHEMA.names if name in faces_.column_names]
    if not present:
        return pa.table({})
    table = faces_.select(present).group_by(present, use_threads=False).aggregate([])
    return table.sort_by("crop_path") if "crop_path" in present else table


def _sha256_named_by(paths: pl.Series) -> pl.Series:
    """The sha256 a path of the form crops/<sha[:2]>/<sha>.<ext> names; null for any other path."""
    parts = pl.DataFrame({"path": paths}).select(pl.col("path").str.extract_groups(CROP_PATH_PARTS_PATTERN).struct.unnest())
    parts = parts.rename(dict(zip(parts.columns, ["folder", "sha"], strict=True)))
    return parts.select(pl.when(pl.col("sha").str.slice(0, 2) == pl.col("folder")).then(pl.col("sha"))).to_series()


def run_table(data: DatasetTables, limits: ContractLimits) -> pa.Table:
    status = object_column(data.videos, "status").to_pylist()
    videos_total = len(status)
    videos_failed = sum(s == "failed" for s in status)
    face_count = data.faces.num_rows
    bbox = float_matrix(data.faces, "bbox_xyxy_px", 4)
    with np.errstate(invalid="ignore"):
        tiny = int(np.sum(np.minimum(bbox[:, 2] - bbox[:, 0], bbox[:, 3] - bbox[:, 1]) < limits.tiny_face_px))
    stats = {
        "videos_total": [float(videos_total)],
        "videos_failed": [float(videos_failed)],
        "failure_ratio": [videos_failed / videos_total if videos_total else 0.0],
        "faces_total": [float(face_count)],
        "max_faces_per_frame": [_max_faces_per_frame(data.faces)],
        "tiny_faces": [float(tiny)],
        "tiny_face_share": [tiny / face_count if face_count else 0.0],
    }
    return pa.table({name: pa.array(stats[name], pa.float64()) for name in run.COMPUTED})


def _max_faces_per_frame(faces_: pa.Table) -> float:
    keys = ["video_id", "frame_index"]
    if faces_.num_rows == 0 or not set(keys) <= set(faces_.column_names):
        return 0.0
    counts = pl.from_arrow(faces_.select(keys)).group_by(keys).len()
    return float(counts["len"].max())


def shards_table(data: DatasetTables, limits: ContractLimits) -> pa.Table:
    """One row per face of a release folder, with where its crop sits and whether it is intact."""
    from pipeline.validate.shards import shard_facts

    table = data.faces.select([n for n in shards.SCHEMA.names if n in data.faces.column_names])
    facts = shard_facts(data.dataset_dir, object_column(table, "face_id").to_pylist(), object_column(table, "crop_sha256").to_pylist())
    return with_computed(table, {**finite_flags(table, shards.SCHEMA), **facts}, shards.COMPUTED)
