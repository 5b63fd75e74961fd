"""Fake-to-original face pairs: each face of a fake video -> the face of its original it was made from.

A fake's ``original`` (corpus field: the original's uri, or its file name when
that is unique) is resolved to a video of the corpus; ``missing`` lists the fakes
whose original is not there. Faces are matched at the same place of the *stream*:
time from each video's first sampled frame (a fake's timeline may be shifted:
measured, a DFDC fake's first pts 0.033 s against its original's 0.834 s), the
original's sampled frame nearest in stream time within half a sampling step
(or ``MIN_TOLERANCE_S``). Boxes are compared after scaling the fake's frame to
the original's size, mirrored when the fake video is flipped: a video is flipped
when its faces' landmarks, mirrored (x -> width - x, left and right swapped),
lie closer to their original faces' than unmirrored (summed over the video).
The pair is the original face with the best box IoU, at least ``MIN_IOU``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import polars as pl

from pipeline.records import Status
from schemas.manifests import PAIRS_SCHEMA

MIN_IOU = 0.3
MIN_TOLERANCE_S = 0.05
# Landmark order: left eye, right eye, nose, left mouth, right mouth ("left" = image left); mirrored, sides swap.
MIRROR_ORDER = [1, 0, 2, 4, 3]


# The columns pair_video makes (the split, how the pair was made and the mask are set after).
_LATER = ("split_assigned", "paired_by", "mask_path", "mask_mean_diff", "mask_changed_share")


@functools.cache
def _pair_columns() -> dict[str, pl.DataType]:
    # Made on first use, not at import: polars' from_arrow loads pandas (0.48 s of a run's fixed cost).
    return {f.name: pl.from_arrow(PAIRS_SCHEMA.empty_table()).schema[f.name] for f in PAIRS_SCHEMA if f.name not in _LATER}


@dataclass(frozen=True)
class Originals:
    """fake video_id -> original video_id, and the fakes whose original is not in the corpus (uri, original)."""

    of: dict[str, str]
    missing: tuple[tuple[str, str], ...]


def resolve_originals(videos: pl.DataFrame) -> Originals:
    """Each video with a corpus ``original`` -> the video it names (by uri, a duplicate uri, or a unique file name)."""
    by_uri: dict[str, str] = {}
    by_name: dict[str, set[str]] = {}
    for vid, uri, dups in videos.select("video_id", "uri", "duplicate_uris").iter_rows():
        for u in [uri, *(dups or [])]:
            by_uri[u] = vid
            by_name.setdefault(PurePosixPath(u).name, set()).add(vid)
    of, missing = {}, []
    for vid, uri, original in (
        videos.filter(pl.col("original").is_not_null() & (pl.col("original") != "")).select("video_id", "uri", "original").iter_rows()
    ):
        named = by_uri.get(original) or by_uri.get(str(PurePosixPath(uri).parent / original))
        if named is None and len(by_name.get(PurePosixPath(original).name, ())) == 1:
            named = next(iter(by_name[PurePosixPath(original).name]))
        if named is None or named == vid:
            missing.append((uri, original))
        else:
            of[vid] = named
    return Originals(of, tuple(sorted(missing)))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (n, 4) with every box of ``b`` (m, 4)."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def _mirror(boxes: np.ndarray, landmarks: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    flipped = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)
    pts = landmarks.reshape(-1, 5, 2)[:, MIRROR_ORDER].copy()
    pts[..., 0] = width - pts[..., 0]
    return flipped, pts.reshape(-1, 10)


@dataclass(frozen=True)
class _Faces:
    ids: list[str]
    frame: np.ndarray  # the matched original frame's stream time per fake face, or the face's own
    boxes: np.ndarray
    landmarks: np.ndarray


def _faces(frame: pl.DataFrame, scale: float = 1.0) -> _Faces:
    return _Faces(
        frame["face_id"].to_list(),
        frame["stream_time_s"].to_numpy(),
        np.asarray(frame["bbox_xyxy_px"].to_list(), np.float64).reshape(-1, 4) * scale,
        np.asarray(frame["landmarks5_px"].to_list(), np.float64).reshape(-1, 10) * scale,
    )


def _landmark_cost(fake: _Faces, original: _Faces, same_frame: np.ndarray) -> float:
    """Sum over fake faces of the distance (in face sizes) to the nearest original face's landmarks in its frame."""
    size = np.maximum(original.boxes[:, 2] - original.boxes[:, 0], 1.0)
    d = np.linalg.norm((fake.landmarks[:, None, :] - original.landmarks[None, :, :]).reshape(len(fake.ids), -1, 5, 2), axis=3).mean(axis=2)
    d = np.where(same_frame, d / size[None, :], np.inf)
    best = d.min(axis=1)
    return float(best[np.isfinite(best)].sum())


def pair_video(
    fake: pl.DataFrame, original: pl.DataFrame, fake_size: tuple[int, int], original_size: tuple[int, int], step_s: float
) -> pl.DataFrame:
    """Pairs (PAIRS_SCHEMA without split) of one fake video's faces; both frames carry ``stream_time_s``."""
    if fake.height == 0 or original.height == 0:
        return pl.DataFrame(schema=_pair_columns())
    f, o = _faces(fake, original_size[0] / max(fake_size[0], 1)), _faces(original)
    times = np.unique(o.frame)
    nearest = times[np.abs(f.frame[:, None] - times[None, :]).argmin(axis=1)]
    gap = nearest - f.frame
    same_frame = (o.frame[None, :] == nearest[:, None]) & (np.abs(gap)[:, None] <= max(MIN_TOLERANCE_S, step_s / 2))
    flipped_boxes, flipped_lm = _mirror(f.boxes, f.landmarks, float(original_size[0]))
    mirrored = _landmark_cost(_Faces(f.ids, f.frame, flipped_boxes, flipped_lm), o, same_frame) < _landmark_cost(f, o, same_frame)
    iou = np.where(same_frame, _iou(flipped_boxes if mirrored else f.boxes, o.boxes), 0.0)
    best = iou.argmax(axis=1)
    best_iou = iou[np.arange(len(best)), best]
    keep = best_iou >= MIN_IOU
    rows = np.flatnonzero(keep)
    columns = {
        "face_id": [f.ids[i] for i in rows],
        "video_id": [fake["video_id"][0]] * len(rows),
        "original_face_id": [o.ids[best[i]] for i in rows],
        "original_video_id": [original["video_id"][0]] * len(rows),
        "stream_time_s": f.frame[keep],
        "time_gap_s": gap[keep],
        "iou": best_iou[keep].astype(np.float32),
        "mirrored": [bool(mirrored)] * len(rows),
    }
    return pl.DataFrame(columns, schema=_pair_columns())


def stream_times(faces: pl.DataFrame, first_pts: dict[str, float]) -> pl.DataFrame:
    """Faces with ``stream_time_s``: pts from their video's first sampled frame."""
    start = pl.col("video_id").replace_strict(first_pts, default=None, return_dtype=pl.Float64)
    return faces.with_columns(stream_time_s=pl.col("pts_s") - start.fill_null(pl.col("pts_s").min().over("video_id")))


def pair_faces(
    faces: pl.DataFrame,
    videos: pl.DataFrame,
    originals: Originals,
    first_pts: dict[str, float],
    step_s: dict[str, float],
    aligned: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The pairs table of every fake video whose original is in the corpus (PAIRS_SCHEMA, split left null):
    ``aligned`` (``pipeline/curate/masks.py:MASK_COLUMNS``) holds the exact pairs of frame-aligned fakes
    (same frame, same affine: ``paired_by = aligned``, with their masks); the other fakes' faces are
    matched by time and box (``paired_by = matched``)."""
    faces = stream_times(faces, first_pts)
    exact = _exact(faces, aligned)
    by_video = {vid: frame for (vid,), frame in faces.group_by("video_id")}
    sizes = {
        v: (w or 0, h or 0)
        for v, w, h, s in videos.select("video_id", "width_px", "height_px", "status").iter_rows()
        if s == Status.OK.value
    }
    parts = []
    done = set(exact["video_id"].to_list())
    for fake, original in sorted(originals.of.items()):
        if fake not in done and fake in by_video and original in by_video and fake in sizes and original in sizes:
            parts.append(pair_video(by_video[fake], by_video[original], sizes[fake], sizes[original], step_s.get(original, 0.0)))
    matched = pl.concat(parts) if parts else pl.DataFrame(schema=_pair_columns())
    matched = matched.with_columns(
        paired_by=pl.lit("matched"),
        mask_path=pl.lit(None, pl.String),
        mask_mean_diff=pl.lit(None, pl.Float32),
        mask_changed_share=pl.lit(None, pl.Float32),
    )
    table = pl.concat([exact, matched]).with_columns(split_assigned=pl.lit(None, pl.String))
    return table.sort("video_id", "stream_time_s", "face_id")


def _exact(faces: pl.DataFrame, aligned: pl.DataFrame | None) -> pl.DataFrame:
    """The aligned pairs as pairs rows (before the split): same frame, so IoU 1 and no mirror."""
    later = {k: v for k, v in pl.from_arrow(PAIRS_SCHEMA.empty_table()).schema.items() if k in _LATER and k != "split_assigned"}
    if aligned is None or aligned.height == 0:
        return pl.DataFrame(schema={**_pair_columns(), **later})
    times = faces.select("face_id", "video_id", "stream_time_s")
    table = aligned.join(times, on="face_id").join(
        times.select(pl.col("face_id").alias("original_face_id"), pl.col("stream_time_s").alias("_original_s")), on="original_face_id"
    )
    table = table.with_columns(
        time_gap_s=pl.col("_original_s") - pl.col("stream_time_s"),
        iou=pl.lit(1.0, pl.Float32),
        mirrored=pl.lit(False),
        paired_by=pl.lit("aligned"),
    )
    return table.select({**_pair_columns(), **later}.keys()).cast({**_pair_columns(), **later})
