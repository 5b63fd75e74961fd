"""The Embedder interface: aligned crops of faces in, unit-length identity vectors out.

An embedder reads the crop files the align stage wrote (any preset: it maps the
face's box and landmarks into the crop with the crop's affine and aligns the face
its own way from there), so embedding never decodes a video again. Vectors are
L2-normalised: distances between faces are Euclidean distances on the unit
sphere, compared with the embedder's own same-person threshold.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from pipeline.detection.base import DEFAULT_MODELS_ROOT
from pipeline.records import NOT_OUTPUT

DEFAULT_EMBEDDER = "dlib"
DEFAULT_ARCFACE_PACK = "buffalo_l"


@dataclass(frozen=True)
class EmbedderConfig:
    """The embedder and where its model is looked for (the model's identity, not its location,
    is in the stage's fingerprint)."""

    name: str = DEFAULT_EMBEDDER
    models_root: str = field(default=DEFAULT_MODELS_ROOT, metadata=NOT_OUTPUT)
    model_pack: str = field(default=DEFAULT_ARCFACE_PACK, metadata=NOT_OUTPUT)


@dataclass(frozen=True)
class FaceCrop:
    """One face to embed: its crop (RGB uint8, square) and the face's box and 5 landmarks in crop pixels."""

    image_rgb: np.ndarray
    bbox_xyxy_px: np.ndarray
    landmarks5_px: np.ndarray


class Embedder(abc.ABC):
    """Loaded once per process (``registry.make_embedder``), then reused."""

    name: str
    dim: int
    # Euclidean distance between unit vectors below which two faces are taken as one person.
    same_person_distance: float

    @abc.abstractmethod
    def embed(self, faces: list[FaceCrop]) -> np.ndarray:
        """(len(faces), dim) float32, each row of unit length."""


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def to_crop(affine_2x3: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """Frame pixels -> crop pixels through the crop's row-major 2x3 affine."""
    m = np.asarray(affine_2x3, np.float64).reshape(2, 3)
    pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
    return pts @ m[:, :2].T + m[:, 2]


def face_in_crop(image_rgb: np.ndarray, affine_2x3, bbox_xyxy_px, landmarks5_px) -> FaceCrop:
    """The face's box (the bounding box of its mapped corners) and landmarks in the crop's pixels."""
    x1, y1, x2, y2 = (float(v) for v in bbox_xyxy_px)
    corners = to_crop(affine_2x3, np.array([[x1, y1], [x2, y1], [x1, y2], [x2, y2]]))
    box = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
    return FaceCrop(image_rgb, box, to_crop(affine_2x3, landmarks5_px))
