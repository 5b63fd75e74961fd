"""The Detector interface, its records, and shared box maths."""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pipeline.records import NOT_OUTPUT

DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_NMS_IOU = 0.3
# CenterFace misses large faces at high input sizes: on 1080p frames (hamilton.mp4
# scaled up 3x) it found 146 of about 146 faces at 640, 100 at 1280, 89 at 1920,
# and every still fixture face at 640; 640 also costs a quarter of 1280's compute.
# The smallest face it finds grows with the scale (about 10 px at the network input).
DEFAULT_DET_MAX_SIDE = 640
DEFAULT_DETECTOR = "centerface"
DEFAULT_MODELS_ROOT = "~/.insightface/models"
DEFAULT_MODEL_PACK = "buffalo_l"


@dataclass(frozen=True)
class Detection:
    """One face: box (x1, y1, x2, y2) and 5 landmarks (x, y), full-resolution pixels."""

    bbox_xyxy_px: tuple[float, float, float, float]
    score: float
    landmarks5_px: tuple[tuple[float, float], ...]

    @property
    def landmarks_array(self) -> np.ndarray:
        return np.asarray(self.landmarks5_px, dtype=np.float64)


@dataclass(frozen=True)
class DetectorConfig:
    """The detector and every setting that changes its output (those are part of the
    detect stage's fingerprint; fields marked ``NOT_OUTPUT`` are not)."""

    name: str = DEFAULT_DETECTOR
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    nms_iou: float = DEFAULT_NMS_IOU
    det_max_side: int = DEFAULT_DET_MAX_SIDE
    # Where an insightface pack is looked for; the model's identity (pack, file,
    # sha256) is in the detector version, so the location itself is not an output parameter.
    models_root: str = field(default=DEFAULT_MODELS_ROOT, metadata=NOT_OUTPUT)
    model_pack: str = field(default=DEFAULT_MODEL_PACK, metadata=NOT_OUTPUT)
    # A model file replacing the packaged one (same rule: its sha256 is in the version).
    model_file: str | None = field(default=None, metadata=NOT_OUTPUT)
    # onnxruntime intra-op threads per session (0: all cores). Speed only.
    threads: int = field(default=0, metadata=NOT_OUTPUT)
    # Load a model whose sha256 is not pinned (pipeline/detection/pins.py); the detector
    # version then says "unpinned", so the choice is in the output's identity already.
    allow_unknown_model: bool = field(default=False, metadata=NOT_OUTPUT)


class Detector(abc.ABC):
    """Finds faces on one RGB frame. Loaded once per process (``registry.make_detector``), then reused."""

    name: str
    config: DetectorConfig
    model_path: Path

    @abc.abstractmethod
    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Faces on ``image_rgb``, sorted by descending score then x1."""


def letterbox(image_rgb: np.ndarray, max_side: int, multiple: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Scale ``image_rgb`` so its longer side is at most ``max_side`` (never enlarged),
    then pad right and bottom with black to sides that are multiples of ``multiple``.

    Padding rather than stretching keeps the aspect ratio, which finds more faces
    (22 rather than 21 of hamilton's 24 at fps:1). Returns the padded image and
    the per-axis scale (sx, sy): network pixels = frame pixels * scale.
    """
    orig_h, orig_w = image_rgb.shape[:2]
    width, height = orig_w, orig_h
    scale = min(1.0, max_side / max(width, height))
    if scale < 1.0:
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
        image_rgb = cv2.resize(image_rgb, (width, height), interpolation=cv2.INTER_AREA)
    padded_w = max(multiple, math.ceil(width / multiple) * multiple)
    padded_h = max(multiple, math.ceil(height / multiple) * multiple)
    if (padded_w, padded_h) != (width, height):
        image_rgb = cv2.copyMakeBorder(image_rgb, 0, padded_h - height, 0, padded_w - width, cv2.BORDER_CONSTANT, value=0)
    return image_rgb, np.array([width / orig_w, height / orig_h])


def clip_to_frame(boxes_xyxy: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    return np.clip(boxes_xyxy, 0, [width_px, height_px, width_px, height_px])


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices kept, highest score first."""
    x1, y1, x2, y2 = boxes_xyxy.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou < iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def to_detections(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray) -> list[Detection]:
    """Rows of arrays -> Detection records, sorted by (-score, x1, y1) for stable ids."""
    order = sorted(range(len(scores)), key=lambda i: (-round(float(scores[i]), 6), float(boxes[i, 0]), float(boxes[i, 1])))
    out = []
    for i in order:
        box = tuple(float(v) for v in boxes[i, :4])
        lms = tuple((float(x), float(y)) for x, y in landmarks[i].reshape(5, 2))
        out.append(Detection(bbox_xyxy_px=box, score=float(scores[i]), landmarks5_px=lms))
    return out
