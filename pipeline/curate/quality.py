"""The quality stage: a video's faces -> per-face quality scores, stored once.

Item: a video's detections and crop records. For each face it reads the crop
file the align stage wrote and measures, on the part of the crop that lies
inside the frame (the warp paints the rest black; its edge would pass for
detail):

- ``sharpness``: variance of the Laplacian (3x3) of the luma, on the crop
  resized to 112 px (so the figure does not depend on the crop size; a crop of a
  small face is upsampled, hence low);
- ``brightness`` and ``contrast``: mean and standard deviation of the luma (0..1);
- ``face_size_px`` (the box's shorter side) and ``interocular_px`` (eye to eye);
- ``yaw_deg``, ``pitch_deg``, ``roll_deg`` from the 5 landmarks (``pose.py``);
- ``touches_border``: the box reaches the frame's edge (within 1 px);
- ``quality_score``: the geometric mean of det_score, sharpness / 200 and face
  size / 112 px (both capped at 1) and cos(yaw) cos(pitch): one figure in [0, 1]
  to rank the faces of a track;
- ``crop_phash``: imagehash's 64-bit pHash of the crop (near-duplicates).

Stored per video in ``curation/<video_id>/quality-<fingerprint>/quality.parquet``
(the fingerprint follows the align stage's), so retuning a filter reads these
scores and never decodes, detects or aligns again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pyarrow as pa

from pipeline.curate.pose import head_pose
from pipeline.records import to_table
from pipeline.stages import workdir
from pipeline.stages.base import Stage
from pipeline.stages.frames import phash_hex
from schemas.manifests import CROPS_SCHEMA, DETECTIONS_SCHEMA, QUALITY_SCHEMA

QUALITY_FILE = "quality.parquet"
# Sharpness, brightness and contrast are measured on crops of this side (a crop of another size is resized).
REFERENCE_SIDE_PX = 112
# quality_score's references: sharpness and face size at or above these count as full marks.
SHARPNESS_FULL = 200.0
FACE_SIZE_FULL_PX = 112.0
BORDER_PX = 1.0
READ_THREADS = 4
_KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class VideoFaces:
    """A video's faces: the quality stage's item (its detections and crop records)."""

    video_id: str
    detections: pa.Table
    crops: pa.Table


@dataclass(frozen=True)
class QualityRecord:
    """One row of ``QUALITY_SCHEMA``."""

    face_id: str
    face_size_px: float
    interocular_px: float
    sharpness: float
    brightness: float
    contrast: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    touches_border: bool
    quality_score: float
    crop_phash: str


@dataclass(frozen=True)
class CropScores:
    sharpness: float
    brightness: float
    contrast: float
    phash: str


def inside_frame_mask(affine_2x3: np.ndarray, side_px: int, frame_w: int, frame_h: int) -> np.ndarray:
    """True where a crop pixel's source lies inside the frame (the rest is the warp's black)."""
    inverse = cv2.invertAffineTransform(np.asarray(affine_2x3, np.float64).reshape(2, 3))
    edge = side_px - 1.0
    corners = inverse @ np.array([[0.0, edge, 0.0, edge], [0.0, 0.0, edge, edge], [1.0, 1.0, 1.0, 1.0]])
    if _inside(corners[0], corners[1], frame_w, frame_h).all():  # the crop is convex: all of it is inside
        return np.ones((side_px, side_px), bool)
    v, u = np.mgrid[0:side_px, 0:side_px]
    source = inverse @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
    return _inside(source[0], source[1], frame_w, frame_h).reshape(side_px, side_px)


def _inside(x: np.ndarray, y: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
    return (x >= 0) & (y >= 0) & (x <= frame_w - 1) & (y <= frame_h - 1)


def crop_scores(grey: np.ndarray, inside: np.ndarray) -> CropScores:
    """Sharpness, brightness, contrast and pHash of a grey crop, over the ``inside`` mask."""
    phash = phash_hex(grey)
    if grey.shape[0] != REFERENCE_SIDE_PX:
        side = (REFERENCE_SIDE_PX, REFERENCE_SIDE_PX)
        grey = cv2.resize(grey, side, interpolation=cv2.INTER_AREA)
        inside = cv2.resize(inside.astype(np.uint8), side, interpolation=cv2.INTER_NEAREST).astype(bool)
    mask = inside.astype(np.uint8)
    if not mask.any():
        return CropScores(0.0, 0.0, 0.0, phash)
    mean, std = cv2.meanStdDev(grey, mask=mask)
    interior = cv2.erode(mask, _KERNEL)  # where the Laplacian's 3x3 support stays inside
    sharpness = 0.0
    if interior.any():
        sharpness = float(cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_64F), mask=interior)[1][0, 0] ** 2)
    return CropScores(sharpness, float(mean[0, 0]) / 255.0, float(std[0, 0]) / 255.0, phash)


def quality_score(det_score, sharpness, face_size_px, yaw_deg, pitch_deg) -> np.ndarray:
    """The geometric mean of the four marks, each in [0, 1] (vectorised)."""
    marks = [
        np.clip(np.asarray(det_score, np.float64), 0, 1),
        np.clip(np.asarray(sharpness, np.float64) / SHARPNESS_FULL, 0, 1),
        np.clip(np.asarray(face_size_px, np.float64) / FACE_SIZE_FULL_PX, 0, 1),
        np.clip(np.cos(np.radians(yaw_deg)) * np.cos(np.radians(pitch_deg)), 0, 1),
    ]
    return np.prod(marks, axis=0) ** 0.25


class QualityStage(workdir.PerVideoTable, Stage[VideoFaces, list[QualityRecord]]):
    name = "quality"
    version = 1
    inputs = ("detect", "align")
    columns = QUALITY_SCHEMA
    work_file = QUALITY_FILE
    work_folder = workdir.CURATION_DIR

    def __init__(self, dataset_dir: Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dataset_dir = self.work_root = Path(dataset_dir)

    def process(self, item: VideoFaces) -> list[QualityRecord]:
        faces = pl.from_arrow(item.detections.cast(DETECTIONS_SCHEMA)).join(
            pl.from_arrow(item.crops.cast(CROPS_SCHEMA)), on="face_id", how="inner", maintain_order="left"
        )
        if faces.height == 0:
            return []
        boxes = np.asarray(faces["bbox_xyxy_px"].to_list(), np.float64).reshape(-1, 4)
        landmarks = np.asarray(faces["landmarks5_px"].to_list(), np.float64).reshape(-1, 10)
        pose = head_pose(landmarks)
        size = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        interocular = np.hypot(landmarks[:, 2] - landmarks[:, 0], landmarks[:, 3] - landmarks[:, 1])
        width, height = faces["frame_width_px"].to_numpy(), faces["frame_height_px"].to_numpy()
        border = (boxes[:, 0] <= BORDER_PX) | (boxes[:, 1] <= BORDER_PX) | (boxes[:, 2] >= width - BORDER_PX)
        border |= boxes[:, 3] >= height - BORDER_PX
        rows = faces.select("crop_path", "affine_2x3", "frame_width_px", "frame_height_px").iter_rows()
        # Reading and decoding a crop file waits on the disk and releases the GIL: a few threads overlap it.
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            crops = list(pool.map(lambda row: self._crop(item.video_id, row), rows))
        sharp = np.array([c.sharpness for c in crops])
        score = quality_score(faces["det_score"].to_numpy(), sharp, size, pose.yaw_deg, pose.pitch_deg)
        return [
            QualityRecord(
                face_id, float(size[i]), float(interocular[i]), c.sharpness, c.brightness, c.contrast, float(pose.yaw_deg[i]),
                float(pose.pitch_deg[i]), float(pose.roll_deg[i]), bool(border[i]), float(score[i]), c.phash,
            )
            for i, (face_id, c) in enumerate(zip(faces["face_id"], crops))
        ]  # fmt: skip

    def _crop(self, video_id: str, row: tuple) -> CropScores:
        crop_path, affine, frame_w, frame_h = row
        path = self.dataset_dir / crop_path
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise ValueError(f"{path}: crop file missing or unreadable (remove work/{video_id}/align-*/ and rerun to write it again)")
        return crop_scores(grey, inside_frame_mask(np.asarray(affine), grey.shape[0], frame_w, frame_h))

    def save_scores(self, video_id: str, records: list[QualityRecord]) -> pa.Table:
        return self.save(video_id, to_table(records, QUALITY_SCHEMA))
